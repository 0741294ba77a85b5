// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Values as the SQLite backend binds and reads them: job keys, JSON arrays of bound
/// values, attempt histories. Part of the SQLite layer, the only place SQL lives.

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

/// The smallest and largest stored time, for open window bounds.
inline constexpr std::int64_t min_ms = std::numeric_limits<std::int64_t>::min();
inline constexpr std::int64_t max_ms = std::numeric_limits<std::int64_t>::max();

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

/// `values` as a JSON array of strings, for `IN (SELECT value FROM json_each(?))`.
[[nodiscard]] inline std::string json_array(std::span<const std::string> values) {
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
[[nodiscard]] inline std::string json_array(std::span<const job_key> keys) {
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

/// Reads a history query's rows (attempt, type, message, at).
[[nodiscard]] inline std::vector<attempt_record> read_history(statement_use q) {
  std::vector<attempt_record> out;
  while (q->step()) {
    out.push_back(
        {q->int64(0), std::string{q->text(1)}, std::string{q->text(2)}, from_unix_ms(q->int64(3))});
  }
  return out;
}

}  // namespace durable::inline v0::detail::sqlite
