// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Push: the one path every job enters a queue by (push, push_many, redrive), with the
/// queue's hard limit and unique keys, and the queue settings it reads them from. Part
/// of the SQLite layer, the only place SQL lives. Callers hold a write transaction.

#include <cstdint>
#include <optional>
#include <string_view>

#include "durable/detail/sqlite/connection.hpp"
#include "durable/detail/sqlite/values.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::sqlite {

/// Stores `settings` for `queue`.
inline void configure_queue(connection& c, std::string_view queue,
                            const storage::queue_settings& settings) {
  c.run(
      "INSERT INTO durable_queues (name, hard_limit, soft_limit) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (name) DO UPDATE SET hard_limit = ?2, soft_limit = ?3",
      queue, settings.hard_limit, settings.soft_limit);
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

/// Number of jobs in `queue`, in any state.
[[nodiscard]] inline std::int64_t count_all(connection& c, std::string_view queue) {
  auto q = c.query("SELECT count(*) FROM durable_jobs WHERE queue = ?1", queue);
  return q->step() ? q->int64(0) : 0;
}

/// The id of a job in `queue` with `key` (pending or claimed), if there is one.
[[nodiscard]] inline std::optional<job_id> find_by_key(connection& c, std::string_view queue,
                                                       const job_key& key) {
  auto q = c.query("SELECT id FROM durable_jobs WHERE queue = ?1 AND key = ?2 LIMIT 1");
  q->bind(1, queue);
  bind_key(*q, 2, key);
  if (!q->step()) return std::nullopt;
  return q->int64(0);
}

/// Inserts `job` as it is; returns its id.
inline job_id insert_job(connection& c, const storage::new_job& job) {
  auto q = c.query(
      "INSERT INTO durable_jobs (queue, key, priority, run_at, enqueued_at, sequential, "
      "attempts, codec, fingerprint, payload, history, max_attempts, unique_key, timeout_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)");
  q->bind(1, job.queue);
  bind_key(*q, 2, job.key);
  q->bind_all_from(3, job.priority, job.run_at_ms, job.enqueued_at_ms, job.sequential, job.attempts,
                   job.codec, static_cast<std::int64_t>(job.fingerprint), job.payload);
  if (job.history_json.empty()) {
    q->bind(11, std::nullopt);
  } else {
    q->bind(11, job.history_json);
  }
  q->bind_all_from(12, job.max_attempts, job.unique && job.key != nullptr, job.timeout_ms);
  q->run();
  return c.last_insert_rowid();
}

/// Pushes one job through the limits of its queue: a unique key already queued gives
/// `duplicate`, a queue at its hard limit gives `full`. `sizes` caches each queue's size
/// and limit for the rest of the transaction.
class push_path {
 public:
  explicit push_path(connection& c) : c_(c) {}

  storage::pushed push(const storage::new_job& job) {
    if (job.unique && job.key != nullptr) {
      if (auto existing = find_by_key(c_, job.queue, *job.key)) {
        return {*existing, storage::push_status::duplicate};
      }
    }
    auto& limit = limit_of(job.queue);
    if (limit.hard && limit.size >= *limit.hard) return {0, storage::push_status::full};
    const auto id = insert_job(c_, job);
    if (limit.hard) ++limit.size;
    return {id, storage::push_status::created};
  }

 private:
  struct queue_limit {
    std::string queue;
    std::optional<std::int64_t> hard;
    std::int64_t size = 0;
  };

  queue_limit& limit_of(std::string_view queue) {
    if (last_ != nullptr && last_->queue == queue) return *last_;
    for (auto& l : limits_) {
      if (l.queue == queue) return *(last_ = &l);
    }
    queue_limit l{std::string{queue}, queue_settings(c_, queue).hard_limit, 0};
    if (l.hard) l.size = count_all(c_, queue);
    limits_.push_back(std::move(l));
    last_ = nullptr;  // push_back may move the elements
    return *(last_ = &limits_.back());
  }

  connection& c_;
  std::vector<queue_limit> limits_;
  queue_limit* last_ = nullptr;
};

}  // namespace durable::inline v0::detail::sqlite
