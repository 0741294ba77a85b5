// SPDX-License-Identifier: MIT
// pfr_codec on a time_point of a user clock.
#include <chrono>

#include <durable/codecs/pfr_codec.hpp>

struct my_clock {
  using duration = std::chrono::milliseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<my_clock>;
  static constexpr bool is_steady = false;
  static time_point now() noexcept { return {}; }
};

struct job {
  my_clock::time_point at;
};

constexpr auto fingerprint = durable::pfr_codec::fingerprint<job>();
