// SPDX-License-Identifier: MIT
// clang-tidy's view of the public headers: one translation unit that includes them all
// and instantiates the class templates, checked by `scripts/test.sh tidy`.
#include <string>

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
}  // namespace

template class durable::Queue<tidy_job>;
template class durable::DeadLetterQueue<tidy_job>;
template class durable::Worker<tidy_job>;
template class durable::Queue<std::string, durable::bytes_codec>;
