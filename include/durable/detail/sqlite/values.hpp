// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Values as the SQLite backend binds and reads them: job keys, JSON arrays of bound
/// values, attempt histories. Part of the SQLite layer, the only place SQL lives.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "durable/clock.hpp"
#include "durable/detail/json.hpp"
#include "durable/detail/sqlite/statement.hpp"
#include "durable/error_traits.hpp"
#include "durable/job.hpp"

namespace durable::inline v0::detail::sqlite {

/// "(?, ?), (?, ?)": `rows` rows of `columns` parameters each, the VALUES of a multi-row
/// INSERT; the parameters are numbered 1, 2, ... row by row.
[[nodiscard]] inline std::string value_rows(std::size_t rows, int columns) {
  std::string s;
  for (std::size_t r = 0; r < rows; ++r) {
    s += r == 0 ? "(?" : ", (?";
    for (int c = 1; c < columns; ++c) s += ", ?";
    s += ')';
  }
  return s;
}

/// The smallest and largest stored time, for open window bounds.
inline constexpr std::int64_t min_ms = std::numeric_limits<std::int64_t>::min();
inline constexpr std::int64_t max_ms = std::numeric_limits<std::int64_t>::max();

// SQL: the stored history `x` as a JSON array that json_insert can append to: '[]' for
// NULL, the text itself when it is a JSON array, and for anything else (a damaged row) an
// array of the one record history_reader reads it as, so the job keeps flowing and the
// damaged text is kept. A macro: statements are built by string-literal concatenation.
// NOLINTNEXTLINE(cppcoreguidelines-macro-usage)
#define DURABLE_DETAIL_HISTORY_ARRAY(x)                                        \
  "(CASE WHEN " x " IS NULL THEN '[]' WHEN json_valid(" x ") AND json_type(" x \
  ") = 'array' THEN " x                                                        \
  " ELSE json_array(json_object('attempt', 0, 'type', 'damaged_history', "     \
  "'message', '" DURABLE_DETAIL_DAMAGED_HISTORY_MESSAGE "' || " x ", 'at', 0)) END)"
static_assert(damaged_history_error == "damaged_history");

/// Binds a job key at `index`, without copying: `key` must outlive the step.
inline void bind_key(statement& s, int index, const job_key& key) {
  if (const auto* i = std::get_if<std::int64_t>(&key)) {
    s.bind(index, *i);
  } else {
    s.bind(index, std::get<std::string>(key));
  }
}

/// Binds a job key, or NULL for a null pointer, at `index`, without copying.
inline void bind_key(statement& s, int index, const job_key* key) {
  if (key != nullptr) {
    bind_key(s, index, *key);
  } else {
    s.bind(index, std::nullopt);
  }
}

/// Reads a job key (or nothing) from `column`.
[[nodiscard]] inline std::optional<job_key> column_key(const statement& s, int column) {
  switch (s.type(column)) {
    case SQLITE_NULL: return std::nullopt;
    case SQLITE_INTEGER: return job_key{s.int64(column)};
    default: return job_key{std::string{s.text(column)}};
  }
}

/// Reads a payload blob from `column` into owned bytes.
[[nodiscard]] inline std::vector<std::byte> column_bytes(const statement& s, int column) {
  const auto blob = s.blob(column);
  return {blob.begin(), blob.end()};
}

/// Text of an optional `column`; empty for NULL.
[[nodiscard]] inline std::string column_text(const statement& s, int column) {
  return s.is_null(column) ? std::string{} : std::string{s.text(column)};
}

/// A redrive policy as stored ("safe", "optional", "never").
[[nodiscard]] inline redrive_policy column_policy(const statement& s, int column) {
  const auto text = s.text(column);
  if (text == "safe") return redrive_policy::safe;
  if (text == "never") return redrive_policy::never;
  return redrive_policy::optional;
}

/// `values` as a JSON array of strings, for `IN (SELECT value FROM json_each(?))`. SQLite
/// (3.40) cuts a string read by json_each at an escaped NUL: the values must have none
/// (error types are refused with one; keys are bound one by one instead).
[[nodiscard]] inline std::string json_array(std::span<const std::string> values) {
  std::string out = "[";
  for (const auto& v : values) {
    if (out.size() > 1) out += ',';
    append_json_string(out, v);
  }
  out += ']';
  return out;
}

/// The attempt history stored in `column` (see history_reader); empty for NULL.
[[nodiscard]] inline std::vector<attempt_record> column_history(const statement& s, int column) {
  if (s.is_null(column)) return {};
  return read_history(s.text(column));
}

}  // namespace durable::inline v0::detail::sqlite
