// SPDX-License-Identifier: MIT
#pragma once
// Child processes that push, claim, nack and ack one queue until they are killed, each
// reporting every operation on a pipe after it returned, and the parent's bookkeeping of
// those reports: the PostgreSQL kill and server-restart tests (test_postgres*.cpp); the
// SQLite crash test (test_crash.cpp) uses the report writer and the bookkeeping.
// Kills are paced by observed progress (reports), never by the clock.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <durable/queue.hpp>

namespace durable_test {

/// A job whose number is unique per push: (spawn number << 32) + a counter of that child.
struct churn_job {
  std::int64_t n = 0;
  std::string payload;
};

/// Writes one report line with a single write(2): a pipe never tears or interleaves writes
/// shorter than PIPE_BUF, and a line that was written survives SIGKILL.
inline void report(int fd, char op, std::int64_t id, std::int64_t n = 0) {
  const std::string line =
      std::string(1, op) + ' ' + std::to_string(id) + ' ' + std::to_string(n) + '\n';
  if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(9);
}

/// The child: pushes, claims, nacks and acks on `queue` of `target` until killed,
/// reporting each operation after it returned (P pushed, C claimed, N nacked, A acked),
/// an ack before it starts (a: the job may be gone), and each connection_error (E: the
/// server went away; the child goes on, and its next call reconnects). Any other exception
/// ends the child with status 3, which the parent sees as a failure.
[[noreturn]] inline void churn(const std::string& target, const std::string& queue, int fd,
                               unsigned seed, std::int64_t spawn) {
  try {
    durable::queue_options options;
    options.log = nullptr;
    options.release_dead_claims = true;
    durable::Queue<churn_job> q{target, queue, options};
    std::mt19937 rng{seed};
    std::int64_t next = spawn << 32;
    for (;;) {
      try {
        const auto op = rng() % 10;
        if (op < 4) {
          const churn_job w{next++, std::string(rng() % 2000, 'p')};
          report(fd, 'P', q.push(w).id, w.n);
        } else if (op < 5) {
          std::vector<churn_job> many;
          for (auto k = 1 + rng() % 20; k > 0; --k) many.push_back({next++, "batch"});
          const auto pushed = q.push_many(many);
          for (std::size_t k = 0; k < pushed.size(); ++k) report(fd, 'P', pushed[k].id, many[k].n);
        } else if (auto c = q.claim(rng() % 4 == 0 ? std::chrono::milliseconds{50}
                                                   : std::chrono::milliseconds{60'000})) {
          report(fd, 'C', c->id, c->job ? c->job->n : -1);
          try {
            if (op == 5) {
              q.nack(*c, std::chrono::milliseconds{0}, {"churn", "nacked", ""});
              report(fd, 'N', c->id);
            } else {
              report(fd, 'a', c->id);
              q.ack(*c);
              report(fd, 'A', c->id);
            }
          } catch (const durable::lease_lost_error&) {  // a 50 ms lease ran out meanwhile
          }
        }
      } catch (const durable::connection_error&) {
        report(fd, 'E', 0);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "churn child %lld: %s\n", static_cast<long long>(spawn), e.what());
  } catch (...) {
    std::fprintf(stderr, "churn child %lld: unknown exception\n", static_cast<long long>(spawn));
  }
  _exit(3);
}

/// What the children reported, read from the non-blocking end of their pipe.
struct reports {
  std::map<std::int64_t, std::int64_t> pushed;                 // id -> n
  std::vector<std::pair<std::int64_t, std::int64_t>> claimed;  // id, n
  std::set<std::int64_t> ack_started;
  std::set<std::int64_t> acked;
  std::int64_t pushed_twice = 0;  // the same id reported by two pushes
  std::int64_t connection_errors = 0;
  std::int64_t lines = 0;
  std::int64_t successes = 0;  // lines other than E
  std::string partial;         // the start of a line whose end is not read yet

  /// Reads everything the pipe holds now; returns how many complete lines that was.
  std::int64_t read_from(int fd) {
    const auto before = lines;
    std::array<char, 4096> buffer{};
    for (;;) {
      const auto got = read(fd, buffer.data(), buffer.size());
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break;  // EAGAIN: nothing more for now
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
  void parse(const std::string& line) {
    std::istringstream in{line};
    char op = 0;
    std::int64_t id = 0;
    std::int64_t n = 0;
    in >> op >> id >> n;
    ++lines;
    if (op != 'E') ++successes;
    switch (op) {
      case 'P':
        if (!pushed.emplace(id, n).second) ++pushed_twice;
        break;
      case 'C': claimed.emplace_back(id, n); break;
      case 'a': ack_started.insert(id); break;
      case 'A': acked.insert(id); break;
      case 'E': ++connection_errors; break;
      default: break;
    }
  }
};

/// Churning children writing to one pipe; kills and reaps whatever is left on destruction.
class churners {
 public:
  churners(std::string target, std::string queue, std::size_t count, unsigned seed)
      : target_(std::move(target)), queue_(std::move(queue)), pids_(count, -1), rng_(seed) {
    std::array<int, 2> fds{};
    if (pipe(fds.data()) != 0) throw std::runtime_error("pipe failed");
    read_ = fds[0];
    write_ = fds[1];
    fcntl(read_, F_SETFL, O_NONBLOCK);
  }
  churners(const churners&) = delete;
  churners& operator=(const churners&) = delete;
  ~churners() {
    for (auto& pid : pids_) {
      if (pid >= 0) kill_and_reap(pid);
    }
    close(read_);
    close(write_);
  }

  /// Starts a child in every free slot.
  void spawn() {
    for (auto& pid : pids_) {
      if (pid >= 0) continue;
      const auto seed = static_cast<unsigned>(rng_());
      const auto number = ++spawned_;
      pid = fork();
      if (pid < 0) throw std::runtime_error("fork failed");
      if (pid == 0) {
        close(read_);
        churn(target_, queue_, write_, seed, number);
      }
    }
  }

  /// Reads reports until `goal` lines of `count` kind (all lines, or successes only) were
  /// seen. Returns an empty string, or why it stopped: a child ended on its own, or no
  /// report came for `limit`.
  [[nodiscard]] std::string wait_for(std::int64_t reports::*count, std::int64_t goal,
                                     std::chrono::seconds limit) {
    auto last_progress = std::chrono::steady_clock::now();
    while (seen.*count < goal) {
      pollfd ready{read_, POLLIN, 0};
      static_cast<void>(poll(&ready, 1, 100));
      if (seen.read_from(read_) > 0) last_progress = std::chrono::steady_clock::now();
      for (auto& pid : pids_) {
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, WNOHANG) == 0) continue;
        pid = -1;
        return "a child ended on its own with status " + std::to_string(status) +
               " (see its stderr)";
      }
      if (std::chrono::steady_clock::now() - last_progress > limit) {
        return "no report for " + std::to_string(limit.count()) + " s";
      }
    }
    return {};
  }

  /// Kills child `i` with SIGKILL and reaps it; false if it had ended otherwise.
  bool kill_child(std::size_t i) { return kill_and_reap(pids_.at(i)); }
  /// Kills every child; false if one had ended otherwise. Then reads what is left.
  bool kill_all() {
    bool ok = true;
    for (auto& pid : pids_) {
      if (pid >= 0) ok = kill_and_reap(pid) && ok;
    }
    seen.read_from(read_);
    return ok;
  }
  [[nodiscard]] std::size_t size() const noexcept { return pids_.size(); }
  [[nodiscard]] std::int64_t spawned() const noexcept { return spawned_; }

  reports seen;

 private:
  static bool kill_and_reap(pid_t& pid) {
    kill(pid, SIGKILL);
    int status = 0;
    const pid_t reaped = waitpid(pid, &status, 0);
    pid = -1;
    return reaped >= 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  }

  std::string target_;
  std::string queue_;
  std::vector<pid_t> pids_;
  std::mt19937 rng_;
  std::int64_t spawned_ = 0;
  int read_ = -1;
  int write_ = -1;
};

/// The result of checking what the children reported against what is stored.
struct churn_check {
  std::int64_t lost = 0;           // reported pushed, not stored, and no ack had started
  std::int64_t resurrected = 0;    // reported acked, still stored
  std::int64_t wrong_payload = 0;  // a claim handed out another job's payload
};

/// Compares `seen` with the ids `stored` in the queue.
inline churn_check check_reports(const reports& seen, const std::set<std::int64_t>& stored) {
  churn_check out;
  for (const auto& [id, n] : seen.pushed) {
    if (!stored.contains(id) && !seen.ack_started.contains(id)) ++out.lost;
  }
  for (const auto id : seen.acked) {
    if (stored.contains(id)) ++out.resurrected;
  }
  for (const auto& [id, n] : seen.claimed) {
    const auto p = seen.pushed.find(id);
    if (p != seen.pushed.end() && p->second != n) ++out.wrong_payload;
  }
  return out;
}

}  // namespace durable_test
