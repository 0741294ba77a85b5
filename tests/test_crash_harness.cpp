// SPDX-License-Identifier: MIT
// The crash harness: four processes of three kinds share two files and are killed with
// SIGKILL at random moments, over and over (DURABLE_CRASH_KILLS kills, 200 by default):
// - two "ops": push to queues "work" and "xfer" (push and push_many), claim from "work"
//   (some leases short enough to run out while they wait, so another claimer takes the
//   job; some jobs held a while) and ack, nack or dead-letter what they claimed into "dead"
//   (same file);
// - "worker": a Worker on "work" whose handler fails for good for every fourth job, so
//   those are dead-lettered into "dead", in the same file, in one transaction;
// - "mover": a Worker on "xfer" whose handler always fails, dead-lettering every job into
//   "far", a DLQ in a second file (the ordered, idempotent move across files).
// Every process reports each operation on a pipe after it returned (finalisations of
// "ops" also before they start). Kills are paced by observed progress, never by the clock.
// Afterwards, from the reports and the files:
// - lost: a job reported pushed that is nowhere (queue or DLQ) and whose finishing never
//   started; for "xfer", whose jobs can only move, any job not in "xfer" or "far";
// - resurrected: a job reported acked (or moved) that is back in a queue, or in a DLQ
//   after an ack;
// - duplicated: a job stored twice, or in both "work" and "dead";
// - delivered after ack: a claim of a job whose attempts count is above that of the claim
//   that acked it; held twice: two claims with the same attempts count;
// - stale finalisation accepted: an ack, nack or move by a claim that succeeded although a
//   later claim of the job was reported before it started;
// - integrity: PRAGMA integrity_check of both files.
// Then every stored job can be claimed once more, and moving what is left of "xfer" leaves
// each of its jobs in "far" exactly once.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <durable/worker.hpp>

#include "db_state.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using durable_test::temp_dir;

namespace {

/// The test fails only if no process reports anything for this long.
constexpr std::chrono::seconds no_progress_limit{120};

struct work {
  std::int64_t n = 0;  // unique per push: (spawn << 32) + a counter of that process
  std::string payload;
};

struct doomed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace

template <>
struct durable::error_traits<doomed> {
  static constexpr std::string_view name = "test.doomed";
  static constexpr durable::error_kind kind = durable::error_kind::permanent;
  static constexpr durable::redrive_policy redrive = durable::redrive_policy::safe;
};

namespace {

using errors = durable::error_list<doomed, durable::default_errors>;
using worker = durable::Worker<work, durable::pfr_codec, errors>;

/// One report line with a single write(2): atomic on a pipe, and kept after SIGKILL.
void say(int fd, const std::string& line) {
  const auto text = line + '\n';
  if (write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) _exit(9);
}

std::string line(char op, std::int64_t a, std::int64_t b = 0, std::int64_t c = 0) {
  return std::string(1, op) + ' ' + std::to_string(a) + ' ' + std::to_string(b) + ' ' +
         std::to_string(c);
}

struct paths {
  std::string main;  // queues "work" and "xfer", DLQ "dead"
  std::string far;   // DLQ "far"
};

durable::queue_options queue_options() {
  durable::queue_options o;
  o.log = nullptr;
  o.release_dead_claims = true;
  o.open.busy_timeout = no_progress_limit;  // a slow lock holder is not a failure
  return o;
}

durable::dead_letter_options dlq_options() {
  durable::dead_letter_options o;
  o.log = nullptr;
  o.open.busy_timeout = no_progress_limit;
  return o;
}

/// Reports of "ops": "P 0|1 id n" pushed to "work" or "xfer"; "C id attempts n" claimed;
/// "F id attempts" finishing starts; "A", "N", "D id attempts" acked, nacked, moved into
/// "dead"; "L id attempts" refused (lease lost). Of the Workers, after the job was finished:
/// "a", "d", "X id attempts" acked, moved into "dead", moved into "far"; and "H n" when a
/// handler starts.
[[noreturn]] void ops(const paths& p, int fd, unsigned seed, std::int64_t spawn) {
  durable::Queue<work> q{p.main, "work", queue_options()};
  durable::Queue<work> x{p.main, "xfer", queue_options()};
  durable::DeadLetterQueue<work> dead{p.main, "dead", dlq_options()};
  std::mt19937 rng{seed};
  std::int64_t next = spawn << 32;
  const durable::failure failed{"test.ops", "given up by ops", ""};
  for (;;) {
    const auto op = rng() % 12;
    if (op < 4) {
      const work w{next++, std::string(rng() % 1500, 'p')};
      say(fd, line('P', 0, q.push(w, {.key = durable::job_key{w.n}}).id, w.n));
    } else if (op < 5) {
      std::vector<std::pair<work, durable::push_options>> many;
      for (auto k = 1 + rng() % 10; k > 0; --k) {
        const auto n = next++;
        many.push_back({{n, "batch"}, {.key = durable::job_key{n}}});
      }
      const auto pushed = q.push_many(many);
      for (std::size_t k = 0; k < pushed.size(); ++k) {
        say(fd, line('P', 0, pushed[k].id, many[k].first.n));
      }
    } else if (op < 7) {
      const work w{next++, "cross"};
      say(fd, line('P', 1, x.push(w, {.key = durable::job_key{w.n}}).id, w.n));
    } else {
      const bool short_lease = rng() % 2 == 0;
      auto c = q.claim(short_lease ? 100ms : 1min);
      if (!c) continue;
      say(fd, line('C', c->id, c->attempts, c->job ? c->job->n : -1));
      // Sometimes wait past a short lease: another claimer may take the job meanwhile,
      // and finishing it must then be refused. Sometimes hold a long lease a while: a
      // superseded claim may try to finish the job meanwhile.
      if (short_lease || rng() % 2 == 0) std::this_thread::sleep_for(short_lease ? 150ms : 300ms);
      const auto fate = rng() % 3;
      say(fd, line('F', c->id, c->attempts));
      try {
        if (fate == 0) {
          q.ack(*c);
          say(fd, line('A', c->id, c->attempts));
        } else if (fate == 1) {
          q.nack(*c, 0ms, failed);
          say(fd, line('N', c->id, c->attempts));
        } else {
          dead.move_from(q, *c, failed);
          say(fd, line('D', c->id, c->attempts));
        }
      } catch (const durable::lease_lost_error&) {
        say(fd, line('L', c->id, c->attempts));
      }
    }
  }
}

durable::worker_options worker_options(int fd, char dead_letter_op) {
  durable::worker_options o;
  o.threads = 2;
  o.lease = 500ms;
  o.min_poll_interval = 1ms;
  o.max_poll_interval = 20ms;
  o.breaker.reset();
  o.log = nullptr;
  o.dlq_summary_every = 0;
  o.seed = 1;
  o.on_success = [fd](const durable::job_event& e) { say(fd, line('a', e.id, e.attempt - 1)); };
  o.on_dead_letter = [fd, dead_letter_op](const durable::job_event& e,
                                          const durable::classification&) {
    say(fd, line(dead_letter_op, e.id, e.attempt - 1));
  };
  return o;
}

/// A Worker on "work": every fourth job fails for good and is dead-lettered into "dead".
[[noreturn]] void run_worker(const paths& p, int fd) {
  durable::Queue<work> q{p.main, "work", queue_options()};
  durable::DeadLetterQueue<work> dead{p.main, "dead", dlq_options()};
  worker w{q, dead,
           [fd](const work& j) {
             say(fd, line('H', j.n));
             if (j.n % 4 == 0) throw doomed("every fourth job fails");
           },
           worker_options(fd, 'd')};
  w.start();
  for (;;) pause();
}

/// A Worker on "xfer" whose every job fails for good: each is moved into "far", a DLQ in
/// the other file.
[[noreturn]] void run_mover(const paths& p, int fd) {
  durable::Queue<work> x{p.main, "xfer", queue_options()};
  durable::DeadLetterQueue<work> far{p.far, "far", dlq_options()};
  worker w{x, far,
           [fd](const work& j) {
             say(fd, line('H', j.n));
             throw doomed("moved to the other file");
           },
           worker_options(fd, 'X')};
  w.start();
  for (;;) pause();
}

[[noreturn]] void child(int role, const paths& p, int fd, unsigned seed, std::int64_t spawn) {
  try {
    if (role < 2) ops(p, fd, seed, spawn);
    if (role == 2) run_worker(p, fd);
    run_mover(p, fd);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "crash harness child %d: %s\n", role, e.what());
  } catch (...) {
    std::fprintf(stderr, "crash harness child %d: unknown exception\n", role);
  }
  _exit(3);
}

/// A claim of a job: its id and the attempts count it saw (unique per claim of a job).
using claim_key = std::pair<std::int64_t, std::int64_t>;

/// Everything the processes reported, in pipe order.
struct reports {
  std::map<std::int64_t, std::int64_t> pushed_work;  // id -> n
  std::map<std::int64_t, std::int64_t> pushed_xfer;  // id -> n
  std::int64_t pushed_twice = 0;
  std::map<claim_key, int> claims;              // each claim reported (C; a, d, X)
  std::map<std::int64_t, std::int64_t> acked;   // id -> attempts of the claim that acked
  std::map<std::int64_t, std::int64_t> dead;    // id -> attempts, moved into "dead"
  std::map<std::int64_t, std::int64_t> moved;   // id -> attempts, moved into "far"
  std::set<std::int64_t> finishing;             // ids whose finishing started (ops F)
  std::set<std::int64_t> handled;               // n whose handler started (H)
  std::map<std::int64_t, std::int64_t> latest;  // id -> highest attempts claimed so far
  std::set<claim_key> stale;                    // F whose job had a later claim already
  std::int64_t stale_accepted = 0;
  std::int64_t stale_refused = 0;
  std::int64_t lines = 0;
  std::string partial;

  std::int64_t read_from(int fd) {
    const auto before = lines;
    std::array<char, 4096> buffer{};
    for (;;) {
      const auto got = read(fd, buffer.data(), buffer.size());
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break;
      partial.append(buffer.data(), static_cast<std::size_t>(got));
      std::size_t start = 0;
      for (auto end = partial.find('\n'); end != std::string::npos;
           end = partial.find('\n', start)) {
        parse(partial.substr(start, end - start));
        start = end + 1;
      }
      partial.erase(0, start);
    }
    return lines - before;
  }

 private:
  void claimed(std::int64_t id, std::int64_t attempts) {
    ++claims[{id, attempts}];
    auto& l = latest[id];
    l = std::max(l, attempts);
  }
  void finished(std::int64_t id, std::int64_t attempts) {
    if (stale.contains({id, attempts})) ++stale_accepted;
  }

  void parse(const std::string& text) {
    std::istringstream in{text};
    char op = 0;
    std::int64_t a = 0;
    std::int64_t b = 0;
    std::int64_t c = 0;
    in >> op >> a >> b >> c;
    ++lines;
    switch (op) {
      case 'P': {
        auto& pushed = a == 0 ? pushed_work : pushed_xfer;
        if (!pushed.emplace(b, c).second) ++pushed_twice;
        break;
      }
      case 'C': claimed(a, b); break;
      case 'F':
        finishing.insert(a);
        if (latest[a] > b) stale.insert({a, b});
        break;
      case 'A':
        finished(a, b);
        acked[a] = b;
        break;
      case 'N': finished(a, b); break;
      case 'D':
        finished(a, b);
        dead[a] = b;
        break;
      case 'a':  // a Worker's claim, reported once finished
        claimed(a, b);
        acked[a] = b;
        break;
      case 'd':
        claimed(a, b);
        dead[a] = b;
        break;
      case 'X':
        claimed(a, b);
        moved[a] = b;
        break;
      case 'L': stale_refused += stale.contains({a, b}) ? 1 : 0; break;
      case 'H': handled.insert(a); break;
      default: break;
    }
  }
};

/// The running processes, one per role (two "ops", a worker, a mover); kills and reaps
/// whatever is left on scope exit.
struct processes {
  std::array<pid_t, 4> pids{-1, -1, -1, -1};
  processes() = default;
  processes(const processes&) = delete;
  processes& operator=(const processes&) = delete;
  ~processes() {
    for (const pid_t pid : pids) {
      if (pid < 0) continue;
      kill(pid, SIGKILL);
      int status = 0;
      waitpid(pid, &status, 0);
    }
  }
};

/// How often `n` occurs in `counts`.
int count_of(const std::map<std::int64_t, int>& counts, std::int64_t n) {
  const auto it = counts.find(n);
  return it == counts.end() ? 0 : it->second;
}

/// Keys (n) of the rows `sql` selects, with how often each occurs.
std::map<std::int64_t, int> keys(const durable_test::raw_db& db, const std::string& sql) {
  std::map<std::int64_t, int> out;
  std::istringstream in{db.rows(sql)};
  for (std::int64_t n = 0; in >> n;) ++out[n];
  return out;
}

}  // namespace

TEST_CASE("crash harness: queues, a Worker and a DLQ in another file, killed at random") {
  temp_dir dir;
  const paths p{dir.file("main.db"), dir.file("far.db")};
  {  // create both files before the processes race to do it
    durable::Queue<work> create{p.main, "work", queue_options()};
    durable::DeadLetterQueue<work> far{p.far, "far", dlq_options()};
  }
  std::array<int, 2> pipe_fds{};
  REQUIRE(pipe(pipe_fds.data()) == 0);
  const int from_children = pipe_fds[0];
  const int to_parent = pipe_fds[1];
  REQUIRE(fcntl(from_children, F_SETFL, O_NONBLOCK) == 0);

  int target = 200;
  if (const char* k = std::getenv("DURABLE_CRASH_KILLS")) target = std::atoi(k);
  std::mt19937 rng{20261207};
  reports seen;
  processes running;
  std::int64_t spawns = 0;
  int kills = 0;
  const auto kill_and_reap = [&](pid_t& pid) {
    kill(pid, SIGKILL);
    int status = 0;
    const pid_t reaped = waitpid(pid, &status, 0);
    pid = -1;
    REQUIRE(reaped >= 0);
    REQUIRE_MESSAGE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL),
                    "a child ended on its own with status " << status << " (see its stderr)");
    ++kills;
  };

  while (kills < target) {
    for (int role = 0; role < 4; ++role) {
      auto& pid = running.pids.at(static_cast<std::size_t>(role));
      if (pid >= 0) continue;
      const auto seed = static_cast<unsigned>(rng());
      const auto spawn = ++spawns;
      pid = fork();
      REQUIRE(pid >= 0);
      if (pid == 0) {
        close(from_children);
        child(role, p, to_parent, seed, spawn);
      }
    }
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
    const auto victims = 1 + rng() % 15;  // a non-empty set of the four
    for (std::size_t role = 0; role < 4; ++role) {
      if ((victims >> role) & 1U) kill_and_reap(running.pids.at(role));
    }
  }
  for (auto& pid : running.pids) {
    if (pid >= 0) kill_and_reap(pid);
  }
  seen.read_from(from_children);  // every process is gone: all they wrote is in the pipe
  close(from_children);
  close(to_parent);
  CHECK(seen.partial.empty());
  REQUIRE_FALSE(seen.pushed_work.empty());
  REQUIRE_FALSE(seen.pushed_xfer.empty());

  // What the files hold, by job number n (the key of every job).
  std::map<std::int64_t, int> in_work;
  std::map<std::int64_t, int> in_dead;
  std::map<std::int64_t, int> in_xfer;
  std::map<std::int64_t, int> in_far;
  {
    const durable_test::raw_db main{p.main};
    const durable_test::raw_db far{p.far};
    CHECK(main.integrity() == "ok\n");
    CHECK(far.integrity() == "ok\n");
    in_work = keys(main,
                   "SELECT key FROM durable_jobs WHERE queue_id = (SELECT id FROM durable_queues "
                   "WHERE name = 'work')");
    in_xfer = keys(main,
                   "SELECT key FROM durable_jobs WHERE queue_id = (SELECT id FROM durable_queues "
                   "WHERE name = 'xfer')");
    in_dead = keys(main,
                   "SELECT key FROM durable_dead_letters WHERE dlq_id = (SELECT id FROM "
                   "durable_dead_letter_queues WHERE name = 'dead')");
    in_far = keys(far,
                  "SELECT key FROM durable_dead_letters WHERE dlq_id = (SELECT id FROM "
                  "durable_dead_letter_queues WHERE name = 'far')");
  }
  std::int64_t lost = 0;
  std::int64_t resurrected = 0;
  std::int64_t duplicated = seen.pushed_twice;
  for (const auto& [id, n] : seen.pushed_work) {
    const bool stored = in_work.contains(n);
    const bool dead = in_dead.contains(n);
    const bool finishing = seen.finishing.contains(id) || seen.handled.contains(n);
    if (!stored && !dead && !finishing) ++lost;
    if (seen.acked.contains(id) && (stored || dead)) ++resurrected;
    if (seen.dead.contains(id) && (stored || !dead)) ++resurrected;
    if ((stored && dead) || count_of(in_work, n) > 1 || count_of(in_dead, n) > 1) ++duplicated;
  }
  for (const auto& [id, n] : seen.pushed_xfer) {
    if (!in_xfer.contains(n) && !in_far.contains(n)) ++lost;
    if (seen.moved.contains(id) && (in_xfer.contains(n) || !in_far.contains(n))) ++resurrected;
    if (count_of(in_xfer, n) > 1 || count_of(in_far, n) > 1) ++duplicated;
  }
  std::int64_t after_ack = 0;
  for (const auto* finished : {&seen.acked, &seen.dead}) {
    for (const auto& [id, attempts] : *finished) after_ack += seen.latest[id] > attempts ? 1 : 0;
  }
  std::int64_t held_twice = 0;
  for (const auto& [claim, times] : seen.claims) held_twice += times > 1 ? 1 : 0;
  CHECK(lost == 0);
  CHECK(resurrected == 0);
  CHECK(duplicated == 0);
  CHECK(after_ack == 0);
  CHECK(held_twice == 0);
  CHECK(seen.stale_accepted == 0);

  // Every stored job of "work" comes back, once; what is left of "xfer" moves into "far",
  // where each of its jobs then is exactly once.
  {
    durable::Queue<work> q{p.main, "work", queue_options()};
    std::map<std::int64_t, int> drained;
    while (auto c = q.claim(10min)) {
      REQUIRE(c->job);
      ++drained[c->job->n];
      q.ack(*c);
    }
    CHECK(drained == in_work);
  }
  {
    durable::Queue<work> x{p.main, "xfer", queue_options()};
    durable::DeadLetterQueue<work> far{p.far, "far", dlq_options()};
    auto o = worker_options(-1, 'X');
    o.on_dead_letter = nullptr;
    o.on_success = nullptr;
    worker mover{x, far, [](const work&) { throw doomed("moved"); }, o};
    mover.process_available();
    CHECK(x.empty());
    const durable_test::raw_db db{p.far};
    const auto now_far = keys(db,
                              "SELECT key FROM durable_dead_letters WHERE dlq_id = (SELECT id FROM "
                              "durable_dead_letter_queues WHERE name = 'far')");
    std::map<std::int64_t, int> expected;  // reported pushed, or stored (push not reported)
    for (const auto& [id, n] : seen.pushed_xfer) expected[n] = 1;
    for (const auto& [n, count] : in_xfer) expected[n] = 1;
    for (const auto& [n, count] : in_far) expected[n] = 1;
    CHECK(now_far == expected);
  }
  MESSAGE(kills << " kills of " << spawns << " processes, " << seen.lines << " reports: pushed "
                << seen.pushed_work.size() << " + " << seen.pushed_xfer.size() << ", acked "
                << seen.acked.size() << ", dead-lettered " << seen.dead.size()
                << " in the same file and " << seen.moved.size() << " into another; "
                << seen.stale.size() << " finishings by a claim already superseded, "
                << seen.stale_refused << " of them seen refused");
}
