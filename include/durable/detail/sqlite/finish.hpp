// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Finishing a claim: ack (delete), nack (back to pending with the error recorded),
/// extend the lease, and the rescue of jobs held by dead processes. Every statement
/// matches queue, id and lease token. Part of the SQLite layer, the only place SQL lives.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "durable/detail/sqlite/connection.hpp"
#include "durable/detail/sqlite/values.hpp"
#include "durable/detail/sqlite/write_context.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::sqlite {

/// The id of the lease's queue; empty when there is no such queue (a mismatch).
[[nodiscard]] inline std::optional<std::int64_t> lease_queue(write_context& ctx,
                                                             const storage::lease_ref& l) {
  return ctx.existing_id(name_kind::queue, l.queue);
}

/// Deletes the claimed job of queue `queue_id`; false when the lease does not match.
inline bool delete_claimed(write_context& ctx, std::int64_t queue_id, const storage::lease_ref& l) {
  ctx.before_delete(id_table::jobs, l.id);
  if (ctx.db.run("DELETE FROM durable_jobs WHERE id = ?1 AND lease_token = ?2 AND queue_id = ?3",
                 l.id, l.token, queue_id) != 1) {
    return false;
  }
  ctx.count_jobs(queue_id, -1);
  return true;
}

/// Deletes the claimed job; false when the lease does not match.
inline bool delete_claimed(write_context& ctx, const storage::lease_ref& l) {
  const auto queue_id = lease_queue(ctx, l);
  return queue_id && delete_claimed(ctx, *queue_id, l);
}

/// Returns a claimed job to pending with one more attempt and the error appended to its
/// history; false when the lease does not match.
inline bool release_claimed(write_context& ctx, const storage::nack_request& r) {
  const auto queue_id = lease_queue(ctx, r.lease);
  return queue_id &&
         ctx.db.run(
             "UPDATE durable_jobs SET lease_token = NULL, claimed_by = NULL, run_at = ?4, "
             "attempts = attempts + 1, history = json_insert(" DURABLE_DETAIL_HISTORY_ARRAY(
                 "history") ", '$[#]', json_object('attempt', attempts + 1, 'type', ?6, "
                            "'message', ?7, 'at', ?5)) "
             "WHERE id = ?1 AND lease_token = ?2 AND queue_id = ?3",
             r.lease.id, r.lease.token, *queue_id, r.run_at_ms, r.now_ms, r.error_type,
             r.message) == 1;
}

/// Moves a claimed job's lease end; false when the lease does not match.
inline bool extend_claimed(write_context& ctx, const storage::lease_ref& l,
                           std::int64_t lease_until_ms) {
  const auto queue_id = lease_queue(ctx, l);
  return queue_id && ctx.db.run(
                         "UPDATE durable_jobs SET run_at = ?4 WHERE id = ?1 AND "
                         "lease_token = ?2 AND queue_id = ?3",
                         l.id, l.token, *queue_id, lease_until_ms) == 1;
}

/// Distinct claimers holding jobs of queue `queue_id`.
[[nodiscard]] inline std::vector<std::string> claimers(connection& c, std::int64_t queue_id) {
  auto q = c.query(
      "SELECT DISTINCT claimed_by FROM durable_jobs "
      "WHERE queue_id = ?1 AND lease_token IS NOT NULL AND claimed_by IS NOT NULL",
      queue_id);
  std::vector<std::string> out;
  while (q->step()) out.emplace_back(q->text(0));
  return out;
}

/// Returns every job of `queue` claimed by `claimer` to pending at its original place
/// (run_at = enqueued_at), counting the lost attempt; returns how many.
inline std::int64_t release_claimer(write_context& ctx, std::string_view queue,
                                    std::string_view claimer, std::int64_t now_ms) {
  const auto queue_id = ctx.existing_id(name_kind::queue, queue);
  if (!queue_id) return 0;
  return ctx.db.run(
      "UPDATE durable_jobs SET lease_token = NULL, claimed_by = NULL, run_at = enqueued_at, "
      "attempts = attempts + 1, history = json_insert(" DURABLE_DETAIL_HISTORY_ARRAY("history")
      ", '$[#]', json_object('attempt', attempts + 1, 'type', 'claimer_died', 'message', "
      "'the process holding the claim died', 'at', ?3)) "
      "WHERE queue_id = ?1 AND claimed_by = ?2 AND lease_token IS NOT NULL",
      *queue_id, claimer, now_ms);
}

}  // namespace durable::inline v0::detail::sqlite
