// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// One job's status: in its queue, or moved to a dead-letter queue (found by the job id
/// every moved entry keeps, with its origin: NULL for a job of this file). Part of the
/// SQLite layer, the only place SQL lives.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "durable/detail/sqlite/connection.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::sqlite {

/// The entry holding job `original_id` of the database whose id is `origin` (this file's
/// own id: `self`), in any DLQ of this file. One probe of durable_dead_letters_origin, or
/// of durable_dead_letters_job for a job of this file.
[[nodiscard]] inline std::optional<storage::dead_letter_ref> dead_letter_of(connection& c,
                                                                            std::string_view origin,
                                                                            job_id original_id,
                                                                            std::string_view self) {
  auto q = origin == self ? c.query(
                                "SELECT l.name, d.id FROM durable_dead_letters AS d "
                                "JOIN durable_dead_letter_queues AS l ON l.id = d.dlq_id "
                                "WHERE d.job_id = ?1 AND d.origin IS NULL",
                                original_id)
                          : c.query(
                                "SELECT l.name, d.id FROM durable_dead_letters AS d "
                                "JOIN durable_dead_letter_queues AS l ON l.id = d.dlq_id "
                                "WHERE d.origin = ?1 AND d.job_id = ?2",
                                origin, original_id);
  if (!q->step()) return std::nullopt;
  return storage::dead_letter_ref{std::string{q->text(0)}, q->int64(1)};
}

/// Where job `id` of the queue `queue` (id `queue_id`) is at `now_ms`. The caller holds a
/// read transaction, so a move between the two reads is seen whole.
[[nodiscard]] inline storage::job_status_row job_status(connection& c, std::string_view queue,
                                                        std::int64_t queue_id, job_id id,
                                                        std::int64_t now_ms) {
  storage::job_status_row row;
  {
    auto q = c.query(
        "SELECT lease_token IS NOT NULL, run_at, attempts FROM durable_jobs "
        "WHERE id = ?1 AND queue_id = ?2",
        id, queue_id);
    if (q->step()) {
      const bool leased = q->int64(0) != 0;
      row.run_at_ms = q->int64(1);
      row.attempts = q->int64(2);
      if (row.run_at_ms <= now_ms) {
        row.state = job_state::pending;
      } else {
        row.state = leased ? job_state::claimed : job_state::scheduled;
      }
      return row;
    }
  }
  auto q = c.query(
      "SELECT l.name, d.id, d.attempts FROM durable_dead_letters AS d "
      "JOIN durable_dead_letter_queues AS l ON l.id = d.dlq_id "
      "WHERE d.job_id = ?1 AND d.origin IS NULL AND d.queue = ?2",
      id, queue);
  if (q->step()) {
    row.state = job_state::dead_lettered;
    row.dlq = std::string{q->text(0)};
    row.entry = q->int64(1);
    row.attempts = q->int64(2);
  }
  return row;
}

}  // namespace durable::inline v0::detail::sqlite
