// SPDX-License-Identifier: MIT
// g++ 12 only: pfr_codec on an aggregate holding a std::array of std::string (Boost.PFR
// would crash the compiler; durable refuses the type first).
#include <array>
#include <string>

#include <durable/codecs/pfr_codec.hpp>

struct job {
  std::array<std::string, 2> names;
};

constexpr auto fingerprint = durable::pfr_codec::fingerprint<job>();
