// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Claim: taking the jobs at the head of a queue under a fenced lease. A job whose lease
/// expired is claimable again; the claim counts the lost attempt and records it. A paused
/// queue (durable_queues.paused, `durable queue pause`) is not claimed from: the backend
/// checks the flag before calling these. Sequential jobs are barriers (barrier.hpp). Part
/// of the SQLite layer, the only place SQL lives.

#include <fmt/format.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "durable/detail/sqlite/barrier.hpp"
#include "durable/detail/sqlite/connection.hpp"
#include "durable/detail/sqlite/values.hpp"
#include "durable/exceptions.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::sqlite {

// Macros, not constants: the claim statements are built by string-literal concatenation.
// NOLINTBEGIN(cppcoreguidelines-macro-usage)
#define DURABLE_DETAIL_CLAIM_SET \
  "SET lease_token = ?1, run_at = ?2, claimed_by = ?3, "                         \
  "attempts = attempts + (lease_token IS NOT NULL), "                            \
  "history = CASE WHEN lease_token IS NULL THEN history ELSE json_insert("       \
  DURABLE_DETAIL_HISTORY_ARRAY("history")                                        \
  ", '$[#]', json_object('attempt', attempts + 1, 'type', 'lease_expired', "     \
  "'message', 'the lease ended before the job was acked or nacked', 'at', ?4)) " \
  "END, first_run_at = coalesce(first_run_at, ?4), ready_at = run_at "
#define DURABLE_DETAIL_CLAIMED_COLUMNS                                                       \
  "id, key, attempts, max_attempts, priority, sequential, enqueued_at, codec, fingerprint, " \
  "payload, timeout_ms, first_run_at, ready_at"
// Job types (storage::claim_request::fingerprints): a claim walks durable_jobs_claim from
// the head of the queue and skips, within the index, rows of other types; with one type in
// the queue the first entry matches. ONE binds ?4 codec, ?5 fingerprint; MANY ?4 codec, ?5
// the fingerprints as a JSON array. The sequential barrier (barrier.hpp) holds across
// types: a job of another type still orders a barrier.
#define DURABLE_DETAIL_CLAIM_TYPE_ONE " AND codec = ?4 AND fingerprint = ?5"
#define DURABLE_DETAIL_CLAIM_TYPE_MANY \
  " AND codec = ?4 AND fingerprint IN (SELECT value FROM json_each(?5))"
#define DURABLE_DETAIL_CLAIM_HEAD(types)                                                    \
  "SELECT id, sequential FROM durable_jobs AS j WHERE queue_id = ?3 AND run_at <= ?2" types \
  " AND " DURABLE_DETAIL_SEQUENTIAL_BARRIER("j",                                            \
                                            "?3") " ORDER BY priority DESC, run_at, id LIMIT ?1"
// NOLINTEND(cppcoreguidelines-macro-usage)

/// The accepted fingerprints of `r` as a JSON array of (signed, as stored) integers.
[[nodiscard]] inline std::string fingerprint_list(const storage::claim_request& r) {
  std::string list = "[";
  for (const auto fingerprint : r.fingerprints) {
    if (list.size() > 1) list += ',';
    list += std::to_string(static_cast<std::int64_t>(fingerprint));
  }
  return list + "]";
}

/// The claimed row of a statement selecting DURABLE_DETAIL_CLAIMED_COLUMNS.
[[nodiscard]] inline storage::claimed_row read_claimed(const statement& s,
                                                       const storage::claim_request& r) {
  storage::claimed_row row;
  row.id = s.int64(0);
  row.token = r.token;
  row.key = column_key(s, 1);
  row.attempts = s.int64(2);
  row.max_attempts = s.int64(3);
  row.priority = static_cast<int>(s.int64(4));
  row.sequential = s.int64(5) != 0;
  row.enqueued_at_ms = s.int64(6);
  row.lease_until_ms = r.lease_until_ms;
  row.codec = std::string{s.text(7)};
  row.fingerprint = static_cast<std::uint64_t>(s.int64(8));
  row.payload = column_bytes(s, 9);
  if (!s.is_null(10)) row.timeout_ms = s.int64(10);
  row.first_run_at_ms = s.int64(11);
  row.ready_at_ms = s.int64(12);
  return row;
}

/// Up to `max` claimable jobs at the head of the queue as (id, sequential), in claim order;
/// only jobs of the accepted types (`r.fingerprints`) when there are any.
[[nodiscard]] inline std::vector<std::pair<job_id, bool>> claimable_head(
    connection& c, std::int64_t queue_id, const storage::claim_request& r) {
  const auto max = static_cast<std::int64_t>(r.max);
  std::vector<std::pair<job_id, bool>> head;
  const auto take = [&](statement_use q) {
    while (q->step()) head.emplace_back(q->int64(0), q->int64(1) != 0);
  };
  if (r.fingerprints.empty()) {
    take(c.query(DURABLE_DETAIL_CLAIM_HEAD(""), max, r.now_ms, queue_id));
  } else if (r.fingerprints.size() == 1) {
    take(c.query(DURABLE_DETAIL_CLAIM_HEAD(DURABLE_DETAIL_CLAIM_TYPE_ONE), max, r.now_ms, queue_id,
                 r.codec, static_cast<std::int64_t>(r.fingerprints.front())));
  } else {
    const auto fingerprints = fingerprint_list(r);  // bound, not copied: outlives the query
    take(c.query(DURABLE_DETAIL_CLAIM_HEAD(DURABLE_DETAIL_CLAIM_TYPE_MANY), max, r.now_ms, queue_id,
                 r.codec, fingerprints));
  }
  return head;
}

/// Claims job `id` (found claimable in this transaction) for `r`. Two statements rather
/// than UPDATE ... RETURNING: RETURNING costs SQLite a temporary table per statement.
[[nodiscard]] inline storage::claimed_row claim_job(connection& c, job_id id,
                                                    const storage::claim_request& r) {
  c.run("UPDATE durable_jobs " DURABLE_DETAIL_CLAIM_SET "WHERE id = ?5", r.token, r.lease_until_ms,
        r.claimer, r.now_ms, id);
  auto q = c.query("SELECT " DURABLE_DETAIL_CLAIMED_COLUMNS " FROM durable_jobs WHERE id = ?1", id);
  if (!q->step()) {  // cannot happen: the transaction holds the row it just updated
    throw error(
        fmt::format("durable: job {} in \"{}\" vanished while it was claimed", id, c.path()));
  }
  return read_claimed(*q, r);
}

/// Claims the head of the queue: the first claimable job, or with `r.max` > 1 the
/// consecutive parallel jobs at the head, up to `r.max`, stopping before a sequential
/// job; a sequential job at the head comes alone. The caller holds a write transaction:
/// a failed write is an exception and rolls it back, never a job handed out that nothing
/// in the file holds.
[[nodiscard]] inline std::vector<storage::claimed_row> claim_head(connection& c,
                                                                  std::int64_t queue_id,
                                                                  const storage::claim_request& r) {
  std::vector<storage::claimed_row> out;
  for (const auto& [id, sequential] : claimable_head(c, queue_id, r)) {
    if (sequential && !out.empty()) break;
    out.push_back(claim_job(c, id, r));
    if (sequential) break;
  }
  return out;
}

#undef DURABLE_DETAIL_CLAIM_SET
#undef DURABLE_DETAIL_CLAIMED_COLUMNS
#undef DURABLE_DETAIL_CLAIM_TYPE_ONE
#undef DURABLE_DETAIL_CLAIM_TYPE_MANY
#undef DURABLE_DETAIL_CLAIM_HEAD

}  // namespace durable::inline v0::detail::sqlite
