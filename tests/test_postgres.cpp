// SPDX-License-Identifier: MIT
// The PostgreSQL backend on a real server ($DURABLE_TEST_POSTGRES; scripts/test.sh starts
// one): schema creation and migrations, errors (unreachable server, refused credentials,
// newer schema, lock timeouts, bad text) with no password in any message, exact limits,
// unique keys and redrives under concurrent sessions, the query plans, several processes
// on one queue, an idle Worker woken by another process, and consumers killed mid-run.
// The whole conformance suite also runs on PostgreSQL ("postgres/<case>" entries); the
// server-restart test is in test_postgres_restart.cpp.

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <durable/dead_letter_queue.hpp>
#include <durable/postgres.hpp>
#include <durable/queue.hpp>
#include <durable/worker.hpp>

#include "churn_support.hpp"
#include "delivery_support.hpp"
#include "postgres_support.hpp"
#include "quiet_options.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using durable::DeadLetterQueue;
using durable::Queue;
using durable_test::quiet_dlq;
using durable_test::quiet_queue;
using durable_test::raw_connection;
using durable_test::temp_dir;
namespace pg = durable::detail::postgres;

namespace {

struct email {
  std::int64_t n = 0;
  std::string to;
};

/// A fresh schema on the test server named after `dir` and `name`.
std::string target(const temp_dir& dir, const std::string& name) {
  return durable_test::postgres_target(dir.path().filename().string() + "_" + name);
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

/// Waits for a forked child and returns its exit status (-1 if it did not exit normally).
int wait_child(pid_t child) {
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

}  // namespace

// ---------------------------------------------------------------- schema

TEST_CASE("a new schema gets durable's tables at version 6, and reopening keeps the database id") {
  temp_dir dir;
  const auto t = target(dir, "db");
  std::string id;
  {
    const auto backend = durable::make_postgres_backend(t, {});
    id = backend->database_id();
    CHECK(id.size() == 32);
    CHECK(backend->target() == t);  // no password: the target as given
  }
  raw_connection raw{t};
  CHECK(raw.value("SELECT value FROM durable_meta WHERE key = 'schema_version'") == "6");
  CHECK(raw.value("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND "
                  "tablename IN ('durable_jobs', 'durable_dead_letters', 'durable_queues', "
                  "'durable_queue_counts', 'durable_dead_letter_counts', "
                  "'durable_job_types')") == "6");
  const auto backend = durable::make_postgres_backend(t, {});
  CHECK(backend->database_id() == id);
  // Two schemas of one server are two databases.
  CHECK(durable::make_postgres_backend(target(dir, "other"), {})->database_id() != id);
}

TEST_CASE("a schema from a newer durable is refused and left unchanged") {
  temp_dir dir;
  const auto t = target(dir, "db");
  { Queue<email> q{t, "emails", quiet_queue()}; }
  raw_connection raw{t};
  raw.query("UPDATE durable_meta SET value = '99' WHERE key = 'schema_version'");
  try {
    Queue<email> q{t, "emails", quiet_queue()};
    FAIL("a newer schema must be refused");
  } catch (const durable::schema_error& e) {
    CHECK(e.found() == 99);
    CHECK(e.supported() == 6);
    CHECK(e.path() == t);
    CHECK(contains(e.what(), "upgrade durable"));
  }
  CHECK(raw.value("SELECT value FROM durable_meta WHERE key = 'schema_version'") == "99");
}

TEST_CASE("a damaged schema_version is a schema_error") {
  temp_dir dir;
  const auto t = target(dir, "db");
  { const auto b = durable::make_postgres_backend(t, {}); }
  raw_connection{t}.query("UPDATE durable_meta SET value = 'two' WHERE key = 'schema_version'");
  CHECK_THROWS_AS(static_cast<void>(durable::make_postgres_backend(t, {})), durable::schema_error);
}

TEST_CASE("migrations: a failing step changes nothing, a later step keeps the rows") {
  temp_dir dir;
  const auto t = target(dir, "db");
  const std::array failing{pg::schema_v2, pg::schema_v3, pg::schema_v4,
                           pg::schema_v5, pg::schema_v6, pg::migration{7, "SELECT 1 / 0"}};
  {
    pg::connection c{t, t, {}};
    CHECK_THROWS_AS(pg::migrate(c, failing), durable::postgres_error);
    CHECK(pg::stored_schema_version(c) == 0);  // versions 2 to 6 rolled back with it
  }
  {
    Queue<email> q{t, "emails", quiet_queue()};
    q.push({1, "kept"});
  }
  const std::array next{
      pg::schema_v2, pg::schema_v3,
      pg::schema_v4, pg::schema_v5,
      pg::schema_v6, pg::migration{7, "ALTER TABLE durable_jobs ADD COLUMN extra INTEGER"}};
  {
    pg::connection c{t, t, {}};
    pg::migrate(c, next);
    CHECK(pg::stored_schema_version(c) == 7);
  }
  raw_connection raw{t};
  CHECK(raw.value("SELECT count(*) FROM durable_jobs") == "1");
  // This build supports version 6 only: the migrated schema is now newer.
  CHECK_THROWS_AS(Queue<email>(t, "emails", quiet_queue()), durable::schema_error);
}

TEST_CASE("migrating version 2 to 6 counts the rows already stored") {
  temp_dir dir;
  const auto t = target(dir, "db");
  {
    pg::connection c{t, t, {}};
    pg::migrate(c, std::array{pg::schema_v2});
  }
  raw_connection raw{t};
  raw.query(
      "INSERT INTO durable_jobs (queue, run_at, enqueued_at, codec, fingerprint, payload) "
      "SELECT 'q' || (i % 2), i, i, 'pfr', 1, '\\x00' FROM generate_series(1, 7) AS i; "
      "INSERT INTO durable_dead_letters (dlq, queue, codec, fingerprint, payload, error_type, "
      "message, attempts, enqueued_at, failed_at, redriven_at) SELECT 'd', 'q', 'pfr', 1, "
      "'\\x00', 't', 'm', 1, 0, i, CASE WHEN i <= 2 THEN i END FROM generate_series(1, 5) AS i");
  const auto backend = durable::make_postgres_backend(t, {});
  CHECK(raw.value("SELECT value FROM durable_meta WHERE key = 'schema_version'") == "6");
  CHECK(backend->size("q0") == 3);
  CHECK(backend->size("q1") == 4);
  CHECK(backend->size("other") == 0);
  durable::storage::dead_letter_where all{.dlq = "d", .from_ms = pg::min_ms, .to_ms = pg::max_ms};
  CHECK(backend->count_dead_letters(all) == 3);
  all.include_redriven = true;
  CHECK(backend->count_dead_letters(all) == 5);
}

TEST_CASE("version 4's views show jobs, queues, dead letters and job types as SQLite's do") {
  temp_dir dir;
  const auto t = target(dir, "db");
  {
    durable::manual_clock clock{durable::time_point{std::chrono::milliseconds{1'772'438'400'000}}};
    Queue<email> q{t, "emails", quiet_queue(&clock)};
    durable::DeadLetterQueue<email> dlq{q.db(), "emails.dead", quiet_dlq(&clock)};
    q.push({1, "a"});
    q.push({2, "b"}, {.delay = 1h});
    dlq.add({3, "c"}, {"timeout", "slow", "", durable::redrive_policy::safe}, 1);
    REQUIRE(q.db().storage().set_paused("emails", true));
  }
  raw_connection raw{t};
  CHECK(
      raw.query("SELECT id, queue, run_at, fingerprint FROM durable_view_jobs ORDER BY id") ==
      std::vector<std::vector<std::string>>{
          {"1", "emails", "2026-03-02T08:00:00.000Z",
           raw.value("SELECT lpad(to_hex(fingerprint), 16, '0') FROM durable_jobs WHERE id = 1")},
          {"2", "emails", "2026-03-02T09:00:00.000Z",
           raw.value("SELECT lpad(to_hex(fingerprint), 16, '0') FROM durable_jobs WHERE id = 2")}});
  // The fixture's clock is in the past: both jobs are pending now.
  CHECK(raw.query("SELECT queue, paused, jobs, pending, scheduled, claimed FROM "
                  "durable_view_queues") ==
        std::vector<std::vector<std::string>>{{"emails", "t", "2", "2", "0", "0"}});
  CHECK(raw.query("SELECT dlq, entries, redriven FROM durable_view_dead_letter_queues") ==
        std::vector<std::vector<std::string>>{{"emails.dead", "1", "0"}});
  CHECK(raw.query("SELECT dlq, error_type, failed_at, redriven_at IS NULL FROM "
                  "durable_view_dead_letters") ==
        std::vector<std::vector<std::string>>{
            {"emails.dead", "timeout", "2026-03-02T08:00:00.000Z", "t"}});
  CHECK(raw.value("SELECT count(*) FROM durable_view_job_types WHERE codec = 'pfr' AND "
                  "description LIKE 'pfr/%' AND length(fingerprint) = 16") == "1");
}

TEST_CASE("a read-only open creates, migrates and writes nothing, and refuses an older version") {
  temp_dir dir;
  durable::open_options read_only;
  read_only.read_only = true;
  // A schema without durable's tables: refused, and still empty.
  const auto empty = target(dir, "empty");
  try {
    static_cast<void>(durable::make_postgres_backend(empty, read_only));
    FAIL("a schema without durable's tables must be refused");
  } catch (const durable::schema_error& e) {
    CHECK(e.found() == 0);
    CHECK(contains(e.what(), "has no durable tables"));
  }
  CHECK(raw_connection{empty}.value("SELECT count(*) FROM pg_tables WHERE schemaname = "
                                    "current_schema()") == "0");
  // An older schema (version 3) is refused as it is: reads select version 5's columns.
  const auto t = target(dir, "db");
  {
    pg::connection c{t, t, {}};
    pg::migrate(c, std::array{pg::schema_v2, pg::schema_v3});
  }
  raw_connection raw{t};
  raw.query(
      "INSERT INTO durable_jobs (queue, run_at, enqueued_at, codec, fingerprint, payload) "
      "VALUES ('q', 1, 1, 'pfr', 1, '\\x00'); "
      "INSERT INTO durable_queue_counts (queue, slot, jobs) VALUES ('q', 0, 1)");
  try {
    static_cast<void>(durable::make_postgres_backend(t, read_only));
    FAIL("a version 3 schema must be refused by a read-only open");
  } catch (const durable::schema_error& e) {
    CHECK(e.found() == 3);
    CHECK(contains(e.what(), "does not migrate"));
  }
  CHECK(raw.value("SELECT value FROM durable_meta WHERE key = 'schema_version'") == "3");
  static_cast<void>(durable::make_postgres_backend(t, {}));  // a read-write open migrates
  const auto backend = durable::make_postgres_backend(t, read_only);
  CHECK(backend->job_types().empty());
  const auto queues = backend->list_queues(2);
  REQUIRE(queues.size() == 1);
  CHECK(queues.front().counts.pending == 1);
  backend->register_queue("new");  // records nothing
  backend->record_job_type("pfr", 1, "pfr/1:{}", 0);
  CHECK(backend->list_queues(2).size() == 1);
  // Every write is refused by the server, and nothing changes.
  CHECK_THROWS_AS(static_cast<void>(backend->set_paused("q", true)), durable::postgres_error);
  CHECK_THROWS_AS(static_cast<void>(backend->cancel_job(1, 2, true)), durable::postgres_error);
  CHECK(raw.value("SELECT count(*) FROM durable_jobs") == "1");
  CHECK(raw.value("SELECT count(*) FROM durable_queues WHERE paused") == "0");
}

TEST_CASE("concurrent first opens of one schema all succeed and agree on its id") {
  temp_dir dir;
  const auto t = target(dir, "db");
  constexpr int openers = 8;
  std::vector<std::future<std::string>> ids;
  std::atomic<int> ready{0};
  for (int i = 0; i < openers; ++i) {
    ids.push_back(std::async(std::launch::async, [&] {
      ++ready;
      while (ready < openers) std::this_thread::yield();
      return durable::make_postgres_backend(t, {})->database_id();
    }));
  }
  std::set<std::string> distinct;
  for (auto& id : ids) distinct.insert(id.get());
  CHECK(distinct.size() == 1);
}

TEST_CASE("a search_path naming no schema is a schema_error that says so") {
  const auto t =
      durable_test::with_search_path(durable_test::postgres_server(), "no_such_schema_for_durable");
  try {
    const auto b = durable::make_postgres_backend(t, {});
    FAIL("must refuse");
  } catch (const durable::schema_error& e) {
    CHECK(contains(e.what(), "no existing schema"));
  }
}

// ---------------------------------------------------------------- errors and passwords

TEST_CASE("passwords are redacted from targets in every form") {
  CHECK(pg::redact("host=db password=hunter2 user=app") == "host=db password=*** user=app");
  CHECK(pg::redact("host=db password = 'hu nter\\' 2' dbname=x") ==
        "host=db password = *** dbname=x");
  CHECK(pg::redact("postgresql://app:hunter2@db:5432/jobs") == "postgresql://app:***@db:5432/jobs");
  CHECK(pg::redact("postgres://app:p%40ss@db/jobs?sslmode=require&password=hunter2") ==
        "postgres://app:***@db/jobs?sslmode=require&password=***");
  CHECK(pg::redact("postgresql://app@db/jobs") == "postgresql://app@db/jobs");
  CHECK(pg::redact("host=/tmp/x dbname=postgres") == "host=/tmp/x dbname=postgres");
}

TEST_CASE("an unreachable server is a connection_error naming the target, not the password") {
  for (const std::string t : {"host=/nonexistent/durable-socket-dir user=app password=hunter2",
                              "postgresql://app:hunter2@/jobs?host=/nonexistent/durable"}) {
    try {
      Queue<email> q{t, "emails", quiet_queue()};
      FAIL("must fail");
    } catch (const durable::connection_error& e) {
      CHECK(contains(e.what(), "durable: postgres: "));
      CHECK(contains(e.what(), "/nonexistent/durable"));
      CHECK_FALSE(contains(e.what(), "hunter2"));
      CHECK_FALSE(contains(e.target(), "hunter2"));
      CHECK_FALSE(e.during_commit());
    }
  }
}

TEST_CASE("refused credentials and a missing database are connection_errors without the password") {
  const auto server = durable_test::postgres_server();
  for (const auto& t : {server + " user=no_such_role_durable password=hunter2",
                        server + " dbname=no_such_database_durable password=hunter2"}) {
    try {
      const auto b = durable::make_postgres_backend(t, {});
      FAIL("must fail");
    } catch (const durable::connection_error& e) {
      CHECK((contains(e.what(), "no_such_role_durable") ||
             contains(e.what(), "no_such_database_durable")));
      CHECK_FALSE(contains(e.what(), "hunter2"));
    }
  }
}

TEST_CASE(
    "a connection string libpq cannot parse is an invalid_argument_error without the password") {
  for (const std::string t : {"host=/tmp password=hun ter2", "dbname=x nonsense_option=1"}) {
    try {
      const auto b = durable::make_postgres_backend(t, {});
      FAIL("must fail");
    } catch (const durable::invalid_argument_error& e) {
      CHECK(e.argument() == "target");
      CHECK_FALSE(contains(e.what(), "hun"));
      CHECK_FALSE(contains(e.what(), "ter2"));
    }
  }
}

TEST_CASE("a lock held past the busy timeout is a postgres_error 55P03, and nothing is pushed") {
  temp_dir dir;
  const auto t = target(dir, "db");
  auto options = quiet_queue();
  options.hard_limit = 10;
  options.open.busy_timeout = 200ms;
  Queue<email> q{t, "emails", options};
  raw_connection holder{t};
  holder.query("BEGIN; SELECT * FROM durable_queues WHERE name = 'emails' FOR UPDATE");
  try {
    q.push({1, ""});
    FAIL("must time out");
  } catch (const durable::postgres_error& e) {
    CHECK(e.sqlstate() == "55P03");
    CHECK(contains(e.what(), "busy_timeout"));
  }
  holder.query("ROLLBACK");
  CHECK(q.size() == 0);
  q.push({2, ""});  // the connection that failed is usable again
  CHECK(q.size() == 1);
}

TEST_CASE("text that PostgreSQL cannot store: keys are refused, error texts are repaired") {
  temp_dir dir;
  const auto t = target(dir, "db");
  Queue<email> q{t, "emails", quiet_queue()};
  for (const auto& bad : {std::string("nul\0key", 7), std::string("\xff\xfe")}) {
    try {
      q.push({1, ""}, {.key = durable::job_key{bad}});
      FAIL("must refuse");
    } catch (const durable::invalid_argument_error& e) {
      CHECK(e.argument() == "key");
    }
  }
  CHECK(q.size() == 0);
  q.push({1, ""}, {.key = durable::job_key{std::string{"caf\xc3\xa9"}}});  // valid UTF-8
  auto c = q.claim(30s);
  REQUIRE(c);
  q.nack(*c, 0ms, {"type\xff", std::string("a\0b", 3), ""});
  const auto h = q.history(c->id);
  REQUIRE(h.size() == 1);
  CHECK(h[0].error_type == "type\xEF\xBF\xBD");
  CHECK(h[0].message ==
        "a\xEF\xBF\xBD"
        "b");
}

TEST_CASE(
    "a text key longer than the PostgreSQL indexes hold is refused, so every job can be "
    "dead-lettered") {
  temp_dir dir;
  const auto t = target(dir, "db");
  Queue<email> q{t, "emails", quiet_queue()};
  // Incompressible text: a key of 2,670 such bytes fit the queue's key index but not the
  // DLQ's, so its job was pushed and then failed every move to the DLQ (SQLSTATE 54000).
  std::string longest;
  std::uint32_t x = 7;
  for (std::size_t i = 0; i < pg::max_text_key_bytes; ++i) {
    x = x * 1103515245U + 12345U;
    longest += static_cast<char>('a' + (x >> 16) % 26);
  }
  for (const auto& key : {longest + "x", longest + std::string(700, 'y')}) {
    try {
      q.push({1, ""}, {.key = durable::job_key{key}});
      FAIL("must refuse");
    } catch (const durable::invalid_argument_error& e) {
      CHECK(e.argument() == "key");
      CHECK(contains(e.what(), "at most 2048 bytes"));
    }
  }
  CHECK(q.size() == 0);
  // The longest key accepted goes to the DLQ with the longest DLQ name.
  const std::string long_dlq(128, 'd');
  DeadLetterQueue<email> far{t, long_dlq, quiet_dlq()};
  q.push({1, ""}, {.key = durable::job_key{longest}});
  auto c = q.claim(30s);
  REQUIRE(c);
  far.move_from(q, *c, {"failed", "m", ""});
  CHECK(q.size() == 0);
  CHECK(far.count({.keys = {durable::job_key{longest}}}) == 1);
}

TEST_CASE(
    "an error type longer than the PostgreSQL indexes hold is cut, so the job is dead-lettered") {
  temp_dir dir;
  const auto t = target(dir, "db");
  Queue<email> q{t, "emails", quiet_queue()};
  DeadLetterQueue<email> dlq{t, std::string(128, 'd'), quiet_dlq()};
  // Before: SQLSTATE 54000 at every move, and a Worker ran the job again at each lease end.
  std::string type;
  std::uint32_t x = 11;
  for (std::size_t i = 0; i + 1 < pg::max_error_type_bytes; ++i) {
    x = x * 1103515245U + 12345U;
    type += static_cast<char>('a' + (x >> 16) % 26);
  }
  type += "\xc3\xa9";  // a character across the limit: cut before it
  type += std::string(1000, 'z');
  q.push({1, ""});
  auto c = q.claim(30s);
  REQUIRE(c);
  const auto id = dlq.move_from(q, *c, {type, "m", ""});
  const auto entry = dlq.summary(id);
  REQUIRE(entry);
  CHECK(entry->error_type == type.substr(0, pg::max_error_type_bytes - 1));
  // An entry added by hand (also how a move across two databases stores it).
  const auto added = dlq.add({2, ""}, {type, "m", ""}, 1);
  CHECK(dlq.summary(added)->error_type == entry->error_type);
  CHECK(q.size() == 0);
}

// ---------------------------------------------------------------- concurrent sessions

TEST_CASE("threads get a connection each, reused across calls and closed with the queue") {
  temp_dir dir;
  const auto app = "durable_pool_" + std::to_string(getpid());
  const auto t = target(dir, "db") + " application_name=" + app;
  raw_connection raw{durable_test::postgres_server()};
  const auto sessions = [&] {
    return std::stoi(
        raw.value("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" + app + "'"));
  };
  {
    Queue<email> q{t, "emails", quiet_queue()};
    std::vector<email> jobs(400);
    q.push_many(jobs);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&] {
        while (auto c = q.claim(1min)) q.ack(*c);
      });
    }
    for (auto& th : threads) th.join();
    CHECK(q.empty());
    const auto open = sessions();
    CHECK(open >= 1);
    CHECK(open <= 4);  // one per thread at most, however many calls
  }
  // Closed sessions leave pg_stat_activity once the server has seen them go.
  const auto deadline = std::chrono::steady_clock::now() + 2min;
  while (sessions() != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(sessions() == 0);
}

TEST_CASE("the hard limit is exact under 8 concurrent pushers") {
  temp_dir dir;
  const auto t = target(dir, "db");
  auto options = quiet_queue();
  options.hard_limit = 50;
  Queue<email> q{t, "limited", options};
  std::atomic<int> stored{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      Queue<email> mine{durable::database{durable::make_postgres_backend(t, {})}, "limited",
                        quiet_queue()};
      for (int k = 0; k < 20; ++k) {
        try {
          mine.push({k, ""});
          ++stored;
        } catch (const durable::queue_full_error&) {
          ++refused;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(stored == 50);
  CHECK(refused == 110);
  CHECK(q.size() == 50);
}

TEST_CASE("a unique key is stored once under 8 concurrent pushers") {
  temp_dir dir;
  const auto t = target(dir, "db");
  Queue<email> q{t, "emails", quiet_queue()};
  std::atomic<int> created{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      Queue<email> mine{durable::database{durable::make_postgres_backend(t, {})}, "emails",
                        quiet_queue()};
      for (std::int64_t k = 0; k < 25; ++k) {
        const durable::job_key key =
            k % 2 == 0 ? durable::job_key{k} : durable::job_key{"k" + std::to_string(k)};
        if (mine.push({i, ""}, {.key = key, .unique = true}).created) ++created;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(created == 25);
  CHECK(q.size() == 25);
}

TEST_CASE("concurrent redrives of the same entries push each job once") {
  temp_dir dir;
  const auto t = target(dir, "db");
  Queue<email> q{t, "emails", quiet_queue()};
  DeadLetterQueue<email> dlq{t, "emails.dlq", quiet_dlq()};
  for (std::int64_t i = 0; i < 300; ++i) {
    dlq.add({i, ""}, {"test.error", "failed", "", durable::redrive_policy::safe}, 1,
            {.queue = "emails"});
  }
  std::atomic<std::int64_t> redriven{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      DeadLetterQueue<email> mine{durable::database{durable::make_postgres_backend(t, {})},
                                  "emails.dlq", quiet_dlq()};
      redriven += mine.redrive(durable::dead_letter_filter{}).redriven;
    });
  }
  for (auto& th : threads) th.join();
  CHECK(redriven == 300);
  CHECK(q.size() == 300);
  CHECK(dlq.count({}) == 0);
}

TEST_CASE(
    "the counters match the rows after pushes, acks, moves, deletes and redrives of 4 sessions") {
  temp_dir dir;
  const auto t = target(dir, "db");
  Queue<email> q{t, "emails", quiet_queue()};
  DeadLetterQueue<email> dlq{t, "emails.dlq", quiet_dlq()};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      durable::database db{durable::make_postgres_backend(t, {})};  // a session of its own
      Queue<email> mine{db, "emails", quiet_queue()};
      DeadLetterQueue<email> my_dlq{db, "emails.dlq", quiet_dlq()};
      for (int k = 0; k < 60; ++k) {
        mine.push({k, ""});
        if (k % 10 == 0) {
          std::vector<email> batch(7, email{k, "batch"});
          mine.push_many(batch);
        }
        auto c = mine.claim(1min);
        if (!c) continue;
        if (k % 3 == 0) {
          my_dlq.move_from(mine, *c, {"test.error", "failed", "", durable::redrive_policy::safe});
        } else {
          mine.ack(*c);
        }
        if (k % 20 == 19) my_dlq.redrive(durable::dead_letter_filter{});
        if (k % 25 == 24) my_dlq.delete_older_than(0ms);
        if (k % 15 == 14) {
          std::vector<durable::add_entry<email>> added(3);
          for (auto& a : added) a.error = {"test.added", "m", "", durable::redrive_policy::safe};
          my_dlq.add_many(added);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  raw_connection raw{t};
  const auto rows = std::stoll(raw.value("SELECT count(*) FROM durable_jobs"));
  const auto entries = std::stoll(raw.value("SELECT count(*) FROM durable_dead_letters"));
  const auto live =
      std::stoll(raw.value("SELECT count(*) FROM durable_dead_letters WHERE redriven_at IS NULL"));
  CHECK(rows > 0);
  CHECK(q.size() == rows);
  CHECK(dlq.count({}) == live);
  CHECK(dlq.count({.include_redriven = true}) == entries);
  // Several sessions wrote, each to its own slot; a count sums them.
  CHECK(std::stoll(raw.value("SELECT count(*) FROM durable_queue_counts")) >= 1);
}

TEST_CASE("a claim skips a row another session holds, without waiting for it") {
  temp_dir dir;
  const auto t = target(dir, "db");
  Queue<email> q{t, "emails", quiet_queue()};
  const auto first = q.push({1, ""}).id;
  q.push({2, ""});
  raw_connection holder{t};
  holder.query("BEGIN; SELECT * FROM durable_jobs WHERE id = " + std::to_string(first) +
               " FOR UPDATE");
  auto c = q.claim(30s);  // would wait forever without SKIP LOCKED
  REQUIRE(c);
  CHECK(c->job->n == 2);
  CHECK_FALSE(q.claim(30s));
  holder.query("ROLLBACK");
  auto again = q.claim(30s);
  REQUIRE(again);
  CHECK(again->job->n == 1);
}

// ---------------------------------------------------------------- query plans

namespace {

/// The plans of `sql` (parameters of `types`) with `params`, one line per node: the
/// custom plan a prepared statement starts with, and the generic plan it may settle on.
struct statement_plans {
  std::string custom;
  std::string generic;
};
statement_plans plans(raw_connection& raw, const std::string& sql, const std::string& types,
                      const std::string& params) {
  static int n = 0;
  const auto name = "plan_" + std::to_string(++n);
  raw.query("PREPARE " + name + "(" + types + ") AS " + sql);
  const auto explain = [&](const char* mode) {
    raw.query(std::string{"SET plan_cache_mode = "} + mode);
    std::string plan;
    for (const auto& row : raw.query("EXPLAIN EXECUTE " + name + "(" + params + ")")) {
      plan += row.at(0) + "\n";
    }
    return plan;
  };
  statement_plans out{explain("force_custom_plan"), explain("force_generic_plan")};
  raw.query("RESET plan_cache_mode; DEALLOCATE " + name);
  return out;
}

/// Checks that both plans read durable_dead_letters through an index whose name starts
/// with `index` (an index, index-only or bitmap index scan), never with a full scan; for an
/// ordered page, the generic plan must also need no sort (the index gives the order; a
/// custom plan may sort the few rows it expects for one key).
void check_plan(const statement_plans& p, const std::string& index, bool ordered) {
  for (const auto* plan : {&p.custom, &p.generic}) {
    INFO(*plan);
    CHECK(contains(*plan, index));
    CHECK_FALSE(contains(*plan, "Seq Scan"));
  }
  if (ordered) {
    INFO(p.generic);
    CHECK_FALSE(contains(p.generic, "Sort"));
  }
}

}  // namespace

TEST_CASE("every dead-letter query is an index range scan, and pages need no sort") {
  temp_dir dir;
  const auto t = target(dir, "db");
  { const auto b = durable::make_postgres_backend(t, {}); }
  raw_connection raw{t};
  raw.query(
      "INSERT INTO durable_dead_letters (dlq, origin, job_id, queue, key_int, key_text, codec, "
      "fingerprint, payload, error_type, message, attempts, enqueued_at, failed_at, "
      "redriven_at) SELECT 'd' || (i % 3), 'o', i, 'q', CASE WHEN i % 4 = 1 THEN i % 700 END, "
      "CASE WHEN i % 4 = 2 THEN 'k' || (i % 700) END, 'pfr', 1, '\\x00', 't' || (i % 5), 'm', "
      "1, 0, i * 7, CASE WHEN i % 10 = 0 THEN i END FROM generate_series(1, 60000) AS i; "
      "ANALYZE durable_dead_letters");
  const std::string window = "'d1', 70000, 140000";  // about 5 % of the table
  // Ordered pages: every index, both directions, with and without the optional filters.
  for (std::size_t v = 0; v < 64; ++v) {
    const auto index = static_cast<pg::dead_letter_index>(v / 16);
    const char* value = index == pg::dead_letter_index::time      ? "NULL"
                        : index == pg::dead_letter_index::type    ? "'t3'"
                        : index == pg::dead_letter_index::key_int ? "45"
                                                                  : "'k46'";
    const char* name = index == pg::dead_letter_index::time      ? "durable_dead_letters_time"
                       : index == pg::dead_letter_index::type    ? "durable_dead_letters_type"
                       : index == pg::dead_letter_index::key_int ? "durable_dead_letters_key_int"
                                                                 : "durable_dead_letters_key_text";
    const auto sql = pg::build_page_sql(v);
    const auto params = std::string{"'d1', "} + value +
                        ", -9223372036854775808, 0, 9223372036854775807, '{t1,t3}', 'q', 100";
    // Descending pages start at the top and run down to the lower bound.
    const auto desc_params = std::string{"'d1', "} + value +
                             ", 9223372036854775807, 0, -9223372036854775808, '{t1,t3}', 'q', 100";
    const auto types = std::string{"text, "} +
                       (index == pg::dead_letter_index::key_int ? "int8" : "text") +
                       ", int8, int8, int8, text[], text, int8";
    CAPTURE(sql);
    check_plan(plans(raw, sql, types, (v & 8U) != 0 ? desc_params : params), name, true);
  }
  // Filtered counts, deletes, selections and groupings: every combination of filters.
  for (std::size_t v = 0; v < 32 * pg::filter_actions; ++v) {
    const auto sql = pg::build_filter_sql(v);
    const bool types = (v & 16U) != 0;
    const bool text_keys = (v & 8U) != 0;
    const bool int_keys = (v & 4U) != 0;
    const char* name = (int_keys || text_keys) ? "durable_dead_letters_key"
                       : types                 ? "durable_dead_letters_"
                                               : "durable_dead_letters_time";
    CAPTURE(sql);
    check_plan(plans(raw, sql, "text, int8, int8, text, text[], int8[], text[]",
                     window + ", 'q', '{t1,t3}', '{45,46}', '{k46,k47}'"),
               name, false);
  }
  check_plan(plans(raw, pg::delete_failed_before_sql(), "text, int8", "'d1', 7000"),
             "durable_dead_letters_time", false);
  // The claim walks the claim index and locks what it takes.
  raw.query(
      "INSERT INTO durable_jobs (queue, run_at, enqueued_at, codec, fingerprint, payload) "
      "SELECT 'q' || (i % 5), i, i, 'pfr', 1, '\\x00' FROM generate_series(1, 20000) AS i; "
      "ANALYZE durable_jobs");
  // The claims walk the claim index and lock what they take; the barrier finds the oldest
  // sequential job in the barrier index and looks for an older job by walking the primary
  // key down from it. A few sequential jobs among many: the statistics of a real queue.
  raw.query("UPDATE durable_jobs SET sequential = true WHERE id % 5000 = 7; ANALYZE durable_jobs");
  const auto claim_next =
      plans(raw, pg::claim_next_sql, "int8, int8, text, int8, text", "1, 2, 'me', 30000, 'q1'");
  const auto claim_head = plans(raw, pg::claim_head_sql, "int8, int8, text, int8, text, int8",
                                "1, 2, 'me', 30000, 'q1', 10");
  const auto typed_next =
      plans(raw, pg::claim_next_typed_sql, "int8, int8, text, int8, text, text, int8[]",
            "1, 2, 'me', 30000, 'q1', 'pfr', '{1,2}'");
  const auto typed_head =
      plans(raw, pg::claim_head_typed_sql, "int8, int8, text, int8, text, int8, text, int8[]",
            "1, 2, 'me', 30000, 'q1', 10, 'pfr', '{1}'");
  for (const auto* plan :
       {&claim_next.custom, &claim_next.generic, &claim_head.custom, &claim_head.generic,
        &typed_next.custom, &typed_next.generic, &typed_head.custom, &typed_head.generic}) {
    INFO(*plan);
    CHECK(contains(*plan, "Index Scan using durable_jobs_claim"));
    CHECK(contains(*plan, "LockRows"));
    CHECK(contains(*plan, "using durable_jobs_barrier"));
    CHECK(contains(*plan, "Index Scan Backward using durable_jobs_pkey"));
    CHECK_FALSE(contains(*plan, "Seq Scan on durable_jobs"));  // the pause flag: any plan
    CHECK_FALSE(contains(*plan, "Bitmap"));
  }
}

// ---------------------------------------------------------------- processes

TEST_CASE("4 processes pushing, claiming and acking one queue deliver every job once") {
  temp_dir dir;
  durable_test::check_delivered_once<email>(dir, target(dir, "db"), 4, 2500);
}

TEST_CASE(
    "a forked child using its parent's Queue connects anew and leaves the parent's session alone") {
  temp_dir dir;
  const auto t = target(dir, "db");
  Queue<email> q{t, "emails", quiet_queue()};
  q.push({1, ""});  // the parent's session is open and idle in the pool
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    int code = 0;
    try {
      q.push({2, ""});
      auto c = q.claim(1min);
      if (!c) code = 2;
      q.ack(*c);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
      code = 1;
    }
    _exit(code);
  }
  CHECK(wait_child(child) == 0);
  q.push({3, ""});  // the parent's session still works
  CHECK(q.size() == 2);
}

TEST_CASE("an idle Worker wakes at once for a push from another process") {
  temp_dir dir;
  const auto t = target(dir, "db");
  Queue<email> queue{t, "emails", quiet_queue()};
  DeadLetterQueue<email> dlq{t, "emails.dlq", quiet_dlq()};
  std::array<int, 2> go{};
  REQUIRE(pipe(go.data()) == 0);
  const pid_t child = fork();  // before the Worker's threads exist
  REQUIRE(child >= 0);
  if (child == 0) {
    close(go[1]);
    char start = 0;
    int code = read(go[0], &start, 1) == 1 ? 0 : 2;
    try {
      Queue<email> q{t, "emails", quiet_queue()};  // a session of its own, another process
      for (std::int64_t i = 0; i < 20; ++i) q.push({i, ""});
    } catch (const std::exception& e) {
      std::fprintf(stderr, "pusher: %s\n", e.what());
      code = 1;
    }
    _exit(code);
  }
  close(go[0]);
  std::atomic<std::int64_t> handled{0};
  durable::worker_options options;
  options.log = nullptr;
  options.threads = 2;
  options.min_poll_interval = 10min;  // idle threads get work only by being woken
  options.max_poll_interval = 10min;
  durable::Worker<email> w{queue, dlq, [&](const email&) { ++handled; }, options};
  w.start();
  std::this_thread::sleep_for(50ms);  // the threads go idle first; correct either way
  REQUIRE(write(go[1], "x", 1) == 1);
  close(go[1]);
  CHECK(wait_child(child) == 0);
  const auto deadline = std::chrono::steady_clock::now() + 2min;
  while (handled < 20 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  CHECK(w.stop());
  CHECK(handled == 20);
}

TEST_CASE("consumers killed at random moments lose no committed job and bring back no acked one") {
  temp_dir dir;
  // Its own application_name, to see when the server has finished the children's sessions.
  const auto app = "durable_killed_" + std::to_string(getpid());
  const auto t = target(dir, "db") + " application_name=" + app;
  { Queue<durable_test::churn_job> create{t, "churn", quiet_queue()}; }
  durable_test::churners children{t, "churn", 3, 20261124};
  std::mt19937 rng{7};
  int kills = 20;
  if (const char* k = std::getenv("DURABLE_CRASH_KILLS")) kills = std::atoi(k);
  for (int k = 0; k < kills; ++k) {
    children.spawn();
    // Wait for 5 to 60 new operations, however long they take.
    const auto goal = children.seen.lines + 5 + static_cast<std::int64_t>(rng() % 56);
    const auto stopped = children.wait_for(&durable_test::reports::lines, goal, 120s);
    REQUIRE_MESSAGE(stopped.empty(), stopped);
    const auto victim = rng() % (children.size() + 1);  // one child, or all of them
    for (std::size_t i = 0; i < children.size(); ++i) {
      if (victim == children.size() || victim == i) REQUIRE(children.kill_child(i));
    }
  }
  REQUIRE(children.kill_all());
  // A statement a child sent before it was killed still runs, and commits, on the server:
  // wait until every session of the children has ended before reading what is stored.
  raw_connection server{durable_test::postgres_server()};
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (server.value("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" + app +
                      "'") != "0") {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(5ms);
  }
  const auto& seen = children.seen;
  CHECK(seen.partial.empty());
  CHECK(seen.connection_errors == 0);
  REQUIRE_FALSE(seen.pushed.empty());

  std::set<std::int64_t> stored;
  raw_connection raw{t};
  for (const auto& row : raw.query("SELECT id FROM durable_jobs WHERE queue = 'churn'")) {
    stored.insert(std::stoll(row.at(0)));
  }
  const auto found = durable_test::check_reports(seen, stored);
  CHECK(found.lost == 0);
  CHECK(found.resurrected == 0);
  CHECK(found.wrong_payload == 0);
  CHECK(seen.pushed_twice == 0);

  // Every stored job comes back once (claims of the dead are released), with its payload.
  Queue<durable_test::churn_job> q{t, "churn", {.release_dead_claims = true, .log = nullptr}};
  std::set<std::int64_t> drained;
  std::set<std::int64_t> payloads;
  std::int64_t twice = 0;
  while (auto c = q.claim(10min)) {
    REQUIRE(c->job);
    drained.insert(c->id);
    if (!payloads.insert(c->job->n).second) ++twice;
  }
  CHECK(drained == stored);
  CHECK(twice == 0);
  MESSAGE(kills << " kills, " << children.spawned() << " processes, " << seen.lines
                << " operations: pushed " << seen.pushed.size() << ", acked " << seen.acked.size()
                << ", stored " << stored.size());
}
