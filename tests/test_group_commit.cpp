// SPDX-License-Identifier: MIT
// The SQLite backend's group commit and counters against real files: concurrent calls of
// one process merged into one transaction, a bad row failing only its own call, a failed
// transaction failing every call in it, unique keys in arrival order; counters exact
// through every operation and across processes.
//
// A call is held inside its transaction by a SQL function the test registers on the
// writer connection (called from a trigger), so the test observes the queue of waiting
// calls instead of guessing with sleeps.

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <durable/dead_letter_queue.hpp>
#include <durable/queue.hpp>

#include "quiet_options.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using durable::DeadLetterQueue;
using durable::Queue;
using durable_test::quiet_dlq;
using durable_test::quiet_queue;
using durable_test::temp_dir;
namespace sql = durable::detail::sqlite;

namespace {

struct task {
  std::int64_t n = 0;
};

sql::sqlite_backend& backend_of(const durable::database& db) {
  return dynamic_cast<sql::sqlite_backend&>(db.storage());
}

/// A gate a write call stops at, inside its transaction, until the test opens it.
class gate {
 public:
  /// Registers durable_test_gate() on the writer and a trigger that calls it for jobs
  /// pushed with priority 99.
  explicit gate(sql::sqlite_backend& b) {
    b.write([this](sql::write_context& ctx) {
      REQUIRE(sqlite3_create_function_v2(ctx.db.handle(), "durable_test_gate", 0, SQLITE_UTF8, this,
                                         &gate::call, nullptr, nullptr, nullptr) == SQLITE_OK);
      ctx.db.exec(
          "CREATE TEMP TRIGGER durable_test_gate BEFORE INSERT ON main.durable_jobs "
          "WHEN NEW.priority = 99 BEGIN SELECT durable_test_gate(); END");
    });
  }
  void wait_entered() {
    std::unique_lock lock{mutex_};
    changed_.wait(lock, [&] { return entered_; });
  }
  void open() {
    {
      std::lock_guard lock{mutex_};
      open_ = true;
    }
    changed_.notify_all();
  }

 private:
  static void call(sqlite3_context* ctx, int /*argc*/, sqlite3_value** /*argv*/) {
    auto* self = static_cast<gate*>(sqlite3_user_data(ctx));
    std::unique_lock lock{self->mutex_};
    self->entered_ = true;
    self->changed_.notify_all();
    self->changed_.wait(lock, [&] { return self->open_; });
    sqlite3_result_null(ctx);
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  bool entered_ = false;
  bool open_ = false;
};

/// Waits (observing, not sleeping a fixed time) until `n` calls wait for the writer.
void wait_for_waiting(const sql::sqlite_backend& b, std::size_t n) {
  while (b.writer().waiting() < n) std::this_thread::sleep_for(1ms);
}

/// A push on its own thread; keeps its result or its exception.
struct pusher {
  std::optional<durable::push_result> result;
  std::exception_ptr error;
  std::thread thread;

  pusher(Queue<task>& q, task t, durable::push_options o = {})
      : thread([this, &q, t, o] {
          try {
            result = q.push(t, o);
          } catch (...) {
            error = std::current_exception();
          }
        }) {}
};

/// Starts pushes of `jobs` one after another, each queued behind a held transaction (so
/// they arrive in this order), and returns once all are waiting.
std::vector<std::unique_ptr<pusher>> queue_pushes(
    Queue<task>& q, sql::sqlite_backend& b,
    const std::vector<std::pair<task, durable::push_options>>& jobs) {
  std::vector<std::unique_ptr<pusher>> out;
  for (const auto& [t, o] : jobs) {
    out.push_back(std::make_unique<pusher>(q, t, o));
    wait_for_waiting(b, out.size());
  }
  return out;
}

std::int64_t scalar(sql::sqlite_backend& b, const std::string& query) {
  return b.read([&](sql::connection& c) {
    auto q = c.query(query);
    REQUIRE(q->step());
    return q->int64(0);
  });
}

std::int64_t stored_jobs(sql::sqlite_backend& b, const std::string& queue) {
  return scalar(b,
                "SELECT count(*) FROM durable_jobs WHERE queue_id = (SELECT id FROM "
                "durable_queues WHERE name = '" +
                    queue + "')");
}

}  // namespace

TEST_CASE("calls that arrive while a transaction runs are merged into the next one") {
  temp_dir dir;
  Queue<task> q{dir.file("g.db"), "jobs", quiet_queue()};
  auto& b = backend_of(q.db());
  gate g{b};
  pusher holder{q, {0}, {.priority = 99}};
  g.wait_entered();
  const auto before = b.writer().transactions();
  auto waiting = queue_pushes(q, b, {{{1}, {}}, {{2}, {}}, {{3}, {}}});
  g.open();
  holder.thread.join();
  std::set<durable::job_id> ids{holder.result->id};
  for (auto& p : waiting) {
    p->thread.join();
    REQUIRE_FALSE(p->error);
    REQUIRE(p->result);
    CHECK(p->result->created);
    ids.insert(p->result->id);
  }
  CHECK(b.writer().transactions() == before + 2);  // the held one, then the other three
  CHECK(ids.size() == 4);
  CHECK(q.size() == 4);
  CHECK(stored_jobs(b, "jobs") == 4);
}

TEST_CASE("a bad row fails only its own call, and unique keys are checked in arrival order") {
  temp_dir dir;
  Queue<task> q{dir.file("g.db"), "jobs", quiet_queue()};
  auto& b = backend_of(q.db());
  gate g{b};
  b.write([](sql::write_context& ctx) {
    ctx.db.exec(
        "CREATE TEMP TRIGGER durable_test_bad BEFORE INSERT ON main.durable_jobs "
        "WHEN NEW.priority = 13 BEGIN SELECT RAISE(ABORT, 'bad row for the test'); END");
  });
  pusher holder{q, {0}, {.priority = 99}};
  g.wait_entered();
  const auto before = b.writer().transactions();
  auto waiting = queue_pushes(q, b,
                              {{{1}, {.key = "k", .unique = true}},
                               {{2}, {.priority = 13}},
                               {{3}, {.key = "k", .unique = true}},
                               {{4}, {}}});
  g.open();
  holder.thread.join();
  for (auto& p : waiting) p->thread.join();
  CHECK(b.writer().transactions() == before + 2);

  REQUIRE_FALSE(waiting[0]->error);
  CHECK(waiting[0]->result->created);
  REQUIRE(waiting[1]->error);
  try {
    std::rethrow_exception(waiting[1]->error);
  } catch (const durable::sqlite_error& e) {
    CHECK(std::string{e.what()}.find("bad row for the test") != std::string::npos);
  }
  REQUIRE_FALSE(waiting[2]->error);
  CHECK_FALSE(waiting[2]->result->created);  // the key pushed first in the same transaction
  CHECK(waiting[2]->result->id == waiting[0]->result->id);
  REQUIRE_FALSE(waiting[3]->error);
  CHECK(waiting[3]->result->created);

  CHECK(q.size() == 3);  // 0, 1 and 4: the counter agrees with the rows
  CHECK(stored_jobs(b, "jobs") == 3);
  std::vector<std::int64_t> order;
  while (auto c = q.claim(30s)) {
    order.push_back(c->job->n);
    q.ack(*c);
  }
  CHECK(order == std::vector<std::int64_t>{0, 1, 4});
}

TEST_CASE("a transaction that fails to commit fails every call in it, and stores none") {
  temp_dir dir;
  Queue<task> q{dir.file("g.db"), "jobs", quiet_queue()};
  auto& b = backend_of(q.db());
  gate g{b};
  // Fails the commit after the next one: the held transaction commits, the merged one not.
  static std::atomic<int> commits_to_pass{-1};
  b.write([](sql::write_context& ctx) {
    sqlite3_commit_hook(
        ctx.db.handle(),
        [](void*) -> int {
          int left = commits_to_pass.load();
          if (left < 0) return 0;
          commits_to_pass = left - 1;
          return left == 0 ? 1 : 0;  // non-zero turns the COMMIT into a ROLLBACK
        },
        nullptr);
  });
  pusher holder{q, {0}, {.priority = 99}};
  g.wait_entered();
  auto waiting = queue_pushes(q, b, {{{1}, {}}, {{2}, {.key = "k"}}, {{3}, {}}});
  commits_to_pass = 1;
  g.open();
  holder.thread.join();
  REQUIRE_FALSE(holder.error);
  for (auto& p : waiting) {
    p->thread.join();
    REQUIRE(p->error);
    try {
      std::rethrow_exception(p->error);
    } catch (const durable::sqlite_error& e) {
      CHECK(e.code() == SQLITE_CONSTRAINT);
      CHECK(std::string{e.what()}.find("COMMIT") != std::string::npos);
    }
  }
  CHECK(q.size() == 1);
  CHECK(stored_jobs(b, "jobs") == 1);
  CHECK_FALSE(q.contains("k"));
  commits_to_pass = -1;
  CHECK(q.push({5}).created);  // the writer goes on
  CHECK(q.size() == 2);
}

TEST_CASE("an error that rolls back the whole transaction fails every call in it") {
  temp_dir dir;
  Queue<task> q{dir.file("g.db"), "jobs", quiet_queue()};
  auto& b = backend_of(q.db());
  gate g{b};
  b.write([](sql::write_context& ctx) {
    ctx.db.exec(
        "CREATE TEMP TRIGGER durable_test_rollback BEFORE INSERT ON main.durable_jobs "
        "WHEN NEW.priority = 66 BEGIN SELECT RAISE(ROLLBACK, 'whole transaction gone'); END");
  });
  pusher holder{q, {0}, {.priority = 99}};
  g.wait_entered();
  auto waiting = queue_pushes(q, b, {{{1}, {}}, {{2}, {.priority = 66}}, {{3}, {}}});
  g.open();
  holder.thread.join();
  for (auto& p : waiting) {
    p->thread.join();
    REQUIRE(p->error);
    try {
      std::rethrow_exception(p->error);
    } catch (const durable::sqlite_error& e) {
      CHECK(std::string{e.what()}.find("whole transaction gone") != std::string::npos);
    }
  }
  CHECK(q.size() == 1);
  CHECK(stored_jobs(b, "jobs") == 1);
}

TEST_CASE("threads claiming and acking through one writer each get distinct jobs") {
  temp_dir dir;
  Queue<task> q{dir.file("g.db"), "jobs", quiet_queue()};
  std::vector<task> jobs;
  for (std::int64_t i = 0; i < 400; ++i) jobs.push_back({i});
  q.push_many(jobs);
  std::mutex mutex;
  std::multiset<std::int64_t> seen;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      while (auto c = q.claim(60s)) {
        q.ack(*c);
        std::lock_guard lock{mutex};
        seen.insert(c->job->n);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(seen.size() == 400);
  CHECK(std::set<std::int64_t>(seen.begin(), seen.end()).size() == 400);
  CHECK(q.size() == 0);
  CHECK(q.empty());
}

// ---------------------------------------------------------------- counters

namespace {

/// Checks every counter against a count of the rows.
void check_counters(const std::string& path) {
  sql::connection c{path, {}};
  const auto rows = [&](const std::string& query) {
    auto q = c.query(query);
    REQUIRE(q->step());
    return q->int64(0);
  };
  CHECK(rows("SELECT count(*) FROM durable_queues AS q WHERE jobs != (SELECT count(*) FROM "
             "durable_jobs WHERE queue_id = q.id)") == 0);
  CHECK(rows("SELECT count(*) FROM durable_dead_letter_queues AS d WHERE entries != (SELECT "
             "count(*) FROM durable_dead_letters WHERE dlq_id = d.id) OR redriven != (SELECT "
             "count(redriven_at) FROM durable_dead_letters WHERE dlq_id = d.id)") == 0);
}

}  // namespace

TEST_CASE("counters stay exact through push, claim, ack, nack, move, redrive, retention, purge") {
  temp_dir dir;
  const auto path = dir.file("c.db");
  durable::manual_clock clock;
  Queue<task> q{path, "jobs", quiet_queue(&clock)};
  Queue<task> other{path, "other", quiet_queue(&clock)};
  DeadLetterQueue<task> dlq{path, "dead", quiet_dlq(&clock)};
  std::vector<task> batch;
  for (std::int64_t i = 0; i < 50; ++i) batch.push_back({i});
  q.push_many(batch);
  other.push_many(batch);
  check_counters(path);
  CHECK(q.size() == 50);

  for (int i = 0; i < 10; ++i) q.ack(*q.claim(30s));
  for (int i = 0; i < 5; ++i) q.nack(*q.claim(30s), 1h, {"t", "m", ""});
  for (int i = 0; i < 10; ++i) dlq.move_from(q, *q.claim(30s), {"boom", "m", ""});
  auto held = q.claim(30s);  // a live lease
  check_counters(path);
  CHECK(q.size() == 30);
  auto s = q.stats();
  CHECK(s.pending + s.scheduled + s.claimed == 30);
  CHECK(s.scheduled == 5);
  CHECK(s.claimed == 1);
  CHECK(dlq.size() == 10);

  const auto redriven = dlq.redrive(durable::dead_letter_filter{.error_types = {"boom"}});
  CHECK(redriven.redriven == 10);
  check_counters(path);
  CHECK(q.size() == 40);
  CHECK(dlq.size() == 0);
  CHECK(dlq.count({.include_redriven = true}) == 10);

  std::vector<durable::add_entry<task>> manual;
  for (std::int64_t i = 0; i < 20; ++i) manual.push_back({{i}, {"manual", "m", ""}, 1, {}});
  dlq.add_many(manual);
  check_counters(path);
  CHECK(dlq.size() == 20);
  CHECK(dlq.purge({.error_types = {"manual"}}) == 20);
  check_counters(path);

  clock.advance(48h);
  for (std::int64_t i = 0; i < 5; ++i) dlq.add({i}, {"late", "m", ""}, 1);
  CHECK(dlq.delete_older_than(24h) == 10);  // the redriven ones, 48 h old
  check_counters(path);
  CHECK(dlq.size() == 5);
  CHECK(dlq.count({.include_redriven = true}) == 5);
  q.ack(*held);
  check_counters(path);
}

TEST_CASE("counters stay exact when another process writes the same file") {
  temp_dir dir;
  const auto path = dir.file("c.db");
  {
    Queue<task> q{path, "jobs", quiet_queue()};
    std::vector<task> batch(100, task{1});
    q.push_many(batch);
  }
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    int status = 0;
    try {
      Queue<task> q{path, "jobs", quiet_queue()};
      DeadLetterQueue<task> dlq{path, "dead", quiet_dlq()};
      for (int i = 0; i < 30; ++i) q.ack(*q.claim(30s));
      for (int i = 0; i < 10; ++i) dlq.move_from(q, *q.claim(30s), {"x", "m", ""});
      q.push_many(std::vector<task>(7, task{2}));
    } catch (...) {
      status = 1;
    }
    _exit(status);
  }
  {
    Queue<task> q{path, "jobs", quiet_queue()};
    for (int i = 0; i < 20; ++i) {
      if (auto c = q.claim(30s)) q.ack(*c);
      q.push({3});
    }
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  check_counters(path);
  Queue<task> q{path, "jobs", quiet_queue()};
  DeadLetterQueue<task> dlq{path, "dead", quiet_dlq()};
  CHECK(q.size() == 100 - 30 - 10 + 7);  // the parent's 20 acks and 20 pushes cancel out
  CHECK(dlq.size() == 10);
}

TEST_CASE("ids are never reused after the newest job or entry is deleted") {
  temp_dir dir;
  const auto path = dir.file("i.db");
  Queue<task> q{path, "jobs", quiet_queue()};
  DeadLetterQueue<task> dlq{path, "dead", quiet_dlq()};
  const auto first = q.push({1}).id;
  q.ack(*q.claim(30s));  // the newest (and only) job
  const auto second = q.push({2}).id;
  CHECK(second > first);
  const auto entry = dlq.add({1}, {"t", "m", ""}, 1);
  CHECK(dlq.purge({}) == 1);
  // A second backend on the file (other options) has no cache: it reads the marks.
  durable::open_options other;
  other.page_cache_kib = 1024;
  durable::database fresh{path, other};
  REQUIRE_FALSE(fresh == q.db());
  Queue<task> q2{fresh, "jobs", quiet_queue()};
  DeadLetterQueue<task> dlq2{fresh, "dead", quiet_dlq()};
  q2.ack(*q2.claim(30s));  // job `second`, the newest again
  CHECK(q2.push({3}).id > second);
  CHECK(q.push({4}).id > second + 1);  // the first backend sees the other's commits
  CHECK(dlq2.add({2}, {"t", "m", ""}, 1) > entry);
}
