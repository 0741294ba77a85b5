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

/// Inserts `row`. Returns its id, or nothing when an entry with the same (origin,
/// original_id) exists (an earlier, interrupted move from another file inserted it).
inline std::optional<dead_letter_id> insert_dead_letter(write_context& ctx,
                                                        const storage::new_dead_letter& row) {
  const auto dlq_id = ctx.id_of(name_kind::dead_letter_queue, row.dlq);
  const auto id = ctx.next_id(id_table::dead_letters);
  // No RETURNING (it costs a temporary table per statement): the id is ours, and
  // changes() tells whether the conflict clause skipped the row.
  auto q = ctx.db.query("INSERT INTO durable_dead_letters " DURABLE_DETAIL_DEAD_LETTER_COLUMNS
                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
                        "?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22) ON CONFLICT (origin, job_id) "
                        "WHERE origin IS NOT NULL DO NOTHING");
  bind_dead_letter(*q, 1, id, dlq_id, row);
  q->run();
  if (ctx.db.changes() == 0) return std::nullopt;
  ctx.inserted(id_table::dead_letters, id);
  ctx.count_dead_letters(dlq_id, 1, 0);
  return id;
}

/// Entries per multi-row INSERT of insert_dead_letters.
inline constexpr std::size_t dead_letter_batch = 32;

/// Inserts `rows` in order; returns (id, true) per stored entry, (0, false) for one whose
/// (origin, original_id) is stored already. A run of dead_letter_batch entries into one
/// DLQ without an origin (added by hand: nothing to conflict with) is inserted by one
/// statement.
inline std::vector<std::pair<dead_letter_id, bool>> insert_dead_letters(
    write_context& ctx, std::span<const storage::new_dead_letter> rows) {
  static const std::string batch_sql =
      "INSERT INTO durable_dead_letters " DURABLE_DETAIL_DEAD_LETTER_COLUMNS " VALUES " +
      value_rows(dead_letter_batch, dead_letter_parameters);
  std::vector<std::pair<dead_letter_id, bool>> out;
  out.reserve(rows.size());
  while (out.size() < rows.size()) {
    const auto rest = rows.subspan(out.size());
    const auto plain = [&](const storage::new_dead_letter& r) {
      return !r.origin && r.dlq == rest.front().dlq;
    };
    if (rest.size() >= dead_letter_batch &&
        std::all_of(rest.begin(), rest.begin() + dead_letter_batch, plain)) {
      const auto dlq_id = ctx.id_of(name_kind::dead_letter_queue, rest.front().dlq);
      const auto first = ctx.next_id(id_table::dead_letters, dead_letter_batch);
      auto q = ctx.db.query(batch_sql);
      for (std::size_t i = 0; i < dead_letter_batch; ++i) {
        bind_dead_letter(*q, static_cast<int>(i) * dead_letter_parameters + 1,
                         first + static_cast<dead_letter_id>(i), dlq_id, rest[i]);
      }
      q->run();
      const auto last = first + static_cast<dead_letter_id>(dead_letter_batch) - 1;
      ctx.inserted(id_table::dead_letters, last);
      ctx.count_dead_letters(dlq_id, static_cast<std::int64_t>(dead_letter_batch), 0);
      for (auto id = first; id <= last; ++id) out.emplace_back(id, true);
      continue;
    }
    const auto id = insert_dead_letter(ctx, rest.front());
    out.emplace_back(id.value_or(0), id.has_value());
  }
  return out;
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
