// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// ISO 8601 UTC text of a time, for tools and rendered payloads ("2026-05-01T12:00:00.123Z").

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "durable/clock.hpp"

namespace durable::inline v0::detail {

/// `t` as ISO 8601 UTC with `digits` (0, 3, 6 or 9) fractional digits of seconds. Every
/// value of `t` works, down to the earliest nanosecond count: the split into days, seconds
/// and nanoseconds is done on the count, so nothing overflows.
[[nodiscard]] inline std::string iso8601_utc(std::chrono::sys_time<std::chrono::nanoseconds> t,
                                             int digits = 3) {
  using namespace std::chrono;
  constexpr std::int64_t ns_per_s = 1'000'000'000;
  constexpr std::int64_t s_per_day = 86'400;
  const std::int64_t ns = t.time_since_epoch().count();
  std::int64_t secs = ns / ns_per_s;  // floored below; neither step can overflow
  std::int64_t fraction = ns % ns_per_s;
  if (fraction < 0) {
    fraction += ns_per_s;
    --secs;
  }
  std::int64_t day = secs / s_per_day;
  std::int64_t in_day = secs % s_per_day;
  if (in_day < 0) {
    in_day += s_per_day;
    --day;
  }
  const year_month_day ymd{sys_days{days{day}}};
  std::string out =
      fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  in_day / 3600, in_day / 60 % 60, in_day % 60);
  if (digits > 0) {
    for (int d = 9; d > digits; --d) fraction /= 10;
    out += fmt::format(".{:0{}}", fraction, digits);
  }
  out += 'Z';
  return out;
}

/// `ms` (milliseconds since the Unix epoch, as stored) as ISO 8601 UTC with milliseconds,
/// saturated to [min_time, max_time].
[[nodiscard]] inline std::string iso8601_utc_ms(std::int64_t ms) {
  return iso8601_utc(from_unix_ms(ms));
}

}  // namespace durable::inline v0::detail
