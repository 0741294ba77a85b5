// SPDX-License-Identifier: MIT
// Processes killed with SIGKILL while they push, claim, nack and ack. Afterwards no job
// reported pushed may be missing (unless its ack had started), no job reported acked may
// be back, no job may be stored twice or carry another job's payload, every stored job must
// be claimable again, and the file must pass SQLite's integrity check.
//
// Kills are paced by observed progress, never by the clock: each child reports every
// operation on a pipe after it returned, and the parent kills after a random number of new
// reports. A slow machine makes the test slower, not weaker; it fails on time only when no
// operation at all is reported for `no_progress_limit`. DURABLE_CRASH_KILLS=<n> soaks longer.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <durable/detail/sqlite/connection.hpp>
#include <durable/queue.hpp>

#include "churn_support.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using durable_test::report;
using durable_test::reports;
using durable_test::temp_dir;

namespace {

/// The test fails only if no child reports anything for this long (or a lock wait lasts it).
constexpr std::chrono::seconds no_progress_limit{120};

struct work {
  std::int64_t n = 0;  // unique per push: (spawn number << 32) + a counter of that child
  std::string payload;
};

/// The child: pushes, claims, nacks and acks until killed, reporting each operation after
/// it returned (P pushed, C claimed, N nacked, A acked) and an ack before it starts (a: the
/// job may be gone). Any exception is a failure the parent sees as an exit instead of a kill.
[[noreturn]] void churn(const std::string& db, int fd, unsigned seed, std::int64_t spawn) {
  try {
    durable::queue_options options;
    options.log = nullptr;
    options.release_dead_claims = true;
    options.open.busy_timeout = no_progress_limit;  // a slow lock holder is not a failure
    durable::Queue<work> q{db, "crash", options};
    std::mt19937 rng{seed};
    std::int64_t next = spawn << 32;
    for (;;) {
      const auto op = rng() % 10;
      if (op < 5) {
        const work w{next++, std::string(rng() % 2000, 'p')};
        report(fd, 'P', q.push(w).id, w.n);
      } else if (op < 7) {
        std::vector<work> many;
        for (auto k = 1 + rng() % 20; k > 0; --k) many.push_back({next++, "batch"});
        const auto pushed = q.push_many(many);
        for (std::size_t k = 0; k < pushed.size(); ++k) report(fd, 'P', pushed[k].id, many[k].n);
      } else if (auto c = q.claim(rng() % 4 == 0 ? 50ms : 1min)) {  // short leases also expire
        report(fd, 'C', c->id, c->job ? c->job->n : -1);
        try {
          if (op == 7) {
            q.nack(*c, 0ms, {"crash.test", "nacked", ""});
            report(fd, 'N', c->id);
          } else {
            report(fd, 'a', c->id);
            q.ack(*c);
            report(fd, 'A', c->id);
          }
        } catch (const durable::lease_lost_error&) {  // a 50 ms lease ran out meanwhile
        }
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "crash test child %lld: %s\n", static_cast<long long>(spawn), e.what());
  } catch (...) {
    std::fprintf(stderr, "crash test child %lld: unknown exception\n",
                 static_cast<long long>(spawn));
  }
  _exit(3);
}

/// The running children; kills and reaps whatever is left if the test stops early.
struct children {
  std::array<pid_t, 2> pids{-1, -1};  // two processes hammering the same file
  children() = default;
  children(const children&) = delete;
  children& operator=(const children&) = delete;
  ~children() {
    for (const pid_t pid : pids) {
      if (pid < 0) continue;
      kill(pid, SIGKILL);
      int status = 0;
      waitpid(pid, &status, 0);
    }
  }
};

}  // namespace

TEST_CASE("crash: SIGKILL after observed progress loses, resurrects and duplicates no job") {
  temp_dir dir;
  const auto db = dir.file("crash.db");
  { durable::Queue<work> create{db, "crash", {.log = nullptr}}; }
  std::array<int, 2> pipe_fds{};
  REQUIRE(pipe(pipe_fds.data()) == 0);
  const int from_children = pipe_fds[0];
  const int to_parent = pipe_fds[1];
  REQUIRE(fcntl(from_children, F_SETFL, O_NONBLOCK) == 0);

  int kills = 40;
  if (const char* k = std::getenv("DURABLE_CRASH_KILLS")) kills = std::atoi(k);
  const unsigned seed = 20261123;
  std::mt19937 rng{seed};
  reports seen;
  children running;
  std::int64_t spawns = 0;

  const auto kill_and_reap = [](pid_t& pid) {
    kill(pid, SIGKILL);
    int status = 0;
    const pid_t reaped = waitpid(pid, &status, 0);
    pid = -1;
    REQUIRE(reaped >= 0);
    // Killed by us, not ended on its own (an exception in the child exits with 3).
    REQUIRE_MESSAGE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL), "status " << status);
  };

  for (int k = 0; k < kills; ++k) {
    for (auto& pid : running.pids) {
      if (pid >= 0) continue;
      const auto child_seed = static_cast<unsigned>(rng());
      const auto spawn = ++spawns;
      pid = fork();
      REQUIRE(pid >= 0);
      if (pid == 0) {
        close(from_children);
        churn(db, to_parent, child_seed, spawn);
      }
    }
    // Wait for 5 to 60 new operations, however long they take.
    const std::int64_t goal = seen.lines + 5 + static_cast<std::int64_t>(rng() % 56);
    auto last_progress = std::chrono::steady_clock::now();
    while (seen.lines < goal) {
      pollfd ready{from_children, POLLIN, 0};
      (void)poll(&ready, 1, 100);
      if (seen.read_from(from_children) > 0) last_progress = std::chrono::steady_clock::now();
      for (auto& pid : running.pids) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == 0) continue;
        pid = -1;
        FAIL("a child ended on its own with status " << status << " (see its stderr)");
      }
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() - last_progress < no_progress_limit,
                      "no operation reported for " << no_progress_limit.count() << " s");
    }
    const auto victims = rng() % 3;  // the first child, the second, or both
    if (victims != 1) kill_and_reap(running.pids[0]);
    if (victims != 0) kill_and_reap(running.pids[1]);
  }
  for (auto& pid : running.pids) {
    if (pid >= 0) kill_and_reap(pid);
  }
  seen.read_from(from_children);  // every child is gone: all they wrote is in the pipe
  close(from_children);
  close(to_parent);
  CHECK(seen.partial.empty());
  REQUIRE_FALSE(seen.pushed.empty());

  std::set<std::int64_t> stored;
  {
    durable::detail::sqlite::connection c{db, {}};
    auto check = c.query("PRAGMA integrity_check");
    REQUIRE(check->step());
    CHECK(check->text(0) == "ok");
    auto q = c.query(
        "SELECT id FROM durable_jobs WHERE queue_id = (SELECT id FROM durable_queues WHERE name = "
        "'crash')");
    while (q->step()) stored.insert(q->int64(0));
  }
  std::int64_t lost = 0;
  for (const auto& [id, n] : seen.pushed) {
    if (!stored.contains(id) && !seen.ack_started.contains(id)) ++lost;
  }
  std::int64_t resurrected = 0;
  for (const auto id : seen.acked) {
    if (stored.contains(id)) ++resurrected;
  }
  std::int64_t wrong_payload = 0;  // a claim handed out another job's payload
  for (const auto& [id, n] : seen.claimed) {
    const auto p = seen.pushed.find(id);
    if (p != seen.pushed.end() && p->second != n) ++wrong_payload;
  }
  CHECK(lost == 0);
  CHECK(resurrected == 0);
  CHECK(seen.pushed_twice == 0);
  CHECK(wrong_payload == 0);

  // Every stored job comes back to a new claimer (claims of the dead are released), once,
  // with its own payload.
  durable::Queue<work> q{db, "crash", {.release_dead_claims = true, .log = nullptr}};
  std::set<std::int64_t> drained;
  std::set<std::int64_t> payloads;
  std::int64_t stored_twice = 0;
  while (auto c = q.claim(10min)) {
    REQUIRE(c->job);
    drained.insert(c->id);
    if (!payloads.insert(c->job->n).second) ++stored_twice;
    const auto p = seen.pushed.find(c->id);
    if (p != seen.pushed.end() && p->second != c->job->n) ++wrong_payload;
  }
  CHECK(drained.size() == stored.size());
  CHECK(drained == stored);
  CHECK(stored_twice == 0);
  CHECK(wrong_payload == 0);
  MESSAGE(kills << " kills, " << spawns << " processes, " << seen.lines << " operations: pushed "
                << seen.pushed.size() << ", acked " << seen.acked.size() << ", stored "
                << stored.size());
}
