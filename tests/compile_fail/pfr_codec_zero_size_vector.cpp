// SPDX-License-Identifier: MIT
// pfr_codec on a vector of empty structs.
#include <vector>

#include <durable/codecs/pfr_codec.hpp>

struct nothing {};

struct job {
  std::vector<nothing> items;
};

constexpr auto fingerprint = durable::pfr_codec::fingerprint<job>();
