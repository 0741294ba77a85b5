// SPDX-License-Identifier: MIT
// An old type with the same layout (so the same fingerprint) as the new one.
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
struct job_v2_meaning_changed {
  std::int64_t id;
  std::string note;
};
template <>
struct durable::job_upgrades<job_v2> {
  using from = durable::types<job_v2_meaning_changed>;
  static job_v2 upgrade(job_v2_meaning_changed old) { return {old.id, old.note}; }
};

static_assert(sizeof(durable::Queue<job_v2>) > 0);
