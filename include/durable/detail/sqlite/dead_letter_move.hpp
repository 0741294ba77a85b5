// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Dead-lettering: adding entries, and moving a claimed job out of its queue into a
/// dead-letter queue (in one transaction in one file; or read here and inserted in
/// another file). Part of the SQLite layer, the only place SQL lives.
///
/// An entry's history column holds the earlier attempts as they were stored with the job;
/// the final failure is the entry's own (error_type, message, failed_at, attempts), so no
/// JSON is built to add an entry.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "durable/detail/sqlite/connection.hpp"
#include "durable/detail/sqlite/finish.hpp"
#include "durable/detail/sqlite/values.hpp"
#include "durable/detail/sqlite/write_context.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::sqlite {

// The columns of an inserted entry, in the order bind_dead_letter binds them (a macro: the
// statements are built by string-literal concatenation).
// NOLINTNEXTLINE(cppcoreguidelines-macro-usage)
#define DURABLE_DETAIL_DEAD_LETTER_COLUMNS                                               \
  "(id, dlq_id, failed_at, error_type, message, attempts, enqueued_at, redrive_policy, " \
  "queue, key, job_id, origin, priority, sequential, max_attempts, unique_key, codec, "  \
  "fingerprint, context, history, payload, timeout_ms)"
inline constexpr int dead_letter_parameters = 22;

/// Binds `row`, as entry `id` of DLQ `dlq_id`, to parameters `first`.. of `q`.
inline void bind_dead_letter(statement& q, int first, dead_letter_id id, std::int64_t dlq_id,
                             const storage::new_dead_letter& row) {
  q.bind_all_from(first, id, dlq_id, row.failure.failed_at_ms, row.failure.error_type,
                  row.failure.message, row.attempts, row.enqueued_at_ms,
                  to_string(row.failure.redrive), row.queue);
  bind_key(q, first + 9, row.key);
  q.bind_all_from(first + 10, row.original_id, row.origin, row.priority, row.sequential,
                  row.max_attempts, row.unique && row.key != nullptr, row.codec,
                  static_cast<std::int64_t>(row.fingerprint), row.failure.context);
  if (row.history_json.empty()) {
    q.bind(first + 19, std::nullopt);
  } else {
    q.bind(first + 19, row.history_json);
  }
  q.bind_all_from(first + 20, row.payload, row.timeout_ms);
}

/// The id of the entry holding job `original_id` of the file `origin`, if any.
[[nodiscard]] inline std::optional<dead_letter_id> find_dead_letter(connection& c,
                                                                    std::string_view origin,
                                                                    job_id original_id) {
  auto q = c.query(
      "SELECT id FROM durable_dead_letters WHERE origin = ?1 AND job_id = ?2 AND "
      "origin IS NOT NULL",
      origin, original_id);
  if (!q->step()) return std::nullopt;
  return q->int64(0);
}

/// Entries per multi-row INSERT of insert_dead_letters.
inline constexpr std::size_t dead_letter_batch = 32;

/// Inserts `rows` (one, or dead_letter_batch of them) into DLQ `dlq_id` as entries
/// `first_id`, `first_id` + 1, ... in one statement; a row whose (origin, original_id) is
/// stored already is skipped (an earlier, interrupted move from another file inserted it).
/// Returns how many were inserted. No RETURNING (it costs a temporary table per
/// statement): the ids are durable's.
inline std::int64_t insert_dead_letter_rows(write_context& ctx, dead_letter_id first_id,
                                            std::int64_t dlq_id,
                                            std::span<const storage::new_dead_letter> rows) {
  const auto sql = [](std::size_t n) {
    return "INSERT INTO durable_dead_letters " DURABLE_DETAIL_DEAD_LETTER_COLUMNS " VALUES " +
           value_rows(n, dead_letter_parameters) +
           " ON CONFLICT (origin, job_id) WHERE origin IS NOT NULL DO NOTHING";
  };
  static const std::string one = sql(1);
  static const std::string batch = sql(dead_letter_batch);
  auto q = ctx.db.query(rows.size() == 1 ? one : batch);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    bind_dead_letter(*q, static_cast<int>(i) * dead_letter_parameters + 1,
                     first_id + static_cast<dead_letter_id>(i), dlq_id, rows[i]);
  }
  q->run();
  const auto inserted = ctx.db.changes();
  if (inserted > 0) {
    ctx.inserted(id_table::dead_letters, first_id + static_cast<dead_letter_id>(rows.size()) - 1);
    ctx.count_dead_letters(dlq_id, inserted, 0);
  }
  return inserted;
}

/// Inserts `rows` in order; returns (id, true) per stored entry, and (the stored entry's
/// id, false) for one whose (origin, original_id) is stored already. A run of
/// dead_letter_batch entries into one DLQ without an origin (added by hand: nothing to
/// conflict with) is inserted by one statement.
inline std::vector<std::pair<dead_letter_id, bool>> insert_dead_letters(
    write_context& ctx, std::span<const storage::new_dead_letter> rows) {
  std::vector<std::pair<dead_letter_id, bool>> out;
  out.reserve(rows.size());
  while (out.size() < rows.size()) {
    const auto rest = rows.subspan(out.size());
    const auto plain = [&](const storage::new_dead_letter& r) {
      return !r.origin && r.dlq == rest.front().dlq;
    };
    const auto n = rest.size() >= dead_letter_batch &&
                           std::all_of(rest.begin(), rest.begin() + dead_letter_batch, plain)
                       ? dead_letter_batch
                       : std::size_t{1};
    const auto& row = rest.front();
    const auto dlq_id = ctx.id_of(name_kind::dead_letter_queue, row.dlq);
    const auto first = ctx.next_id(id_table::dead_letters, n);
    // Only a single row can be skipped: the rows of a batch have no origin.
    if (insert_dead_letter_rows(ctx, first, dlq_id, rest.first(n)) == 0) {
      const auto existing = row.origin && row.original_id
                                ? find_dead_letter(ctx.db, *row.origin, *row.original_id)
                                : std::nullopt;
      out.emplace_back(existing.value_or(0), false);
      continue;
    }
    for (std::size_t i = 0; i < n; ++i) {
      out.emplace_back(first + static_cast<dead_letter_id>(i), true);
    }
  }
  return out;
}

/// Same-file move: copies the claimed job (only while the lease matches) into the DLQ
/// with its final failure and deletes it; returns the new entry's id, or nothing (and no
/// change) on a mismatch.
inline std::optional<dead_letter_id> move_claimed_to_dead_letters(write_context& ctx,
                                                                  const storage::move_request& r) {
  const auto queue_id = lease_queue(ctx, r.lease);
  if (!queue_id) return std::nullopt;
  const auto dlq_id = ctx.id_of(name_kind::dead_letter_queue, r.dlq);
  const auto id = ctx.next_id(id_table::dead_letters);
  const auto changed = ctx.db.run(
      "INSERT INTO durable_dead_letters (id, dlq_id, failed_at, error_type, message, attempts, "
      "enqueued_at, redrive_policy, queue, key, job_id, origin, priority, sequential, "
      "max_attempts, unique_key, codec, fingerprint, context, history, payload, timeout_ms) "
      "SELECT ?1, ?2, ?3, ?4, ?5, attempts + 1, enqueued_at, ?6, ?7, key, id, NULL, priority, "
      "sequential, max_attempts, unique_key, codec, fingerprint, ?8, history, payload, "
      "timeout_ms "
      "FROM durable_jobs WHERE id = ?9 AND lease_token = ?10 AND queue_id = ?11",
      id, dlq_id, r.failure.failed_at_ms, r.failure.error_type, r.failure.message,
      to_string(r.failure.redrive), r.lease.queue, r.failure.context, r.lease.id, r.lease.token,
      *queue_id);
  if (changed != 1 || !delete_claimed(ctx, *queue_id, r.lease)) {
    ctx.discard();
    return std::nullopt;
  }
  ctx.inserted(id_table::dead_letters, id);
  ctx.count_dead_letters(dlq_id, 1, 0);
  return id;
}

/// Cross-file move, first step: the claimed job's fields while the lease matches.
[[nodiscard]] inline std::optional<storage::job_snapshot> read_claimed_job(
    connection& c, std::int64_t queue_id, const storage::lease_ref& l) {
  auto q = c.query(
      "SELECT key, priority, sequential, attempts, enqueued_at, codec, fingerprint, payload, "
      "history, max_attempts, unique_key, timeout_ms FROM durable_jobs "
      "WHERE id = ?1 AND lease_token = ?2 AND queue_id = ?3",
      l.id, l.token, queue_id);
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
  if (!q->is_null(11)) row.timeout_ms = q->int64(11);
  return row;
}

#undef DURABLE_DETAIL_DEAD_LETTER_COLUMNS

}  // namespace durable::inline v0::detail::sqlite
