// SPDX-License-Identifier: MIT
// Workers run as processes: a child running Worker::run with stop_signals drains on
// SIGTERM and loses nothing; sequential barriers hold across two processes. Children are
// paced by what they report on a pipe, never by the clock: the test waits for observed
// progress and fails on time only when nothing is reported for `no_progress_limit`.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <durable/signals.hpp>
#include <durable/worker.hpp>

#include "quiet_options.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using durable_test::temp_dir;

namespace {

constexpr std::chrono::seconds no_progress_limit{120};

struct task {
  std::int64_t n = 0;
};

/// One report line with a single write(2): atomic on a pipe, and it survives the writer.
void report(int fd, char op, std::int64_t id) {
  const std::string line = std::string(1, op) + ' ' + std::to_string(id) + ' ' +
                           std::to_string(static_cast<long long>(getpid())) + '\n';
  if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(9);
}

struct line {
  char op = 0;
  std::int64_t id = 0;
  long long pid = 0;
};

/// The children's reports, in the order they were written.
class reports {
 public:
  reports() {
    REQUIRE(pipe(fds_.data()) == 0);
    REQUIRE(fcntl(fds_[0], F_SETFL, O_NONBLOCK) == 0);
  }
  reports(const reports&) = delete;
  reports& operator=(const reports&) = delete;
  ~reports() {
    close(fds_[0]);
    close(fds_[1]);
  }
  [[nodiscard]] int write_end() const { return fds_[1]; }

  /// Reads until `done(lines)` holds; false when nothing new came for `no_progress_limit`.
  template <class Done>
  bool until(Done done) {
    auto last = std::chrono::steady_clock::now();
    while (!done(lines)) {
      pollfd ready{fds_[0], POLLIN, 0};
      (void)poll(&ready, 1, 100);
      if (read_available() > 0) last = std::chrono::steady_clock::now();
      if (std::chrono::steady_clock::now() - last > no_progress_limit) return false;
    }
    return true;
  }

  std::vector<line> lines;

 private:
  std::size_t read_available() {
    const auto before = lines.size();
    std::array<char, 4096> buffer{};
    for (;;) {
      const auto got = read(fds_[0], buffer.data(), buffer.size());
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break;
      partial_.append(buffer.data(), static_cast<std::size_t>(got));
      for (auto end = partial_.find('\n'); end != std::string::npos; end = partial_.find('\n')) {
        std::istringstream in{partial_.substr(0, end)};
        line l;
        in >> l.op >> l.id >> l.pid;
        lines.push_back(l);
        partial_.erase(0, end + 1);
      }
    }
    return lines.size() - before;
  }

  std::array<int, 2> fds_{};
  std::string partial_;
};

std::size_t count_of(const std::vector<line>& lines, char op) {
  std::size_t n = 0;
  for (const auto& l : lines) n += l.op == op ? 1 : 0;
  return n;
}

/// A child process; SIGKILLed and reaped if the test ends before it exits.
struct child {
  pid_t pid = -1;
  child() = default;
  child(const child&) = delete;
  child& operator=(const child&) = delete;
  ~child() {
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
  }
  /// Sends `signal` and waits for the exit; the exit status, or -1 if not a normal exit.
  int stop_with(int signal) {
    kill(pid, signal);
    int status = 0;
    const pid_t reaped = waitpid(pid, &status, 0);
    pid = -1;
    if (reaped < 0 || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
  }
};

durable::worker_options child_options(std::size_t threads) {
  durable::worker_options o;
  o.threads = threads;
  o.log = nullptr;
  o.breaker.reset();
  o.min_poll_interval = 1ms;  // jobs come from the parent's process: polled, not woken
  o.max_poll_interval = 20ms;
  return o;
}

/// A worker process: `handler` over queue "tasks" until SIGINT or SIGTERM, then a drain.
/// Reports 'R' when ready; exits 0 when the drain finished every running job.
template <class Handler>
[[noreturn]] void serve(const std::string& db, int fd, std::size_t threads, Handler handler) {
  int code = 3;
  try {
    durable::stop_signals signals;  // first: every thread started below inherits the mask
    durable::Queue<task> queue{db, "tasks", durable_test::quiet_queue()};
    durable::DeadLetterQueue<task> dlq{db, "tasks.dlq", durable_test::quiet_dlq()};
    durable::Worker<task> worker{queue, dlq, handler, child_options(threads)};
    report(fd, 'R', 0);
    code = worker.run(signals.token(), 2min) ? 0 : 4;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "worker child: %s\n", e.what());
  }
  _exit(code);
}

}  // namespace

TEST_CASE("SIGTERM makes Worker::run with stop_signals drain: running jobs finish, none is lost") {
  temp_dir dir;
  const auto db = dir.db("jobs.db");
  std::vector<durable::job_id> ids;
  {
    durable::Queue<task> q{db, "tasks", durable_test::quiet_queue()};
    for (std::int64_t i = 0; i < 10; ++i) ids.push_back(q.push({i}).id);
  }
  reports seen;
  child worker;
  worker.pid = fork();
  REQUIRE(worker.pid >= 0);
  if (worker.pid == 0) {
    const int fd = seen.write_end();
    serve(db, fd, 2, [fd](const task&, durable::job_context& ctx) {
      report(fd, 'S', ctx.id);
      std::mutex m;
      std::condition_variable_any cv;
      std::unique_lock lock{m};
      cv.wait(lock, ctx.stop, [] { return false; });  // until the drain fires the token
      report(fd, 'E', ctx.id);
    });
  }
  REQUIRE(seen.until([](const auto& lines) { return count_of(lines, 'S') == 2; }));
  CHECK(worker.stop_with(SIGTERM) == 0);  // run() returned true: both jobs finished
  REQUIRE(seen.until([](const auto& lines) { return count_of(lines, 'E') == 2; }));
  std::set<durable::job_id> started;
  std::set<durable::job_id> ended;
  for (const auto& l : seen.lines) {
    if (l.op == 'S') started.insert(l.id);
    if (l.op == 'E') ended.insert(l.id);
  }
  CHECK(started == ended);
  durable::Queue<task> q{db, "tasks", durable_test::quiet_queue()};
  const auto stats = q.stats();
  CHECK(stats.claimed == 0);
  CHECK(stats.pending == 8);
  for (const auto id : ids) {
    CHECK(q.status(id).state ==
          (started.contains(id) ? durable::job_state::not_found : durable::job_state::pending));
  }
}

TEST_CASE("a sequential job runs alone across two worker processes") {
  temp_dir dir;
  const auto db = dir.db("jobs.db");
  { durable::Queue<task> create{db, "tasks", durable_test::quiet_queue()}; }
  reports seen;
  std::array<child, 2> workers;
  for (auto& w : workers) {
    w.pid = fork();
    REQUIRE(w.pid >= 0);
    if (w.pid == 0) {
      const int fd = seen.write_end();
      serve(db, fd, 2, [fd](const task&, durable::job_context& ctx) {
        report(fd, 'S', ctx.id);
        std::this_thread::sleep_for(2ms);  // widens the windows a barrier must close
        report(fd, 'E', ctx.id);
      });
    }
  }
  REQUIRE(seen.until([](const auto& lines) { return count_of(lines, 'R') == 2; }));
  constexpr std::int64_t jobs = 48;
  std::set<durable::job_id> sequential;
  std::vector<durable::job_id> order;
  {
    durable::Queue<task> q{db, "tasks", durable_test::quiet_queue()};
    for (std::int64_t i = 0; i < jobs; ++i) {
      const bool is_sequential = i % 8 == 7;
      const auto id = q.push({i}, {.sequential = is_sequential}).id;
      order.push_back(id);
      if (is_sequential) sequential.insert(id);
    }
  }
  REQUIRE(seen.until([](const auto& lines) { return count_of(lines, 'E') == jobs; }));
  for (auto& w : workers) CHECK(w.stop_with(SIGTERM) == 0);

  // Replay the reports in the order they were written: a job's 'E' precedes its ack, and
  // a barrier lifts only at the ack, so the replay sees every overlap there was.
  std::set<durable::job_id> running;
  std::set<durable::job_id> finished;
  std::set<long long> pids;
  std::int64_t violations = 0;
  std::int64_t overlapped = 0;
  for (const auto& l : seen.lines) {
    if (l.op == 'S') {
      pids.insert(l.pid);
      for (const auto older : order) {
        if (older >= l.id) break;
        if (!finished.contains(older) && (sequential.contains(l.id) || sequential.contains(older)))
          ++violations;
      }
      if (sequential.contains(l.id) && !running.empty()) ++violations;
      if (!running.empty()) ++overlapped;
      running.insert(l.id);
    } else if (l.op == 'E') {
      running.erase(l.id);
      finished.insert(l.id);
    }
  }
  CHECK(violations == 0);
  CHECK(finished.size() == static_cast<std::size_t>(jobs));
  WARN_MESSAGE(pids.size() == 2, "only one of the two processes got jobs on this run");
  WARN_MESSAGE(overlapped > 0, "no parallel jobs overlapped on this run");
  durable::Queue<task> q{db, "tasks", durable_test::quiet_queue()};
  CHECK(q.empty());
}
