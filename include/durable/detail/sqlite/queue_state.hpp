// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Reading a queue's state: counts, next run-at, keys, one job's history. Part of the
/// SQLite layer, the only place SQL lives.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "durable/detail/sqlite/connection.hpp"
#include "durable/detail/sqlite/values.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::sqlite {

/// Counts of `queue` at `now_ms`.
[[nodiscard]] inline storage::queue_counts count_jobs(connection& c, std::string_view queue,
                                                      std::int64_t now_ms) {
  auto q = c.query(
      "SELECT coalesce(sum(run_at <= ?2), 0), "
      "coalesce(sum(lease_token IS NULL AND run_at > ?2), 0), "
      "coalesce(sum(lease_token IS NOT NULL AND run_at > ?2), 0), "
      "min(CASE WHEN run_at <= ?2 THEN run_at END) "
      "FROM durable_jobs WHERE queue = ?1",
      queue, now_ms);
  storage::queue_counts counts;
  if (q->step()) {
    counts.pending = q->int64(0);
    counts.scheduled = q->int64(1);
    counts.claimed = q->int64(2);
    if (!q->is_null(3)) counts.oldest_pending_ms = q->int64(3);
  }
  return counts;
}

/// The earliest run_at of any job in `queue` (claimable or not), if it has jobs.
[[nodiscard]] inline std::optional<std::int64_t> next_run_at(connection& c,
                                                             std::string_view queue) {
  auto q = c.query("SELECT min(run_at) FROM durable_jobs WHERE queue = ?1", queue);
  if (!q->step() || q->is_null(0)) return std::nullopt;
  return q->int64(0);
}

/// The history of job `id` of `queue`: its earlier attempts' errors, oldest first.
[[nodiscard]] inline std::vector<attempt_record> job_history(connection& c, std::string_view queue,
                                                             job_id id) {
  auto q = c.query("SELECT history FROM durable_jobs WHERE id = ?1 AND queue = ?2", id, queue);
  if (!q->step()) return {};
  return column_history(*q, 0);
}

}  // namespace durable::inline v0::detail::sqlite
