// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Reading and deleting dead letters: entries, keyset-paginated window queries, filtered
/// counts and deletes, retention. Part of the SQLite layer, the only place SQL lives.
///
/// Filtered statements are composed from a fixed set of SQL fragments chosen by which
/// filter fields are set; every value is bound. Each variant is an index range scan
/// (tests/test_dead_letter_queue.cpp checks EXPLAIN QUERY PLAN for all of them):
/// - no key or type: durable_dead_letters_time (dlq_id, failed_at, id, redriven_at);
/// - error types: durable_dead_letters_type (dlq_id, error_type, failed_at, id, redriven_at);
/// - keys: durable_dead_letters_key (dlq_id, key, failed_at, id, redriven_at), with the
///   error types, if any, as a residual filter (`+error_type` keeps it off the index).
/// Lists of error types are bound as one JSON array and read with json_each; keys are
/// bound one per statement (json_each would cut a key at a NUL). Ordered pages use
/// one value per statement (an equality, so the index gives the order and there is no
/// temp b-tree) and the results are merged.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "durable/dead_letter.hpp"
#include "durable/detail/sqlite/catalog.hpp"
#include "durable/detail/sqlite/connection.hpp"
#include "durable/detail/sqlite/values.hpp"
#include "durable/detail/sqlite/write_context.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::sqlite {

/// The columns of a summary, in the order read_summary expects.
inline constexpr std::string_view summary_columns =
    "id, job_id, queue, key, error_type, message, attempts, enqueued_at, failed_at, redriven_at, "
    "redrive_policy";

/// Reads a summary from columns 0..10 (summary_columns).
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
  e.redrive = column_policy(s, 10);
  return e;
}

/// Entry `id` of DLQ `dlq_id` with its payload and history (the final failure last);
/// empty when there is none. `database_id` is this file's: the origin of its own jobs.
[[nodiscard]] inline std::optional<storage::dead_letter_row> read_dead_letter(
    connection& c, std::int64_t dlq_id, dead_letter_id id, std::string_view database_id) {
  static const std::string sql =
      "SELECT " + std::string{summary_columns} +
      ", origin, context, priority, sequential, codec, fingerprint, payload, unique_key, "
      "max_attempts, history, timeout_ms FROM durable_dead_letters WHERE id = ?1 AND dlq_id = ?2";
  std::optional<storage::dead_letter_row> out;
  {
    auto q = c.query(sql, id, dlq_id);
    if (!q->step()) return out;
    storage::dead_letter_row row;
    row.summary = read_summary(*q);
    row.origin = column_text(*q, 11);
    if (q->is_null(11) && row.summary.original_id) row.origin = std::string{database_id};
    row.context = column_text(*q, 12);
    row.priority = static_cast<int>(q->int64(13));
    row.sequential = q->int64(14) != 0;
    row.codec = std::string{q->text(15)};
    row.fingerprint = static_cast<std::uint64_t>(q->int64(16));
    row.payload = column_bytes(*q, 17);
    row.unique = q->int64(18) != 0;
    row.max_attempts = q->int64(19);
    row.history = column_history(*q, 20);
    if (!q->is_null(21)) row.timeout_ms = q->int64(21);
    out = std::move(row);
  }
  const auto& s = out->summary;
  out->history.push_back({s.attempts, s.error_type, s.message, s.failed_at});
  return out;
}

// ---- Ordered pages (keyset pagination)

/// Which index an ordered page walks.
enum class dead_letter_index { time, type, key };

/// One ordered page over one index, resuming strictly after (ascending) or before
/// (descending) the position (after_ms, after_id).
struct page_query {
  std::int64_t dlq_id = 0;
  dead_letter_index index = dead_letter_index::time;
  const std::string* type = nullptr;  ///< the error type, for dead_letter_index::type
  const job_key* key = nullptr;       ///< the key, for dead_letter_index::key
  bool descending = false;
  std::int64_t after_ms = min_ms;  ///< position to resume after (asc) or before (desc)
  std::int64_t after_id = 0;
  std::int64_t bound_ms = max_ms;           ///< the window's other end: upper (asc), lower (desc)
  const std::string* types_json = nullptr;  ///< residual error-type list, key index only
  std::optional<std::string_view> queue;    ///< source-queue filter, or none
  bool include_redriven = false;
  std::int64_t limit = 100;
};

/// Variant `v` of the ordered page: bits 0 include_redriven, 1 queue, 2 types_residual,
/// 3 descending; v / 16 is the index.
[[nodiscard]] inline std::string build_page_sql(std::size_t v) {
  const auto index = v / 16;
  const bool descending = (v & 8U) != 0;
  std::string s =
      "SELECT " + std::string{summary_columns} + " FROM durable_dead_letters WHERE dlq_id = ?1";
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
  auto q = c.query(page_sql(p.index, p.descending, resid, p.queue.has_value(), p.include_redriven));
  q->bind(1, p.dlq_id);
  if (p.index == dead_letter_index::type) {
    q->bind(2, *p.type);
  } else if (p.index == dead_letter_index::key) {
    bind_key(*q, 2, *p.key);
  }
  q->bind_all_from(3, p.after_ms, p.after_id, p.bound_ms);
  if (resid) q->bind(6, *p.types_json);
  if (p.queue) q->bind(7, *p.queue);
  q->bind(8, p.limit);
  while (q->step()) out.push_back(read_summary(*q));
}

// ---- Filtered count, delete and selection

/// What a filtered statement does.
enum class filter_action {
  count,          ///< SELECT count(*), count(redriven_at)
  remove,         ///< DELETE
  select,         ///< SELECT failed_at, id
  group_by_type,  ///< SELECT error_type, 0, count(*) ... GROUP BY error_type
  group_by_hour,  ///< SELECT '', hour start, count(*) ... GROUP BY the hour
  group_by_day,   ///< SELECT '', day start, count(*) ... GROUP BY the day
};

/// The number of filter_action values.
inline constexpr std::size_t filter_actions = 6;

/// Variant `v` of a filtered statement: bits 0 include_redriven, 1 queue, 2 keys, 3 types;
/// v / 16 is the filter_action.
[[nodiscard]] inline std::string build_filter_sql(std::size_t v) {
  const auto action = static_cast<filter_action>(v / 16);
  const bool types = (v & 8U) != 0;
  const bool keys = (v & 4U) != 0;
  std::string s;
  switch (action) {
    case filter_action::count: s = "SELECT count(*), count(redriven_at)"; break;
    case filter_action::remove: s = "DELETE"; break;
    case filter_action::select: s = "SELECT failed_at, id"; break;
    case filter_action::group_by_type: s = "SELECT error_type, 0, count(*)"; break;
    case filter_action::group_by_hour:
      s = "SELECT '', failed_at - failed_at % 3600000 AS bucket, count(*)";
      break;
    case filter_action::group_by_day:
      s = "SELECT '', failed_at - failed_at % 86400000 AS bucket, count(*)";
      break;
  }
  s += " FROM durable_dead_letters WHERE dlq_id = ?1 AND failed_at >= ?2 AND failed_at <= ?3";
  if (keys) s += " AND key = ?6";
  if (types && keys) s += " AND +error_type IN (SELECT value FROM json_each(?5))";
  if (types && !keys) s += " AND error_type IN (SELECT value FROM json_each(?5))";
  if ((v & 2U) != 0) s += " AND queue = ?4";
  if ((v & 1U) == 0) s += " AND redriven_at IS NULL";
  if (action == filter_action::group_by_type) {
    s += " GROUP BY error_type ORDER BY count(*) DESC, error_type";
  } else if (action == filter_action::group_by_hour || action == filter_action::group_by_day) {
    s += " GROUP BY bucket ORDER BY bucket";
  }
  return s;
}

/// The SQL text of a filtered statement for the given choices (one of 96 fixed variants).
[[nodiscard]] inline const std::string& filter_sql(filter_action action, bool types, bool keys,
                                                   bool queue, bool include_redriven) {
  static const std::array<std::string, 16 * filter_actions> variants = [] {
    std::array<std::string, 16 * filter_actions> out;
    for (std::size_t v = 0; v < out.size(); ++v) out.at(v) = build_filter_sql(v);
    return out;
  }();
  const auto v = static_cast<std::size_t>(action) * 16 + (types ? 8U : 0U) + (keys ? 4U : 0U) +
                 (queue ? 2U : 0U) + (include_redriven ? 1U : 0U);
  return variants.at(v);
}

/// Runs filtered statement `action` over `w` to completion, calling `row` on each row.
/// With keys, one statement per key, each key bound with its full length (json_each would
/// cut a key at an escaped NUL), in one snapshot.
template <class Row>
void run_filtered(connection& c, filter_action action, std::int64_t dlq_id,
                  const storage::dead_letter_where& w, Row&& row) {
  const bool types = !w.error_types.empty();
  const bool keys = !w.keys.empty();
  const std::string types_json = types ? json_array(w.error_types) : std::string{};
  std::optional<read_transaction> snapshot;
  if (w.keys.size() > 1 && !c.in_transaction()) snapshot.emplace(c);
  const auto run = [&](const job_key* key) {
    auto q = c.query(filter_sql(action, types, keys, w.queue.has_value(), w.include_redriven),
                     dlq_id, w.from_ms, w.to_ms);
    if (w.queue) q->bind(4, *w.queue);
    if (types) q->bind(5, types_json);
    if (key != nullptr) bind_key(*q, 6, *key);
    while (q->step()) row(*q);
  };
  if (!keys) return run(nullptr);
  for (const auto& key : w.keys) run(&key);
}

/// True when `w` selects the whole DLQ (no window, type, key or queue): its counters answer.
[[nodiscard]] inline bool whole_queue(const storage::dead_letter_where& w) noexcept {
  return w.from_ms == min_ms && w.to_ms == max_ms && w.error_types.empty() && w.keys.empty() &&
         !w.queue;
}

/// (matching entries, of which redriven) for `w` over DLQ `dlq_id`: an index range scan.
[[nodiscard]] inline std::pair<std::int64_t, std::int64_t> scan_count(
    connection& c, std::int64_t dlq_id, const storage::dead_letter_where& w) {
  std::pair<std::int64_t, std::int64_t> n{0, 0};
  run_filtered(c, filter_action::count, dlq_id, w, [&](const statement& s) {
    n.first += s.int64(0);
    n.second += s.int64(1);
  });
  return n;
}

/// How many entries of DLQ `dlq_id` match `w`: from the counters for the whole DLQ,
/// else an index range scan.
[[nodiscard]] inline std::int64_t count_dead_letters(connection& c, std::int64_t dlq_id,
                                                     const storage::dead_letter_where& w) {
  if (whole_queue(w)) {
    const auto [entries, redriven] = dead_letter_counts(c, dlq_id);
    return w.include_redriven ? entries : entries - redriven;
  }
  return scan_count(c, dlq_id, w).first;
}

/// The entries of DLQ `dlq_id` matching `w`, counted by error type, hour or day.
[[nodiscard]] inline std::vector<storage::dead_letter_group> count_dead_letters_by(
    connection& c, std::int64_t dlq_id, const storage::dead_letter_where& w,
    storage::dead_letter_grouping grouping) {
  const auto action =
      grouping == storage::dead_letter_grouping::error_type ? filter_action::group_by_type
      : grouping == storage::dead_letter_grouping::hour     ? filter_action::group_by_hour
                                                            : filter_action::group_by_day;
  std::vector<storage::dead_letter_group> groups;
  run_filtered(c, action, dlq_id, w, [&](const statement& s) {
    groups.push_back({std::string{s.text(0)}, s.int64(1), s.int64(2)});
  });
  return groups;
}

/// Deletes the entries of DLQ `dlq_id` matching `w`; returns how many.
inline std::int64_t delete_dead_letters(write_context& ctx, std::int64_t dlq_id,
                                        const storage::dead_letter_where& w) {
  const auto [matching, redriven] = scan_count(ctx.db, dlq_id, w);
  if (matching == 0) return 0;
  ctx.before_delete(id_table::dead_letters);
  run_filtered(ctx.db, filter_action::remove, dlq_id, w, [](const statement&) {});
  ctx.count_dead_letters(dlq_id, -matching, -redriven);
  return matching;
}

/// Ids of every entry of DLQ `dlq_id` matching `w`, oldest failure first.
[[nodiscard]] inline std::vector<dead_letter_id> select_dead_letters(
    connection& c, std::int64_t dlq_id, const storage::dead_letter_where& w) {
  std::vector<std::pair<std::int64_t, dead_letter_id>> found;
  run_filtered(c, filter_action::select, dlq_id, w,
               [&](const statement& s) { found.emplace_back(s.int64(0), s.int64(1)); });
  std::sort(found.begin(), found.end());
  std::vector<dead_letter_id> ids;
  ids.reserve(found.size());
  for (const auto& [at, id] : found) ids.push_back(id);
  return ids;
}

/// Up to `pos.limit` summaries matching `w` in (failed_at, id) order from `pos`: one
/// statement per error type or key, merged.
[[nodiscard]] inline std::vector<dead_letter_summary> dead_letter_page(
    connection& c, std::int64_t dlq_id, const storage::dead_letter_where& w,
    const storage::page_position& pos) {
  page_query q;
  q.dlq_id = dlq_id;
  q.descending = pos.descending;
  q.after_ms = pos.after_ms;
  q.after_id = pos.after_id;
  q.bound_ms = pos.descending ? w.from_ms : w.to_ms;
  q.queue = w.queue;
  q.include_redriven = w.include_redriven;
  q.limit = pos.limit;
  std::vector<dead_letter_summary> rows;
  std::size_t statements = 1;
  if (!w.keys.empty()) {
    const std::string types_json =
        w.error_types.empty() ? std::string{} : json_array(w.error_types);
    q.index = dead_letter_index::key;
    q.types_json = w.error_types.empty() ? nullptr : &types_json;
    for (const auto& key : w.keys) {
      q.key = &key;
      select_page(c, q, rows);
    }
    statements = w.keys.size();
  } else if (!w.error_types.empty()) {
    q.index = dead_letter_index::type;
    for (const auto& type : w.error_types) {
      q.type = &type;
      select_page(c, q, rows);
    }
    statements = w.error_types.size();
  } else {
    select_page(c, q, rows);
  }
  if (statements > 1) {
    const auto by_position = [descending = pos.descending](const dead_letter_summary& a,
                                                           const dead_letter_summary& b) {
      const auto pa = std::tuple{a.failed_at, a.id};
      const auto pb = std::tuple{b.failed_at, b.id};
      return descending ? pb < pa : pa < pb;
    };
    std::sort(rows.begin(), rows.end(), by_position);
    if (rows.size() > static_cast<std::size_t>(pos.limit)) {
      rows.resize(static_cast<std::size_t>(pos.limit));
    }
  }
  return rows;
}

/// The SQL of delete_failed_before, for plan tests.
inline constexpr std::string_view delete_failed_before_sql =
    "DELETE FROM durable_dead_letters WHERE dlq_id = ?1 AND failed_at < ?2";

/// Deletes the entries of DLQ `dlq_id` that failed before `cutoff_ms`; returns how many.
inline std::int64_t delete_failed_before(write_context& ctx, std::int64_t dlq_id,
                                         std::int64_t cutoff_ms) {
  if (cutoff_ms == min_ms) return 0;
  storage::dead_letter_where w;
  w.from_ms = min_ms;
  w.to_ms = cutoff_ms - 1;
  w.include_redriven = true;
  const auto [matching, redriven] = scan_count(ctx.db, dlq_id, w);
  if (matching == 0) return 0;
  ctx.before_delete(id_table::dead_letters);
  ctx.db.run(delete_failed_before_sql, dlq_id, cutoff_ms);
  ctx.count_dead_letters(dlq_id, -matching, -redriven);
  return matching;
}

/// Deletes entry `id` of DLQ `dlq_id`; false when there is none.
inline bool delete_dead_letter(write_context& ctx, std::int64_t dlq_id, dead_letter_id id) {
  ctx.before_delete(id_table::dead_letters, id);
  auto q = ctx.db.query(
      "DELETE FROM durable_dead_letters WHERE id = ?1 AND dlq_id = ?2 "
      "RETURNING redriven_at IS NOT NULL",
      id, dlq_id);
  if (!q->step()) return false;
  const bool redriven = q->int64(0) != 0;
  q->run();
  ctx.count_dead_letters(dlq_id, -1, redriven ? -1 : 0);
  return true;
}

}  // namespace durable::inline v0::detail::sqlite
