// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Push: the one path every job enters a queue by (push, push_many, redrive), with the
/// queue's hard limit and unique keys, and the queue settings it reads them from. Part
/// of the SQLite layer, the only place SQL lives. Writes run in a group transaction
/// (write_context); reads take the connection they run on.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "durable/detail/sqlite/catalog.hpp"
#include "durable/detail/sqlite/connection.hpp"
#include "durable/detail/sqlite/values.hpp"
#include "durable/detail/sqlite/write_context.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::sqlite {

/// Stores `settings` for `queue`.
inline void configure_queue(write_context& ctx, std::string_view queue,
                            const storage::queue_settings& settings) {
  const auto id = ctx.id_of(name_kind::queue, queue);
  ctx.db.run("UPDATE durable_queues SET hard_limit = ?2, soft_limit = ?3 WHERE id = ?1", id,
             settings.hard_limit, settings.soft_limit);
  ctx.settings_changed(id);
}

/// The stored settings of `queue`.
[[nodiscard]] inline storage::queue_settings queue_settings(connection& c, std::string_view queue) {
  auto q = c.query("SELECT hard_limit, soft_limit FROM durable_queues WHERE name = ?1", queue);
  storage::queue_settings s;
  if (q->step()) {
    if (!q->is_null(0)) s.hard_limit = q->int64(0);
    if (!q->is_null(1)) s.soft_limit = q->int64(1);
  }
  return s;
}

/// The id of a job in queue `queue_id` with `key` (pending or claimed), if there is one.
[[nodiscard]] inline std::optional<job_id> find_by_key(connection& c, std::int64_t queue_id,
                                                       const job_key& key) {
  auto q = c.query("SELECT id FROM durable_jobs WHERE queue_id = ?1 AND key = ?2 LIMIT 1");
  q->bind(1, queue_id);
  bind_key(*q, 2, key);
  if (!q->step()) return std::nullopt;
  return q->int64(0);
}

/// The columns of an inserted job, in the order bind_job binds them (a macro: the
/// statements are built by string-literal concatenation).
// NOLINTNEXTLINE(cppcoreguidelines-macro-usage)
#define DURABLE_DETAIL_JOB_COLUMNS                                                    \
  "(id, queue_id, priority, run_at, attempts, max_attempts, sequential, unique_key, " \
  "enqueued_at, key, codec, fingerprint, history, payload, timeout_ms)"
inline constexpr int job_parameters = 15;

/// Binds `job`, as row `id` of queue `queue_id`, to parameters `first`.. of `q`.
inline void bind_job(statement& q, int first, job_id id, std::int64_t queue_id,
                     const storage::new_job& job) {
  q.bind_all_from(first, id, queue_id, job.priority, job.run_at_ms, job.attempts, job.max_attempts,
                  job.sequential, job.unique && job.key != nullptr, job.enqueued_at_ms);
  bind_key(q, first + 9, job.key);
  q.bind_all_from(first + 10, job.codec, static_cast<std::int64_t>(job.fingerprint));
  if (job.history_json.empty()) {
    q.bind(first + 12, std::nullopt);
  } else {
    q.bind(first + 12, job.history_json);
  }
  q.bind_all_from(first + 13, job.payload, job.timeout_ms);
}

/// Jobs per multi-row INSERT of push_jobs: SQLite's work per statement is paid once for
/// them (about a third of a 64-byte push in a batch).
inline constexpr std::size_t insert_batch = 32;

/// Inserts `jobs` (one, or insert_batch of them) as rows `first_id`, `first_id` + 1, ... of
/// queue `queue_id` in one statement.
inline void insert_jobs(connection& c, job_id first_id, std::int64_t queue_id,
                        std::span<const storage::new_job> jobs) {
  static const std::string one = "INSERT INTO durable_jobs " DURABLE_DETAIL_JOB_COLUMNS " VALUES " +
                                 value_rows(1, job_parameters);
  static const std::string batch = "INSERT INTO durable_jobs " DURABLE_DETAIL_JOB_COLUMNS
                                   " VALUES " +
                                   value_rows(insert_batch, job_parameters);
  auto q = c.query(jobs.size() == 1 ? one : batch);
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    bind_job(*q, static_cast<int>(i) * job_parameters + 1, first_id + static_cast<job_id>(i),
             queue_id, jobs[i]);
  }
  q->run();
}
#undef DURABLE_DETAIL_JOB_COLUMNS

/// Pushes one job through the limits of its queue: a unique key already queued (also by
/// an earlier call of the same transaction) gives `duplicate`, a queue at its hard limit
/// gives `full`.
inline storage::pushed push_job(write_context& ctx, const storage::new_job& job) {
  const auto queue_id = ctx.id_of(name_kind::queue, job.queue);
  if (job.unique && job.key != nullptr) {
    if (auto existing = find_by_key(ctx.db, queue_id, *job.key)) {
      return {*existing, storage::push_status::duplicate};
    }
  }
  const auto row = ctx.queue(queue_id);
  if (row.hard_limit && row.jobs >= *row.hard_limit) return {0, storage::push_status::full};
  const auto id = ctx.next_id(id_table::jobs);
  insert_jobs(ctx.db, id, queue_id, {&job, 1});
  ctx.inserted(id_table::jobs, id);
  ctx.count_jobs(queue_id, 1);
  return {id, storage::push_status::created};
}

/// Pushes `jobs` in order (push_job for each); a run of insert_batch jobs without unique
/// keys into one queue without a hard limit is inserted by one statement. With
/// `all_or_nothing`, the first job refused as `full` discards the call's changes and ends it.
inline std::vector<storage::pushed> push_jobs(write_context& ctx,
                                              std::span<const storage::new_job> jobs,
                                              storage::push_mode mode) {
  std::vector<storage::pushed> out;
  out.reserve(jobs.size());
  while (out.size() < jobs.size()) {
    const auto rest = jobs.subspan(out.size());
    const auto plain = [&](const storage::new_job& j) {
      return !(j.unique && j.key != nullptr) && j.queue == rest.front().queue;
    };
    if (rest.size() >= insert_batch &&
        std::all_of(rest.begin(), rest.begin() + insert_batch, plain)) {
      const auto queue_id = ctx.id_of(name_kind::queue, rest.front().queue);
      if (!ctx.queue(queue_id).hard_limit) {
        const auto first = ctx.next_id(id_table::jobs, insert_batch);
        insert_jobs(ctx.db, first, queue_id, rest.first(insert_batch));
        ctx.inserted(id_table::jobs, first + static_cast<job_id>(insert_batch) - 1);
        ctx.count_jobs(queue_id, static_cast<std::int64_t>(insert_batch));
        for (std::size_t i = 0; i < insert_batch; ++i) {
          out.push_back({first + static_cast<job_id>(i), storage::push_status::created});
        }
        continue;
      }
    }
    out.push_back(push_job(ctx, rest.front()));
    if (out.back().status == storage::push_status::full &&
        mode == storage::push_mode::all_or_nothing) {
      ctx.discard();
      break;
    }
  }
  return out;
}

}  // namespace durable::inline v0::detail::sqlite
