// SPDX-License-Identifier: MIT
#pragma once
// Text for people: times ("3 min ago", ISO 8601 UTC), durations, terminal-safe strings,
// aligned tables and histogram bars. And the parsing of times and durations given on the
// command line.

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace durable_cli {

/// `ms` relative to `now_ms` ("3 min ago", "in 25 s", "now").
[[nodiscard]] std::string relative_time(std::int64_t ms, std::int64_t now_ms);

/// A length of time for people ("45 s", "12 min", "5 h", "3 d").
[[nodiscard]] std::string human_duration(std::int64_t ms);

/// `text` safe to print on a terminal: control characters, C1 controls and bytes that are
/// not UTF-8 become escapes (\n, \t, \x1b, ...), so stored text cannot move the cursor or
/// change the terminal.
[[nodiscard]] std::string printable(std::string_view text);

/// printable() line by line, keeping the line breaks: for multi-line text.
[[nodiscard]] std::string printable_block(std::string_view text);

/// A time given on the command line: ISO 8601 ("2026-11-30", "2026-11-30T08:00Z",
/// "2026-11-30T08:00:00.250+01:00"; no offset means UTC), "now", or an age ("2h", "30m",
/// "7d", "1h30m": that long before `now_ms`). Throws usage_error naming `option`.
[[nodiscard]] std::int64_t parse_time(std::string_view text, std::string_view option,
                                      std::int64_t now_ms);

/// A duration ("30d", "12h", "90m", "45s", "2w", "1h30m"; m is minutes) in milliseconds,
/// positive. Throws usage_error naming `option`.
[[nodiscard]] std::int64_t parse_duration(std::string_view text, std::string_view option);

/// `text` as a decimal int64 when it is exactly one (optional sign, digits); else empty.
[[nodiscard]] std::optional<std::int64_t> parse_int(std::string_view text);

/// Column alignment in a table.
enum class align { left, right };

/// An aligned text table: a header line, then one line per row, columns separated by two
/// spaces. Cells are printed as given: pass them through printable() first.
class table {
 public:
  struct column {
    std::string title;
    align alignment = align::left;
  };

  explicit table(std::vector<column> columns) : columns_(std::move(columns)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  [[nodiscard]] bool empty() const noexcept { return rows_.empty(); }
  void print(std::FILE* out) const;

 private:
  std::vector<column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

/// A database target as one shell word, for commands printed in hints: printable(), then
/// as it is when it holds only characters no shell treats specially, else in single
/// quotes. Pass the target as its backend shows it (a connection string's password
/// replaced by "***"), never as typed.
[[nodiscard]] std::string target_word(std::string_view target);

/// A bar of `count` scaled to `width` characters for the largest count `max`.
[[nodiscard]] std::string bar(std::int64_t count, std::int64_t max, int width = 40);

}  // namespace durable_cli
