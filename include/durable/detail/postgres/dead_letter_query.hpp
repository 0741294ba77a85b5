// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Reading and deleting dead letters: entries, keyset-paginated window queries, filtered
/// counts and deletes, retention. Part of the PostgreSQL layer.
///
/// Filtered statements are composed from a fixed set of SQL fragments chosen by which
/// filter fields are set; every value is bound, lists as arrays (`= ANY($n)`). Each
/// variant is an index range scan (tests/test_postgres.cpp checks EXPLAIN for them all):
/// - no key or type: durable_dead_letters_time (dlq, failed_at, id, redriven_at);
/// - error types: durable_dead_letters_type (dlq, error_type, failed_at, id, redriven_at);
/// - keys: durable_dead_letters_key_int / _key_text (dlq, key, failed_at, id, redriven_at),
///   with the error types, if any, as a residual filter.
/// Ordered pages use one value per statement (an equality, so the index gives the order
/// and there is no sort) and the results are merged.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <variant>
#include <vector>

#include "durable/dead_letter.hpp"
#include "durable/detail/postgres/connection.hpp"
#include "durable/detail/postgres/counters.hpp"
#include "durable/detail/postgres/queue_state.hpp"
#include "durable/detail/postgres/values.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::postgres {

/// The smallest and largest stored time, for open window bounds.
inline constexpr std::int64_t min_ms = std::numeric_limits<std::int64_t>::min();
inline constexpr std::int64_t max_ms = std::numeric_limits<std::int64_t>::max();

/// The columns of a summary, in the order read_summary expects.
inline constexpr std::string_view summary_columns =
    "id, job_id, queue, key_int, key_text, error_type, message, attempts, enqueued_at, "
    "failed_at, redriven_at, redrive_policy";

/// Reads a summary from columns 0..11 of `row` (summary_columns).
[[nodiscard]] inline dead_letter_summary read_summary(const result& r, int row) {
  dead_letter_summary e;
  e.id = r.int64(row, 0);
  if (!r.is_null(row, 1)) e.original_id = r.int64(row, 1);
  e.queue = std::string{r.text(row, 2)};
  e.key = r.key(row, 3);
  e.error_type = std::string{r.text(row, 5)};
  e.message = std::string{r.text(row, 6)};
  e.attempts = r.int64(row, 7);
  e.enqueued_at = from_unix_ms(r.int64(row, 8));
  e.failed_at = from_unix_ms(r.int64(row, 9));
  if (!r.is_null(row, 10)) e.redriven_at = from_unix_ms(r.int64(row, 10));
  e.redrive = r.policy(row, 11);
  return e;
}

/// Entry `id` of `dlq` with its payload and history; empty when there is none. The caller
/// holds a transaction, so both statements see one snapshot.
[[nodiscard]] inline std::optional<storage::dead_letter_row> read_dead_letter(connection& c,
                                                                              std::string_view dlq,
                                                                              dead_letter_id id) {
  static const std::string sql = fmt::format(
      "SELECT {}, origin, context, priority, sequential, codec, fingerprint, payload, "
      "unique_key, max_attempts, timeout_ms FROM durable_dead_letters WHERE id = $1 AND dlq = $2",
      summary_columns);
  static const std::string history = history_sql("durable_dead_letters", "t.id = $1");
  std::optional<storage::dead_letter_row> out;
  const auto r = c.query(sql, id, dlq);
  if (r.rows() == 0) return out;
  storage::dead_letter_row row;
  row.summary = read_summary(r, 0);
  row.origin = r.text_or_empty(0, 12);
  row.context = std::string{r.text(0, 13)};
  row.priority = static_cast<int>(r.int64(0, 14));
  row.sequential = r.boolean(0, 15);
  row.codec = std::string{r.text(0, 16)};
  row.fingerprint = static_cast<std::uint64_t>(r.int64(0, 17));
  row.payload = r.owned_bytes(0, 18);
  row.unique = r.boolean(0, 19);
  row.max_attempts = r.int64(0, 20);
  row.timeout_ms = r.optional_int64(0, 21);
  row.history = read_history(c.query(history, id));
  out = std::move(row);
  return out;
}

// ---- Ordered pages (keyset pagination)

/// Which index an ordered page walks.
enum class dead_letter_index { time, type, key_int, key_text };

/// Variant `v` of the ordered page: bits 0 include_redriven, 1 queue, 2 types residual,
/// 3 descending; v / 16 is the index. Parameters: $1 dlq, $2 the type or key, $3 $4 the
/// position, $5 the window's other end, $6 residual types, $7 queue, $8 limit.
[[nodiscard]] inline std::string build_page_sql(std::size_t v) {
  const auto index = static_cast<dead_letter_index>(v / 16);
  const bool descending = (v & 8U) != 0;
  std::string s =
      fmt::format("SELECT {} FROM durable_dead_letters WHERE dlq = $1", summary_columns);
  switch (index) {
    case dead_letter_index::time: break;
    case dead_letter_index::type: s += " AND error_type = $2"; break;
    case dead_letter_index::key_int: s += " AND key_int = $2"; break;
    case dead_letter_index::key_text: s += " AND key_text = $2"; break;
  }
  s += descending ? " AND (failed_at, id) < ($3, $4) AND failed_at >= $5"
                  : " AND (failed_at, id) > ($3, $4) AND failed_at <= $5";
  if ((v & 4U) != 0) s += " AND error_type = ANY($6)";
  if ((v & 2U) != 0) s += " AND queue = $7";
  if ((v & 1U) == 0) s += " AND redriven_at IS NULL";
  s += descending ? " ORDER BY failed_at DESC, id DESC LIMIT $8"
                  : " ORDER BY failed_at, id LIMIT $8";
  return s;
}

/// The SQL text of an ordered page for the given choices (one of 64 fixed variants).
[[nodiscard]] inline const std::string& page_sql(dead_letter_index index, bool descending,
                                                 bool types_residual, bool queue,
                                                 bool include_redriven) {
  static const std::array<std::string, 64> variants = [] {
    std::array<std::string, 64> out;
    for (std::size_t v = 0; v < out.size(); ++v) out.at(v) = build_page_sql(v);
    return out;
  }();
  const auto v = static_cast<std::size_t>(index) * 16 + (descending ? 8U : 0U) +
                 (types_residual ? 4U : 0U) + (queue ? 2U : 0U) + (include_redriven ? 1U : 0U);
  return variants.at(v);
}

/// Adds `values` to `p` as one text[] parameter.
inline void add_text_array(params& p, std::span<const std::string> values) {
  p.add_array(oid::text_array, oid::text, values.size(), [&](std::size_t i, std::string& out) {
    out.append(values[i]);
    return true;
  });
}

/// One ordered page over one index, resuming strictly after (ascending) or before
/// (descending) the position; appends the summaries to `out`.
struct page_query {
  const storage::dead_letter_where* where = nullptr;
  const storage::page_position* position = nullptr;
  dead_letter_index index = dead_letter_index::time;
  const std::string* type = nullptr;  ///< for dead_letter_index::type
  const job_key* key = nullptr;       ///< for the key indexes
  bool types_residual = false;

  void run(connection& c, std::vector<dead_letter_summary>& out) const {
    const auto& w = *where;
    const auto& pos = *position;
    params p;
    p.add(w.dlq);
    switch (index) {
      case dead_letter_index::time: p.add_null(oid::text); break;
      case dead_letter_index::type: p.add(*type); break;
      case dead_letter_index::key_int: p.add(std::get<std::int64_t>(*key)); break;
      case dead_letter_index::key_text: p.add(std::get<std::string>(*key)); break;
    }
    add_all(p, pos.after_ms, pos.after_id, pos.descending ? w.from_ms : w.to_ms);
    if (types_residual) {
      add_text_array(p, w.error_types);
    } else {
      p.add_null(oid::text_array);
    }
    if (w.queue) {
      p.add(*w.queue);
    } else {
      p.add_null(oid::text);
    }
    p.add(pos.limit);
    const auto r = c.run(
        page_sql(index, pos.descending, types_residual, w.queue.has_value(), w.include_redriven),
        p);
    for (int i = 0; i < r.rows(); ++i) out.push_back(read_summary(r, i));
  }
};

/// Up to `pos.limit` summaries matching `w` in (failed_at, id) order from `pos`: one
/// statement per error type or key, merged.
[[nodiscard]] inline std::vector<dead_letter_summary> dead_letter_page(
    connection& c, const storage::dead_letter_where& w, const storage::page_position& pos) {
  page_query q;
  q.where = &w;
  q.position = &pos;
  std::vector<dead_letter_summary> rows;
  std::size_t statements = 1;
  if (!w.keys.empty()) {
    q.types_residual = !w.error_types.empty();
    for (const auto& key : w.keys) {
      q.index = std::holds_alternative<std::int64_t>(key) ? dead_letter_index::key_int
                                                          : dead_letter_index::key_text;
      q.key = &key;
      q.run(c, rows);
    }
    statements = w.keys.size();
  } else if (!w.error_types.empty()) {
    q.index = dead_letter_index::type;
    for (const auto& type : w.error_types) {
      q.type = &type;
      q.run(c, rows);
    }
    statements = w.error_types.size();
  } else {
    q.run(c, rows);
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

// ---- Filtered count, delete and selection

/// What a filtered statement does.
enum class filter_action {
  count,          ///< SELECT count(*)
  remove,         ///< DELETE
  select,         ///< SELECT id, oldest failure first
  group_by_type,  ///< SELECT error_type, 0, count(*) ... GROUP BY error_type, most first
  group_by_hour,  ///< SELECT '', hour start, count(*) ... GROUP BY the hour, oldest first
  group_by_day,   ///< SELECT '', day start, count(*) ... GROUP BY the day, oldest first
};

/// The number of filter_action values.
inline constexpr std::size_t filter_actions = 6;

/// Variant `v` of a filtered statement: bits 0 include_redriven, 1 queue, 2 integer keys,
/// 3 text keys, 4 types; v / 32 is the filter_action. Parameters: $1 dlq, $2 $3 the
/// window, $4 queue, $5 types, $6 integer keys, $7 text keys.
[[nodiscard]] inline std::string build_filter_sql(std::size_t v) {
  const auto action = static_cast<filter_action>(v / 32);
  const bool types = (v & 16U) != 0;
  const bool text_keys = (v & 8U) != 0;
  const bool int_keys = (v & 4U) != 0;
  std::string s;
  switch (action) {
    case filter_action::count: s = "SELECT count(*)"; break;
    case filter_action::remove: s = "DELETE"; break;
    case filter_action::select: s = "SELECT id"; break;
    case filter_action::group_by_type: s = "SELECT error_type, 0::int8, count(*)"; break;
    case filter_action::group_by_hour:
      s = "SELECT '', failed_at - failed_at % 3600000 AS bucket, count(*)";
      break;
    case filter_action::group_by_day:
      s = "SELECT '', failed_at - failed_at % 86400000 AS bucket, count(*)";
      break;
  }
  s += " FROM durable_dead_letters WHERE dlq = $1 AND failed_at >= $2 AND failed_at <= $3";
  if (int_keys && text_keys) {
    s += " AND (key_int = ANY($6) OR key_text = ANY($7))";
  } else if (int_keys) {
    s += " AND key_int = ANY($6)";
  } else if (text_keys) {
    s += " AND key_text = ANY($7)";
  }
  if (types) s += " AND error_type = ANY($5)";
  if ((v & 2U) != 0) s += " AND queue = $4";
  if ((v & 1U) == 0) s += " AND redriven_at IS NULL";
  if (action == filter_action::select) s += " ORDER BY failed_at, id";
  if (action == filter_action::group_by_type) {
    s += " GROUP BY error_type ORDER BY count(*) DESC, error_type";
  } else if (action == filter_action::group_by_hour || action == filter_action::group_by_day) {
    s += " GROUP BY bucket ORDER BY bucket";
  }
  if (action == filter_action::remove) return counted_dead_letter_delete(s);
  return s;
}

/// The SQL text of a filtered statement for the given choices (one of 192 fixed variants).
[[nodiscard]] inline const std::string& filter_sql(filter_action action, bool types, bool int_keys,
                                                   bool text_keys, bool queue,
                                                   bool include_redriven) {
  static const std::array<std::string, 32 * filter_actions> variants = [] {
    std::array<std::string, 32 * filter_actions> out;
    for (std::size_t v = 0; v < out.size(); ++v) out.at(v) = build_filter_sql(v);
    return out;
  }();
  const auto v = static_cast<std::size_t>(action) * 32 + (types ? 16U : 0U) +
                 (text_keys ? 8U : 0U) + (int_keys ? 4U : 0U) + (queue ? 2U : 0U) +
                 (include_redriven ? 1U : 0U);
  return variants.at(v);
}

/// Runs filtered statement `action` over `w`.
inline result run_filtered(connection& c, filter_action action,
                           const storage::dead_letter_where& w) {
  std::vector<std::int64_t> ints;
  std::vector<const std::string*> texts;
  for (const auto& k : w.keys) {
    if (const auto* i = std::get_if<std::int64_t>(&k)) {
      ints.push_back(*i);
    } else {
      texts.push_back(&std::get<std::string>(k));
    }
  }
  params p;
  add_all(p, w.dlq, w.from_ms, w.to_ms);
  if (w.queue) {
    p.add(*w.queue);
  } else {
    p.add_null(oid::text);
  }
  add_text_array(p, w.error_types);
  p.add_array(oid::int8_array, oid::int8, ints.size(), [&](std::size_t i, std::string& out) {
    put_int8(out, ints[i]);
    return true;
  });
  p.add_array(oid::text_array, oid::text, texts.size(), [&](std::size_t i, std::string& out) {
    out.append(*texts[i]);
    return true;
  });
  return c.run(filter_sql(action, !w.error_types.empty(), !ints.empty(), !texts.empty(),
                          w.queue.has_value(), w.include_redriven),
               p);
}

/// True when `w` selects the whole DLQ (no window, type, key or queue): its counters answer.
[[nodiscard]] inline bool whole_queue(const storage::dead_letter_where& w) noexcept {
  return w.from_ms == min_ms && w.to_ms == max_ms && w.error_types.empty() && w.keys.empty() &&
         !w.queue;
}

/// How many entries match `w`: from the counters for the whole DLQ, else an index range
/// scan.
[[nodiscard]] inline std::int64_t count_dead_letters(connection& c,
                                                     const storage::dead_letter_where& w) {
  if (whole_queue(w)) {
    const auto [entries, redriven] = dead_letter_counts(c, w.dlq);
    return w.include_redriven ? entries : entries - redriven;
  }
  return run_filtered(c, filter_action::count, w).int64(0, 0);
}

/// The entries matching `w`, counted by error type (most first) or by UTC hour or day of
/// failure (oldest first); an index range scan as count_dead_letters's.
[[nodiscard]] inline std::vector<storage::dead_letter_group> count_dead_letters_by(
    connection& c, const storage::dead_letter_where& w, storage::dead_letter_grouping grouping) {
  const auto action =
      grouping == storage::dead_letter_grouping::error_type ? filter_action::group_by_type
      : grouping == storage::dead_letter_grouping::hour     ? filter_action::group_by_hour
                                                            : filter_action::group_by_day;
  const auto r = run_filtered(c, action, w);
  std::vector<storage::dead_letter_group> groups;
  groups.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    groups.push_back({std::string{r.text(i, 0)}, r.int64(i, 1), r.int64(i, 2)});
  }
  return groups;
}

/// Deletes the entries matching `w` (and takes them off the DLQ's counters); returns how
/// many.
inline std::int64_t delete_dead_letters(connection& c, const storage::dead_letter_where& w) {
  return run_filtered(c, filter_action::remove, w).int64(0, 0);
}

/// Ids of every entry matching `w`, oldest failure first.
[[nodiscard]] inline std::vector<dead_letter_id> select_dead_letters(
    connection& c, const storage::dead_letter_where& w) {
  const auto r = run_filtered(c, filter_action::select, w);
  std::vector<dead_letter_id> ids;
  ids.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) ids.push_back(r.int64(i, 0));
  return ids;
}

/// The SQL of delete_failed_before (also for plan tests).
[[nodiscard]] inline const std::string& delete_failed_before_sql() {
  static const std::string sql = counted_dead_letter_delete(
      "DELETE FROM durable_dead_letters WHERE dlq = $1 AND failed_at < $2");
  return sql;
}

/// Deletes the entries of `dlq` that failed before `cutoff_ms`; returns how many.
inline std::int64_t delete_failed_before(connection& c, std::string_view dlq,
                                         std::int64_t cutoff_ms) {
  return c.query(delete_failed_before_sql(), dlq, cutoff_ms).int64(0, 0);
}

/// Deletes entry `id` of `dlq`; false when there is none.
inline bool delete_dead_letter(connection& c, std::string_view dlq, dead_letter_id id) {
  static const std::string sql =
      counted_dead_letter_delete("DELETE FROM durable_dead_letters WHERE id = $1 AND dlq = $2");
  return c.query(sql, id, dlq).int64(0, 0) == 1;
}

}  // namespace durable::inline v0::detail::postgres
