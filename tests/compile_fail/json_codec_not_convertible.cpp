// SPDX-License-Identifier: MIT
// json_codec with a job type that has no nlohmann/json to_json/from_json.
#include <cstdint>

#include <durable/codecs/json_codec.hpp>
#include <durable/queue.hpp>

struct job {
  std::int64_t id;
};

static_assert(sizeof(durable::Queue<job, durable::json_codec>) > 0);
