// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Inspection for tools: the queues and dead-letter queues of a database with their
/// counts, a queue's jobs by state, one job with its payload and history. Reads only.
/// Totals come from the catalog's counters (durable_queues.jobs,
/// durable_dead_letter_queues.entries / .redriven); a queue's other counts walk its
/// claim index as count_jobs does. Part of the SQLite layer, the only place SQL lives.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "durable/detail/sqlite/connection.hpp"
#include "durable/detail/sqlite/queue_state.hpp"
#include "durable/detail/sqlite/values.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::sqlite {

/// Every queue of the catalog, by name, with its counts at `now_ms`.
[[nodiscard]] inline std::vector<storage::queue_info> list_queues(connection& c,
                                                                  std::int64_t now_ms) {
  auto q = c.query(
      "SELECT id, name, jobs, hard_limit, soft_limit, paused FROM durable_queues ORDER BY name");
  std::vector<storage::queue_info> out;
  while (q->step()) {
    storage::queue_info info;
    info.name = std::string{q->text(1)};
    info.counts = count_jobs(c, q->int64(0), q->int64(2), now_ms);
    if (!q->is_null(3)) info.settings.hard_limit = q->int64(3);
    if (!q->is_null(4)) info.settings.soft_limit = q->int64(4);
    info.paused = q->int64(5) != 0;
    out.push_back(std::move(info));
  }
  return out;
}

/// The columns of a job_row, in the order read_job_row expects (j: durable_jobs, q: its
/// durable_queues row).
// NOLINTNEXTLINE(cppcoreguidelines-macro-usage): spliced into string literals
#define DURABLE_DETAIL_JOB_ROW_COLUMNS                                                            \
  "j.id, q.name, j.key, j.priority, j.sequential, j.unique_key, j.run_at, j.enqueued_at, "        \
  "j.attempts, j.max_attempts, j.lease_token IS NOT NULL, j.claimed_by, j.codec, j.fingerprint, " \
  "length(j.payload)"

/// Reads a job_row (without payload and history) from columns 0..14.
[[nodiscard]] inline storage::job_row read_job_row(const statement& s) {
  storage::job_row row;
  row.id = s.int64(0);
  row.queue = std::string{s.text(1)};
  row.key = column_key(s, 2);
  row.priority = static_cast<int>(s.int64(3));
  row.sequential = s.int64(4) != 0;
  row.unique = s.int64(5) != 0;
  row.run_at_ms = s.int64(6);
  row.enqueued_at_ms = s.int64(7);
  row.attempts = s.int64(8);
  row.max_attempts = s.int64(9);
  row.leased = s.int64(10) != 0;
  if (!s.is_null(11)) row.claimed_by = std::string{s.text(11)};
  row.codec = std::string{s.text(12)};
  row.fingerprint = static_cast<std::uint64_t>(s.int64(13));
  row.payload_size = s.int64(14);
  return row;
}

/// Up to `limit` jobs of queue `queue_id` in claim order, only those in `state` when given.
[[nodiscard]] inline std::vector<storage::job_row> list_jobs(
    connection& c, std::int64_t queue_id, std::optional<storage::job_state> state,
    std::int64_t now_ms, std::int64_t limit) {
  // ?3: 0 any state, 1 pending, 2 scheduled, 3 claimed.
  auto q = c.query("SELECT " DURABLE_DETAIL_JOB_ROW_COLUMNS
                   " FROM durable_jobs AS j JOIN durable_queues AS q ON q.id = j.queue_id "
                   "WHERE j.queue_id = ?1 AND (?3 = 0 OR (?3 = 1 AND j.run_at <= ?2) OR "
                   "(?3 = 2 AND j.run_at > ?2 AND j.lease_token IS NULL) OR "
                   "(?3 = 3 AND j.run_at > ?2 AND j.lease_token IS NOT NULL)) "
                   "ORDER BY j.priority DESC, j.run_at, j.id LIMIT ?4",
                   queue_id, now_ms,
                   state ? static_cast<std::int64_t>(*state) + 1 : std::int64_t{0}, limit);
  std::vector<storage::job_row> out;
  while (q->step()) out.push_back(read_job_row(*q));
  return out;
}

/// Job `id` of any queue with payload and history; empty when there is none.
[[nodiscard]] inline std::optional<storage::job_row> find_job(connection& c, job_id id) {
  auto q = c.query("SELECT " DURABLE_DETAIL_JOB_ROW_COLUMNS
                   ", j.payload, j.history FROM durable_jobs AS j "
                   "JOIN durable_queues AS q ON q.id = j.queue_id WHERE j.id = ?1",
                   id);
  if (!q->step()) return std::nullopt;
  auto out = read_job_row(*q);
  out.payload = column_bytes(*q, 15);
  out.history = column_history(*q, 16);
  return out;
}

#undef DURABLE_DETAIL_JOB_ROW_COLUMNS

/// Every dead-letter queue with entries, by name: counts from its counters, the oldest and
/// newest failure not redriven from the ends of its time index.
[[nodiscard]] inline std::vector<storage::dead_letter_queue_info> dead_letter_queues(
    connection& c) {
  auto q = c.query(
      "SELECT l.name, l.entries - l.redriven, l.redriven, "
      "(SELECT failed_at FROM durable_dead_letters WHERE dlq_id = l.id AND redriven_at IS NULL "
      "ORDER BY failed_at LIMIT 1), "
      "(SELECT failed_at FROM durable_dead_letters WHERE dlq_id = l.id AND redriven_at IS NULL "
      "ORDER BY failed_at DESC LIMIT 1) "
      "FROM durable_dead_letter_queues AS l WHERE l.entries > 0 ORDER BY l.name");
  std::vector<storage::dead_letter_queue_info> out;
  while (q->step()) {
    storage::dead_letter_queue_info info;
    info.name = std::string{q->text(0)};
    info.entries = q->int64(1);
    info.redriven = q->int64(2);
    if (!q->is_null(3)) info.oldest_failed_ms = q->int64(3);
    if (!q->is_null(4)) info.newest_failed_ms = q->int64(4);
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace durable::inline v0::detail::sqlite
