// SPDX-License-Identifier: MIT
// A job_version specialization without `value`.
#include <cstdint>

#include <durable/codec.hpp>
#include <durable/codecs/pfr_codec.hpp>

struct job {
  int id;
};

template <>
struct durable::job_version<job> {
  static constexpr std::uint32_t version = 2;  // must be called `value`
};

constexpr auto fingerprint = durable::pfr_codec::fingerprint<job>();
