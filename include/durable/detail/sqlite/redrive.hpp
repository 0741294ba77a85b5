// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Redrive: putting dead-lettered jobs back on a queue of the same file through the push
/// path (hard limit, unique keys) and marking the entries, in one transaction, so each
/// entry is redriven once. Part of the SQLite layer, the only place SQL lives.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "durable/detail/sqlite/connection.hpp"
#include "durable/detail/sqlite/push.hpp"
#include "durable/detail/sqlite/values.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::sqlite {

/// Marks entry `id` redriven at `at_ms`; false when it already was (or is gone).
inline bool mark_redriven(connection& c, std::string_view dlq, dead_letter_id id,
                          std::int64_t at_ms) {
  return c.run(
             "UPDATE durable_dead_letters SET redriven_at = ?3 "
             "WHERE id = ?1 AND dlq = ?2 AND redriven_at IS NULL",
             id, dlq, at_ms) == 1;
}

/// Reads entry `id` and pushes its job; empty when a check decided first (`out.status`).
inline std::optional<storage::pushed> read_and_push(connection& c, push_path& push,
                                                    const storage::redrive_request& r,
                                                    dead_letter_id id, std::string_view database_id,
                                                    storage::redriven_entry& out) {
  auto q = c.query(
      "SELECT origin, queue, key, priority, sequential, codec, fingerprint, payload, history, "
      "enqueued_at, unique_key, max_attempts, redrive_policy FROM durable_dead_letters "
      "WHERE id = ?1 AND dlq = ?2 AND redriven_at IS NULL",
      id, r.dlq);
  if (!q->step()) return std::nullopt;
  const auto codec = q->text(5);
  const auto fingerprint = static_cast<std::uint64_t>(q->int64(6));
  if (!r.force && column_policy(*q, 12) == redrive_policy::never) {
    out.status = storage::redrive_status::not_redrivable;
    return std::nullopt;
  }
  std::string_view queue;
  if (r.queue) {
    queue = *r.queue;
  } else {
    const bool foreign = !q->is_null(0) && q->text(0) != database_id;
    queue = q->text(1);
    if (foreign || queue.empty()) {
      out.status = storage::redrive_status::no_target;
      return std::nullopt;
    }
  }
  const auto key = column_key(*q, 2);
  storage::new_job job;
  job.queue = queue;
  job.key = key ? &*key : nullptr;
  job.unique = q->int64(10) != 0;
  job.priority = static_cast<int>(q->int64(3));
  job.run_at_ms = r.run_at_ms;
  job.enqueued_at_ms = q->int64(9);
  job.sequential = q->int64(4) != 0;
  job.max_attempts = q->int64(11);
  job.codec = codec;
  job.fingerprint = fingerprint;
  job.payload = q->blob(7);
  if (!q->is_null(8)) job.history_json = q->text(8);
  out.queue = std::string{queue};
  return push.push(job);
}

/// Redrives entry `id` of `r` into a queue of this file (the caller holds a write
/// transaction): pushed through `push`, then marked redriven.
inline storage::redriven_entry redrive_one(connection& c, push_path& push,
                                           const storage::redrive_request& r, dead_letter_id id,
                                           std::string_view database_id) {
  storage::redriven_entry out{id, storage::redrive_status::gone, 0, {}};
  const auto pushed = read_and_push(c, push, r, id, database_id, out);
  if (!pushed) return out;
  out.job = pushed->id;
  switch (pushed->status) {
    case storage::push_status::created:
      out.status = storage::redrive_status::redriven;
      mark_redriven(c, r.dlq, id, r.now_ms);
      break;
    case storage::push_status::duplicate: out.status = storage::redrive_status::duplicate; break;
    case storage::push_status::full: out.status = storage::redrive_status::full; break;
  }
  return out;
}

}  // namespace durable::inline v0::detail::sqlite
