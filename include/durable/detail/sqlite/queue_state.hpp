// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Reading a queue's state: counts, next run-at, one job's history. Part of the SQLite
/// layer, the only place SQL lives.
///
/// Nothing here scans the queue: the job count is a counter (durable_queues.jobs); the
/// rest walks the claim index (queue_id, priority DESC, run_at, ...) one priority at a time,
/// reading the first entry of each and the entries not claimable now (scheduled jobs and
/// live leases). So stats() costs O(priorities · log n + jobs not claimable now).

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "durable/detail/sqlite/connection.hpp"
#include "durable/detail/sqlite/values.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::sqlite {

// One row per distinct priority of queue ?1: the priority, its earliest run_at, and its
// scheduled and live-leased jobs at time ?2 (0 for ?2 = max_ms: only the first column).
inline constexpr std::string_view priorities_sql =
    "WITH RECURSIVE p(pr) AS ("
    "SELECT (SELECT priority FROM durable_jobs WHERE queue_id = ?1 "
    "ORDER BY priority DESC LIMIT 1) "
    "UNION ALL SELECT (SELECT priority FROM durable_jobs WHERE queue_id = ?1 AND priority < p.pr "
    "ORDER BY priority DESC LIMIT 1) FROM p WHERE p.pr IS NOT NULL) "
    "SELECT (SELECT min(run_at) FROM durable_jobs WHERE queue_id = ?1 AND priority = p.pr), "
    "(SELECT count(*) FROM durable_jobs WHERE queue_id = ?1 AND priority = p.pr AND run_at > ?2 "
    "AND lease_token IS NULL), "
    "(SELECT count(*) FROM durable_jobs WHERE queue_id = ?1 AND priority = p.pr AND run_at > ?2 "
    "AND lease_token IS NOT NULL) "
    "FROM p WHERE p.pr IS NOT NULL";

/// Counts of queue `queue_id` holding `total` jobs (its counter) at `now_ms`. Run inside
/// a read transaction with the counter's read.
[[nodiscard]] inline storage::queue_counts count_jobs(connection& c, std::int64_t queue_id,
                                                      std::int64_t total, std::int64_t now_ms) {
  storage::queue_counts counts;
  auto q = c.query(priorities_sql, queue_id, now_ms);
  while (q->step()) {
    const auto earliest = q->int64(0);
    if (earliest <= now_ms) {
      counts.oldest_pending_ms = std::min(counts.oldest_pending_ms.value_or(earliest), earliest);
    }
    counts.scheduled += q->int64(1);
    counts.claimed += q->int64(2);
  }
  counts.pending = total - counts.scheduled - counts.claimed;
  return counts;
}

/// The earliest run_at of any job in queue `queue_id` (claimable or not), if it has jobs.
[[nodiscard]] inline std::optional<std::int64_t> next_run_at(connection& c, std::int64_t queue_id) {
  auto q = c.query(priorities_sql, queue_id, max_ms);
  std::optional<std::int64_t> earliest;
  while (q->step()) earliest = std::min(earliest.value_or(q->int64(0)), q->int64(0));
  return earliest;
}

/// The history of job `id` of queue `queue_id`: its earlier attempts' errors, oldest first.
[[nodiscard]] inline std::vector<attempt_record> job_history(connection& c, std::int64_t queue_id,
                                                             job_id id) {
  auto q =
      c.query("SELECT history FROM durable_jobs WHERE id = ?1 AND queue_id = ?2", id, queue_id);
  if (!q->step()) return {};
  return column_history(*q, 0);
}

}  // namespace durable::inline v0::detail::sqlite
