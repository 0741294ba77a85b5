// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Logging: durable formats with fmt and hands each line to a pluggable sink.

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string_view>
#include <utility>

namespace durable::inline v0 {

/// Severity of a log line.
enum class log_level { debug, info, warning, error };

/// The lowercase name of `level` ("info", "warning", ...).
[[nodiscard]] constexpr std::string_view to_string(log_level level) noexcept {
  switch (level) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warning: return "warning";
    case log_level::error: return "error";
  }
  return "unknown";
}

/// Receives every log line durable writes. Must be thread-safe: workers call it from
/// their threads. An empty `log_sink` discards everything.
using log_sink = std::function<void(log_level, std::string_view message)>;

/// The default sink: one line to stderr, "2026-01-02T03:04:05.678Z warning durable: ...".
[[nodiscard]] inline log_sink stderr_sink() {
  return [](log_level level, std::string_view message) {
    const auto now =
        std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
    // One fmt::print call per line: concurrent lines do not interleave within a line.
    fmt::print(stderr, "{:%FT%T}Z {} durable: {}\n", now, to_string(level), message);
  };
}

namespace detail {
/// Formats and sends one line to `sink`, if there is one. Never throws: a failing
/// sink or format must not turn a log line into a lost job.
template <class... Args>
void log(const log_sink& sink, log_level level, fmt::format_string<Args...> format,
         Args&&... args) noexcept {
  if (!sink) return;
  try {
    sink(level, fmt::format(format, std::forward<Args>(args)...));
  } catch (...) {  // NOLINT(bugprone-empty-catch): logging is best effort by contract
  }
}
}  // namespace detail

}  // namespace durable::inline v0
