// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Dead-lettering: adding entries, and moving a claimed job out of its queue into a
/// dead-letter queue (in one transaction in one file; or read here and inserted in
/// another file). Part of the SQLite layer, the only place SQL lives.

#include <cstdint>
#include <optional>
#include <string_view>

#include "durable/detail/sqlite/connection.hpp"
#include "durable/detail/sqlite/values.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::sqlite {

/// Inserts `row`, its final failure appended to its history as {attempt: attempts, type,
/// message, at: failed_at}. Returns its id, or nothing when an entry with the same
/// (origin, original_id) exists (an earlier, interrupted move already inserted it).
inline std::optional<dead_letter_id> insert_dead_letter(connection& c,
                                                        const storage::new_dead_letter& row) {
  auto q = c.query(
      "INSERT INTO durable_dead_letters (dlq, origin, job_id, queue, key, priority, sequential, "
      "codec, fingerprint, payload, error_type, message, context, history, attempts, "
      "enqueued_at, failed_at, max_attempts, unique_key, redrive_policy) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
      "json_insert(" DURABLE_DETAIL_HISTORY_ARRAY("?14")
      ", '$[#]', json_object('attempt', ?15, 'type', ?11, 'message', ?12, 'at', ?17)), "
      "?15, ?16, ?17, ?18, ?19, ?20) "
      "ON CONFLICT (origin, job_id) DO NOTHING RETURNING id");
  q->bind_all(row.dlq, row.origin, row.original_id, row.queue);
  bind_key(*q, 5, row.key);
  q->bind_all_from(6, row.priority, row.sequential, row.codec,
                   static_cast<std::int64_t>(row.fingerprint), row.payload, row.failure.error_type,
                   row.failure.message, row.failure.context);
  if (row.history_json.empty()) {
    q->bind(14, std::nullopt);
  } else {
    q->bind(14, row.history_json);
  }
  q->bind_all_from(15, row.attempts, row.enqueued_at_ms, row.failure.failed_at_ms, row.max_attempts,
                   row.unique && row.key != nullptr, to_string(row.failure.redrive));
  std::optional<dead_letter_id> id;
  if (q->step()) id = q->int64(0);
  q->run();
  return id;
}

/// The id of the entry holding job `original_id` of the file `origin`, if any.
[[nodiscard]] inline std::optional<dead_letter_id> find_dead_letter(connection& c,
                                                                    std::string_view origin,
                                                                    job_id original_id) {
  auto q = c.query("SELECT id FROM durable_dead_letters WHERE origin = ?1 AND job_id = ?2", origin,
                   original_id);
  if (!q->step()) return std::nullopt;
  return q->int64(0);
}

/// Same-file move, first half: copies the claimed job (only while the lease matches) into
/// the DLQ with its final failure; returns the new entry's id, or nothing on a mismatch.
/// The caller deletes the job in the same transaction.
inline std::optional<dead_letter_id> copy_claimed_to_dead_letters(connection& c,
                                                                  const storage::move_request& r,
                                                                  std::string_view origin) {
  const auto changed = c.run(
      "INSERT INTO durable_dead_letters (dlq, origin, job_id, queue, key, priority, sequential, "
      "codec, fingerprint, payload, error_type, message, context, history, attempts, "
      "enqueued_at, failed_at, max_attempts, unique_key, redrive_policy) "
      "SELECT ?1, ?2, id, queue, key, priority, sequential, codec, fingerprint, payload, ?6, ?7, "
      "?8, json_insert(" DURABLE_DETAIL_HISTORY_ARRAY("history")
      ", '$[#]', json_object('attempt', attempts + 1, 'type', ?6, 'message', ?7, 'at', ?9)), "
      "attempts + 1, enqueued_at, ?9, max_attempts, unique_key, ?10 "
      "FROM durable_jobs WHERE id = ?3 AND lease_token = ?4 AND queue = ?5",
      r.dlq, origin, r.lease.id, r.lease.token, r.lease.queue, r.failure.error_type,
      r.failure.message, r.failure.context, r.failure.failed_at_ms, to_string(r.failure.redrive));
  if (changed != 1) return std::nullopt;
  return c.last_insert_rowid();
}

/// Cross-file move, first step: the claimed job's fields while the lease matches.
[[nodiscard]] inline std::optional<storage::job_snapshot> read_claimed_job(
    connection& c, const storage::lease_ref& l) {
  auto q = c.query(
      "SELECT key, priority, sequential, attempts, enqueued_at, codec, fingerprint, payload, "
      "history, max_attempts, unique_key FROM durable_jobs "
      "WHERE id = ?1 AND lease_token = ?2 AND queue = ?3",
      l.id, l.token, l.queue);
  if (!q->step()) return std::nullopt;
  storage::job_snapshot row;
  row.key = column_key(*q, 0);
  row.priority = static_cast<int>(q->int64(1));
  row.sequential = q->int64(2) != 0;
  row.attempts = q->int64(3);
  row.enqueued_at_ms = q->int64(4);
  row.codec = std::string{q->text(5)};
  row.fingerprint = static_cast<std::uint64_t>(q->int64(6));
  row.payload = column_bytes(*q, 7);
  row.history_json = column_text(*q, 8);
  row.max_attempts = q->int64(9);
  row.unique = q->int64(10) != 0;
  return row;
}

}  // namespace durable::inline v0::detail::sqlite
