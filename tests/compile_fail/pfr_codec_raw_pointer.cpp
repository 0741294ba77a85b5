// SPDX-License-Identifier: MIT
// pfr_codec on a job with a raw pointer field, nested one level down, through check_codec.
#include <durable/codec.hpp>
#include <durable/codecs/pfr_codec.hpp>

struct payload {
  const char* name;
};

struct job {
  int id;
  payload p;
};

static_assert(durable::detail::check_codec<durable::pfr_codec, job>());
