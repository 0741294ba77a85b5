// SPDX-License-Identifier: MIT
// Processes killed with SIGKILL at random moments while pushing, claiming, nacking and
// acking: afterwards no committed job may be missing, no acked job may come back, and
// the file must pass SQLite's integrity check.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <durable/detail/sqlite/connection.hpp>
#include <durable/queue.hpp>

#include "support.hpp"

using namespace std::chrono_literals;
using durable_test::temp_dir;

namespace {

struct work {
  std::int64_t n = 0;
  std::string payload;
};

/// Appends one line with write(2): nothing is buffered in the process, so a line that was
/// written survives SIGKILL.
void log_line(int fd, char op, std::int64_t id) {
  const std::string line = std::string(1, op) + ' ' + std::to_string(id) + '\n';
  if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(9);
}

/// The child: pushes, claims, nacks and acks forever, logging each operation after it
/// returned (P pushed, A acked) and before an ack starts (a: the ack may have happened).
[[noreturn]] void churn(const std::string& db, const std::string& log, unsigned seed) {
  const int fd = open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd < 0) _exit(8);
  durable::queue_options options;
  options.log = nullptr;
  options.release_dead_claims = true;
  durable::Queue<work> q{db, "crash", options};
  std::mt19937 rng{seed};
  for (std::int64_t i = 0;; ++i) {
    const auto op = rng() % 10;
    if (op < 5) {
      const auto id = q.push({i, std::string(rng() % 2000, 'p')}).id;
      log_line(fd, 'P', id);
    } else if (op < 7) {
      std::vector<work> many(1 + rng() % 20, work{i, "batch"});
      for (const auto& r : q.push_many(many)) log_line(fd, 'P', r.id);
    } else if (auto c = q.claim(50ms)) {
      if (op == 7) {
        q.nack(*c, 0ms, {"crash.test", "nacked", ""});
      } else {
        log_line(fd, 'a', c->id);
        try {
          q.ack(*c);
          log_line(fd, 'A', c->id);
        } catch (const durable::lease_lost_error&) {  // its lease ran out meanwhile
        }
      }
    }
  }
}

}  // namespace

TEST_CASE("SIGKILL at random moments loses no committed job and resurrects no acked job") {
  temp_dir dir;
  const auto db = dir.file("crash.db");
  const auto log = dir.file("ops.log");
  { durable::Queue<work> create{db, "crash", {.log = nullptr}}; }
  std::mt19937 rng{20261123};
  constexpr int rounds = 25;
  for (int round = 0; round < rounds; ++round) {
    std::vector<pid_t> children;
    for (int c = 0; c < 2; ++c) {  // two processes hammering the same file
      const pid_t child = fork();
      REQUIRE(child >= 0);
      if (child == 0) churn(db, log, static_cast<unsigned>(rng()) + static_cast<unsigned>(c));
      children.push_back(child);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{5 + rng() % 60});
    for (const pid_t child : children) {
      kill(child, SIGKILL);
      int status = 0;
      REQUIRE(waitpid(child, &status, 0) == child);
      REQUIRE(WIFSIGNALED(status));  // it was killed, not failing on its own
    }
  }

  std::set<std::int64_t> pushed;
  std::set<std::int64_t> ack_started;
  std::set<std::int64_t> acked;
  {
    std::ifstream in{log};
    char op = 0;
    std::int64_t id = 0;
    while (in >> op >> id) {
      if (op == 'P') pushed.insert(id);
      if (op == 'a') ack_started.insert(id);
      if (op == 'A') acked.insert(id);
    }
  }
  REQUIRE(pushed.size() > 100);  // the test did real work

  durable::detail::sqlite::connection c{db, {}};
  {
    auto check = c.query("PRAGMA integrity_check");
    REQUIRE(check->step());
    CHECK(check->text(0) == "ok");
  }
  std::set<std::int64_t> stored;
  {
    auto q = c.query("SELECT id FROM durable_jobs WHERE queue = 'crash'");
    while (q->step()) stored.insert(q->int64(0));
  }
  std::int64_t missing = 0;
  for (const auto id : pushed) {
    if (!stored.contains(id) && !ack_started.contains(id)) ++missing;  // lost
  }
  std::int64_t resurrected = 0;
  for (const auto id : acked) {
    if (stored.contains(id)) ++resurrected;
  }
  CHECK(missing == 0);
  CHECK(resurrected == 0);
  MESSAGE("pushed " << pushed.size() << ", acked " << acked.size() << ", stored " << stored.size()
                    << " after " << rounds << " rounds of SIGKILL");
}
