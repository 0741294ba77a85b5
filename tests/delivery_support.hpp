// SPDX-License-Identifier: MIT
#pragma once
// Several processes pushing, claiming and acking one queue, and the check that every job
// was delivered exactly once: the SQLite and PostgreSQL multi-process tests.

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <durable/queue.hpp>

#include "quiet_options.hpp"
#include "support.hpp"

namespace durable_test {

/// Forks `processes` children on queue "shared" of `target`. Child p pushes jobs
/// p * per_process .. + per_process - 1, claiming and acking one job after every second
/// push, then drains the queue; it records each number it took in a file of `dir`. Then
/// checks that every job was taken exactly once and that the queue is empty. `Job` has a
/// field `n` and is built as `Job{n, ""}`.
template <class Job>
void check_delivered_once(temp_dir& dir, const std::string& target, int processes,
                          std::int64_t per_process) {
  { durable::Queue<Job> q{target, "shared", quiet_queue()}; }
  std::vector<pid_t> children;
  for (int p = 0; p < processes; ++p) {
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      int code = 0;
      try {
        durable::Queue<Job> q{target, "shared", quiet_queue()};
        std::ofstream out{dir.file("got-" + std::to_string(p)), std::ios::binary};
        const auto take = [&] {
          auto c = q.claim(std::chrono::minutes{5});
          if (!c) return false;
          out.write(reinterpret_cast<const char*>(&c->job->n), sizeof c->job->n);
          q.ack(*c);
          return true;
        };
        for (std::int64_t i = 0; i < per_process; ++i) {
          q.push(Job{p * per_process + i, ""});
          if (i % 2 == 0) take();
        }
        while (take()) {
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", p, e.what());
        code = 1;
      } catch (...) {
        code = 1;
      }
      _exit(code);
    }
    children.push_back(child);
  }
  for (const pid_t child : children) {
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  std::vector<std::int64_t> got;
  for (int p = 0; p < processes; ++p) {
    std::ifstream in{dir.file("got-" + std::to_string(p)), std::ios::binary};
    std::int64_t n = 0;
    while (in.read(reinterpret_cast<char*>(&n), sizeof n)) got.push_back(n);
  }
  std::sort(got.begin(), got.end());
  CHECK(got.size() == static_cast<std::size_t>(processes * per_process));  // none lost
  CHECK(std::adjacent_find(got.begin(), got.end()) == got.end());          // none twice
  durable::Queue<Job> q{target, "shared", quiet_queue()};
  CHECK(q.empty());
}

}  // namespace durable_test
