// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// One job's status: in its queue, or moved to a dead-letter queue (found by the origin
/// and job id every moved entry keeps). Part of the PostgreSQL layer.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "durable/detail/postgres/connection.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::postgres {

/// The entry holding job `original_id` of the database whose id is `origin`, in any DLQ of
/// this schema. One probe of the unique (origin, job_id) index.
[[nodiscard]] inline std::optional<storage::dead_letter_ref> dead_letter_of(connection& c,
                                                                            std::string_view origin,
                                                                            job_id original_id) {
  const auto r =
      c.query("SELECT dlq, id FROM durable_dead_letters WHERE origin = $1 AND job_id = $2", origin,
              original_id);
  if (r.rows() == 0) return std::nullopt;
  return storage::dead_letter_ref{std::string{r.text(0, 0)}, r.int64(0, 1)};
}

/// Where job `id` of `queue` is at `now_ms`; `self` is this schema's database id, the
/// origin of its own moved jobs. One statement, so a move between the two reads it makes
/// is seen whole: the job in its queue, else its entry.
[[nodiscard]] inline storage::job_status_row job_status(connection& c, std::string_view queue,
                                                        job_id id, std::int64_t now_ms,
                                                        std::string_view self) {
  const auto r = c.query(
      "SELECT 0, lease_token IS NOT NULL, run_at, attempts, NULL::text, NULL::int8 "
      "FROM durable_jobs WHERE id = $1 AND queue = $2 "
      "UNION ALL SELECT 1, false, 0::int8, attempts, dlq, id FROM durable_dead_letters "
      "WHERE origin = $3 AND job_id = $1 AND queue = $2 "
      "ORDER BY 1 LIMIT 1",
      id, queue, self);
  storage::job_status_row row;
  if (r.rows() == 0) return row;
  row.attempts = r.int64(0, 3);
  if (r.int64(0, 0) == 1) {
    row.state = job_state::dead_lettered;
    row.dlq = std::string{r.text(0, 4)};
    row.entry = r.int64(0, 5);
    return row;
  }
  row.run_at_ms = r.int64(0, 2);
  if (row.run_at_ms <= now_ms) {
    row.state = job_state::pending;
  } else {
    row.state = r.boolean(0, 1) ? job_state::claimed : job_state::scheduled;
  }
  return row;
}

}  // namespace durable::inline v0::detail::postgres
