// SPDX-License-Identifier: MIT
// pfr_codec on a recursive job type.
#include <vector>

#include <durable/codecs/pfr_codec.hpp>

struct node {
  int value;
  std::vector<node> children;
};

constexpr auto fingerprint = durable::pfr_codec::fingerprint<node>();
