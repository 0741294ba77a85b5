// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The counters of schema version 3: jobs per queue (durable_queue_counts) and entries and
/// redriven entries per DLQ (durable_dead_letter_counts), changed in the same transaction
/// as the rows they count, so that size(), the hard limit and whole-DLQ counts read at
/// most 16 rows instead of scanning. Part of the PostgreSQL layer.
///
/// Contention: a counter row is locked from its update to the commit. One row per queue
/// would make every push, ack and move of a queue wait for the previous one's commit, so a
/// queue has up to 16 rows ("slots") and a session writes the slot of its backend process
/// id: sessions of different workers seldom share a slot, and a count sums the slots.
///
/// Deadlocks: every transaction changes its counters last (nothing is locked after them but
/// more counters), queue counters before DLQ counters, each kind in name order ("C"
/// collation). Two transactions therefore take counter rows in one global order.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "durable/detail/postgres/connection.hpp"
#include "durable/detail/postgres/values.hpp"

namespace durable::inline v0::detail::postgres {

/// The slot this session adds its changes to (a macro: spliced into string literals).
// NOLINTNEXTLINE(cppcoreguidelines-macro-usage)
#define DURABLE_DETAIL_PG_SLOT "pg_backend_pid() % 16"

/// A statement (or data-modifying CTE) adding the rows (queue, n) of `select` to the job
/// counters; `select` must give each queue once, in name order.
[[nodiscard]] inline std::string add_job_counts_sql(std::string_view select) {
  return "INSERT INTO durable_queue_counts AS k (queue, slot, jobs) SELECT "
         "queue, " DURABLE_DETAIL_PG_SLOT ", n FROM (" +
         std::string{select} +
         ") AS d(queue, n) WHERE n <> 0 ORDER BY queue COLLATE \"C\" ON CONFLICT (queue, slot) DO "
         "UPDATE "
         "SET jobs = k.jobs + EXCLUDED.jobs";
}

/// A statement (or data-modifying CTE) adding the rows (dlq, entries, redriven) of
/// `select` to the DLQ counters; `select` must give each DLQ once, in name order.
[[nodiscard]] inline std::string add_dead_letter_counts_sql(std::string_view select) {
  return "INSERT INTO durable_dead_letter_counts AS k (dlq, slot, entries, redriven) SELECT "
         "dlq, " DURABLE_DETAIL_PG_SLOT ", e, r FROM (" +
         std::string{select} +
         ") AS d(dlq, e, r) WHERE e <> 0 OR r <> 0 ORDER BY dlq COLLATE \"C\" ON CONFLICT (dlq, "
         "slot) DO "
         "UPDATE SET entries = k.entries + EXCLUDED.entries, redriven = k.redriven + "
         "EXCLUDED.redriven";
}

#undef DURABLE_DETAIL_PG_SLOT

/// `delete_sql` (a DELETE FROM durable_dead_letters without RETURNING) as one statement
/// that also takes what it deleted off the DLQ counters and returns how many it deleted.
[[nodiscard]] inline std::string counted_dead_letter_delete(std::string_view delete_sql) {
  return "WITH d AS (" + std::string{delete_sql} + " RETURNING dlq, redriven_at), k AS (" +
         add_dead_letter_counts_sql(
             "SELECT dlq, -count(*), -count(redriven_at) FROM d GROUP BY dlq") +
         ") SELECT count(*) FROM d";
}

/// Counter changes by name (queue or DLQ), in name order.
using count_changes = std::map<std::string, std::int64_t, std::less<>>;

/// Adds `n` to the change of `name`.
inline void add_change(count_changes& changes, std::string_view name, std::int64_t n) {
  if (n == 0) return;
  const auto it = changes.find(name);
  if (it == changes.end()) {
    changes.emplace(std::string{name}, n);
  } else {
    it->second += n;
  }
}

/// Runs `sql` with `changes` as $1 text[] (names) and $2 int8[] (amounts).
inline void write_changes(connection& c, const std::string& sql, const count_changes& changes) {
  if (changes.empty()) return;
  std::vector<const count_changes::value_type*> rows;
  rows.reserve(changes.size());
  for (const auto& change : changes) rows.push_back(&change);
  params p;
  p.add_array(oid::text_array, oid::text, rows.size(), [&](std::size_t i, std::string& out) {
    out.append(rows[i]->first);
    return true;
  });
  p.add_array(oid::int8_array, oid::int8, rows.size(), [&](std::size_t i, std::string& out) {
    put_int8(out, rows[i]->second);
    return true;
  });
  c.run(sql, p);
}

/// Adds `jobs` (jobs by queue) to the job counters. Call it after every other change of
/// the transaction.
inline void add_jobs(connection& c, const count_changes& jobs) {
  static const std::string sql = add_job_counts_sql("SELECT * FROM unnest($1::text[], $2::int8[])");
  write_changes(c, sql, jobs);
}

/// Adds `entries` (new entries by DLQ) to the DLQ counters. Call it after every other
/// change of the transaction but the job counters'.
inline void add_dead_letter_entries(connection& c, const count_changes& entries) {
  static const std::string sql = add_dead_letter_counts_sql(
      "SELECT dlq, n, 0::int8 FROM unnest($1::text[], $2::int8[]) AS u(dlq, n)");
  write_changes(c, sql, entries);
}

/// Jobs in `queue`, in any state: the sum of its counters.
[[nodiscard]] inline std::int64_t count_all(connection& c, std::string_view queue) {
  return c
      .query("SELECT coalesce(sum(jobs), 0)::int8 FROM durable_queue_counts WHERE queue = $1",
             queue)
      .int64(0, 0);
}

/// (entries, of which redriven) of `dlq`: the sums of its counters.
[[nodiscard]] inline std::pair<std::int64_t, std::int64_t> dead_letter_counts(
    connection& c, std::string_view dlq) {
  const auto r = c.query(
      "SELECT coalesce(sum(entries), 0)::int8, coalesce(sum(redriven), 0)::int8 "
      "FROM durable_dead_letter_counts WHERE dlq = $1",
      dlq);
  return {r.int64(0, 0), r.int64(0, 1)};
}

}  // namespace durable::inline v0::detail::postgres
