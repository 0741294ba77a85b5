// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The injectable clock. durable stores time as INTEGER milliseconds since the Unix
/// epoch (UTC); the API speaks `std::chrono::system_clock::time_point`.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>

namespace durable::inline v0 {

using time_point = std::chrono::system_clock::time_point;

/// Where durable reads "now". Defaults to `std::chrono::system_clock::now`.
using clock_function = std::function<time_point()>;

/// A clock that moves only when told to, for tests. Thread-safe. `source()` returns a
/// `clock_function` reading this object, which must outlive everything given it.
class manual_clock {
 public:
  /// Starts at `start` (default: 2026-01-01T00:00:00Z).
  explicit manual_clock(time_point start = time_point{std::chrono::milliseconds{1767225600000}})
      : now_ms_(to_ms(start)) {}
  /// The current manual time.
  [[nodiscard]] time_point now() const noexcept {
    return time_point{std::chrono::milliseconds{now_ms_.load()}};
  }
  /// Moves the clock forward (or backward, for a negative `d`).
  void advance(std::chrono::milliseconds d) noexcept { now_ms_ += d.count(); }
  /// Sets the clock to `t`.
  void set(time_point t) noexcept { now_ms_ = to_ms(t); }
  /// A `clock_function` reading this clock.
  [[nodiscard]] clock_function source() const {
    return [this] { return now(); };
  }

 private:
  static std::int64_t to_ms(time_point t) noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  }
  std::atomic<std::int64_t> now_ms_;
};

/// The latest time durable stores: the last whole millisecond `time_point` can hold
/// (2262-04-11T23:47:16.854Z with libstdc++). A run-at, lease end or delay that would
/// go past it is saturated to it, never wrapped around.
inline constexpr time_point max_time =
    std::chrono::floor<std::chrono::milliseconds>(time_point::max());
/// The earliest time durable stores, the counterpart of `max_time`.
inline constexpr time_point min_time =
    std::chrono::ceil<std::chrono::milliseconds>(time_point::min());

namespace detail {
inline constexpr std::int64_t max_time_ms =
    std::chrono::duration_cast<std::chrono::milliseconds>(max_time.time_since_epoch()).count();
inline constexpr std::int64_t min_time_ms =
    std::chrono::duration_cast<std::chrono::milliseconds>(min_time.time_since_epoch()).count();

/// `t` as INTEGER milliseconds since the Unix epoch, as stored in every table.
[[nodiscard]] inline std::int64_t to_unix_ms(time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
/// The inverse of `to_unix_ms`, saturated to [min_time, max_time].
[[nodiscard]] inline time_point from_unix_ms(std::int64_t ms) noexcept {
  ms = std::clamp(ms, min_time_ms, max_time_ms);
  return time_point{
      std::chrono::duration_cast<time_point::duration>(std::chrono::milliseconds{ms})};
}
/// `ms + d` in milliseconds, saturated to [min_time, max_time] instead of overflowing.
[[nodiscard]] inline std::int64_t add_ms(std::int64_t ms, std::chrono::milliseconds d) noexcept {
  std::int64_t sum = 0;
  if (__builtin_add_overflow(ms, d.count(), &sum)) {
    return d.count() > 0 ? max_time_ms : min_time_ms;
  }
  return std::clamp(sum, min_time_ms, max_time_ms);
}
/// The steady-clock time `d` from now, saturated to `steady_clock::time_point::max()`
/// instead of overflowing (a wait of a thousand years must not end at once); now for
/// `d <= 0`. For waits and deadlines given as user durations.
[[nodiscard]] inline std::chrono::steady_clock::time_point steady_after(
    std::chrono::milliseconds d) noexcept {
  using steady = std::chrono::steady_clock;
  const auto now = steady::now();
  if (d.count() <= 0) return now;
  const auto left = std::chrono::floor<std::chrono::milliseconds>(steady::time_point::max() - now);
  return d >= left ? steady::time_point::max() : now + d;
}
/// `c()` if set, else the system clock.
[[nodiscard]] inline time_point now(const clock_function& c) {
  return c ? c() : std::chrono::system_clock::now();
}
}  // namespace detail

}  // namespace durable::inline v0
