// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Administration for tools: recording a queue, pausing and resuming it, cancelling a job,
/// and recording a job type's description. Part of the PostgreSQL layer.

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "durable/detail/postgres/connection.hpp"
#include "durable/detail/postgres/counters.hpp"
#include "durable/detail/postgres/values.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::postgres {

/// Gives `queue` a row in durable_queues (default settings) unless it has one.
inline void register_queue(connection& c, std::string_view queue) {
  c.query("INSERT INTO durable_queues (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", queue);
}

/// Sets `queue`'s pause flag (durable_queues.paused, read by every claim); false (nothing
/// changed) when the queue has no row in durable_queues and has never held a job.
inline bool set_paused(connection& c, std::string_view queue, bool paused) {
  return c.query(
              "INSERT INTO durable_queues (name, paused) SELECT $1, $2 "
              "WHERE EXISTS (SELECT 1 FROM durable_queues WHERE name = $1) "
              "OR EXISTS (SELECT 1 FROM durable_queue_counts WHERE queue = $1) "
              "ON CONFLICT (name) DO UPDATE SET paused = EXCLUDED.paused",
              queue, paused)
             .changed() == 1;
}

/// Deletes job `id` (and takes it off its queue's counter) unless it is under a live lease
/// at `now_ms` and `claimed_too` is false. The delete decides on the row's latest version;
/// when it deletes nothing, a second statement says why.
inline storage::cancel_result cancel_job(connection& c, job_id id, std::int64_t now_ms,
                                         bool claimed_too) {
  static const std::string sql =
      "WITH d AS (DELETE FROM durable_jobs WHERE id = $1 AND ($3 OR lease_token IS NULL OR "
      "run_at <= $2) RETURNING queue), k AS (" +
      add_job_counts_sql("SELECT queue, -count(*) FROM d GROUP BY queue") + ") SELECT queue FROM d";
  storage::cancel_result out;
  if (const auto r = c.query(sql, id, now_ms, claimed_too); r.rows() == 1) {
    out.status = storage::cancel_status::cancelled;
    out.queue = std::string{r.text(0, 0)};
    return out;
  }
  if (const auto r = c.query("SELECT queue FROM durable_jobs WHERE id = $1", id); r.rows() == 1) {
    out.status = storage::cancel_status::claimed;
    out.queue = std::string{r.text(0, 0)};
  }
  return out;
}

/// True when a description is recorded for (codec, fingerprint).
[[nodiscard]] inline bool has_job_type(connection& c, std::string_view codec,
                                       std::uint64_t fingerprint) {
  return c.query("SELECT 1 FROM durable_job_types WHERE codec = $1 AND fingerprint = $2", codec,
                 fingerprint)
             .rows() == 1;
}

/// Records the description of (codec, fingerprint) unless one is recorded already.
inline void record_job_type(connection& c, std::string_view codec, std::uint64_t fingerprint,
                            std::string_view description, std::int64_t now_ms) {
  c.query(
      "INSERT INTO durable_job_types (codec, fingerprint, description, recorded_at) "
      "VALUES ($1, $2, $3, $4) ON CONFLICT (codec, fingerprint) DO NOTHING",
      codec, fingerprint, description, now_ms);
}

/// Every recorded job type, by codec and (unsigned) fingerprint.
[[nodiscard]] inline std::vector<storage::job_type> job_types(connection& c) {
  std::vector<storage::job_type> out;
  const auto r =
      c.query("SELECT codec, fingerprint, description, recorded_at FROM durable_job_types");
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back({std::string{r.text(i, 0)}, static_cast<std::uint64_t>(r.int64(i, 1)),
                   std::string{r.text(i, 2)}, r.int64(i, 3)});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.codec, a.fingerprint) < std::tie(b.codec, b.fingerprint);
  });
  return out;
}

}  // namespace durable::inline v0::detail::postgres
