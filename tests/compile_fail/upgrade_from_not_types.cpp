// SPDX-License-Identifier: MIT
// `from` that is not durable::types<...>.
#include <cstdint>
#include <string>
#include <tuple>

#include <durable/queue.hpp>
#include <durable/upgrade.hpp>

struct job_v1 {
  std::int64_t id;
};
struct job_v2 {
  std::int64_t id;
  std::string note;
};
template <>
struct durable::job_upgrades<job_v2> {
  using from = std::tuple<job_v1>;
  static job_v2 upgrade(job_v1 old) { return {old.id, ""}; }
};

static_assert(sizeof(durable::Queue<job_v2>) > 0);
