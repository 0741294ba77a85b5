// SPDX-License-Identifier: MIT
// pfr_codec on a job with a reference member.

#include <durable/codecs/pfr_codec.hpp>

struct job {
  const int& id;
};

constexpr auto fingerprint = durable::pfr_codec::fingerprint<job>();
