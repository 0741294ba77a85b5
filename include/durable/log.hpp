// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Logging: durable describes each event as a `log_event` (a text line plus stable,
/// typed fields) and hands it to a pluggable `log_sink`: a text sink gets the line, a
/// structured sink gets the whole event. `stderr_sink()` writes text lines,
/// `json_lines_sink()` one JSON object per event. See docs/worker.md#logs.

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "durable/clock.hpp"
#include "durable/detail/json.hpp"

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

/// One thing durable reports. `message` is the human-readable line; the other fields are
/// set where they apply (empty views and empty optionals are absent). Views point into
/// the caller's data: valid during the sink call only.
struct log_event {
  /// When it happened (the reporting object's clock).
  time_point time{};
  /// Severity.
  log_level level = log_level::info;
  /// Stable event name: "job.succeeded", "job.retried", "job.dead_lettered",
  /// "job.timed_out", "dlq.moved", "dlq.retention", ... ("log" for other lines). The
  /// list is in docs/worker.md#logs.
  std::string_view name = "log";
  /// The text line.
  std::string_view message{};
  /// The queue the job belongs (or belonged) to.
  std::string_view queue{};
  /// The dead-letter queue involved.
  std::string_view dead_letter_queue{};
  /// The job's id.
  std::optional<std::int64_t> job{};
  /// A dead-letter entry's id.
  std::optional<std::int64_t> entry{};
  /// Which attempt, 1 for the first (for a move: attempts made).
  std::optional<std::int64_t> attempt{};
  /// The error's stable type name.
  std::string_view error_type{};
  /// How long the handler ran.
  std::optional<std::chrono::microseconds> run_time{};
  /// How long the job waited from claimable (its run-at) to its start.
  std::optional<std::chrono::milliseconds> wait_time{};
  /// The retry delay.
  std::optional<std::chrono::milliseconds> delay{};
  /// A count (entries removed, entries in a DLQ, ...).
  std::optional<std::int64_t> count{};
};

class log_sink;

namespace detail {
/// A callable a text log_sink wraps.
template <class F>
concept text_log_function = std::invocable<F&, log_level, std::string_view> &&
    !std::same_as<std::remove_cvref_t<F>, log_sink>;
/// A callable a structured log_sink wraps.
template <class F>
concept event_log_function = std::invocable<F&, const log_event&> && !text_log_function<F> &&
                             !std::same_as<std::remove_cvref_t<F>, log_sink>;
}  // namespace detail

/// Receives what durable logs. Either a text sink, a callable taking
/// `(log_level, std::string_view message)`, or a structured sink, a callable taking
/// `const log_event&`; events below `min_level()` are not formatted nor sent. Must be
/// thread-safe: workers call it from their threads. An empty sink discards everything.
class log_sink {
 public:
  /// A text sink's callable.
  using text_function = std::function<void(log_level, std::string_view)>;
  /// A structured sink's callable.
  using event_function = std::function<void(const log_event&)>;

  /// Discards everything.
  log_sink() = default;
  /// Discards everything.
  log_sink(std::nullptr_t) noexcept {}  // NOLINT(*-explicit-*): `options.log = nullptr`
  /// A text sink getting each line at or above `min`. Implicit, so that
  /// `options.log = [](durable::log_level, std::string_view) {...}` works.
  template <detail::text_log_function F>
  log_sink(F text, log_level min = log_level::debug)  // NOLINT(*-explicit-*)
      : text_(std::move(text)), min_(min) {
    if (!text_) reset();
  }
  /// A structured sink getting each event at or above `min`. Implicit, as above.
  template <detail::event_log_function F>
  log_sink(F events, log_level min = log_level::debug)  // NOLINT(*-explicit-*)
      : events_(std::move(events)), min_(min) {
    if (!events_) reset();
  }

  /// True unless it discards everything.
  explicit operator bool() const noexcept { return text_ || events_; }
  /// True when it discards everything.
  friend bool operator==(const log_sink& sink, std::nullptr_t) noexcept { return !sink; }
  /// The lowest level it receives.
  [[nodiscard]] log_level min_level() const noexcept { return min_; }
  /// True when an event at `level` would be sent.
  [[nodiscard]] bool enabled(log_level level) const noexcept {
    return static_cast<bool>(*this) && level >= min_;
  }

  /// Sends `event` (a text sink gets its message). May throw what the callable throws.
  void operator()(const log_event& event) const {
    if (!enabled(event.level)) return;
    if (events_) {
      events_(event);
    } else {
      text_(event.level, event.message);
    }
  }
  /// Sends a plain line, as event "log" at the current system time.
  void operator()(log_level level, std::string_view message) const {
    if (!enabled(level)) return;
    if (text_) {
      text_(level, message);
      return;
    }
    log_event event;
    event.time = std::chrono::system_clock::now();
    event.level = level;
    event.message = message;
    events_(event);
  }

 private:
  void reset() noexcept {
    text_ = nullptr;
    events_ = nullptr;
  }
  text_function text_;
  event_function events_;
  log_level min_ = log_level::debug;
};

namespace detail {
/// `t` as "2026-01-02T03:04:05.678Z" (UTC, milliseconds; fmt 9 prints whole seconds only).
[[nodiscard]] inline std::string iso8601_ms(time_point t) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(t);
  const auto s = std::chrono::floor<std::chrono::seconds>(ms);
  return fmt::format("{:%FT%T}.{:03}Z", s, (ms - s).count());
}
}  // namespace detail

/// The default sink: one line to stderr per event at or above `min`,
/// "2026-01-02T03:04:05.678Z warning durable: ...".
[[nodiscard]] inline log_sink stderr_sink(log_level min = log_level::info) {
  return {[](log_level level, std::string_view message) {
            // One fmt::print call per line: concurrent lines do not interleave within a line.
            fmt::print(stderr, "{} {} durable: {}\n",
                       detail::iso8601_ms(std::chrono::system_clock::now()), to_string(level),
                       message);
          },
          min};
}

namespace detail {
/// `event` as one JSON object on one line, with a trailing newline. Field names are
/// stable (docs/worker.md#logs); absent fields are left out.
[[nodiscard]] inline std::string json_line(const log_event& event) {
  std::string out = "{\"time\":";
  append_json_string(out, iso8601_ms(event.time));
  const auto text = [&out](std::string_view key, std::string_view value) {
    if (value.empty()) return;
    out += ",\"";
    out += key;
    out += "\":";
    if (is_valid_utf8(value)) {
      append_json_string(out, value);
    } else {
      append_json_string(out, to_valid_utf8(value));  // e.g. raw bytes in an error message
    }
  };
  const auto number = [&out](std::string_view key, const auto& value) {
    if (!value) return;
    fmt::format_to(std::back_inserter(out), ",\"{}\":{}", key, *value);
  };
  const auto millis = [&out](std::string_view key, const auto& value) {
    if (!value) return;
    const std::chrono::duration<double, std::milli> ms = *value;
    fmt::format_to(std::back_inserter(out), ",\"{}\":{}", key, ms.count());
  };
  text("level", to_string(event.level));
  text("event", event.name);
  text("message", event.message);
  text("queue", event.queue);
  text("dead_letter_queue", event.dead_letter_queue);
  number("job", event.job);
  number("entry", event.entry);
  number("attempt", event.attempt);
  text("error_type", event.error_type);
  millis("run_time_ms", event.run_time);
  millis("wait_time_ms", event.wait_time);
  millis("delay_ms", event.delay);
  number("count", event.count);
  out += "}\n";
  return out;
}
}  // namespace detail

/// A structured sink writing one JSON object per event at or above `min` to `out`, one
/// per line (JSON Lines), each with one write. `out` must outlive the sink. Fields:
/// time, level, event, message, queue, dead_letter_queue, job, entry, attempt,
/// error_type, run_time_ms, wait_time_ms, delay_ms, count (docs/worker.md#logs).
[[nodiscard]] inline log_sink json_lines_sink(std::FILE* out = stdout,
                                              log_level min = log_level::info) {
  return {[out](const log_event& event) {
            const auto line = detail::json_line(event);
            std::fwrite(line.data(), 1, line.size(), out);  // stdio locks the stream per call
            std::fflush(out);
          },
          min};
}

namespace detail {
/// Formats and sends one line to `sink`, if it takes `level`. Never throws: a failing
/// sink or format must not turn a log line into a lost job.
template <class... Args>
void log(const log_sink& sink, log_level level, fmt::format_string<Args...> format,
         Args&&... args) noexcept {
  if (!sink.enabled(level)) return;
  try {
    sink(level, fmt::format(format, std::forward<Args>(args)...));
  } catch (...) {  // NOLINT(bugprone-empty-catch): logging is best effort by contract
  }
}

/// Sends `event` with its message formatted from `format`, if `sink` takes its level.
/// Never throws.
template <class... Args>
void emit(const log_sink& sink, log_event event, fmt::format_string<Args...> format,
          Args&&... args) noexcept {
  if (!sink.enabled(event.level)) return;
  try {
    const std::string message = fmt::format(format, std::forward<Args>(args)...);
    event.message = message;
    sink(event);
  } catch (...) {  // NOLINT(bugprone-empty-catch): logging is best effort by contract
  }
}
}  // namespace detail

}  // namespace durable::inline v0
