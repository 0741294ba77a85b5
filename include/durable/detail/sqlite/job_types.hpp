// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Job types: the recorded descriptions (durable_job_types) and the claimable jobs of a
/// queue counted per type. Part of the SQLite layer, the only place SQL lives.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "durable/detail/sqlite/connection.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::sqlite {

/// True when (codec, fingerprint) is recorded.
[[nodiscard]] inline bool job_type_recorded(connection& c, std::string_view codec,
                                            std::uint64_t fingerprint) {
  auto q = c.query("SELECT 1 FROM durable_job_types WHERE codec = ?1 AND fingerprint = ?2", codec,
                   static_cast<std::int64_t>(fingerprint));
  return q->step();
}

/// Records a job type unless it is recorded.
inline void record_job_type(connection& c, std::string_view codec, std::uint64_t fingerprint,
                            std::string_view description, std::int64_t now_ms) {
  c.run(
      "INSERT INTO durable_job_types (codec, fingerprint, description, recorded_at) "
      "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (codec, fingerprint) DO NOTHING",
      codec, static_cast<std::int64_t>(fingerprint), description, now_ms);
}

/// Every recorded job type, ordered by codec, fingerprint.
[[nodiscard]] inline std::vector<storage::job_type> job_types(connection& c) {
  auto q = c.query(
      "SELECT codec, fingerprint, description, recorded_at FROM durable_job_types "
      "ORDER BY codec, fingerprint");
  std::vector<storage::job_type> out;
  while (q->step()) {
    out.push_back({std::string{q->text(0)}, static_cast<std::uint64_t>(q->int64(1)),
                   std::string{q->text(2)}, q->int64(3)});
  }
  return out;
}

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
