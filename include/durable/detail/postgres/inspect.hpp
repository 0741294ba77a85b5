// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Inspection for tools: the queues and dead-letter queues of a database with their
/// counts, a queue's jobs by state, one job with its payload and history. Reads only.
/// Totals come from the counters (counters.hpp); a queue's other counts read its claim
/// index as count_jobs does. Part of the PostgreSQL layer.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "durable/detail/postgres/connection.hpp"
#include "durable/detail/postgres/queue_state.hpp"
#include "durable/detail/postgres/values.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::postgres {

/// Every queue with a row in durable_queues or counters (it held jobs once), by name, with
/// its counts at `now_ms`. The caller holds a transaction, so all of it is one snapshot.
[[nodiscard]] inline std::vector<storage::queue_info> list_queues(connection& c,
                                                                  std::int64_t now_ms) {
  const auto r = c.query(
      "SELECT n.name, q.hard_limit, q.soft_limit, coalesce(q.paused, false) FROM "
      "(SELECT name FROM durable_queues UNION SELECT queue FROM durable_queue_counts) AS n "
      "LEFT JOIN durable_queues AS q ON q.name = n.name ORDER BY n.name COLLATE \"C\"");
  std::vector<storage::queue_info> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    storage::queue_info info;
    info.name = std::string{r.text(i, 0)};
    info.counts = count_jobs(c, info.name, now_ms);
    if (!r.is_null(i, 1)) info.settings.hard_limit = r.int64(i, 1);
    if (!r.is_null(i, 2)) info.settings.soft_limit = r.int64(i, 2);
    info.paused = r.boolean(i, 3);
    out.push_back(std::move(info));
  }
  return out;
}

// NOLINTBEGIN(cppcoreguidelines-macro-usage): spliced into string literals
/// The columns of a job_row, in the order read_job_row expects.
#define DURABLE_DETAIL_PG_JOB_ROW_COLUMNS                                                 \
  "id, queue, key_int, key_text, priority, sequential, unique_key, run_at, enqueued_at, " \
  "attempts, max_attempts, lease_token IS NOT NULL, claimed_by, codec, fingerprint, "     \
  "octet_length(payload)::int8"
// NOLINTEND(cppcoreguidelines-macro-usage)

/// Reads a job_row (without payload and history) from columns 0..15 of `row`.
[[nodiscard]] inline storage::job_row read_job_row(const result& r, int row) {
  storage::job_row out;
  out.id = r.int64(row, 0);
  out.queue = std::string{r.text(row, 1)};
  out.key = r.key(row, 2);
  out.priority = static_cast<int>(r.int64(row, 4));
  out.sequential = r.boolean(row, 5);
  out.unique = r.boolean(row, 6);
  out.run_at_ms = r.int64(row, 7);
  out.enqueued_at_ms = r.int64(row, 8);
  out.attempts = r.int64(row, 9);
  out.max_attempts = r.int64(row, 10);
  out.leased = r.boolean(row, 11);
  if (!r.is_null(row, 12)) out.claimed_by = std::string{r.text(row, 12)};
  out.codec = std::string{r.text(row, 13)};
  out.fingerprint = static_cast<std::uint64_t>(r.int64(row, 14));
  out.payload_size = r.int64(row, 15);
  return out;
}

/// Up to `limit` jobs of `queue` in claim order (the claim index), only those in `state`
/// at `now_ms` when given.
[[nodiscard]] inline std::vector<storage::job_row> list_jobs(
    connection& c, std::string_view queue, std::optional<storage::job_state> state,
    std::int64_t now_ms, std::int64_t limit) {
  // $3: 0 any state, 1 pending, 2 scheduled, 3 claimed.
  const auto r = c.query("SELECT " DURABLE_DETAIL_PG_JOB_ROW_COLUMNS
                         " FROM durable_jobs WHERE queue = $1 AND ($3 = 0 OR ($3 = 1 AND "
                         "run_at <= $2) OR ($3 = 2 AND run_at > $2 AND lease_token IS NULL) OR "
                         "($3 = 3 AND run_at > $2 AND lease_token IS NOT NULL)) "
                         "ORDER BY priority DESC, run_at, id LIMIT $4",
                         queue, now_ms,
                         state ? static_cast<std::int64_t>(*state) + 1 : std::int64_t{0}, limit);
  std::vector<storage::job_row> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) out.push_back(read_job_row(r, i));
  return out;
}

/// Job `id` of any queue with payload and history; empty when there is none. The caller
/// holds a transaction, so both statements see one snapshot.
[[nodiscard]] inline std::optional<storage::job_row> find_job(connection& c, job_id id) {
  static const std::string history = history_sql("durable_jobs", "t.id = $1");
  std::optional<storage::job_row> out;
  const auto r = c.query(
      "SELECT " DURABLE_DETAIL_PG_JOB_ROW_COLUMNS ", payload FROM durable_jobs WHERE id = $1", id);
  if (r.rows() == 0) return out;
  out = read_job_row(r, 0);
  out->payload = r.owned_bytes(0, 16);
  out->history = read_history(c.query(history, id));
  return out;
}

#undef DURABLE_DETAIL_PG_JOB_ROW_COLUMNS

/// Every dead-letter queue with entries, by name: counts from its counters, the oldest and
/// newest failure not redriven from the ends of its time index.
[[nodiscard]] inline std::vector<storage::dead_letter_queue_info> dead_letter_queues(
    connection& c) {
  const auto r = c.query(
      "SELECT l.dlq, l.entries - l.redriven, l.redriven, "
      "(SELECT failed_at FROM durable_dead_letters WHERE dlq = l.dlq AND redriven_at IS NULL "
      "ORDER BY failed_at LIMIT 1), "
      "(SELECT failed_at FROM durable_dead_letters WHERE dlq = l.dlq AND redriven_at IS NULL "
      "ORDER BY failed_at DESC LIMIT 1) "
      "FROM (SELECT dlq, sum(entries)::int8 AS entries, sum(redriven)::int8 AS redriven "
      "FROM durable_dead_letter_counts GROUP BY dlq) AS l WHERE l.entries > 0 "
      "ORDER BY l.dlq COLLATE \"C\"");
  std::vector<storage::dead_letter_queue_info> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    storage::dead_letter_queue_info info;
    info.name = std::string{r.text(i, 0)};
    info.entries = r.int64(i, 1);
    info.redriven = r.int64(i, 2);
    if (!r.is_null(i, 3)) info.oldest_failed_ms = r.int64(i, 3);
    if (!r.is_null(i, 4)) info.newest_failed_ms = r.int64(i, 4);
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace durable::inline v0::detail::postgres
