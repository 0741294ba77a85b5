// SPDX-License-Identifier: MIT
// pfr_codec on a union field.

#include <durable/codecs/pfr_codec.hpp>

union number {
  int i;
  float f;
};

struct job {
  number n;
};

constexpr auto fingerprint = durable::pfr_codec::fingerprint<job>();
