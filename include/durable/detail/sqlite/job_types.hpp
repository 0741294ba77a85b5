// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Job types: the claimable jobs of a queue counted per type (the recorded descriptions,
/// durable_job_types, are in admin.hpp). Part of the SQLite layer, the only place SQL lives.

#include <cstdint>
#include <string>
#include <vector>

#include "durable/detail/sqlite/connection.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::sqlite {

/// Claimable jobs of queue `queue_id` per type: an index-only scan of durable_jobs_claim.
[[nodiscard]] inline std::vector<storage::job_type_count> count_job_types(connection& c,
                                                                          std::int64_t queue_id,
                                                                          std::int64_t now_ms) {
  auto q = c.query(
      "SELECT codec, fingerprint, count(*) FROM durable_jobs WHERE queue_id = ?1 AND "
      "run_at <= ?2 GROUP BY codec, fingerprint",
      queue_id, now_ms);
  std::vector<storage::job_type_count> out;
  while (q->step()) {
    out.push_back({std::string{q->text(0)}, static_cast<std::uint64_t>(q->int64(1)), q->int64(2)});
  }
  return out;
}

}  // namespace durable::inline v0::detail::sqlite
