// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The little JSON durable writes and reads itself: string literals, and a job's attempt
/// history as stored by every backend: an array of {attempt, type, message, at}.

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "durable/clock.hpp"
#include "durable/job.hpp"

namespace durable::inline v0::detail {

/// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or code points
/// past U+10FFFF).
[[nodiscard]] inline bool is_valid_utf8(std::string_view text) noexcept {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0U) == 0xC0) {
      n = 1;
      cp = c & 0x1FU;
    } else if ((c & 0xF0U) == 0xE0) {
      n = 2;
      cp = c & 0x0FU;
    } else if ((c & 0xF8U) == 0xF0) {
      n = 3;
      cp = c & 0x07U;
    } else {
      return false;
    }
    if (i + n >= text.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      if ((b & 0xC0U) != 0x80) return false;
      cp = (cp << 6U) | (b & 0x3FU);
    }
    constexpr std::array<std::uint32_t, 4> smallest{0, 0x80, 0x800, 0x10000};
    if (cp < smallest.at(n) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

/// `text` with each byte that does not begin a well-formed UTF-8 character replaced by
/// U+FFFD: JSON must be UTF-8 (RFC 8259), whatever bytes an exception's message holds.
[[nodiscard]] inline std::string to_valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t n = 1;
    if ((c & 0xE0U) == 0xC0) {
      n = 2;
    } else if ((c & 0xF0U) == 0xE0) {
      n = 3;
    } else if ((c & 0xF8U) == 0xF0) {
      n = 4;
    }
    if (i + n <= text.size() && is_valid_utf8(text.substr(i, n))) {
      out.append(text.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

/// The longest prefix of `text` of at most `max` bytes that does not end inside a UTF-8
/// character: it backs over at most 3 continuation bytes (text that is not UTF-8 is cut
/// at `max` anyway).
[[nodiscard]] inline std::string_view utf8_prefix(std::string_view text, std::size_t max) noexcept {
  if (text.size() <= max) return text;
  std::size_t end = max;
  for (int k = 0; k < 3 && end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0U) == 0x80U;
       ++k) {
    --end;
  }
  return text.substr(0, end);
}

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

// The message of the record a damaged history reads as (the stored text follows it); a
// macro because the SQL of the backends writes the same record (sqlite/values.hpp).
// NOLINTNEXTLINE(cppcoreguidelines-macro-usage)
#define DURABLE_DETAIL_DAMAGED_HISTORY_MESSAGE \
  "the stored attempt history is damaged (not the JSON array durable writes); its text: "
inline constexpr std::string_view damaged_history_message = DURABLE_DETAIL_DAMAGED_HISTORY_MESSAGE;

/// Reads a stored history, the JSON array history_json() and the backends' SQL write.
/// Strict about the shape (an array of objects whose "attempt" and "at" are integers and
/// "type" and "message" strings; other members are skipped), lenient about bytes: strings
/// keep every byte, \u0000 included. Any other text reads as one record of type
/// damaged_history_error carrying it, so a damaged row never stops a reader. Never throws
/// but std::bad_alloc; O(text size), nesting of skipped members limited to 64 levels.
class history_reader {
 public:
  [[nodiscard]] static std::vector<attempt_record> read(std::string_view text) {
    history_reader r{text};
    if (auto records = r.array()) return std::move(*records);
    attempt_record damaged;
    damaged.error_type = damaged_history_error;
    damaged.message = std::string{damaged_history_message}.append(text);
    return {std::move(damaged)};
  }

 private:
  explicit history_reader(std::string_view text) : text_(text) {}

  std::optional<std::vector<attempt_record>> array() {
    std::vector<attempt_record> out;
    if (!take('[')) return std::nullopt;
    if (!take(']')) {
      do {
        attempt_record record;
        if (!object(record)) return std::nullopt;
        out.push_back(std::move(record));
      } while (take(','));
      if (!take(']')) return std::nullopt;
    }
    space();
    if (at_ != text_.size()) return std::nullopt;
    return out;
  }

  bool object(attempt_record& record) {
    if (!take('{')) return false;
    if (take('}')) return true;
    do {
      std::string name;
      space();
      if (!string(name) || !take(':')) return false;
      space();
      bool ok = true;
      if (name == "attempt") {
        ok = integer(record.attempt);
      } else if (name == "at") {
        std::int64_t ms = 0;
        ok = integer(ms);
        record.at = from_unix_ms(ms);
      } else if (name == "type") {
        ok = string(record.error_type);
      } else if (name == "message") {
        ok = string(record.message);
      } else {
        ok = skip_value(0);
      }
      if (!ok) return false;
    } while (take(','));
    return take('}');
  }

  // A JSON string at at_ into `out` (appended to a cleared string).
  bool string(std::string& out) {
    out.clear();
    if (peek() != '"') return false;
    ++at_;
    while (at_ < text_.size()) {
      const char c = text_[at_++];
      if (c == '"') return true;
      if (c != '\\') {
        out += c;  // raw bytes, valid UTF-8 or not, are kept as they are
        continue;
      }
      if (at_ >= text_.size()) return false;
      const char e = text_[at_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t code = 0;
          if (!hex4(code)) return false;
          if (code >= 0xD800 && code <= 0xDBFF && text_.substr(at_, 2) == "\\u") {
            const auto mark = at_;
            at_ += 2;
            std::uint32_t low = 0;
            if (hex4(low) && low >= 0xDC00 && low <= 0xDFFF) {
              code = 0x10000 + ((code - 0xD800) << 10U) + (low - 0xDC00);
            } else {
              at_ = mark;  // a lone high surrogate; the next escape stands on its own
            }
          }
          append_utf8(out, code);
          break;
        }
        default: return false;
      }
    }
    return false;
  }

  bool hex4(std::uint32_t& code) {
    if (text_.size() - at_ < 4) return false;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[at_++];
      code <<= 4U;
      if (c >= '0' && c <= '9') {
        code |= static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        code |= static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        code |= static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        return false;
      }
    }
    return true;
  }

  // UTF-8 of `code`; a lone surrogate is encoded as its three bytes (as SQLite does).
  static void append_utf8(std::string& out, std::uint32_t code) {
    const auto byte = [&out](std::uint32_t b) { out += static_cast<char>(b); };
    if (code < 0x80) {
      byte(code);
    } else if (code < 0x800) {
      byte(0xC0U | (code >> 6U));
      byte(0x80U | (code & 0x3FU));
    } else if (code < 0x10000) {
      byte(0xE0U | (code >> 12U));
      byte(0x80U | ((code >> 6U) & 0x3FU));
      byte(0x80U | (code & 0x3FU));
    } else {
      byte(0xF0U | (code >> 18U));
      byte(0x80U | ((code >> 12U) & 0x3FU));
      byte(0x80U | ((code >> 6U) & 0x3FU));
      byte(0x80U | (code & 0x3FU));
    }
  }

  // An integer without fraction or exponent, in the range of std::int64_t.
  bool integer(std::int64_t& out) {
    const bool negative = peek() == '-';
    if (negative) ++at_;
    if (!digit(peek())) return false;
    std::uint64_t magnitude = 0;
    constexpr std::uint64_t limit = std::uint64_t{std::numeric_limits<std::int64_t>::max()} + 1;
    while (digit(peek())) {
      const auto d = static_cast<std::uint64_t>(text_[at_++] - '0');
      if (magnitude > (limit - d) / 10) return false;
      magnitude = magnitude * 10 + d;
    }
    if (peek() == '.' || peek() == 'e' || peek() == 'E') return false;
    if (!negative && magnitude == limit) return false;
    out =
        negative ? static_cast<std::int64_t>(~magnitude + 1) : static_cast<std::int64_t>(magnitude);
    return true;
  }

  // Skips any JSON value (an unknown member), nested at most 64 deep. One switch over the
  // value kinds, kept whole so the grammar reads in one place.
  bool skip_value(int depth) {  // NOLINT(readability-function-cognitive-complexity)
    if (depth > 64) return false;
    space();
    const char c = peek();
    if (c == '"') {
      std::string ignored;
      return string(ignored);
    }
    if (c == '[' || c == '{') {
      const char close = c == '[' ? ']' : '}';
      ++at_;
      if (take(close)) return true;
      do {
        if (c == '{') {
          std::string ignored;
          space();
          if (!string(ignored) || !take(':')) return false;
        }
        if (!skip_value(depth + 1)) return false;
      } while (take(','));
      return take(close);
    }
    for (const std::string_view word : {"true", "false", "null"}) {
      if (text_.substr(at_).starts_with(word)) {
        at_ += word.size();
        return true;
      }
    }
    if (c == '-' || digit(c)) {
      if (c == '-') ++at_;
      if (!digit(peek())) return false;
      while (digit(peek()) || peek() == '.' || peek() == 'e' || peek() == 'E' || peek() == '+' ||
             peek() == '-') {
        ++at_;
      }
      return true;
    }
    return false;
  }

  static bool digit(char c) noexcept { return c >= '0' && c <= '9'; }
  [[nodiscard]] char peek() const noexcept { return at_ < text_.size() ? text_[at_] : '\0'; }
  void space() noexcept {
    while (at_ < text_.size() &&
           (text_[at_] == ' ' || text_[at_] == '\t' || text_[at_] == '\n' || text_[at_] == '\r')) {
      ++at_;
    }
  }
  // Skips white space, then `c` if it is next; true if it was.
  bool take(char c) noexcept {
    space();
    if (peek() != c) return false;
    ++at_;
    return true;
  }

  std::string_view text_;
  std::size_t at_ = 0;
};

/// A stored history read with history_reader.
[[nodiscard]] inline std::vector<attempt_record> read_history(std::string_view text) {
  return history_reader::read(text);
}

}  // namespace durable::inline v0::detail
