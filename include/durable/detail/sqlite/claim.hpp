// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Claim: taking the jobs at the head of a queue under a fenced lease. A job whose lease
/// expired is claimable again; the claim counts the lost attempt and records it. Part of
/// the SQLite layer, the only place SQL lives.

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "durable/detail/sqlite/connection.hpp"
#include "durable/detail/sqlite/values.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::sqlite {

// Macros, not constants: the claim statements are built by string-literal concatenation.
// NOLINTBEGIN(cppcoreguidelines-macro-usage)
#define DURABLE_DETAIL_CLAIM_SET                                                                  \
  "SET lease_token = ?1, run_at = ?2, claimed_by = ?3, "                                          \
  "attempts = attempts + (lease_token IS NOT NULL), "                                             \
  "history = CASE WHEN lease_token IS NULL THEN history ELSE json_insert("                        \
  "coalesce(history, '[]'), '$[#]', json_object('attempt', attempts + 1, 'type', "                \
  "'lease_expired', 'message', 'the lease ended before the job was acked or nacked', 'at', ?4)) " \
  "END "
#define DURABLE_DETAIL_CLAIM_RETURNING                                                     \
  " RETURNING id, key, attempts, max_attempts, priority, sequential, enqueued_at, codec, " \
  "fingerprint, payload"
// The head of one accepted type (storage::claim_request::fingerprints), one seek of index
// durable_jobs_type. Binds ?4 now, ?5 queue id, ?6 codec, ?7 fingerprint.
#define DURABLE_DETAIL_CLAIM_TYPE_HEAD                                                       \
  "SELECT id FROM durable_jobs WHERE queue_id = ?5 AND codec = ?6 AND fingerprint = ?7 AND " \
  "run_at <= ?4 ORDER BY priority DESC, run_at, id LIMIT 1"
// The heads of several accepted types, as rows `j`: one seek of durable_jobs_type per type.
// Binds ?4 now, ?5 queue id, ?6 codec, ?7 the fingerprints as a JSON array.
#define DURABLE_DETAIL_CLAIM_TYPE_HEADS                                               \
  "json_each(?7) AS f JOIN durable_jobs AS j ON j.id = (SELECT id FROM durable_jobs " \
  "WHERE queue_id = ?5 AND codec = ?6 AND fingerprint = f.value AND run_at <= ?4 "    \
  "ORDER BY priority DESC, run_at, id LIMIT 1)"
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

/// The claimed row of a claim statement (DURABLE_DETAIL_CLAIM_RETURNING's columns).
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
  return row;
}

/// Claims the first claimable job of queue `queue_id` (by priority desc, run_at, id) in
/// one statement. The statement is stepped to its end before the row is returned: with
/// RETURNING, SQLite writes only then, so a failed write is an exception, never a job
/// handed out that nothing in the file holds.
[[nodiscard]] inline std::vector<storage::claimed_row> claim_next(connection& c,
                                                                  std::int64_t queue_id,
                                                                  const storage::claim_request& r) {
  std::vector<storage::claimed_row> out;
  if (r.fingerprints.size() == 1) {  // one job type: its head, as fast as an untyped claim
    auto q =
        c.query("UPDATE durable_jobs " DURABLE_DETAIL_CLAIM_SET
                "WHERE id = (" DURABLE_DETAIL_CLAIM_TYPE_HEAD ")" DURABLE_DETAIL_CLAIM_RETURNING,
                r.token, r.lease_until_ms, r.claimer, r.now_ms, queue_id, r.codec,
                static_cast<std::int64_t>(r.fingerprints.front()));
    if (q->step()) out.push_back(read_claimed(*q, r));
    q->run();
    return out;
  }
  if (!r.fingerprints.empty()) {  // job types: the best head among the accepted types
    const auto fingerprints = fingerprint_list(r);  // bound, not copied: outlives the query
    auto q =
        c.query("UPDATE durable_jobs " DURABLE_DETAIL_CLAIM_SET
                "WHERE id = (SELECT j.id FROM " DURABLE_DETAIL_CLAIM_TYPE_HEADS
                " ORDER BY j.priority DESC, j.run_at, j.id LIMIT 1)" DURABLE_DETAIL_CLAIM_RETURNING,
                r.token, r.lease_until_ms, r.claimer, r.now_ms, queue_id, r.codec, fingerprints);
    if (q->step()) out.push_back(read_claimed(*q, r));
    q->run();
    return out;
  }
  auto q = c.query("UPDATE durable_jobs " DURABLE_DETAIL_CLAIM_SET
                   "WHERE id = (SELECT id FROM durable_jobs WHERE queue_id = ?5 AND run_at <= ?4 "
                   "ORDER BY priority DESC, run_at, id LIMIT 1)" DURABLE_DETAIL_CLAIM_RETURNING,
                   r.token, r.lease_until_ms, r.claimer, r.now_ms, queue_id);
  if (q->step()) out.push_back(read_claimed(*q, r));
  q->run();
  return out;
}

/// Up to `max` claimable jobs at the head of the queue as (id, sequential), in claim order.
/// Only jobs of the accepted types (`r.fingerprints`) when there are any.
[[nodiscard]] inline std::vector<std::pair<job_id, bool>> claimable_head(
    connection& c, std::int64_t queue_id, const storage::claim_request& r) {
  const auto max = static_cast<std::int64_t>(r.max);
  std::vector<std::pair<job_id, bool>> head;
  if (!r.fingerprints.empty()) {  // job types: the heads of the accepted types, merged
    struct candidate {
      std::int64_t priority, run_at;
      job_id id;
      bool sequential;
    };
    std::vector<candidate> heads;
    for (const auto fingerprint : r.fingerprints) {  // one seek of durable_jobs_type each
      auto q = c.query(
          "SELECT priority, run_at, id, sequential FROM durable_jobs WHERE queue_id = ?1 AND "
          "codec = ?2 AND fingerprint = ?3 AND run_at <= ?4 "
          "ORDER BY priority DESC, run_at, id LIMIT ?5",
          queue_id, r.codec, static_cast<std::int64_t>(fingerprint), r.now_ms, max);
      while (q->step()) heads.push_back({q->int64(0), q->int64(1), q->int64(2), q->int64(3) != 0});
    }
    std::sort(heads.begin(), heads.end(), [](const candidate& a, const candidate& b) {
      return std::tie(b.priority, a.run_at, a.id) < std::tie(a.priority, b.run_at, b.id);
    });
    heads.resize(std::min(heads.size(), r.max));
    for (const auto& h : heads) head.emplace_back(h.id, h.sequential);
    return head;
  }
  auto q = c.query(
      "SELECT id, sequential FROM durable_jobs WHERE queue_id = ?1 AND run_at <= ?2 "
      "ORDER BY priority DESC, run_at, id LIMIT ?3",
      queue_id, r.now_ms, max);
  while (q->step()) head.emplace_back(q->int64(0), q->int64(1) != 0);
  return head;
}

/// Claims the consecutive parallel jobs at the head of the queue, up to `r.max`, stopping
/// before a sequential job; a sequential job at the head comes alone. The caller holds a
/// write transaction.
[[nodiscard]] inline std::vector<storage::claimed_row> claim_head(connection& c,
                                                                  std::int64_t queue_id,
                                                                  const storage::claim_request& r) {
  std::vector<storage::claimed_row> out;
  const auto head = claimable_head(c, queue_id, r);
  for (const auto& [id, sequential] : head) {
    if (sequential && !out.empty()) break;
    auto q = c.query("UPDATE durable_jobs " DURABLE_DETAIL_CLAIM_SET
                     "WHERE id = ?5" DURABLE_DETAIL_CLAIM_RETURNING,
                     r.token, r.lease_until_ms, r.claimer, r.now_ms, id);
    if (q->step()) out.push_back(read_claimed(*q, r));
    q->run();
    if (sequential) break;
  }
  return out;
}

#undef DURABLE_DETAIL_CLAIM_SET
#undef DURABLE_DETAIL_CLAIM_RETURNING
#undef DURABLE_DETAIL_CLAIM_TYPE_HEAD
#undef DURABLE_DETAIL_CLAIM_TYPE_HEADS

}  // namespace durable::inline v0::detail::sqlite
