// SPDX-License-Identifier: MIT
// pfr_codec on an aggregate with a base class.
#include <cstdint>

#include <durable/codecs/pfr_codec.hpp>

struct base {
  std::int64_t id;
};

struct job : base {
  int attempts;
};

constexpr auto fingerprint = durable::pfr_codec::fingerprint<job>();
