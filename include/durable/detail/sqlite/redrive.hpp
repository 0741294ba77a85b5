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
#include "durable/detail/sqlite/write_context.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::sqlite {

/// Marks entry `id` of DLQ `dlq_id` redriven at `at_ms`; false when it already was (or
/// is gone).
inline bool mark_redriven(write_context& ctx, std::int64_t dlq_id, dead_letter_id id,
                          std::int64_t at_ms) {
  if (ctx.db.run("UPDATE durable_dead_letters SET redriven_at = ?3 "
                 "WHERE id = ?1 AND dlq_id = ?2 AND redriven_at IS NULL",
                 id, dlq_id, at_ms) != 1) {
    return false;
  }
  ctx.count_dead_letters(dlq_id, 0, 1);
  return true;
}

/// Reads entry `id` and pushes its job (its history: the earlier attempts and the final
/// failure); empty when a check decided first (`out.status`).
inline std::optional<storage::pushed> read_and_push(write_context& ctx, std::int64_t dlq_id,
                                                    const storage::redrive_request& r,
                                                    dead_letter_id id,
                                                    storage::redriven_entry& out) {
  auto q = ctx.db.query(
      "SELECT origin, queue, key, priority, sequential, codec, fingerprint, payload, "
      "json_insert(" DURABLE_DETAIL_HISTORY_ARRAY("history")
      ", '$[#]', json_object('attempt', attempts, 'type', error_type, 'message', message, "
      "'at', failed_at)), enqueued_at, unique_key, "
      "max_attempts, redrive_policy, timeout_ms FROM durable_dead_letters "
      "WHERE id = ?1 AND dlq_id = ?2 AND redriven_at IS NULL",
      id, dlq_id);
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
    queue = q->text(1);
    if (!q->is_null(0) || queue.empty()) {  // from another database, or added without one
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
  job.history_json = q->text(8);
  if (!q->is_null(13)) job.timeout_ms = q->int64(13);
  out.queue = std::string{queue};
  return push_job(ctx, job);
}

/// Redrives entry `id` of `r` into a queue of this file: pushed through the push path,
/// then marked redriven.
inline storage::redriven_entry redrive_one(write_context& ctx, std::int64_t dlq_id,
                                           const storage::redrive_request& r, dead_letter_id id) {
  storage::redriven_entry out{.id = id};
  const auto pushed = read_and_push(ctx, dlq_id, r, id, out);
  if (!pushed) return out;
  out.job = pushed->id;
  switch (pushed->status) {
    case storage::push_status::created:
      out.status = storage::redrive_status::redriven;
      mark_redriven(ctx, dlq_id, id, r.now_ms);
      break;
    case storage::push_status::duplicate: out.status = storage::redrive_status::duplicate; break;
    case storage::push_status::full: out.status = storage::redrive_status::full; break;
  }
  return out;
}

}  // namespace durable::inline v0::detail::sqlite
