// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The little JSON durable writes itself: string literals, and a job's attempt history
/// as stored by every backend: an array of {attempt, type, message, at}.

#include <span>
#include <string>
#include <string_view>

#include "durable/clock.hpp"
#include "durable/job.hpp"

namespace durable::inline v0::detail {

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

/// `history` in its stored form; empty for no attempts.
[[nodiscard]] inline std::string history_json(std::span<const attempt_record> history) {
  if (history.empty()) return {};
  std::string out = "[";
  for (const auto& a : history) {
    if (out.size() > 1) out += ',';
    out += "{\"attempt\":" + std::to_string(a.attempt) + ",\"type\":";
    append_json_string(out, a.error_type);
    out += ",\"message\":";
    append_json_string(out, a.message);
    out += ",\"at\":" + std::to_string(to_unix_ms(a.at)) + "}";
  }
  out += ']';
  return out;
}

}  // namespace durable::inline v0::detail
