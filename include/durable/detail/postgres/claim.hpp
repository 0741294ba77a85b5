// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Claim: taking the jobs at the head of a queue under a fenced lease, in one statement
/// with FOR UPDATE SKIP LOCKED, so consumers on many hosts never wait for each other nor
/// take the same job. A job whose lease expired is claimable again; the claim counts the
/// lost attempt and records it. A paused queue (durable_queues.paused, `durable queue
/// pause`) gives nothing: each statement checks the flag once (a one-time filter) before it
/// reads the claim index. Part of the PostgreSQL layer.

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "durable/detail/postgres/connection.hpp"
#include "durable/detail/postgres/values.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::postgres {

// Macros, not constants: the claim statements are built by string-literal concatenation.
// NOLINTBEGIN(cppcoreguidelines-macro-usage)
#define DURABLE_DETAIL_PG_CLAIM_SET                                                          \
  "SET lease_token = $1, run_at = $2, claimed_by = $3, "                                     \
  "attempts = j.attempts + (j.lease_token IS NOT NULL)::int, "                               \
  "history = CASE WHEN j.lease_token IS NULL THEN j.history ELSE coalesce(j.history, "       \
  "'[]'::jsonb) || jsonb_build_array(jsonb_build_object('attempt', j.attempts + 1, 'type', " \
  "'lease_expired', 'message', 'the lease ended before the job was acked or nacked', 'at', " \
  "$4::int8)) END, first_run_at = coalesce(j.first_run_at, $4), ready_at = j.run_at "
#define DURABLE_DETAIL_PG_NOT_PAUSED \
  " AND NOT EXISTS (SELECT 1 FROM durable_queues WHERE name = $5 AND paused) "
#define DURABLE_DETAIL_PG_CLAIM_RETURNING                                            \
  " RETURNING j.id, j.key_int, j.key_text, j.attempts, j.max_attempts, j.priority, " \
  "j.sequential, j.enqueued_at, j.codec, j.fingerprint, j.payload, j.timeout_ms, "   \
  "j.first_run_at, j.ready_at"
// The id of the oldest sequential job of queue $5 (int8's maximum when it has none): one
// probe of the partial index durable_jobs_barrier; an InitPlan, run once per statement.
#define DURABLE_DETAIL_PG_FIRST_SEQUENTIAL                                   \
  "(SELECT coalesce(min(b.id), 9223372036854775807) FROM durable_jobs AS b " \
  "WHERE b.queue = $5 AND b.sequential)"
// The barrier on candidate `c`: older than the queue's oldest sequential job, or that job
// itself when no older job of its queue remains in any state (pending, scheduled, claimed,
// locked by another session or not: a plain read sees every row, so SKIP LOCKED cannot let
// a claim pass a barrier). The search for an older job is an InitPlan, run only when the
// walk of the claim index reaches the sequential job: it walks the primary key down from
// that job, nearest first, so it stops at the first older job of the queue (while the
// barrier waits) or passes the older jobs of other queues once (when it is claimable).
// `id + 0` keeps the condition a filter on the walk of the claim index, which yields the
// candidates in claim order (as an index condition, it made the planner read a bitmap of
// two indexes and sort).
#define DURABLE_DETAIL_PG_BARRIER(c)                                   \
  " AND (" c ".id + 0 < " DURABLE_DETAIL_PG_FIRST_SEQUENTIAL " OR (" c \
  ".id + 0 = " DURABLE_DETAIL_PG_FIRST_SEQUENTIAL                      \
  " AND (SELECT e.id FROM durable_jobs AS e "                          \
  "WHERE e.id < " DURABLE_DETAIL_PG_FIRST_SEQUENTIAL                   \
  " AND e.queue = $5 ORDER BY e.id DESC "                              \
  "LIMIT 1) IS NULL)) "
// NOLINTEND(cppcoreguidelines-macro-usage)

/// The claimed row at `row` of a claim statement (DURABLE_DETAIL_PG_CLAIM_RETURNING).
[[nodiscard]] inline storage::claimed_row read_claimed(const result& r, int row,
                                                       const storage::claim_request& req) {
  storage::claimed_row out;
  out.id = r.int64(row, 0);
  out.token = req.token;
  out.key = r.key(row, 1);
  out.attempts = r.int64(row, 3);
  out.max_attempts = r.int64(row, 4);
  out.priority = static_cast<int>(r.int64(row, 5));
  out.sequential = r.boolean(row, 6);
  out.enqueued_at_ms = r.int64(row, 7);
  out.lease_until_ms = req.lease_until_ms;
  out.codec = std::string{r.text(row, 8)};
  out.fingerprint = static_cast<std::uint64_t>(r.int64(row, 9));
  out.payload = r.owned_bytes(row, 10);
  out.timeout_ms = r.optional_int64(row, 11);
  out.first_run_at_ms = r.int64(row, 12);
  out.ready_at_ms = r.int64(row, 13);
  return out;
}

// Job types (storage::claim_request::fingerprints): a typed claim keeps only rows of codec
// `codec` with one of the fingerprints `fps` (an int8[] parameter), checked within the
// claim index (it holds both, schema version 6) before a row is read; "the head" is the
// head among those. The barrier holds across types: a job of another type still orders it.
// NOLINTBEGIN(cppcoreguidelines-macro-usage): statements built by literal concatenation
#define DURABLE_DETAIL_PG_TYPES(codec, fps) \
  " AND c.codec = " codec " AND c.fingerprint = ANY(" fps "::int8[]) "
#define DURABLE_DETAIL_PG_CLAIM_NEXT(types) \
  "UPDATE durable_jobs AS j " DURABLE_DETAIL_PG_CLAIM_SET                                   \
  "WHERE j.id = (SELECT c.id FROM durable_jobs AS c WHERE c.queue = $5 AND c.run_at <= "    \
  "$4" types DURABLE_DETAIL_PG_NOT_PAUSED DURABLE_DETAIL_PG_BARRIER("c")                    \
  "ORDER BY priority DESC, run_at, id LIMIT 1 FOR UPDATE SKIP "                             \
  "LOCKED)" DURABLE_DETAIL_PG_CLAIM_RETURNING
// The head is locked first (skipping rows other sessions hold), numbered in claim order,
// and cut before its first sequential job (or after it, when it is first).
#define DURABLE_DETAIL_PG_CLAIM_HEAD(types) \
  "WITH head AS MATERIALIZED (SELECT c.id, c.priority, c.run_at, c.sequential FROM "         \
  "durable_jobs AS c WHERE c.queue = $5 AND c.run_at <= $4" types DURABLE_DETAIL_PG_NOT_PAUSED \
  DURABLE_DETAIL_PG_BARRIER("c") "ORDER BY priority DESC, run_at, id LIMIT $6 "              \
  "FOR UPDATE SKIP LOCKED), "                                                                \
  "numbered AS (SELECT id, sequential, row_number() OVER (ORDER BY priority DESC, run_at, "  \
  "id) AS n FROM head), "                                                                    \
  "cut AS (SELECT coalesce(min(n) FILTER (WHERE sequential), $6 + 1) AS first FROM "         \
  "numbered) "                                                                               \
  "UPDATE durable_jobs AS j " DURABLE_DETAIL_PG_CLAIM_SET                                    \
  "FROM numbered, cut WHERE j.id = numbered.id AND "                                         \
  "(numbered.n < cut.first OR (cut.first = 1 AND numbered.n = "                              \
  "1))" DURABLE_DETAIL_PG_CLAIM_RETURNING ", numbered.n"
// NOLINTEND(cppcoreguidelines-macro-usage)

/// The SQL of claim_next (any type; typed: $6 codec, $7 fingerprints), for plan tests.
inline constexpr const char* claim_next_sql = DURABLE_DETAIL_PG_CLAIM_NEXT("");
inline constexpr const char* claim_next_typed_sql =
    DURABLE_DETAIL_PG_CLAIM_NEXT(DURABLE_DETAIL_PG_TYPES("$6", "$7"));

/// The SQL of claim_head ($6 the most; typed: $7 codec, $8 fingerprints), for plan tests.
inline constexpr const char* claim_head_sql = DURABLE_DETAIL_PG_CLAIM_HEAD("");
inline constexpr const char* claim_head_typed_sql =
    DURABLE_DETAIL_PG_CLAIM_HEAD(DURABLE_DETAIL_PG_TYPES("$7", "$8"));

/// Adds the claim's common parameters ($1..$5) to `p`.
inline void add_claim_params(params& p, const storage::claim_request& r) {
  add_all(p, r.token, r.lease_until_ms, r.claimer, r.now_ms, r.queue);
}

/// Adds the accepted job types of `r` (codec, fingerprints as int8[]) to `p`.
inline void add_type_params(params& p, const storage::claim_request& r) {
  p.add(r.codec);
  p.add_array(oid::int8_array, oid::int8, r.fingerprints.size(),
              [&](std::size_t i, std::string& out) {
                put_int8(out, static_cast<std::int64_t>(r.fingerprints[i]));
                return true;
              });
}

/// Claims the first claimable job of the queue (by priority desc, run_at, id) of the
/// accepted types that no other session is claiming or finishing, in one statement.
[[nodiscard]] inline std::vector<storage::claimed_row> claim_next(connection& c,
                                                                  const storage::claim_request& r) {
  params p;
  add_claim_params(p, r);
  if (!r.fingerprints.empty()) add_type_params(p, r);
  const auto res = c.run(r.fingerprints.empty() ? claim_next_sql : claim_next_typed_sql, p);
  std::vector<storage::claimed_row> out;
  if (res.rows() == 1) out.push_back(read_claimed(res, 0, r));
  return out;
}

/// Claims the consecutive parallel jobs at the head of the queue (among the accepted
/// types), up to `r.max`, stopping before a sequential job; a sequential job at the head
/// comes alone. One statement.
[[nodiscard]] inline std::vector<storage::claimed_row> claim_head(connection& c,
                                                                  const storage::claim_request& r) {
  params p;
  add_claim_params(p, r);
  p.add(static_cast<std::int64_t>(r.max));
  if (!r.fingerprints.empty()) add_type_params(p, r);
  const auto res = c.run(r.fingerprints.empty() ? claim_head_sql : claim_head_typed_sql, p);
  std::vector<std::pair<std::int64_t, storage::claimed_row>> rows;
  rows.reserve(static_cast<std::size_t>(res.rows()));
  for (int i = 0; i < res.rows(); ++i) rows.emplace_back(res.int64(i, 14), read_claimed(res, i, r));
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<storage::claimed_row> out;
  out.reserve(rows.size());
  for (auto& [n, row] : rows) out.push_back(std::move(row));
  return out;
}

/// Claimable jobs (run_at <= `now_ms`) of `queue` per type: a walk of the claim index.
[[nodiscard]] inline std::vector<storage::job_type_count> count_job_types(connection& c,
                                                                          std::string_view queue,
                                                                          std::int64_t now_ms) {
  const auto r = c.query(
      "SELECT codec, fingerprint, count(*) FROM durable_jobs WHERE queue = $1 AND run_at <= $2 "
      "GROUP BY codec, fingerprint",
      queue, now_ms);
  std::vector<storage::job_type_count> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back(
        {std::string{r.text(i, 0)}, static_cast<std::uint64_t>(r.int64(i, 1)), r.int64(i, 2)});
  }
  return out;
}

#undef DURABLE_DETAIL_PG_CLAIM_SET
#undef DURABLE_DETAIL_PG_CLAIM_RETURNING
#undef DURABLE_DETAIL_PG_NOT_PAUSED
#undef DURABLE_DETAIL_PG_BARRIER
#undef DURABLE_DETAIL_PG_FIRST_SEQUENTIAL
#undef DURABLE_DETAIL_PG_TYPES
#undef DURABLE_DETAIL_PG_CLAIM_NEXT
#undef DURABLE_DETAIL_PG_CLAIM_HEAD

}  // namespace durable::inline v0::detail::postgres
