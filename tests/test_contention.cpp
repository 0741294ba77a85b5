// SPDX-License-Identifier: MIT
// Contention: 4 and 16 processes each push, claim and ack 10,000 jobs on one file with
// default options (queue_options{}: 5 s busy timeout, durability normal). Every job is
// delivered exactly once (0 duplicates, 0 lost) and no process sees a busy_error (or any
// other error): SQLite's lock is taken in turns, the busy timeout is never reached.
// DURABLE_CONTENTION_JOBS=<n> changes the jobs per process.

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <durable/queue.hpp>

#include "db_state.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using durable_test::temp_dir;

namespace {

struct job {
  std::int64_t n = 0;
};

constexpr int busy_exit = 2;
constexpr int error_exit = 3;

/// One process: `jobs` times push one job, claim one, ack it; then claims until the queue
/// is empty. Writes the number of every job it acked to `out`.
[[noreturn]] void push_claim_ack(const std::string& path, std::int64_t first, std::int64_t jobs,
                                 const std::string& out) {
  int code = 0;
  try {
    durable::queue_options options;  // defaults, but quiet
    options.log = nullptr;
    durable::Queue<job> q{path, "shared", options};
    std::ofstream acked{out, std::ios::binary};
    const auto take = [&] {
      auto c = q.claim(5min);
      if (!c) return false;
      acked.write(reinterpret_cast<const char*>(&c->job->n), sizeof c->job->n);
      q.ack(*c);
      return true;
    };
    for (std::int64_t i = 0; i < jobs; ++i) {
      q.push({first + i});
      take();
    }
    while (take()) {
    }
  } catch (const durable::busy_error& e) {
    std::fprintf(stderr, "contention: busy_error: %s\n", e.what());
    code = busy_exit;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "contention: %s\n", e.what());
    code = error_exit;
  }
  _exit(code);
}

void contend(std::int64_t processes) {
  std::int64_t per_process = 10000;
  if (const char* env = std::getenv("DURABLE_CONTENTION_JOBS")) per_process = std::atoll(env);
  temp_dir dir;
  const auto path = dir.file("q.db");
  { durable::Queue<job> create{path, "shared", {.log = nullptr}}; }
  std::vector<pid_t> children;
  for (std::int64_t p = 0; p < processes; ++p) {
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      push_claim_ack(path, p * per_process, per_process, dir.file("acked-" + std::to_string(p)));
    }
    children.push_back(child);
  }
  int busy = 0;
  int errors = 0;
  for (const pid_t child : children) {
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    busy += WEXITSTATUS(status) == busy_exit ? 1 : 0;
    errors += WEXITSTATUS(status) == error_exit ? 1 : 0;
  }
  CHECK(busy == 0);
  CHECK(errors == 0);
  std::vector<std::int64_t> acked;
  for (std::int64_t p = 0; p < processes; ++p) {
    std::ifstream in{dir.file("acked-" + std::to_string(p)), std::ios::binary};
    std::int64_t n = 0;
    while (in.read(reinterpret_cast<char*>(&n), sizeof n)) acked.push_back(n);
  }
  std::sort(acked.begin(), acked.end());
  const auto duplicates =
      acked.size() -
      static_cast<std::size_t>(std::unique(acked.begin(), acked.end()) - acked.begin());
  const auto total = static_cast<std::size_t>(processes * per_process);
  CHECK(duplicates == 0);
  CHECK(acked.size() - duplicates == total);  // none lost
  durable::Queue<job> q{path, "shared", {.log = nullptr}};
  CHECK_MESSAGE(q.empty(), "left in the queue (id|run_at|lease_token|claimed_by|attempts|n):\n"
                               << durable_test::raw_db{path}.rows(
                                      "SELECT id, run_at, lease_token, claimed_by, attempts, "
                                      "hex(payload) FROM durable_jobs"));
  MESSAGE(processes << " processes x " << per_process << " push+claim+ack: " << acked.size()
                    << " acked, " << duplicates << " duplicates, " << busy << " busy_error");
}

}  // namespace

TEST_CASE("contention: 4 processes x 10,000 push+claim+ack, every job once, no busy_error") {
  contend(4);
}

TEST_CASE("contention: 16 processes x 10,000 push+claim+ack, every job once, no busy_error") {
  contend(16);
}
