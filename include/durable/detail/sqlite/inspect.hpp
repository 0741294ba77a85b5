// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Inspection for tools: the queues and dead-letter queues of a database with their
/// counts, a queue's jobs by state, one job with its payload and history, and the
/// recorded job-type descriptions. Reads only. Part of the SQLite layer, the only place
/// SQL lives.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "durable/detail/sqlite/connection.hpp"
#include "durable/detail/sqlite/values.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::sqlite {

/// Every queue with settings or jobs, by name, with its counts at `now_ms`.
[[nodiscard]] inline std::vector<storage::queue_info> list_queues(connection& c,
                                                                  std::int64_t now_ms) {
  auto q = c.query(
      "WITH names(name) AS (SELECT name FROM durable_queues "
      "UNION SELECT DISTINCT queue FROM durable_jobs), "
      "counts AS (SELECT queue, sum(run_at <= ?1) AS pending, "
      "sum(lease_token IS NULL AND run_at > ?1) AS scheduled, "
      "sum(lease_token IS NOT NULL AND run_at > ?1) AS claimed, "
      "min(CASE WHEN run_at <= ?1 THEN run_at END) AS oldest "
      "FROM durable_jobs GROUP BY queue) "
      "SELECT n.name, coalesce(k.pending, 0), coalesce(k.scheduled, 0), coalesce(k.claimed, 0), "
      "k.oldest, s.hard_limit, s.soft_limit, coalesce(s.paused, 0) FROM names AS n "
      "LEFT JOIN counts AS k ON k.queue = n.name LEFT JOIN durable_queues AS s ON s.name = n.name "
      "ORDER BY n.name",
      now_ms);
  std::vector<storage::queue_info> out;
  while (q->step()) {
    storage::queue_info info;
    info.name = std::string{q->text(0)};
    info.counts.pending = q->int64(1);
    info.counts.scheduled = q->int64(2);
    info.counts.claimed = q->int64(3);
    if (!q->is_null(4)) info.counts.oldest_pending_ms = q->int64(4);
    if (!q->is_null(5)) info.settings.hard_limit = q->int64(5);
    if (!q->is_null(6)) info.settings.soft_limit = q->int64(6);
    info.paused = q->int64(7) != 0;
    out.push_back(std::move(info));
  }
  return out;
}

/// The columns of a job_row, in the order read_job_row expects.
inline constexpr std::string_view job_row_columns =
    "id, queue, key, priority, sequential, unique_key, run_at, enqueued_at, attempts, "
    "max_attempts, lease_token IS NOT NULL, claimed_by, codec, fingerprint, length(payload)";

/// Reads a job_row (without payload and history) from columns 0..14 (job_row_columns).
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

/// Up to `limit` jobs of `queue` in claim order, only those in `state` when given.
[[nodiscard]] inline std::vector<storage::job_row> list_jobs(
    connection& c, std::string_view queue, std::optional<storage::job_state> state,
    std::int64_t now_ms, std::int64_t limit) {
  // ?3: 0 any state, 1 pending, 2 scheduled, 3 claimed.
  static const std::string sql =
      "SELECT " + std::string{job_row_columns} +
      " FROM durable_jobs WHERE queue = ?1 AND (?3 = 0 OR (?3 = 1 AND run_at <= ?2) OR "
      "(?3 = 2 AND run_at > ?2 AND lease_token IS NULL) OR "
      "(?3 = 3 AND run_at > ?2 AND lease_token IS NOT NULL)) "
      "ORDER BY priority DESC, run_at, id LIMIT ?4";
  const std::int64_t selector = state ? static_cast<std::int64_t>(*state) + 1 : 0;
  auto q = c.query(sql, queue, now_ms, selector, limit);
  std::vector<storage::job_row> out;
  while (q->step()) out.push_back(read_job_row(*q));
  return out;
}

/// Job `id` of any queue with payload and history; empty when there is none.
[[nodiscard]] inline std::optional<storage::job_row> find_job(connection& c, job_id id) {
  static const std::string sql =
      "SELECT " + std::string{job_row_columns} + ", payload FROM durable_jobs WHERE id = ?1";
  std::optional<storage::job_row> out;
  {
    auto q = c.query(sql, id);
    if (!q->step()) return out;
    out = read_job_row(*q);
    out->payload = column_bytes(*q, 15);
  }
  out->history = read_history(
      c.query("SELECT json_extract(h.value, '$.attempt'), json_extract(h.value, '$.type'), "
              "json_extract(h.value, '$.message'), json_extract(h.value, '$.at') "
              "FROM durable_jobs AS j, json_each(j.history) AS h WHERE j.id = ?1 ORDER BY h.key",
              id));
  return out;
}

/// Every dead-letter queue with entries, by name.
[[nodiscard]] inline std::vector<storage::dead_letter_queue_info> dead_letter_queues(
    connection& c) {
  auto q = c.query(
      "SELECT dlq, sum(redriven_at IS NULL), sum(redriven_at IS NOT NULL), "
      "min(CASE WHEN redriven_at IS NULL THEN failed_at END), "
      "max(CASE WHEN redriven_at IS NULL THEN failed_at END) "
      "FROM durable_dead_letters GROUP BY dlq ORDER BY dlq");
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

/// The description recorded for (codec, fingerprint); empty when none was.
[[nodiscard]] inline std::optional<std::string> job_type_description(connection& c,
                                                                     std::string_view codec,
                                                                     std::uint64_t fingerprint) {
  auto q =
      c.query("SELECT description FROM durable_job_types WHERE codec = ?1 AND fingerprint = ?2",
              codec, static_cast<std::int64_t>(fingerprint));
  if (!q->step()) return std::nullopt;
  return std::string{q->text(0)};
}

}  // namespace durable::inline v0::detail::sqlite
