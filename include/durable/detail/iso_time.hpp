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

/// `t` as ISO 8601 UTC with `digits` (0, 3, 6 or 9) fractional digits of seconds.
[[nodiscard]] inline std::string iso8601_utc(std::chrono::sys_time<std::chrono::nanoseconds> t,
                                             int digits = 3) {
  using namespace std::chrono;
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const auto in_day = t - day;
  const auto secs = duration_cast<seconds>(in_day).count();
  std::string out =
      fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), secs / 3600,
                  secs / 60 % 60, secs % 60);
  if (digits > 0) {
    auto fraction = (in_day - seconds{secs}).count();  // nanoseconds
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
