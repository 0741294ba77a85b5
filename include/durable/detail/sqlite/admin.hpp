// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Administration for tools: registering, pausing and resuming a queue, cancelling a job,
/// and recording a job type's description. Part of the SQLite layer, the only place SQL lives.

#include <cstdint>
#include <string_view>

#include "durable/detail/sqlite/connection.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::sqlite {

/// Sets `queue`'s pause flag; false (nothing changed) when the queue has neither settings
/// nor jobs. The caller holds a write transaction.
inline bool set_paused(connection& c, std::string_view queue, bool paused) {
  return c.run(
             "INSERT INTO durable_queues (name, paused) "
             "SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM durable_queues WHERE name = ?1) "
             "OR EXISTS (SELECT 1 FROM durable_jobs WHERE queue = ?1) "
             "ON CONFLICT (name) DO UPDATE SET paused = ?2",
             queue, paused) == 1;
}

/// True when `queue` has an entry in durable_queues.
[[nodiscard]] inline bool has_queue(connection& c, std::string_view queue) {
  auto q = c.query("SELECT 1 FROM durable_queues WHERE name = ?1", queue);
  return q->step();
}

/// Gives `queue` an entry in durable_queues (default settings) unless it has one.
inline void register_queue(connection& c, std::string_view queue) {
  c.run("INSERT INTO durable_queues (name) VALUES (?1) ON CONFLICT (name) DO NOTHING", queue);
}

/// Deletes job `id` unless it is under a live lease and `claimed_too` is false. The
/// caller holds a write transaction.
inline storage::cancel_result cancel_job(connection& c, job_id id, std::int64_t now_ms,
                                         bool claimed_too) {
  storage::cancel_result out;
  {
    auto q = c.query(
        "SELECT queue, lease_token IS NOT NULL AND run_at > ?2 FROM durable_jobs "
        "WHERE id = ?1",
        id, now_ms);
    if (!q->step()) return out;
    out.queue = std::string{q->text(0)};
    if (q->int64(1) != 0 && !claimed_too) {
      out.status = storage::cancel_status::claimed;
      return out;
    }
  }
  c.run("DELETE FROM durable_jobs WHERE id = ?1", id);
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

}  // namespace durable::inline v0::detail::sqlite
