// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The SQL of the durable_jobs table. Part of the SQLite layer, the only place SQL lives.
/// Callers hold the connection's lock and, where several statements must be atomic,
/// a write_transaction.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "durable/detail/sqlite/connection.hpp"
#include "durable/job.hpp"

namespace durable::inline v0::detail::sqlite {

/// Binds a job key at `index`, without copying: `key` must outlive the step.
inline void bind_key(statement& s, int index, const job_key& key) {
  if (const auto* i = std::get_if<std::int64_t>(&key)) {
    s.bind(index, *i);
  } else {
    s.bind(index, std::get<std::string>(key));
  }
}

/// Binds a job key, or NULL, at `index`, without copying.
inline void bind_key(statement& s, int index, const std::optional<job_key>& key) {
  if (key) {
    bind_key(s, index, *key);
  } else {
    s.bind(index, std::nullopt);
  }
}

/// Reads a job key (or nothing) from `column`.
[[nodiscard]] inline std::optional<job_key> column_key(const statement& s, int column) {
  switch (s.type(column)) {
    case SQLITE_NULL: return std::nullopt;
    case SQLITE_INTEGER: return job_key{s.int64(column)};
    default: return job_key{std::string{s.text(column)}};
  }
}

/// A row to insert into durable_jobs.
struct new_job {
  std::string_view queue;
  const std::optional<job_key>* key = nullptr;  ///< may be null: no key
  int priority = 0;
  std::int64_t run_at_ms = 0;
  std::int64_t enqueued_at_ms = 0;
  bool sequential = false;
  std::int64_t attempts = 0;
  std::string_view codec;
  std::uint64_t fingerprint = 0;
  std::span<const std::byte> payload;
  std::optional<std::string_view> history;  ///< JSON array, or none
};

/// Inserts `job`; returns its new id.
inline job_id insert_job(connection& c, const new_job& job) {
  auto q = c.query(
      "INSERT INTO durable_jobs (queue, key, priority, run_at, enqueued_at, sequential, "
      "attempts, codec, fingerprint, payload, history) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
  q->bind(1, job.queue);
  if (job.key != nullptr) {
    bind_key(*q, 2, *job.key);
  } else {
    q->bind(2, std::nullopt);
  }
  q->bind_all_from(3, job.priority, job.run_at_ms, job.enqueued_at_ms, job.sequential, job.attempts,
                   job.codec, static_cast<std::int64_t>(job.fingerprint), job.payload, job.history);
  q->run();
  return c.last_insert_rowid();
}

/// The id of a job in `queue` with `key` (pending or claimed), if there is one.
[[nodiscard]] inline std::optional<job_id> find_by_key(connection& c, std::string_view queue,
                                                       const job_key& key) {
  auto q = c.query("SELECT id FROM durable_jobs WHERE queue = ?1 AND key = ?2 LIMIT 1");
  q->bind(1, queue);
  bind_key(*q, 2, key);
  if (!q->step()) return std::nullopt;
  return q->int64(0);
}

/// History types recorded for attempts that ended without a verdict (the SQL below
/// writes them as literals).
inline constexpr std::string_view lease_expired_type = "lease_expired";
inline constexpr std::string_view claimer_died_type = "claimer_died";

/// Columns every claim returns, in this order; `read` callbacks receive the statement.
/// 0 id, 1 key, 2 attempts, 3 priority, 4 sequential, 5 enqueued_at, 6 codec,
/// 7 fingerprint, 8 payload.
// Macros, not constants: the claim statements are built by string-literal concatenation.
// NOLINTBEGIN(cppcoreguidelines-macro-usage)
#define DURABLE_DETAIL_CLAIM_SET                                                                  \
  "SET lease_token = ?1, run_at = ?2, claimed_by = ?3, "                                          \
  "attempts = attempts + (lease_token IS NOT NULL), "                                             \
  "history = CASE WHEN lease_token IS NULL THEN history ELSE json_insert("                        \
  "coalesce(history, '[]'), '$[#]', json_object('attempt', attempts + 1, 'type', "                \
  "'lease_expired', 'message', 'the lease ended before the job was acked or nacked', 'at', ?4)) " \
  "END "
#define DURABLE_DETAIL_CLAIM_RETURNING \
  " RETURNING id, key, attempts, priority, sequential, enqueued_at, codec, fingerprint, payload"
// NOLINTEND(cppcoreguidelines-macro-usage)

/// The parameters of one claim.
struct claim_params {
  std::string_view queue;
  std::int64_t now_ms = 0;
  std::int64_t lease_until_ms = 0;
  std::int64_t token = 0;
  std::string claimer;
};

/// Claims the first claimable job of the queue (ordered by priority desc, run_at, id)
/// in one statement; calls `read(statement&)` on it. False if nothing is claimable.
/// A job whose lease had expired counts the lost attempt and records it in its history.
template <class Read>
bool claim_next(connection& c, const claim_params& p, Read&& read) {
  auto q = c.query("UPDATE durable_jobs " DURABLE_DETAIL_CLAIM_SET
                   "WHERE id = (SELECT id FROM durable_jobs WHERE queue = ?5 AND run_at <= ?4 "
                   "ORDER BY priority DESC, run_at, id LIMIT 1)" DURABLE_DETAIL_CLAIM_RETURNING,
                   p.token, p.lease_until_ms, p.claimer, p.now_ms, p.queue);
  if (!q->step()) return false;
  read(*q);
  return true;
}

/// Claims job `id` (which the caller saw claimable in this transaction); calls `read`.
template <class Read>
bool claim_by_id(connection& c, const claim_params& p, job_id id, Read&& read) {
  auto q = c.query("UPDATE durable_jobs " DURABLE_DETAIL_CLAIM_SET
                   "WHERE id = ?5" DURABLE_DETAIL_CLAIM_RETURNING,
                   p.token, p.lease_until_ms, p.claimer, p.now_ms, id);
  if (!q->step()) return false;
  read(*q);
  return true;
}

#undef DURABLE_DETAIL_CLAIM_SET
#undef DURABLE_DETAIL_CLAIM_RETURNING

/// Up to `max` claimable jobs at the head of the queue as (id, sequential), in claim order.
inline std::vector<std::pair<job_id, bool>> claimable_head(connection& c, std::string_view queue,
                                                           std::int64_t now_ms, std::int64_t max) {
  auto q = c.query(
      "SELECT id, sequential FROM durable_jobs WHERE queue = ?1 AND run_at <= ?2 "
      "ORDER BY priority DESC, run_at, id LIMIT ?3",
      queue, now_ms, max);
  std::vector<std::pair<job_id, bool>> head;
  while (q->step()) head.emplace_back(q->int64(0), q->int64(1) != 0);
  return head;
}

/// Deletes job `id` if `token` still holds it; false when the lease was lost.
inline bool delete_claimed(connection& c, job_id id, std::int64_t token) {
  return c.run("DELETE FROM durable_jobs WHERE id = ?1 AND lease_token = ?2", id, token) == 1;
}

/// Returns a claimed job to pending at `run_at_ms` with one more attempt and `f` appended
/// to its history; false when the lease was lost.
inline bool release_claimed(connection& c, job_id id, std::int64_t token, std::int64_t run_at_ms,
                            std::int64_t now_ms, std::string_view type, std::string_view message) {
  return c.run(
             "UPDATE durable_jobs SET lease_token = NULL, claimed_by = NULL, run_at = ?3, "
             "attempts = attempts + 1, history = json_insert(coalesce(history, '[]'), '$[#]', "
             "json_object('attempt', attempts + 1, 'type', ?5, 'message', ?6, 'at', ?4)) "
             "WHERE id = ?1 AND lease_token = ?2",
             id, token, run_at_ms, now_ms, type, message) == 1;
}

/// Moves a claimed job's lease end to `lease_until_ms`; false when the lease was lost.
inline bool extend_claimed(connection& c, job_id id, std::int64_t token,
                           std::int64_t lease_until_ms) {
  return c.run("UPDATE durable_jobs SET run_at = ?3 WHERE id = ?1 AND lease_token = ?2", id, token,
               lease_until_ms) == 1;
}

/// Reads a history query's rows (attempt, type, message, at), as both tables store a job's
/// history: a JSON array of {attempt, type, message, at}.
inline std::vector<attempt_record> read_history(statement_use q) {
  std::vector<attempt_record> out;
  while (q->step()) {
    out.push_back(
        {q->int64(0), std::string{q->text(1)}, std::string{q->text(2)}, from_unix_ms(q->int64(3))});
  }
  return out;
}

/// The history of job `id`: its earlier attempts' errors, oldest first.
inline std::vector<attempt_record> job_history(connection& c, job_id id) {
  return read_history(
      c.query("SELECT json_extract(h.value, '$.attempt'), json_extract(h.value, '$.type'), "
              "json_extract(h.value, '$.message'), json_extract(h.value, '$.at') "
              "FROM durable_jobs AS j, json_each(j.history) AS h WHERE j.id = ?1 ORDER BY h.key",
              id));
}

/// Counts of a queue's jobs at `now_ms`.
struct job_counts {
  std::int64_t pending = 0;                         ///< claimable now (including expired claims)
  std::int64_t scheduled = 0;                       ///< not claimed, run_at in the future
  std::int64_t claimed = 0;                         ///< under a live lease
  std::optional<std::int64_t> oldest_claimable_ms;  ///< smallest run_at among pending
};

inline job_counts count_jobs(connection& c, std::string_view queue, std::int64_t now_ms) {
  auto q = c.query(
      "SELECT coalesce(sum(run_at <= ?2), 0), "
      "coalesce(sum(lease_token IS NULL AND run_at > ?2), 0), "
      "coalesce(sum(lease_token IS NOT NULL AND run_at > ?2), 0), "
      "min(CASE WHEN run_at <= ?2 THEN run_at END) "
      "FROM durable_jobs WHERE queue = ?1",
      queue, now_ms);
  job_counts counts;
  if (q->step()) {
    counts.pending = q->int64(0);
    counts.scheduled = q->int64(1);
    counts.claimed = q->int64(2);
    if (!q->is_null(3)) counts.oldest_claimable_ms = q->int64(3);
  }
  return counts;
}

/// Number of jobs in `queue`, in any state.
inline std::int64_t count_all(connection& c, std::string_view queue) {
  auto q = c.query("SELECT count(*) FROM durable_jobs WHERE queue = ?1", queue);
  return q->step() ? q->int64(0) : 0;
}

/// The earliest run_at of any job in `queue` (claimable or not), if it has jobs.
inline std::optional<std::int64_t> next_run_at(connection& c, std::string_view queue) {
  auto q = c.query("SELECT min(run_at) FROM durable_jobs WHERE queue = ?1", queue);
  if (!q->step() || q->is_null(0)) return std::nullopt;
  return q->int64(0);
}

/// Distinct claimers holding jobs of `queue`.
inline std::vector<std::string> claimers(connection& c, std::string_view queue) {
  auto q = c.query(
      "SELECT DISTINCT claimed_by FROM durable_jobs "
      "WHERE queue = ?1 AND lease_token IS NOT NULL AND claimed_by IS NOT NULL",
      queue);
  std::vector<std::string> out;
  while (q->step()) out.emplace_back(q->text(0));
  return out;
}

/// Returns every job of `queue` claimed by `claimer` to pending at its original place
/// (run_at = enqueued_at), counting the lost attempt; returns how many.
inline std::int64_t release_claimer(connection& c, std::string_view queue, std::string_view claimer,
                                    std::int64_t now_ms) {
  return c.run(
      "UPDATE durable_jobs SET lease_token = NULL, claimed_by = NULL, run_at = enqueued_at, "
      "attempts = attempts + 1, history = json_insert(coalesce(history, '[]'), '$[#]', "
      "json_object('attempt', attempts + 1, 'type', 'claimer_died', 'message', "
      "'the process holding the claim died', 'at', ?3)) "
      "WHERE queue = ?1 AND claimed_by = ?2 AND lease_token IS NOT NULL",
      queue, claimer, now_ms);
}

}  // namespace durable::inline v0::detail::sqlite
