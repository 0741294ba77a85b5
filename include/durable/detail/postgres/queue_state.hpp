// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Reading a queue's state: counts, next run-at, one job's history. Part of the PostgreSQL
/// layer.

#include <fmt/format.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "durable/detail/postgres/connection.hpp"
#include "durable/detail/postgres/values.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::postgres {

/// Counts of `queue` at `now_ms`.
[[nodiscard]] inline storage::queue_counts count_jobs(connection& c, std::string_view queue,
                                                      std::int64_t now_ms) {
  const auto r = c.query(
      "SELECT count(*) FILTER (WHERE run_at <= $2), "
      "count(*) FILTER (WHERE lease_token IS NULL AND run_at > $2), "
      "count(*) FILTER (WHERE lease_token IS NOT NULL AND run_at > $2), "
      "min(run_at) FILTER (WHERE run_at <= $2) "
      "FROM durable_jobs WHERE queue = $1",
      queue, now_ms);
  storage::queue_counts counts;
  counts.pending = r.int64(0, 0);
  counts.scheduled = r.int64(0, 1);
  counts.claimed = r.int64(0, 2);
  if (!r.is_null(0, 3)) counts.oldest_pending_ms = r.int64(0, 3);
  return counts;
}

/// The earliest run_at of any job in `queue` (claimable or not), if it has jobs.
[[nodiscard]] inline std::optional<std::int64_t> next_run_at(connection& c,
                                                             std::string_view queue) {
  const auto r = c.query("SELECT min(run_at) FROM durable_jobs WHERE queue = $1", queue);
  if (r.is_null(0, 0)) return std::nullopt;
  return r.int64(0, 0);
}

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
