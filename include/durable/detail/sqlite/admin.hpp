// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Administration for tools: pausing and resuming a queue, cancelling a job, and recording
/// a job type's description. Part of the SQLite layer, the only place SQL lives.

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "durable/detail/sqlite/connection.hpp"
#include "durable/detail/sqlite/write_context.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::sqlite {

/// Sets `queue`'s pause flag (durable_queues.paused, read by every claim); false (nothing
/// changed) when the queue has no catalog row.
inline bool set_paused(write_context& ctx, std::string_view queue, bool paused) {
  const auto id = ctx.existing_id(name_kind::queue, queue);
  if (!id) return false;
  ctx.db.run("UPDATE durable_queues SET paused = ?2 WHERE id = ?1", *id, paused);
  ctx.settings_changed(*id);
  return true;
}

/// Deletes job `id` unless it is under a live lease and `claimed_too` is false.
inline storage::cancel_result cancel_job(write_context& ctx, job_id id, std::int64_t now_ms,
                                         bool claimed_too) {
  storage::cancel_result out;
  std::int64_t queue_id = 0;
  {
    auto q = ctx.db.query(
        "SELECT j.queue_id, q.name, j.lease_token IS NOT NULL AND j.run_at > ?2 "
        "FROM durable_jobs AS j JOIN durable_queues AS q ON q.id = j.queue_id WHERE j.id = ?1",
        id, now_ms);
    if (!q->step()) return out;
    queue_id = q->int64(0);
    out.queue = std::string{q->text(1)};
    if (q->int64(2) != 0 && !claimed_too) {
      out.status = storage::cancel_status::claimed;
      return out;
    }
  }
  ctx.before_delete(id_table::jobs, id);
  ctx.db.run("DELETE FROM durable_jobs WHERE id = ?1", id);
  ctx.count_jobs(queue_id, -1);
  out.status = storage::cancel_status::cancelled;
  return out;
}

/// True when a description is recorded for (codec, fingerprint).
[[nodiscard]] inline bool has_job_type(connection& c, std::string_view codec,
                                       std::uint64_t fingerprint) {
  auto q = c.query("SELECT 1 FROM durable_job_types WHERE codec = ?1 AND fingerprint = ?2", codec,
                   static_cast<std::int64_t>(fingerprint));
  return q->step();
}

/// Records the description of (codec, fingerprint) unless one is recorded already.
inline void record_job_type(connection& c, std::string_view codec, std::uint64_t fingerprint,
                            std::string_view description, std::int64_t now_ms) {
  c.run(
      "INSERT INTO durable_job_types (codec, fingerprint, description, recorded_at) "
      "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (codec, fingerprint) DO NOTHING",
      codec, static_cast<std::int64_t>(fingerprint), description, now_ms);
}

/// Every recorded job type, by codec and (unsigned) fingerprint.
[[nodiscard]] inline std::vector<storage::job_type> job_types(connection& c) {
  std::vector<storage::job_type> out;
  auto q = c.query("SELECT codec, fingerprint, description, recorded_at FROM durable_job_types");
  while (q->step()) {
    out.push_back({std::string{q->text(0)}, static_cast<std::uint64_t>(q->int64(1)),
                   std::string{q->text(2)}, q->int64(3)});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.codec, a.fingerprint) < std::tie(b.codec, b.fingerprint);
  });
  return out;
}

}  // namespace durable::inline v0::detail::sqlite
