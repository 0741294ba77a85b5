// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Reading a queue's state: counts, next run-at, one job's history. Part of the PostgreSQL
/// layer. Nothing here scans the queue: the job count is the queue's counters
/// (counters.hpp); the rest reads the first entry of each priority and the jobs not
/// claimable now (scheduled jobs and live leases), as the SQLite backend does.

#include <fmt/format.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "durable/detail/postgres/connection.hpp"
#include "durable/detail/postgres/values.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::postgres {

/// One row per distinct priority of queue $1 (a loose index scan of durable_jobs_claim):
/// its earliest run_at, and its scheduled and live-leased jobs at time $2 (none for
/// $2 = max_ms: no job runs later). Each is an index range scan; pending jobs are not read.
// NOLINTNEXTLINE(cppcoreguidelines-macro-usage): spliced into string literals
#define DURABLE_DETAIL_PG_PRIORITIES                                                          \
  "WITH RECURSIVE p(pr) AS ("                                                                 \
  "(SELECT priority FROM durable_jobs WHERE queue = $1 ORDER BY priority DESC LIMIT 1) "      \
  "UNION ALL SELECT (SELECT priority FROM durable_jobs WHERE queue = $1 AND priority < p.pr " \
  "ORDER BY priority DESC LIMIT 1) FROM p WHERE p.pr IS NOT NULL), "                          \
  "s AS (SELECT (SELECT run_at FROM durable_jobs WHERE queue = $1 AND priority = p.pr "       \
  "ORDER BY run_at LIMIT 1) AS earliest, "                                                    \
  "(SELECT count(*) FROM durable_jobs WHERE queue = $1 AND priority = p.pr AND run_at > $2 "  \
  "AND lease_token IS NULL) AS scheduled, "                                                   \
  "(SELECT count(*) FROM durable_jobs WHERE queue = $1 AND priority = p.pr AND run_at > $2 "  \
  "AND lease_token IS NOT NULL) AS claimed FROM p WHERE p.pr IS NOT NULL) "

/// Counts of `queue` at `now_ms`, in one statement (one snapshot): the total from the
/// queue's counters, scheduled and claimed jobs by index range scans, pending the rest.
[[nodiscard]] inline storage::queue_counts count_jobs(connection& c, std::string_view queue,
                                                      std::int64_t now_ms) {
  const auto r = c.query(DURABLE_DETAIL_PG_PRIORITIES
                         "SELECT (SELECT coalesce(sum(jobs), 0)::int8 FROM durable_queue_counts "
                         "WHERE queue = $1), coalesce(sum(scheduled), 0)::int8, "
                         "coalesce(sum(claimed), 0)::int8, min(earliest) FILTER (WHERE "
                         "earliest <= $2) FROM s",
                         queue, now_ms);
  storage::queue_counts counts;
  counts.scheduled = r.int64(0, 1);
  counts.claimed = r.int64(0, 2);
  counts.pending = r.int64(0, 0) - counts.scheduled - counts.claimed;
  if (!r.is_null(0, 3)) counts.oldest_pending_ms = r.int64(0, 3);
  return counts;
}

/// The earliest run_at of any job in `queue` (claimable or not), if it has jobs.
[[nodiscard]] inline std::optional<std::int64_t> next_run_at(connection& c,
                                                             std::string_view queue) {
  const auto r = c.query(DURABLE_DETAIL_PG_PRIORITIES "SELECT min(earliest) FROM s", queue,
                         std::numeric_limits<std::int64_t>::max());
  if (r.is_null(0, 0)) return std::nullopt;
  return r.int64(0, 0);
}

#undef DURABLE_DETAIL_PG_PRIORITIES

/// A query reading the jsonb `history` of the rows of `table` matching `where` as rows
/// (attempt, type, message, at), oldest first.
[[nodiscard]] inline std::string history_sql(std::string_view table, std::string_view where) {
  return fmt::format(
      "SELECT (h.e->>'attempt')::int8, h.e->>'type', h.e->>'message', (h.e->>'at')::int8 "
      "FROM {0} AS t, jsonb_array_elements(coalesce(t.history, '[]'::jsonb)) WITH ORDINALITY "
      "AS h(e, n) WHERE {1} ORDER BY h.n",
      table, where);
}

/// The history of job `id` of `queue`: its earlier attempts' errors, oldest first.
[[nodiscard]] inline std::vector<attempt_record> job_history(connection& c, std::string_view queue,
                                                             job_id id) {
  static const std::string sql = history_sql("durable_jobs", "t.id = $1 AND t.queue = $2");
  return read_history(c.query(sql, id, queue));
}

}  // namespace durable::inline v0::detail::postgres
