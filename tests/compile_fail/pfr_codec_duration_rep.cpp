// SPDX-License-Identifier: MIT
// pfr_codec on a duration whose Rep is bool.
#include <chrono>

#include <durable/codecs/pfr_codec.hpp>

struct job {
  std::chrono::duration<bool> d;
};

constexpr auto fingerprint = durable::pfr_codec::fingerprint<job>();
