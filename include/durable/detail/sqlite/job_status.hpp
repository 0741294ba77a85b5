// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// One job's status: in its queue, or moved to a dead-letter queue (found by the
/// (origin, job_id) every moved entry keeps). Part of the SQLite layer, the only place
/// SQL lives.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "durable/detail/sqlite/connection.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::sqlite {

/// The entry holding job `original_id` of database `origin`, if any.
[[nodiscard]] inline std::optional<storage::dead_letter_ref> dead_letter_of(connection& c,
                                                                            std::string_view origin,
                                                                            job_id original_id) {
  auto q = c.query("SELECT dlq, id FROM durable_dead_letters WHERE origin = ?1 AND job_id = ?2",
                   origin, original_id);
  if (!q->step()) return std::nullopt;
  return storage::dead_letter_ref{std::string{q->text(0)}, q->int64(1)};
}

/// Where job `id` of `queue` is at `now_ms`; `origin` is this database's id. The caller
/// holds a read transaction, so a move between the two reads is seen whole.
[[nodiscard]] inline storage::job_status_row job_status(connection& c, std::string_view queue,
                                                        job_id id, std::int64_t now_ms,
                                                        std::string_view origin) {
  storage::job_status_row row;
  {
    auto q = c.query(
        "SELECT lease_token IS NOT NULL, run_at, attempts FROM durable_jobs "
        "WHERE id = ?1 AND queue = ?2",
        id, queue);
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
      "SELECT dlq, id, attempts FROM durable_dead_letters "
      "WHERE origin = ?1 AND job_id = ?2 AND queue = ?3",
      origin, id, queue);
  if (q->step()) {
    row.state = job_state::dead_lettered;
    row.dlq = std::string{q->text(0)};
    row.entry = q->int64(1);
    row.attempts = q->int64(2);
  }
  return row;
}

}  // namespace durable::inline v0::detail::sqlite
