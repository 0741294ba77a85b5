// SPDX-License-Identifier: MIT
// pfr_codec on a long double field.

#include <durable/codecs/pfr_codec.hpp>

struct job {
  long double x;
};

constexpr auto fingerprint = durable::pfr_codec::fingerprint<job>();
