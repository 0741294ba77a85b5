// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Dead-lettering: adding entries, and moving a claimed job out of its queue into a
/// dead-letter queue (one statement within one database; or read here and inserted in
/// another database). Part of the PostgreSQL layer.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "durable/detail/postgres/connection.hpp"
#include "durable/detail/postgres/counters.hpp"
#include "durable/detail/postgres/values.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::postgres {

/// The columns every insert into durable_dead_letters writes, in this order.
inline constexpr std::string_view dead_letter_columns =
    "dlq, origin, job_id, queue, key_int, key_text, priority, sequential, codec, fingerprint, "
    "payload, error_type, message, context, history, attempts, enqueued_at, failed_at, "
    "max_attempts, unique_key, redrive_policy, timeout_ms";

/// Inserts `row`, its final failure appended to its history as {attempt: attempts, type,
/// message, at: failed_at}. Returns its id, or nothing when an entry with the same
/// (origin, original_id) exists (an earlier, interrupted move already inserted it).
inline std::optional<dead_letter_id> insert_dead_letter(connection& c,
                                                        const storage::new_dead_letter& row) {
  static const std::string sql = fmt::format(
      "INSERT INTO durable_dead_letters ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
      "$11, $12, $13, $14, coalesce($15::jsonb, '[]'::jsonb) || jsonb_build_array("
      "jsonb_build_object('attempt', $16::int8, 'type', $12::text, 'message', $13::text, 'at', "
      "$18::int8)), $16, $17, $18, $19, $20, $21, $22) ON CONFLICT (origin, job_id) DO NOTHING "
      "RETURNING id",
      dead_letter_columns);
  std::string type_buffer;
  std::string message_buffer;
  std::string context_buffer;
  params p;
  add_all(p, row.dlq, row.origin, row.original_id, row.queue);
  p.add_key(row.key);
  add_all(p, row.priority, row.sequential, row.codec, row.fingerprint, row.payload,
          storable_error_type(row.failure.error_type, type_buffer),
          storable_text(row.failure.message, message_buffer),
          storable_text(row.failure.context, context_buffer));
  if (row.history_json.empty()) {
    p.add_null(oid::text);
  } else {
    p.add(row.history_json);
  }
  add_all(p, row.attempts, row.enqueued_at_ms, row.failure.failed_at_ms, row.max_attempts,
          row.unique && row.key != nullptr, to_string(row.failure.redrive), row.timeout_ms);
  const auto r = c.run(sql, p);
  if (r.rows() == 0) return std::nullopt;
  return r.int64(0, 0);
}

/// The id of the entry holding job `original_id` of the database `origin`, if any.
[[nodiscard]] inline std::optional<dead_letter_id> find_dead_letter(connection& c,
                                                                    std::string_view origin,
                                                                    job_id original_id) {
  const auto r = c.query("SELECT id FROM durable_dead_letters WHERE origin = $1 AND job_id = $2",
                         origin, original_id);
  if (r.rows() == 0) return std::nullopt;
  return r.int64(0, 0);
}

/// Same-database move in one statement: deletes the claimed job (only while the lease
/// matches) and inserts it into the DLQ with its final failure. Returns the new entry's
/// id, or nothing (and changes nothing) on a mismatch.
inline std::optional<dead_letter_id> move_claimed(connection& c, const storage::move_request& r,
                                                  std::string_view origin) {
  static const std::string sql = fmt::format(
      "WITH moved AS (DELETE FROM durable_jobs WHERE id = $3 AND lease_token = $4 AND "
      "queue = $5 RETURNING *), "
      "entry AS (INSERT INTO durable_dead_letters ({}) SELECT $1, $2, id, queue, key_int, "
      "key_text, priority, sequential, codec, fingerprint, payload, $6, $7, $8, "
      "coalesce(history, '[]'::jsonb) || jsonb_build_array(jsonb_build_object('attempt', "
      "attempts + 1, 'type', $6::text, 'message', $7::text, 'at', $9::int8)), attempts + 1, "
      "enqueued_at, $9, max_attempts, unique_key, $10, timeout_ms FROM moved "
      "RETURNING id, dlq), "
      "job_count AS ({} RETURNING 1), "
      "entry_count AS ({}) "
      "SELECT id FROM entry",
      dead_letter_columns, add_job_counts_sql("SELECT queue, -count(*) FROM moved GROUP BY queue"),
      // After job_count (it reads it): queue counters before DLQ counters (counters.hpp).
      add_dead_letter_counts_sql("SELECT dlq, count(*), 0::int8 FROM entry WHERE (SELECT "
                                 "count(*) FROM job_count) >= 0 GROUP BY dlq"));
  std::string type_buffer;
  std::string message_buffer;
  std::string context_buffer;
  const auto res = c.query(sql, r.dlq, origin, r.lease.id, r.lease.token, r.lease.queue,
                           storable_error_type(r.failure.error_type, type_buffer),
                           storable_text(r.failure.message, message_buffer),
                           storable_text(r.failure.context, context_buffer), r.failure.failed_at_ms,
                           to_string(r.failure.redrive));
  if (res.rows() == 0) return std::nullopt;
  return res.int64(0, 0);
}

/// Cross-database move, first step: the claimed job's fields while the lease matches.
[[nodiscard]] inline std::optional<storage::job_snapshot> read_claimed_job(
    connection& c, const storage::lease_ref& l) {
  const auto r = c.query(
      "SELECT key_int, key_text, priority, sequential, attempts, enqueued_at, codec, "
      "fingerprint, payload, history::text, max_attempts, unique_key, timeout_ms "
      "FROM durable_jobs "
      "WHERE id = $1 AND lease_token = $2 AND queue = $3",
      l.id, l.token, l.queue);
  if (r.rows() == 0) return std::nullopt;
  storage::job_snapshot row;
  row.key = r.key(0, 0);
  row.priority = static_cast<int>(r.int64(0, 2));
  row.sequential = r.boolean(0, 3);
  row.attempts = r.int64(0, 4);
  row.enqueued_at_ms = r.int64(0, 5);
  row.codec = std::string{r.text(0, 6)};
  row.fingerprint = static_cast<std::uint64_t>(r.int64(0, 7));
  row.payload = r.owned_bytes(0, 8);
  row.history_json = r.text_or_empty(0, 9);
  row.max_attempts = r.int64(0, 10);
  row.unique = r.boolean(0, 11);
  row.timeout_ms = r.optional_int64(0, 12);
  return row;
}

}  // namespace durable::inline v0::detail::postgres
