// SPDX-License-Identifier: MIT
// I/O faults under every operation. A fault-injecting VFS (fault_vfs.hpp) fails the N-th
// read, write, sync or lock call, once or from then on, for N = 1, 2, ... until the
// operation completes without reaching the N-th call. Each time the operation must end in
// a durable exception or succeed (never crash or terminate); the file must pass
// integrity_check, both as the process sees it and as a crash at that instant would leave
// it (crash_copy); and its contents must be the state before the operation or after it,
// never something in between. For moves and redrives across two files, the one allowed
// intermediate state is the documented one: written to the second file, not yet removed
// from (or marked in) the first. After the fault is gone the same objects work again.
// Also: a full disk and a file size limit give clear errors naming the file.

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <durable/dead_letter_queue.hpp>
#include <durable/detail/sqlite/backend.hpp>
#include <durable/detail/sqlite/schema.hpp>
#include <durable/queue.hpp>

#include "db_state.hpp"
#include "fault_vfs.hpp"
#include "quiet_options.hpp"
#include "support.hpp"
#include "vfs_shim.hpp"

using namespace std::chrono_literals;
using durable_test::fault_mode;
using durable_test::io_call;
using durable_test::raw_db;
using durable_test::temp_dir;

namespace {

struct job {
  std::int64_t n = 0;
  std::string body;
};

using queue = durable::Queue<job>;
using dlq = durable::DeadLetterQueue<job>;

/// The databases and objects one scenario works on: "main" and "other" files.
struct world {
  temp_dir dir;
  durable::manual_clock clock;
  durable::open_options open{};
  std::string main = dir.file("main.db");
  std::string other = dir.file("other.db");
  std::optional<queue> q;
  std::optional<queue> far_q;  // a queue in "other"
  std::optional<dlq> dead;     // a DLQ in "main"
  std::optional<dlq> far;      // a DLQ in "other"
  std::optional<durable::claimed_job<job>> claimed;
  std::optional<durable::dead_letter_id> entry;
  std::vector<std::pair<durable::job_id, std::int64_t>> held;  // what claims returned

  durable::queue_options queue_options() {
    auto o = durable_test::quiet_queue(&clock);
    o.open = open;
    return o;
  }
  durable::dead_letter_options dlq_options() {
    auto o = durable_test::quiet_dlq(&clock);
    o.open = open;
    return o;
  }
  queue& main_queue() { return q ? *q : q.emplace(main, "jobs", queue_options()); }
};

/// One operation under test: its setup (run without faults) and the call itself.
struct scenario {
  std::string name;
  std::function<void(world&)> setup;
  std::function<void(world&)> run;
  bool across = false;  // writes two files in two transactions (other first, then main)
};

/// Checks that a claim that returned holds its jobs in the file: their tokens are stored.
void check_held(world& w) {
  raw_db db{w.main};
  for (const auto& [id, token] : w.held) {
    CHECK(db.rows("SELECT lease_token FROM durable_jobs WHERE id = " + std::to_string(id)) ==
          std::to_string(token) + "\n");
  }
}

const job big{0, std::string(3000, 'x')};  // spans pages, so operations touch several

void push_some(world& w, int n) {
  auto& q = w.main_queue();
  for (int i = 1; i <= n; ++i) q.push({i, big.body});
}

void claim_one(world& w) {
  push_some(w, 3);
  w.claimed = w.q->claim(1min);
  REQUIRE(w.claimed);
}

std::vector<scenario> scenarios() {
  const durable::failure failed{"test.failed", "it failed", "context"};
  return {
      {"push", [](world& w) { push_some(w, 2); },
       [](world& w) {
         w.q->push({9, big.body});
       }},
      {"push_many", [](world& w) { push_some(w, 1); },
       [](world& w) {
         std::vector<job> many(40, big);
         w.q->push_many(many);
       }},
      {"claim", [](world& w) { push_some(w, 3); },
       [](world& w) {
         if (auto c = w.q->claim(1min)) w.held.emplace_back(c->id, c->token);
       }},
      {"claim_batch", [](world& w) { push_some(w, 3); },
       [](world& w) {
         for (const auto& c : w.q->claim_batch(3, 1min)) w.held.emplace_back(c.id, c.token);
       }},
      {"claim after a lease expired",
       [](world& w) {
         claim_one(w);
         w.clock.advance(2min);
       },
       [](world& w) { (void)w.q->claim(1min); }},
      {"ack", claim_one, [](world& w) { w.q->ack(*w.claimed); }},
      {"nack", claim_one, [failed](world& w) { w.q->nack(*w.claimed, 1s, failed); }},
      {"extend_lease", claim_one, [](world& w) { (void)w.q->extend_lease(*w.claimed, 1h); }},
      {"dead-letter move, same file",
       [](world& w) {
         claim_one(w);
         w.dead.emplace(w.main, "dead", w.dlq_options());
       },
       [failed](world& w) { w.dead->move_from(*w.q, *w.claimed, failed); }},
      {"dead-letter move, another file",
       [](world& w) {
         claim_one(w);
         w.far.emplace(w.other, "far", w.dlq_options());
       },
       [failed](world& w) { w.far->move_from(*w.q, *w.claimed, failed); }, true},
      {"redrive, same file",
       [failed](world& w) {
         w.main_queue();
         w.dead.emplace(w.main, "dead", w.dlq_options());
         w.entry = w.dead->add(big, failed, 1, {.queue = "jobs"});
       },
       [](world& w) { w.dead->redrive(*w.entry); }},
      {"redrive, into another file",
       [failed](world& w) {
         w.far_q.emplace(w.other, "jobs", w.queue_options());
         w.dead.emplace(w.main, "dead", w.dlq_options());
         for (int i = 0; i < 3; ++i) w.dead->add(big, failed, 1, {.queue = "jobs"});
       },
       [](world& w) { w.dead->redrive(durable::dead_letter_filter{}, *w.far_q); }, true},
      {"retention",
       [failed](world& w) {
         w.main_queue();
         w.dead.emplace(w.main, "dead", w.dlq_options());
         for (int i = 0; i < 20; ++i) {
           w.dead->add(big, failed, 1, {.queue = "jobs"});
           w.clock.advance(10min);
         }
       },
       [](world& w) { w.dead->delete_older_than(1h); }},
      {"migration from schema version 1",
       [](world& w) {
         durable::detail::sqlite::connection c{w.main, {}};
         const std::array steps{durable::detail::sqlite::schema_v1};
         durable::detail::sqlite::migrate(c, steps);
         for (int i = 0; i < 20; ++i) {
           c.run(
               "INSERT INTO durable_jobs (queue, run_at, enqueued_at, codec, fingerprint, "
               "payload) VALUES ('jobs', ?1, ?1, 'pfr', 1, zeroblob(3000))",
               std::int64_t{i});
         }
       },
       [](world& w) { w.main_queue(); }},
  };
}

/// A snapshot of both files: as this process sees them, and as a crash would leave them.
struct views {
  std::string main, other, crash_main, crash_other;
};

std::string dump_of(const std::string& path) {
  if (!std::filesystem::exists(path)) return "(no file)";
  raw_db db{path};
  const auto check = db.integrity();
  CHECK_MESSAGE(check == "ok\n", path << ": " << check);
  return db.dump();
}

/// A dump without its sqlite_sequence table (the AUTOINCREMENT counters).
std::string without_sequence(const std::string& dump) {
  const auto at = dump.find("-- sqlite_sequence\n");
  if (at == std::string::npos) return dump;
  const auto end = dump.find("-- ", at + 3);
  return dump.substr(0, at) + (end == std::string::npos ? "" : dump.substr(end));
}

views look(world& w, const std::string& tag) {
  const auto crash_dir = w.dir.path() / ("crash-" + tag);
  views v;
  // Copy first: opening the live file below must not change what a crash would leave.
  const auto copy_main =
      std::filesystem::exists(w.main) ? durable_test::crash_copy(w.main, crash_dir) : std::string{};
  const auto copy_other = std::filesystem::exists(w.other)
                              ? durable_test::crash_copy(w.other, crash_dir)
                              : std::string{};
  v.main = dump_of(w.main);
  v.other = dump_of(w.other);
  v.crash_main = copy_main.empty() ? "(no file)" : dump_of(copy_main);
  v.crash_other = copy_other.empty() ? "(no file)" : dump_of(copy_other);
  return v;
}

/// What the faults did, over all runs.
struct tally {
  std::int64_t injected = 0;  ///< runs in which a call failed
  std::int64_t errors = 0;    ///< ... and the operation threw
  std::int64_t absorbed = 0;  ///< ... and the operation completed anyway
  /// The operation threw, yet a crash at that instant leaves it done: SQLite cannot know
  /// whether a commit whose sync failed reached the disk (README, Guarantees).
  std::int64_t done_despite_error = 0;
  std::int64_t in_between = 0;  ///< across two files: in the second, still in the first
};

/// Runs `s` under every fault of `kind` and `mode`, adding to `t`.
void run_under_faults(durable_test::fault_vfs& vfs, const scenario& s,
                      durable::durability_mode durability, io_call kind, fault_mode mode,
                      const views& before, const views& after, tally& t) {
  constexpr std::int64_t give_up = 5000;  // no operation makes this many calls of a kind
  for (std::int64_t n = 1; n < give_up; ++n) {
    world w;
    w.open.durability = durability;
    s.setup(w);
    vfs.arm(kind, n, mode);
    std::string error;
    try {
      s.run(w);
    } catch (const durable::error& e) {
      error = e.what();
    } catch (const std::exception& e) {
      vfs.disarm();
      FAIL(s.name << ": not a durable::error: " << std::string{e.what()});
    } catch (...) {
      vfs.disarm();
      FAIL(s.name << ": a non-standard exception");
    }
    const bool fired = vfs.fired();
    vfs.disarm();
    if (fired) {
      ++t.injected;
      ++(error.empty() ? t.absorbed : t.errors);
    }
    INFO(s.name << ", durability "
                << std::string{durability == durable::durability_mode::full ? "full" : "normal"}
                << ", " << to_string(kind) << " call " << n << " failing "
                << std::string{mode == fault_mode::once ? "once" : "from then on"} << ": "
                << (error.empty() ? std::string{"no error"} : error));
    if (!error.empty()) CHECK(error.rfind("durable: ", 0) == 0);
    const auto now = look(w, std::to_string(n));
    bool done_anyway = false;
    bool caught_between = false;
    for (const auto& view :
         {std::pair{now.main, now.other}, std::pair{now.crash_main, now.crash_other}}) {
      const std::string& live = view.first;    // (not a structured binding: clang 14 cannot
      const std::string& other = view.second;  // capture those in CHECK_MESSAGE's lambda)
      const bool was_before = live == before.main && other == before.other;
      const bool was_after = live == after.main && other == after.other;
      // Across two files: in the second file already, not yet out of the first.
      const bool in_between = s.across && live == before.main && other == after.other;
      CHECK_MESSAGE((was_before || was_after || in_between), "half done:\n"
                                                                 << live << "\n"
                                                                 << other);
      if (error.empty()) CHECK(was_after);
      if (!error.empty() && was_after) done_anyway = true;
      if (in_between && !was_before && !was_after) caught_between = true;
    }
    if (done_anyway) ++t.done_despite_error;
    if (caught_between) ++t.in_between;
    if (error.empty()) CHECK(now.main == after.main);
    check_held(w);  // a claim that returned holds its jobs in the file
    if (s.across && !error.empty() && now.main == before.main && now.other == after.other) {
      // The documented repair of a move caught in between: moving the job again leaves
      // one entry and no job.
      CHECK_NOTHROW(s.run(w));
      const auto repaired = look(w, std::to_string(n) + "-repaired");
      if (s.name.find("move") != std::string::npos) {
        // (sqlite_sequence, in a file that still has one, is left out of the comparison.)
        CHECK(repaired.main == after.main);
        CHECK(without_sequence(repaired.other) == without_sequence(after.other));
      }
    }
    // The fault is gone: the same objects work again.
    try {
      auto& q = w.main_queue();
      q.push({77, "probe"});
      while (auto c = q.claim(1min)) q.ack(*c);
    } catch (const durable::error& e) {
      FAIL(s.name << ": after the fault, the queue does not work: " << e.what());
    }
    if (!fired) return;
  }
  FAIL(s.name << ": still failing after " << give_up << " " << to_string(kind) << " calls");
}

/// Runs scenario `name` under every fault: with durability normal, failing writes, reads
/// and locks; with full, failing writes and syncs.
void run_scenario(const std::string& name) {
  durable_test::fault_vfs vfs;
  tally t;
  bool found = false;
  for (const auto& s : scenarios()) {
    if (s.name != name) continue;
    found = true;
    for (const auto durability :
         {durable::durability_mode::normal, durable::durability_mode::full}) {
      views before;
      views after;
      {
        world reference;
        reference.open.durability = durability;
        s.setup(reference);
        before = look(reference, "before");
        s.run(reference);
        after = look(reference, "after");
      }
      REQUIRE_MESSAGE(before.main != after.main, s.name << " changes nothing");
      // Reads and locks take the same paths in both modes; writes and syncs differ (with
      // `full`, every commit syncs the WAL; with `normal`, only checkpoints do).
      const bool full = durability == durable::durability_mode::full;
      for (const auto kind : {io_call::write, io_call::sync, io_call::read, io_call::lock}) {
        if (full ? kind == io_call::read || kind == io_call::lock : kind == io_call::sync) continue;
        for (const auto mode : {fault_mode::once, fault_mode::persistent}) {
          run_under_faults(vfs, s, durability, kind, mode, before, after, t);
        }
      }
    }
  }
  REQUIRE(found);
  MESSAGE(name << ": " << t.injected << " runs with a failed call: " << t.errors
               << " threw a durable error (" << t.done_despite_error
               << " of them done all the same after a crash), " << t.absorbed << " completed; "
               << t.in_between << " left a job in both files of a move or redrive across files");
  CHECK(t.errors > 0);
}

}  // namespace

// A failed claim write is an exception, never a job handed out that the file does not hold
// (check_held): the claim scenarios.
TEST_CASE("I/O faults during push") { run_scenario("push"); }
TEST_CASE("I/O faults during push_many") { run_scenario("push_many"); }
TEST_CASE("I/O faults during claim") { run_scenario("claim"); }
TEST_CASE("I/O faults during claim_batch") { run_scenario("claim_batch"); }
TEST_CASE("I/O faults during a claim after a lease expired") {
  run_scenario("claim after a lease expired");
}
TEST_CASE("I/O faults during ack") { run_scenario("ack"); }
TEST_CASE("I/O faults during nack") { run_scenario("nack"); }
TEST_CASE("I/O faults during extend_lease") { run_scenario("extend_lease"); }
TEST_CASE("I/O faults during a dead-letter move within one file") {
  run_scenario("dead-letter move, same file");
}
TEST_CASE("I/O faults during a dead-letter move into another file") {
  run_scenario("dead-letter move, another file");
}
TEST_CASE("I/O faults during a redrive within one file") { run_scenario("redrive, same file"); }
TEST_CASE("I/O faults during a redrive into another file") {
  run_scenario("redrive, into another file");
}
TEST_CASE("I/O faults during DLQ retention") { run_scenario("retention"); }
TEST_CASE("I/O faults during a schema migration") {
  run_scenario("migration from schema version 1");
}

TEST_CASE("an error reported for a commit that happened: a retried unique push keeps one job") {
  // With durability full, a commit whose WAL sync fails is reported as an error, yet its
  // frames may be on disk: a crash then recovers the commit (SQLite cannot know). Retrying
  // a push with a key and `unique`, in the same process or after the crash, keeps one job.
  durable_test::fault_vfs vfs;
  std::int64_t errors = 0;
  std::int64_t committed_anyway = 0;
  const durable::push_options once{.key = durable::job_key{std::string{"order-7"}}, .unique = true};
  for (const auto kind : {io_call::sync, io_call::write}) {
    for (std::int64_t n = 1; n < 1000; ++n) {
      world w;
      w.open.durability = durable::durability_mode::full;
      auto& q = w.main_queue();
      q.push({1, "other"});
      vfs.arm(kind, n, fault_mode::once);
      bool threw = false;
      try {
        q.push({7, "x"}, once);
      } catch (const durable::error&) {
        threw = true;
      }
      const bool fired = vfs.fired();
      vfs.disarm();
      if (!fired) break;
      INFO(to_string(kind) << " call " << n << " failing; push "
                           << std::string{threw ? "threw" : "returned"});
      errors += threw ? 1 : 0;
      {  // a crash now, and the push retried by the restarted program
        const auto crashed = durable_test::crash_copy(w.main, w.dir.path() / "crash");
        queue restarted{crashed, "jobs", w.queue_options()};
        const bool there = restarted.contains(*once.key);
        if (threw && there) ++committed_anyway;
        CHECK((threw || there));
        restarted.push({7, "x"}, once);
        CHECK(restarted.size() == 2);
      }
      if (threw) q.push({7, "x"}, once);  // or retried at once by the same program
      CHECK(q.size() == 2);
      const auto crashed = durable_test::crash_copy(w.main, w.dir.path() / "crash-after-retry");
      CHECK(raw_db{crashed}.rows("SELECT count(*) FROM durable_jobs WHERE key = 'order-7'") ==
            "1\n");
    }
  }
  MESSAGE(errors << " pushes threw; " << committed_anyway
                 << " of them were committed all the same after a crash");
  CHECK(committed_anyway > 0);  // the case this test is about did occur
}

TEST_CASE(
    "I/O faults under concurrent pushes merged into group commits: nothing acknowledged lost") {
  // One writer connection per file: concurrent calls share transactions. A write or sync
  // that fails ends the whole transaction, so every call in it must fail (a durable
  // error), and every call that returned must be in the file, as this process sees it and
  // as a crash would leave it.
  durable_test::fault_vfs vfs;
  constexpr std::size_t threads = 4;
  constexpr std::size_t per_thread = 25;
  std::int64_t failed_calls = 0;
  std::uint64_t calls = 0;
  std::uint64_t transactions = 0;
  for (const auto kind : {io_call::sync, io_call::write}) {
    for (std::int64_t n = 1; n <= 40; n += 3) {
      world w;
      w.open.durability = durable::durability_mode::full;
      auto& q = w.main_queue();
      q.push({0, "first"});
      const auto& writer =
          dynamic_cast<durable::detail::sqlite::sqlite_backend&>(q.db().storage()).writer();
      const auto transactions_before = writer.transactions();
      vfs.arm(kind, n, fault_mode::persistent);
      std::array<std::vector<std::string>, threads> acknowledged;
      std::array<std::string, threads> other_error;
      std::vector<std::thread> pushers;
      std::atomic<std::int64_t> failed{0};
      for (std::size_t t = 0; t < threads; ++t) {
        pushers.emplace_back([&, t] {
          for (std::size_t i = 0; i < per_thread; ++i) {
            const auto key = fmt::format("t{}-{}", t, i);
            try {
              q.push({static_cast<std::int64_t>(i), big.body}, {.key = durable::job_key{key}});
              acknowledged[t].push_back(key);
            } catch (const durable::error&) {
              ++failed;
            } catch (const std::exception& e) {
              other_error[t] = e.what();
            }
          }
        });
      }
      for (auto& p : pushers) p.join();
      vfs.disarm();
      calls += threads * per_thread;
      transactions += writer.transactions() - transactions_before;
      INFO(to_string(kind) << " calls failing from call " << n);
      for (const auto& e : other_error) CHECK_MESSAGE(e.empty(), "not a durable error: " << e);
      failed_calls += failed.load();
      const auto crashed = durable_test::crash_copy(w.main, w.dir.path() / "crash");
      for (const auto& path : {w.main, crashed}) {
        raw_db db{path};
        CHECK(db.integrity() == "ok\n");
        const auto stored = db.rows("SELECT key FROM durable_jobs");
        for (const auto& keys : acknowledged) {
          for (const auto& key : keys) {
            CHECK_MESSAGE(stored.find(key + "\n") != std::string::npos, path << ": " << key);
          }
        }
      }
      q.push({99, "after"});  // the fault is gone: the same queue works again
    }
  }
  MESSAGE(failed_calls << " pushes failed with a durable error; " << calls << " calls in "
                       << transactions << " transactions");
  CHECK(failed_calls > 0);
}

TEST_CASE(
    "a full disk is a clear error naming the file, nothing is lost, space back, work goes on") {
  durable_test::fault_vfs vfs;
  world w;
  auto& q = w.main_queue();
  q.push({0, big.body});
  vfs.limit_growth(256 * 1024);
  std::int64_t pushed = 1;
  std::string error;
  int code = 0;
  for (int i = 0; i < 10000 && error.empty(); ++i) {
    try {
      q.push({pushed, big.body});
      ++pushed;
    } catch (const durable::sqlite_error& e) {
      error = e.what();
      code = e.code();
      CHECK(e.path() == w.main);
    }
  }
  REQUIRE_FALSE(error.empty());
  CHECK(code == SQLITE_FULL);
  CHECK(error.find(w.main) != std::string::npos);
  CHECK(error.find("full") != std::string::npos);
  CHECK(error.find("free space") != std::string::npos);
  CHECK(q.size() == pushed);
  vfs.limit_growth(-1);
  const auto crashed = durable_test::crash_copy(w.main, w.dir.path() / "crash");
  CHECK(raw_db{crashed}.integrity() == "ok\n");
  CHECK(raw_db{crashed}.rows("SELECT count(*) FROM durable_jobs") == std::to_string(pushed) + "\n");
  q.push({pushed, "after"});
  std::int64_t drained = 0;
  while (auto c = q.claim(1min)) {
    q.ack(*c);
    ++drained;
  }
  CHECK(drained == pushed + 1);
}

TEST_CASE(
    "a read failing with EIO, which SQLite reports as a damaged file, says the file may be "
    "intact") {
  // SQLite's unix VFS turns a read(2) failing with EIO into SQLITE_CORRUPT ("database
  // disk image is malformed"): the message must not send the user to a backup first.
  temp_dir dir;
  const auto path = dir.db("eio.db");
  {
    queue q{path, "q"};
    for (std::int64_t i = 0; i < 50; ++i) q.push({i, big.body});
  }
  durable_test::fault_vfs vfs;
  vfs.reads_fail_like_eio();
  std::string error;
  for (std::int64_t n = 1; error.empty(); ++n) {
    vfs.arm(io_call::read, n, fault_mode::once);
    try {
      queue q{path, "q"};
      if (auto c = q.claim(1min)) q.ack(*c);
    } catch (const durable::sqlite_error& e) {
      if (e.code() == SQLITE_CORRUPT) error = e.what();
    }
    vfs.disarm();
    REQUIRE_MESSAGE(vfs.fired(), "no read failed with SQLITE_CORRUPT before the work completed");
  }
  CHECK(error.find(path) != std::string::npos);
  CHECK(error.find("system error 5") != std::string::npos);
  CHECK(error.find("may well be intact") != std::string::npos);
  CHECK(error.find("integrity_check") != std::string::npos);
  CHECK(raw_db{path}.integrity() == "ok\n");
}

TEST_CASE(
    "a file that opens only for reading although it is writable is not blamed on permissions") {
  // SQLite's unix VFS opens a database read-only when opening it for writing fails for any
  // reason, EIO included; this VFS opens the database that way, as after such a failure.
  struct read_only_vfs final : durable_test::vfs_shim {
    read_only_vfs() : vfs_shim("durable-test-read-only") { install(); }
    int open_flags(const char* /*name*/, int flags) override {
      if ((flags & SQLITE_OPEN_MAIN_DB) == 0) return flags;
      return (flags & ~(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_READONLY;
    }
  };
  temp_dir dir;
  const auto path = dir.db("ro.db");
  { queue q{path, "q"}; }
  std::string error;
  {
    read_only_vfs vfs;
    try {
      queue q{path, "q"};
    } catch (const durable::sqlite_error& e) {
      error = e.what();
      CHECK(e.code() == SQLITE_READONLY);
    }
  }
  CHECK(error.find(path) != std::string::npos);
  CHECK(error.find("permissions allow writing") != std::string::npos);
  CHECK(error.find("check the disk") != std::string::npos);
  queue q{path, "q"};  // the disk works again
  q.push({1, "after"});
  CHECK(q.size() == 1);
}

TEST_CASE("a file past the process's file size limit is a clear error naming the file") {
  temp_dir dir;
  const auto path = dir.file("limited.db");
  { queue create{path, "jobs", durable_test::quiet_queue()}; }
  std::array<int, 2> report{};
  REQUIRE(pipe(report.data()) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(report[0]);
    signal(SIGXFSZ, SIG_IGN);  // a write past the limit fails with EFBIG instead of killing
    const rlimit limit{1024 * 1024, 1024 * 1024};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(2);
    std::string line;
    try {
      queue q{path, "jobs", durable_test::quiet_queue()};
      std::int64_t pushed = 0;
      for (;; ++pushed) {
        try {
          q.push({pushed, big.body});
        } catch (const durable::sqlite_error& e) {
          line = std::to_string(pushed) + '\n' + std::to_string(e.code()) + '\n' + e.what();
          break;
        }
      }
    } catch (const std::exception& e) {
      line = std::string{"0\n0\nunexpected: "} + e.what();
    }
    (void)write(report[1], line.data(), line.size());
    _exit(0);
  }
  close(report[1]);
  std::string got;
  std::array<char, 4096> buffer{};
  for (ssize_t n = 0; (n = read(report[0], buffer.data(), buffer.size())) > 0;) {
    got.append(buffer.data(), static_cast<std::size_t>(n));
  }
  close(report[0]);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  const auto first = got.find('\n');
  const auto second = got.find('\n', first + 1);
  REQUIRE(second != std::string::npos);
  const auto pushed = std::stoll(got.substr(0, first));
  const int code = std::stoi(got.substr(first + 1, second - first - 1));
  const auto message = got.substr(second + 1);
  INFO(message);
  CHECK(pushed > 0);
  CHECK((code == SQLITE_FULL || code == SQLITE_IOERR));
  CHECK(message.find(path) != std::string::npos);
  CHECK(message.find("size limit") != std::string::npos);
  queue q{path, "jobs", durable_test::quiet_queue()};  // without the limit, all is there
  CHECK(raw_db{path}.integrity() == "ok\n");
  CHECK(q.size() == pushed);
}
