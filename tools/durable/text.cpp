// SPDX-License-Identifier: MIT
#include "text.hpp"

#include <date/date.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>

#include <durable/detail/pfr/render.hpp>

#include "errors.hpp"

namespace durable_cli {

std::optional<std::int64_t> parse_int(std::string_view text) {
  std::int64_t v = 0;
  const char* first = text.data();
  // NOLINTNEXTLINE(cppcoreguidelines-pro-bounds-pointer-arithmetic): from_chars takes a range
  const char* last = text.data() + text.size();
  const auto [end, ec] = std::from_chars(first, last, v);
  if (text.empty() || ec != std::errc{} || end != last) return std::nullopt;
  return v;
}

std::string human_duration(std::int64_t ms) {
  const std::int64_t s = ms / 1000;
  if (s < 120) return fmt::format("{} s", s);
  if (s < std::int64_t{120} * 60) return fmt::format("{} min", s / 60);
  if (s < std::int64_t{48} * 3600) return fmt::format("{} h", s / 3600);
  return fmt::format("{} d", s / 86400);
}

std::string relative_time(std::int64_t ms, std::int64_t now_ms) {
  // Differences past the int64 range saturate (stored times are within +-292 years).
  std::int64_t d = 0;
  if (__builtin_sub_overflow(now_ms, ms, &d)) {
    d = ms < now_ms ? std::numeric_limits<std::int64_t>::max()
                    : std::numeric_limits<std::int64_t>::min() + 1;
  }
  if (d > -1000 && d < 1000) return "now";
  if (d > 0) return human_duration(d) + " ago";
  return "in " + human_duration(-d);
}

std::string target_word(std::string_view target) {
  const auto word = printable(target);
  const auto plain = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view{"_./:@%+=,-"}.find(c) != std::string_view::npos;
  };
  if (!word.empty() && std::ranges::all_of(word, plain)) return word;
  std::string quoted = "'";
  for (const char c : word) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) {
      switch (c) {
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        default: out += fmt::format("\\x{:02x}", c);
      }
      ++i;
      continue;
    }
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    // One UTF-8 sequence, copied when valid and not a C1 control (U+0080..U+009F).
    const std::size_t n = (c & 0xE0U) == 0xC0   ? 2
                          : (c & 0xF0U) == 0xE0 ? 3
                          : (c & 0xF8U) == 0xF0 ? 4
                                                : 1;
    const auto sequence = text.substr(i, n);
    const bool c1 = n == 2 && c == 0xC2 && sequence.size() == 2 &&
                    static_cast<unsigned char>(sequence[1]) < 0xA0;
    if (n > 1 && sequence.size() == n && !c1 && durable::detail::is_valid_utf8(sequence)) {
      out += sequence;
      i += n;
    } else {
      out += fmt::format("\\x{:02x}", c);
      ++i;
    }
  }
  return out;
}

std::string printable_block(std::string_view text) {
  std::string out;
  std::size_t start = 0;
  for (;;) {
    const auto end = text.find('\n', start);
    out += printable(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return out;
    out += '\n';
    start = end + 1;
  }
}

namespace {

[[noreturn]] void bad(std::string_view option, std::string_view text, std::string_view expected) {
  throw usage_error(
      fmt::format("durable: usage: {} {:?} is not {}", option, text.substr(0, 64), expected));
}

// "1h30m" as milliseconds; false when it is not such a duration.
bool duration_ms(std::string_view text, std::int64_t& out) {
  constexpr std::array<std::pair<std::string_view, std::int64_t>, 7> units{{
      {"ms", 1},
      {"s", 1000},
      {"min", 60'000},
      {"m", 60'000},
      {"h", 3'600'000},
      {"d", 86'400'000},
      {"w", 604'800'000},
  }};
  if (text.empty()) return false;
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t n = 0;
    const std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, text[i] - '0', &n)) {
        return false;
      }
      ++i;
    }
    if (i == start) return false;
    const auto rest = text.substr(i);
    const auto* unit = std::find_if(units.begin(), units.end(),
                                    [&](const auto& u) { return rest.starts_with(u.first); });
    if (unit == units.end()) return false;
    i += unit->first.size();
    std::int64_t part = 0;
    if (__builtin_mul_overflow(n, unit->second, &part) ||
        __builtin_add_overflow(total, part, &total)) {
      return false;
    }
  }
  out = total;
  return true;
}

}  // namespace

std::int64_t parse_duration(std::string_view text, std::string_view option) {
  std::int64_t ms = 0;
  if (!duration_ms(text, ms) || ms <= 0) {
    bad(option, text, "a positive duration like 30d, 12h, 90m, 45s or 1h30m");
  }
  return ms;
}

std::int64_t parse_time(std::string_view text, std::string_view option, std::int64_t now_ms) {
  if (text == "now") return now_ms;
  std::int64_t ago = 0;
  if (duration_ms(text, ago)) {
    std::int64_t at = 0;
    if (__builtin_sub_overflow(now_ms, ago, &at)) bad(option, text, "a time after year 1677");
    return at;
  }
  for (const char* format : {"%FT%TZ", "%FT%T%Ez", "%FT%T", "%FT%RZ", "%FT%R%Ez", "%FT%R", "%F"}) {
    std::istringstream in{std::string{text}};
    date::sys_time<std::chrono::microseconds> t;
    in >> date::parse(format, t);
    if (!in.fail() && in.peek() == std::char_traits<char>::eof()) {
      return std::chrono::floor<std::chrono::milliseconds>(t).time_since_epoch().count();
    }
  }
  bad(option, text,
      "a time: ISO 8601 (2026-11-30, 2026-11-30T08:00Z, 2026-11-30T08:00:00.250+01:00), "
      "now, or an age like 2h, 30m or 7d");
}

void table::print(std::FILE* out) const {
  const auto width = [](std::string_view s) {
    // Code points, not bytes: every cell is printable() UTF-8.
    return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) {
      return (static_cast<unsigned char>(c) & 0xC0U) != 0x80;
    }));
  };
  std::vector<std::size_t> widths;
  for (const auto& c : columns_) widths.push_back(width(c.title));
  for (const auto& row : rows_) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], width(row[i]));
    }
  }
  const auto line = [&](const auto& cell_of) {
    std::string text;
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      const std::string_view cell = cell_of(i);
      const std::string pad(widths[i] - width(cell), ' ');
      const bool last = i + 1 == columns_.size();
      if (i > 0) text += "  ";
      if (columns_[i].alignment == align::right) {
        text += pad;
        text += cell;
      } else {
        text += cell;
        if (!last) text += pad;
      }
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    text += '\n';
    std::fputs(text.c_str(), out);
  };
  line([&](std::size_t i) -> std::string_view { return columns_[i].title; });
  for (const auto& row : rows_) {
    line([&](std::size_t i) -> std::string_view {
      return i < row.size() ? std::string_view{row[i]} : std::string_view{};
    });
  }
}

std::string bar(std::int64_t count, std::int64_t max, int width) {
  if (count <= 0 || max <= 0) return {};
  const auto n = std::max<std::int64_t>(
      1, static_cast<std::int64_t>(static_cast<double>(count) * width / static_cast<double>(max)));
  std::string out(static_cast<std::size_t>(n), '#');
  return out;
}

}  // namespace durable_cli
