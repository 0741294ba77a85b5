// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Finishing a claim: ack (delete), nack (back to pending with the error recorded), extend
/// the lease, and the rescue of jobs held by dead processes of this host. Every statement
/// matches queue, id and lease token; each is one statement, its own transaction (an ack
/// also takes the job off its queue's counter). Part of
/// the PostgreSQL layer.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "durable/detail/postgres/connection.hpp"
#include "durable/detail/postgres/counters.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::postgres {

/// The ack's statement: deletes job $1 of queue $3 if its lease token is $2, takes it off
/// the queue's counter, and returns how many it deleted (0 or 1).
[[nodiscard]] inline const std::string& delete_claimed_sql() {
  static const std::string sql =
      "WITH d AS (DELETE FROM durable_jobs WHERE id = $1 AND lease_token = $2 AND queue = $3 "
      "RETURNING queue), k AS (" +
      add_job_counts_sql("SELECT queue, -count(*) FROM d GROUP BY queue") +
      ") SELECT count(*) FROM d";
  return sql;
}

/// Deletes the claimed job; false when the lease does not match.
inline bool delete_claimed(connection& c, const storage::lease_ref& l) {
  return c.query(delete_claimed_sql(), l.id, l.token, l.queue).int64(0, 0) == 1;
}

/// Returns a claimed job to pending with one more attempt and the error appended to its
/// history; false when the lease does not match.
inline bool release_claimed(connection& c, const storage::nack_request& r) {
  std::string type_buffer;
  std::string message_buffer;
  return c.query(
              "UPDATE durable_jobs SET lease_token = NULL, claimed_by = NULL, run_at = $4, "
              "attempts = attempts + 1, history = coalesce(history, '[]'::jsonb) || "
              "jsonb_build_array(jsonb_build_object('attempt', attempts + 1, 'type', $6::text, "
              "'message', $7::text, 'at', $5::int8)) "
              "WHERE id = $1 AND lease_token = $2 AND queue = $3",
              r.lease.id, r.lease.token, r.lease.queue, r.run_at_ms, r.now_ms,
              storable_text(r.error_type, type_buffer), storable_text(r.message, message_buffer))
             .changed() == 1;
}

/// Moves a claimed job's lease end; false when the lease does not match.
inline bool extend_claimed(connection& c, const storage::lease_ref& l,
                           std::int64_t lease_until_ms) {
  return c.query(
              "UPDATE durable_jobs SET run_at = $4 WHERE id = $1 AND lease_token = $2 AND "
              "queue = $3",
              l.id, l.token, l.queue, lease_until_ms)
             .changed() == 1;
}

/// Distinct claimers holding jobs of `queue`.
[[nodiscard]] inline std::vector<std::string> claimers(connection& c, std::string_view queue) {
  const auto r = c.query(
      "SELECT DISTINCT claimed_by FROM durable_jobs "
      "WHERE queue = $1 AND lease_token IS NOT NULL AND claimed_by IS NOT NULL",
      queue);
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) out.emplace_back(r.text(i, 0));
  return out;
}

/// Returns every job of `queue` claimed by `claimer` to pending at its original place
/// (run_at = enqueued_at), counting the lost attempt; returns how many.
inline std::int64_t release_claimer(connection& c, std::string_view queue, std::string_view claimer,
                                    std::int64_t now_ms) {
  return c
      .query(
          "UPDATE durable_jobs SET lease_token = NULL, claimed_by = NULL, "
          "run_at = enqueued_at, attempts = attempts + 1, history = coalesce(history, "
          "'[]'::jsonb) || jsonb_build_array(jsonb_build_object('attempt', attempts + 1, "
          "'type', 'claimer_died', 'message', 'the process holding the claim died', 'at', "
          "$3::int8)) WHERE queue = $1 AND claimed_by = $2 AND lease_token IS NOT NULL",
          queue, claimer, now_ms)
      .changed();
}

}  // namespace durable::inline v0::detail::postgres
