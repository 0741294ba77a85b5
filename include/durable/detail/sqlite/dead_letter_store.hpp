// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The SQL of the durable_dead_letters table, and of moving a claimed job into it.
/// Part of the SQLite layer, the only place SQL lives. Callers hold the connection's lock
/// and, where several statements must be atomic, a write_transaction.
///
/// Filtered statements are composed from a fixed set of SQL fragments chosen by which
/// filter fields are set; every value is bound. Each variant is an index range scan
/// (tests/test_dead_letter_queue.cpp checks EXPLAIN QUERY PLAN for all of them):
/// - no key or type: durable_dead_letters_time (dlq, failed_at, id, redriven_at);
/// - error types: durable_dead_letters_type (dlq, error_type, failed_at, id, redriven_at);
/// - keys: durable_dead_letters_key (dlq, key, failed_at, id, redriven_at), with the
///   error types, if any, as a residual filter (`+error_type` keeps it off the index).
/// Lists of values are bound as one JSON array and read with json_each. Ordered pages use
/// one value per statement (an equality, so the index gives the order and there is no
/// temp b-tree) and the caller merges.

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "durable/dead_letter.hpp"
#include "durable/detail/sqlite/connection.hpp"
#include "durable/detail/sqlite/job_store.hpp"
#include "durable/job.hpp"

namespace durable::inline v0::detail::sqlite {

/// The smallest and largest stored time, for open window bounds.
inline constexpr std::int64_t min_ms = std::numeric_limits<std::int64_t>::min();
inline constexpr std::int64_t max_ms = std::numeric_limits<std::int64_t>::max();

// ---- JSON arrays of bound values

/// Appends `s` to `out` as a JSON string literal.
inline void append_json_string(std::string& out, std::string_view s) {
  constexpr std::string_view hex = "0123456789abcdef";
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      out += "\\u00";
      out += hex[c >> 4U];
      out += hex[c & 0xFU];
    } else {
      out += ch;
    }
  }
  out += '"';
}

/// `values` as a JSON array of strings, for `IN (SELECT value FROM json_each(?))`.
[[nodiscard]] inline std::string json_array(const std::vector<std::string>& values) {
  std::string out = "[";
  for (const auto& v : values) {
    if (out.size() > 1) out += ',';
    append_json_string(out, v);
  }
  out += ']';
  return out;
}

/// `keys` as a JSON array: integer keys as numbers, string keys as strings, so json_each
/// yields values of the same SQLite type as the stored keys.
[[nodiscard]] inline std::string json_array(const std::vector<job_key>& keys) {
  std::string out = "[";
  for (const auto& k : keys) {
    if (out.size() > 1) out += ',';
    if (const auto* i = std::get_if<std::int64_t>(&k)) {
      out += std::to_string(*i);
    } else {
      append_json_string(out, std::get<std::string>(k));
    }
  }
  out += ']';
  return out;
}

// ---- Inserting

/// A row to insert into durable_dead_letters. The final failure is appended to
/// `history` as {attempt: attempts, type, message, at: failed_at}.
struct new_dead_letter {
  std::string_view dlq;
  std::optional<std::string_view> origin;  ///< database_id of the queue's file; none by hand
  std::optional<job_id> original_id;       ///< the job's id in its queue; none by hand
  std::string_view queue;
  const std::optional<job_key>* key = nullptr;  ///< may be null: no key
  int priority = 0;
  bool sequential = false;
  std::string_view codec;
  std::uint64_t fingerprint = 0;
  std::span<const std::byte> payload;
  std::string_view error_type;
  std::string_view message;
  std::string_view context;
  std::optional<std::string_view> history;  ///< earlier attempts (JSON array), or none
  std::int64_t attempts = 0;                ///< the final attempt included
  std::int64_t enqueued_at_ms = 0;
  std::int64_t failed_at_ms = 0;
};

/// Inserts `row`; returns its id, or nothing when an entry with the same (origin,
/// original_id) exists (an earlier, interrupted move already inserted it).
inline std::optional<dead_letter_id> insert_dead_letter(connection& c, const new_dead_letter& row) {
  auto q = c.query(
      "INSERT INTO durable_dead_letters (dlq, origin, job_id, queue, key, priority, sequential, "
      "codec, fingerprint, payload, error_type, message, context, history, attempts, "
      "enqueued_at, failed_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
      "json_insert(coalesce(?14, '[]'), '$[#]', json_object('attempt', ?15, 'type', ?11, "
      "'message', ?12, 'at', ?17)), ?15, ?16, ?17) "
      "ON CONFLICT (origin, job_id) DO NOTHING RETURNING id");
  q->bind_all(row.dlq, row.origin, row.original_id, row.queue);
  // Both branches are lvalues: a `? *key : std::nullopt` would bind a temporary's text.
  static const std::optional<job_key> no_key;
  bind_key(*q, 5, row.key != nullptr ? *row.key : no_key);
  q->bind_all_from(6, row.priority, row.sequential, row.codec,
                   static_cast<std::int64_t>(row.fingerprint), row.payload, row.error_type,
                   row.message, row.context, row.history, row.attempts, row.enqueued_at_ms,
                   row.failed_at_ms);
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

/// The final failure of a job being dead-lettered.
struct final_failure {
  std::string_view type;
  std::string_view message;
  std::string_view context;
  std::int64_t failed_at_ms = 0;
};

/// Same-file move, first half: copies claimed job `id` of `queue` (only while `token`
/// holds it) into dead-letter queue `dlq` with its final failure; returns the new entry's
/// id, or nothing when the lease was lost. The caller deletes the job
/// (delete_claimed) in the same transaction.
inline std::optional<dead_letter_id> copy_claimed_to_dead_letters(
    connection& c, std::string_view dlq, std::string_view origin, std::string_view queue, job_id id,
    std::int64_t token, const final_failure& f) {
  const auto changed = c.run(
      "INSERT INTO durable_dead_letters (dlq, origin, job_id, queue, key, priority, sequential, "
      "codec, fingerprint, payload, error_type, message, context, history, attempts, "
      "enqueued_at, failed_at) "
      "SELECT ?1, ?2, id, queue, key, priority, sequential, codec, fingerprint, payload, ?6, ?7, "
      "?8, json_insert(coalesce(history, '[]'), '$[#]', json_object('attempt', attempts + 1, "
      "'type', ?6, 'message', ?7, 'at', ?9)), attempts + 1, enqueued_at, ?9 "
      "FROM durable_jobs WHERE id = ?3 AND lease_token = ?4 AND queue = ?5",
      dlq, origin, id, token, queue, f.type, f.message, f.context, f.failed_at_ms);
  if (changed != 1) return std::nullopt;
  return c.last_insert_rowid();
}

/// A claimed job's row as read for a move to a DLQ in another file.
struct claimed_row {
  std::optional<job_key> key;
  int priority = 0;
  bool sequential = false;
  std::int64_t attempts = 0;
  std::int64_t enqueued_at_ms = 0;
  std::string codec;
  std::uint64_t fingerprint = 0;
  std::vector<std::byte> payload;
  std::optional<std::string> history;
};

/// Cross-file move, first step: job `id` of `queue` while `token` holds it; nothing when
/// the lease was lost.
[[nodiscard]] inline std::optional<claimed_row> read_claimed_row(connection& c,
                                                                 std::string_view queue, job_id id,
                                                                 std::int64_t token) {
  auto q = c.query(
      "SELECT key, priority, sequential, attempts, enqueued_at, codec, fingerprint, payload, "
      "history FROM durable_jobs WHERE id = ?1 AND lease_token = ?2 AND queue = ?3",
      id, token, queue);
  if (!q->step()) return std::nullopt;
  claimed_row row;
  row.key = column_key(*q, 0);
  row.priority = static_cast<int>(q->int64(1));
  row.sequential = q->int64(2) != 0;
  row.attempts = q->int64(3);
  row.enqueued_at_ms = q->int64(4);
  row.codec = std::string{q->text(5)};
  row.fingerprint = static_cast<std::uint64_t>(q->int64(6));
  const auto blob = q->blob(7);
  row.payload.assign(blob.begin(), blob.end());
  if (!q->is_null(8)) row.history = std::string{q->text(8)};
  return row;
}

// ---- Reading

/// The columns of a summary, in the order read_summary expects.
inline constexpr std::string_view summary_columns =
    "id, job_id, queue, key, error_type, message, attempts, enqueued_at, failed_at, redriven_at";

/// Reads a summary from columns 0..9 (summary_columns).
[[nodiscard]] inline dead_letter_summary read_summary(const statement& s) {
  dead_letter_summary e;
  e.id = s.int64(0);
  if (!s.is_null(1)) e.original_id = s.int64(1);
  e.queue = std::string{s.text(2)};
  e.key = column_key(s, 3);
  e.error_type = std::string{s.text(4)};
  e.message = std::string{s.text(5)};
  e.attempts = s.int64(6);
  e.enqueued_at = from_unix_ms(s.int64(7));
  e.failed_at = from_unix_ms(s.int64(8));
  if (!s.is_null(9)) e.redriven_at = from_unix_ms(s.int64(9));
  return e;
}

/// Entry `id` of `dlq`: calls `read(statement&)` with columns 0..9 of the summary, then
/// 10 origin, 11 context, 12 priority, 13 sequential, 14 codec, 15 fingerprint,
/// 16 payload. False when there is no such entry.
template <class Read>
bool read_dead_letter(connection& c, std::string_view dlq, dead_letter_id id, Read&& read) {
  static const std::string sql =
      "SELECT " + std::string{summary_columns} +
      ", origin, context, priority, sequential, codec, fingerprint, payload "
      "FROM durable_dead_letters WHERE id = ?1 AND dlq = ?2";
  auto q = c.query(sql, id, dlq);
  if (!q->step()) return false;
  read(*q);
  return true;
}

/// The history of entry `id`: every failed attempt, oldest first.
[[nodiscard]] inline std::vector<attempt_record> dead_letter_history(connection& c,
                                                                     dead_letter_id id) {
  return read_history(c.query(
      "SELECT json_extract(h.value, '$.attempt'), json_extract(h.value, '$.type'), "
      "json_extract(h.value, '$.message'), json_extract(h.value, '$.at') "
      "FROM durable_dead_letters AS d, json_each(d.history) AS h WHERE d.id = ?1 ORDER BY h.key",
      id));
}

// ---- Ordered pages (keyset pagination)

/// Which index an ordered page walks.
enum class dead_letter_index { time, type, key };

/// One ordered page over one index, resuming strictly after (ascending) or before
/// (descending) the position (after_ms, after_id).
struct page_query {
  std::string_view dlq;
  dead_letter_index index = dead_letter_index::time;
  const std::string* type = nullptr;  ///< the error type, for dead_letter_index::type
  const job_key* key = nullptr;       ///< the key, for dead_letter_index::key
  bool descending = false;
  std::int64_t after_ms = min_ms;  ///< position to resume after (asc) or before (desc)
  std::int64_t after_id = 0;
  std::int64_t bound_ms = max_ms;           ///< the window's other end: upper (asc), lower (desc)
  const std::string* types_json = nullptr;  ///< residual error-type list, key index only
  const std::string* queue = nullptr;       ///< source-queue filter, or none
  bool include_redriven = false;
  std::int64_t limit = 100;
};

/// Variant `v` of the ordered page: bits 0 include_redriven, 1 queue, 2 types_residual,
/// 3 descending; v / 16 is the index.
[[nodiscard]] inline std::string build_page_sql(std::size_t v) {
  const auto index = v / 16;
  const bool descending = (v & 8U) != 0;
  std::string s =
      "SELECT " + std::string{summary_columns} + " FROM durable_dead_letters WHERE dlq = ?1";
  if (index == 1) s += " AND error_type = ?2";
  if (index == 2) s += " AND key = ?2";
  s += descending ? " AND (failed_at, id) < (?3, ?4) AND failed_at >= ?5"
                  : " AND (failed_at, id) > (?3, ?4) AND failed_at <= ?5";
  if ((v & 4U) != 0) s += " AND +error_type IN (SELECT value FROM json_each(?6))";
  if ((v & 2U) != 0) s += " AND queue = ?7";
  if ((v & 1U) == 0) s += " AND redriven_at IS NULL";
  s += descending ? " ORDER BY failed_at DESC, id DESC LIMIT ?8"
                  : " ORDER BY failed_at, id LIMIT ?8";
  return s;
}

/// The SQL text of an ordered page for the given choices (one of 48 fixed variants).
[[nodiscard]] inline const std::string& page_sql(dead_letter_index index, bool descending,
                                                 bool types_residual, bool queue,
                                                 bool include_redriven) {
  static const std::array<std::string, 48> variants = [] {
    std::array<std::string, 48> out;
    for (std::size_t v = 0; v < out.size(); ++v) out.at(v) = build_page_sql(v);
    return out;
  }();
  const auto v = static_cast<std::size_t>(index) * 16 + (descending ? 8U : 0U) +
                 (types_residual ? 4U : 0U) + (queue ? 2U : 0U) + (include_redriven ? 1U : 0U);
  return variants.at(v);
}

/// Appends the page's summaries to `out`.
inline void select_page(connection& c, const page_query& p, std::vector<dead_letter_summary>& out) {
  const bool resid = p.index == dead_letter_index::key && p.types_json != nullptr;
  auto q = c.query(page_sql(p.index, p.descending, resid, p.queue != nullptr, p.include_redriven));
  q->bind(1, p.dlq);
  if (p.index == dead_letter_index::type) {
    q->bind(2, *p.type);
  } else if (p.index == dead_letter_index::key) {
    bind_key(*q, 2, *p.key);
  }
  q->bind_all_from(3, p.after_ms, p.after_id, p.bound_ms);
  if (resid) q->bind(6, *p.types_json);
  if (p.queue != nullptr) q->bind(7, *p.queue);
  q->bind(8, p.limit);
  while (q->step()) out.push_back(read_summary(*q));
}

// ---- Filtered count, delete and selection

/// A filter over one dead-letter queue, with the window as inclusive ms bounds.
struct dead_letter_where {
  std::string_view dlq;
  std::int64_t from_ms = min_ms;
  std::int64_t to_ms = max_ms;
  const std::string* types_json = nullptr;  ///< error-type list, or none
  const std::string* keys_json = nullptr;   ///< key list, or none
  const std::string* queue = nullptr;       ///< source-queue filter, or none
  bool include_redriven = false;
};

/// What a filtered statement does.
enum class filter_action {
  count,   ///< SELECT count(*)
  remove,  ///< DELETE
  select,  ///< SELECT failed_at, id
};

/// Variant `v` of a filtered statement: bits 0 include_redriven, 1 queue, 2 keys, 3 types;
/// v / 16 is the filter_action.
[[nodiscard]] inline std::string build_filter_sql(std::size_t v) {
  const auto action = v / 16;
  const bool types = (v & 8U) != 0;
  const bool keys = (v & 4U) != 0;
  std::string s = action == 0 ? "SELECT count(*)" : action == 1 ? "DELETE" : "SELECT failed_at, id";
  s += " FROM durable_dead_letters WHERE dlq = ?1 AND failed_at >= ?2 AND failed_at <= ?3";
  if (keys) s += " AND key IN (SELECT value FROM json_each(?6))";
  if (types && keys) s += " AND +error_type IN (SELECT value FROM json_each(?5))";
  if (types && !keys) s += " AND error_type IN (SELECT value FROM json_each(?5))";
  if ((v & 2U) != 0) s += " AND queue = ?4";
  if ((v & 1U) == 0) s += " AND redriven_at IS NULL";
  return s;
}

/// The SQL text of a filtered statement for the given choices (one of 48 fixed variants).
[[nodiscard]] inline const std::string& filter_sql(filter_action action, bool types, bool keys,
                                                   bool queue, bool include_redriven) {
  static const std::array<std::string, 48> variants = [] {
    std::array<std::string, 48> out;
    for (std::size_t v = 0; v < out.size(); ++v) out.at(v) = build_filter_sql(v);
    return out;
  }();
  const auto v = static_cast<std::size_t>(action) * 16 + (types ? 8U : 0U) + (keys ? 4U : 0U) +
                 (queue ? 2U : 0U) + (include_redriven ? 1U : 0U);
  return variants.at(v);
}

namespace dead_letter_detail {
inline statement_use filtered(connection& c, filter_action action, const dead_letter_where& w) {
  auto q = c.query(filter_sql(action, w.types_json != nullptr, w.keys_json != nullptr,
                              w.queue != nullptr, w.include_redriven),
                   w.dlq, w.from_ms, w.to_ms);
  if (w.queue != nullptr) q->bind(4, *w.queue);
  if (w.types_json != nullptr) q->bind(5, *w.types_json);
  if (w.keys_json != nullptr) q->bind(6, *w.keys_json);
  return q;
}
}  // namespace dead_letter_detail

/// How many entries match `w`.
[[nodiscard]] inline std::int64_t count_dead_letters(connection& c, const dead_letter_where& w) {
  auto q = dead_letter_detail::filtered(c, filter_action::count, w);
  return q->step() ? q->int64(0) : 0;
}

/// Deletes the entries matching `w`; returns how many.
inline std::int64_t delete_dead_letters(connection& c, const dead_letter_where& w) {
  dead_letter_detail::filtered(c, filter_action::remove, w)->run();
  return sqlite3_changes64(c.handle());
}

/// (failed_at, id) of every entry matching `w`, in no particular order.
[[nodiscard]] inline std::vector<std::pair<std::int64_t, dead_letter_id>> select_dead_letters(
    connection& c, const dead_letter_where& w) {
  auto q = dead_letter_detail::filtered(c, filter_action::select, w);
  std::vector<std::pair<std::int64_t, dead_letter_id>> out;
  while (q->step()) out.emplace_back(q->int64(0), q->int64(1));
  return out;
}

/// The SQL of delete_failed_before, for plan tests.
inline constexpr std::string_view delete_failed_before_sql =
    "DELETE FROM durable_dead_letters WHERE dlq = ?1 AND failed_at < ?2";

/// Deletes the entries of `dlq` that failed before `cutoff_ms`; returns how many.
inline std::int64_t delete_failed_before(connection& c, std::string_view dlq,
                                         std::int64_t cutoff_ms) {
  return c.run(delete_failed_before_sql, dlq, cutoff_ms);
}

// ---- Redrive

/// Entry `id` of `dlq`, if not yet redriven: calls `read(statement&)` with 0 origin,
/// 1 queue, 2 key, 3 priority, 4 sequential, 5 codec, 6 fingerprint, 7 payload, 8 history,
/// 9 enqueued_at. False when there is no such entry or it was redriven.
template <class Read>
bool read_for_redrive(connection& c, std::string_view dlq, dead_letter_id id, Read&& read) {
  auto q = c.query(
      "SELECT origin, queue, key, priority, sequential, codec, fingerprint, payload, history, "
      "enqueued_at FROM durable_dead_letters WHERE id = ?1 AND dlq = ?2 AND redriven_at IS NULL",
      id, dlq);
  if (!q->step()) return false;
  read(*q);
  return true;
}

/// Marks entry `id` redriven at `at_ms`; false when it already was (or is gone).
inline bool mark_redriven(connection& c, dead_letter_id id, std::int64_t at_ms) {
  return c.run(
             "UPDATE durable_dead_letters SET redriven_at = ?2 "
             "WHERE id = ?1 AND redriven_at IS NULL",
             id, at_ms) == 1;
}

}  // namespace durable::inline v0::detail::sqlite
