// SPDX-License-Identifier: MIT
// pfr_codec on a job with an unscoped enum that has no fixed underlying type.
#include <durable/codecs/pfr_codec.hpp>

enum status { pending, done };

struct job {
  status s;
};

constexpr auto fingerprint = durable::pfr_codec::fingerprint<job>();
