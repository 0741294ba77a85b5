// SPDX-License-Identifier: MIT
// clang-tidy's view of the public headers: one translation unit that includes them all
// and instantiates the class templates, checked by `scripts/test.sh tidy`.
#include <string>

#include <durable/codecs/json_codec.hpp>
#include <durable/detail/engine/redrive.hpp>
#include <durable/detail/pfr/render.hpp>
#include <durable/durable.hpp>
#include <durable/postgres.hpp>
#include <durable/version.hpp>

namespace {
struct tidy_job {
  int id;
  std::string payload;
};
struct tidy_job_v2 {
  int id = 0;
  std::string payload;
  int extra = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(tidy_job_v2, id, payload, extra)
struct tidy_job_v3 {
  std::string payload;
};
}  // namespace

template <>
struct durable::job_upgrades<tidy_job_v3> {
  using from = durable::types<tidy_job_v2>;
  static tidy_job_v3 upgrade(const tidy_job_v2& old) { return {old.payload}; }
};

template class durable::Queue<tidy_job>;
template class durable::DeadLetterQueue<tidy_job>;
template class durable::Worker<tidy_job>;
template class durable::Queue<std::string, durable::bytes_codec>;
template class durable::Queue<tidy_job_v2, durable::json_codec>;
template class durable::Queue<tidy_job_v3>;
template class durable::DeadLetterQueue<tidy_job_v3>;
