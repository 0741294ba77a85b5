// SPDX-License-Identifier: MIT
// Power loss. A child process works on a queue and a dead-letter queue in one file
// through power_loss_vfs.hpp, a disk whose write cache keeps everything not synced; the
// parent cuts the power (SIGKILL after a random number of reported operations, or the
// VFS itself in the middle of a random sync, writing only part of it). After each cut:
// - the file passes PRAGMA integrity_check;
// - its jobs and dead letters are exactly what some prefix of the operations left: with
//   durability_mode::full, every operation reported done (not one committed job lost, none
//   back), and at most the one in flight; with durability_mode::normal, the last commits may
//   be gone, but never one without those after it, and nothing half done.
// Then the next child carries on from what survived. DURABLE_POWER_CUTS=<n> soaks longer.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <durable/dead_letter_queue.hpp>
#include <durable/queue.hpp>

#include "db_state.hpp"
#include "power_loss_vfs.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using durable_test::temp_dir;

namespace {

/// The test fails only if the child reports nothing for this long.
constexpr std::chrono::seconds no_progress_limit{120};

struct item {
  std::int64_t n = 0;
  std::string body;
};

/// Writes one line with a single write(2) (atomic on a pipe, kept after SIGKILL).
void say(int fd, const std::string& line) {
  const auto text = line + '\n';
  if (write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) _exit(9);
}

/// The child: pushes, claims, acks, nacks and dead-letters until the power goes. Before
/// each operation it reports what it does ("P n", "M n...", "C", "A n", "N n", "D n"), and
/// "done" after it returned.
[[noreturn]] void work(const std::string& path, durable::durability_mode mode, std::uint64_t seed,
                       std::int64_t cut_at_sync, std::int64_t spawn, int fd) {
  try {
    durable_test::power_loss_vfs vfs{seed, cut_at_sync};
    durable::queue_options qo;
    qo.log = nullptr;
    qo.open.durability = mode;
    qo.release_dead_claims = true;
    durable::Queue<item> q{path, "jobs", qo};
    durable::dead_letter_options dlo;
    dlo.log = nullptr;
    dlo.open.durability = mode;
    durable::DeadLetterQueue<item> dead{path, "dead", dlo};
    std::mt19937_64 rng{seed};
    std::int64_t next = spawn << 32;
    const durable::failure failed{"test.failed", "failed", ""};
    const auto key_of = [](const durable::claimed_job<item>& c) {
      return std::get<std::int64_t>(*c.key);
    };
    for (;;) {
      const auto op = rng() % 10;
      if (op < 4) {
        const auto n = next++;
        say(fd, "P " + std::to_string(n));
        q.push({n, std::string(rng() % 600, 'p')}, {.key = durable::job_key{n}});
      } else if (op < 5) {
        std::vector<std::pair<item, durable::push_options>> many;
        std::string line = "M";
        for (auto k = 1 + rng() % 8; k > 0; --k) {
          const auto n = next++;
          many.push_back({{n, "batch"}, {.key = durable::job_key{n}}});
          line += ' ' + std::to_string(n);
        }
        say(fd, line);
        q.push_many(many);
      } else {
        say(fd, "C");
        auto c = q.claim(1min);
        say(fd, "done");
        if (!c) continue;
        const auto fate = rng() % 4;
        if (fate == 3) continue;  // left claimed; the next child releases it
        const auto n = std::to_string(key_of(*c));
        if (fate == 0) {
          say(fd, "A " + n);
          q.ack(*c);
        } else if (fate == 1) {
          say(fd, "N " + n);
          q.nack(*c, 0ms, failed);
        } else {
          say(fd, "D " + n);
          dead.move_from(q, *c, failed);
        }
      }
      say(fd, "done");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "power loss child: %s\n", e.what());
  }
  _exit(3);
}

/// Where each job is: 'q' in the queue, 'd' in the dead-letter queue; absent: gone.
using state = std::map<std::int64_t, char>;

struct operation {
  char kind = 0;
  std::vector<std::int64_t> keys;
  bool done = false;
};

void apply(state& s, const operation& op) {
  switch (op.kind) {
    case 'P':
    case 'M':
      for (const auto n : op.keys) s[n] = 'q';
      break;
    case 'A': s.erase(op.keys.at(0)); break;
    case 'D': s[op.keys.at(0)] = 'd'; break;
    default: break;  // claims and nacks move nothing
  }
}

/// Parses the child's lines into operations.
struct reader {
  std::vector<operation> ops;
  std::string partial;
  std::int64_t done = 0;

  std::int64_t read_from(int fd) {
    const auto before = done;
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
    return done - before;
  }

 private:
  void parse(const std::string& line) {
    if (line == "done") {
      REQUIRE_FALSE(ops.empty());
      ops.back().done = true;
      ++done;
      return;
    }
    std::istringstream in{line};
    operation op;
    in >> op.kind;
    for (std::int64_t n = 0; in >> n;) op.keys.push_back(n);
    ops.push_back(std::move(op));
  }
};

/// The jobs and dead letters in the file; REQUIREs that no key is stored twice.
state stored(const std::string& path) {
  durable_test::raw_db db{path};
  const auto check = db.integrity();
  CHECK_MESSAGE(check == "ok\n", check);
  state s;
  std::int64_t twice = 0;
  const auto add = [&](const std::string& rows, char where) {
    std::istringstream in{rows};
    for (std::int64_t n = 0; in >> n;) twice += s.emplace(n, where).second ? 0 : 1;
  };
  add(db.rows("SELECT key FROM durable_jobs WHERE queue_id = (SELECT id FROM durable_queues WHERE "
              "name = 'jobs')"),
      'q');
  add(db.rows("SELECT key FROM durable_dead_letters WHERE dlq_id = (SELECT id FROM "
              "durable_dead_letter_queues WHERE name = 'dead')"),
      'd');
  CHECK(twice == 0);
  return s;
}

void power_cuts(durable::durability_mode mode) {
  const bool full = mode == durable::durability_mode::full;
  temp_dir dir;
  const auto path = dir.file("power.db");
  {
    durable::queue_options o;
    o.log = nullptr;
    durable::Queue<item> create{path, "jobs", o};
  }
  int cuts = 60;
  if (const char* env = std::getenv("DURABLE_POWER_CUTS")) cuts = std::atoi(env);
  std::mt19937_64 rng{full ? 20261201U : 20261202U};
  state expected;
  std::int64_t in_sync = 0;
  std::int64_t operations = 0;
  std::int64_t lost_ops = 0;
  std::int64_t worst_loss = 0;
  for (int cut = 0; cut < cuts; ++cut) {
    std::array<int, 2> fds{};
    REQUIRE(pipe(fds.data()) == 0);
    REQUIRE(fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0);
    // Power fails inside a random sync (syncs are rare with `normal`: checkpoints only),
    // or, half the time, when the parent kills the child.
    const std::int64_t cut_at_sync =
        rng() % 2 == 0 ? -1 : 1 + static_cast<std::int64_t>(rng() % (full ? 300 : 3));
    const auto seed = rng();
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      close(fds[0]);
      work(path, mode, seed, cut_at_sync, cut + 1, fds[1]);
    }
    close(fds[1]);
    reader seen;
    const auto goal = 1 + static_cast<std::int64_t>(rng() % 400);
    auto last_progress = std::chrono::steady_clock::now();
    int status = 0;
    bool exited = false;
    while (!exited && seen.done < goal) {
      pollfd ready{fds[0], POLLIN, 0};
      (void)poll(&ready, 1, 100);
      if (seen.read_from(fds[0]) > 0) last_progress = std::chrono::steady_clock::now();
      exited = waitpid(child, &status, WNOHANG) == child;
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() - last_progress < no_progress_limit,
                      "no operation reported for " << no_progress_limit.count() << " s");
    }
    if (!exited) {
      kill(child, SIGKILL);
      REQUIRE(waitpid(child, &status, 0) == child);
    }
    const bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    const bool cut_in_sync =
        WIFEXITED(status) && WEXITSTATUS(status) == durable_test::power_cut_exit;
    REQUIRE_MESSAGE((killed || cut_in_sync),
                    "the child ended on its own with status " << status << " (see its stderr)");
    in_sync += cut_in_sync ? 1 : 0;
    seen.read_from(fds[0]);
    close(fds[0]);
    std::filesystem::remove(path + "-shm");  // shared memory does not survive a power cut

    // Which prefixes of the operations leave exactly what survived? Walk the operations,
    // counting the keys whose place differs from the survivors'.
    const auto survived = stored(path);
    const auto completed = seen.done;  // operations 0..completed-1 returned
    const auto place = [](const state& s, std::int64_t n) {
      const auto it = s.find(n);
      return it == s.end() ? '-' : it->second;
    };
    state now = expected;
    std::int64_t differ = 0;
    for (const auto& [n, where] : now) differ += place(survived, n) != where ? 1 : 0;
    for (const auto& [n, where] : survived) differ += now.contains(n) ? 0 : 1;
    std::optional<std::int64_t> match;
    if (differ == 0) match = 0;
    for (std::size_t k = 0; k < seen.ops.size(); ++k) {
      for (const auto n : seen.ops[k].keys) {
        differ -= place(now, n) != place(survived, n) ? 1 : 0;
        apply(now, {seen.ops[k].kind, {n}, false});
        differ += place(now, n) != place(survived, n) ? 1 : 0;
      }
      if (differ == 0) match = static_cast<std::int64_t>(k) + 1;
    }
    INFO("cut " << cut << ": " << completed << " operations done, " << seen.ops.size()
                << " started, " << survived.size() << " jobs and dead letters stored");
    REQUIRE_MESSAGE(match, "what survived is not what any prefix of the operations leaves");
    if (full) CHECK(*match >= completed);  // every committed operation survived
    const auto lost = std::max<std::int64_t>(0, completed - *match);
    lost_ops += lost;
    worst_loss = std::max(worst_loss, lost);
    operations += completed;
    expected = survived;
  }
  MESSAGE(cuts << " power cuts (" << in_sync << " inside a sync), " << operations
               << " operations reported done, " << lost_ops
               << " of them rolled back by a cut (at most " << worst_loss << " at once)");
  if (full) CHECK(lost_ops == 0);

  // What survived is usable: every stored job can be claimed.
  durable::queue_options o;
  o.log = nullptr;
  o.release_dead_claims = true;
  durable::Queue<item> q{path, "jobs", o};
  std::int64_t claimed = 0;
  while (auto c = q.claim(1min)) {
    REQUIRE(c->job);
    q.ack(*c);
    ++claimed;
  }
  std::int64_t queued = 0;
  for (const auto& [n, where] : expected) queued += where == 'q' ? 1 : 0;
  CHECK(claimed == queued);
}

}  // namespace

TEST_CASE("power loss with durability full: not one committed job lost, the file intact") {
  power_cuts(durable::durability_mode::full);
}

TEST_CASE("power loss with durability normal: only the last commits may go, the file intact") {
  power_cuts(durable::durability_mode::normal);
}
