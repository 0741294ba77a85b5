// SPDX-License-Identifier: MIT
// The SQLite layer against real files: open, pragmas, schema, transactions and the
// error cases a user meets (not a database, read-only, missing directory, locked, newer schema).

#include <doctest/doctest.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <durable/dead_letter_queue.hpp>
#include <durable/detail/names.hpp>
#include <durable/detail/sqlite/backend.hpp>
#include <durable/detail/sqlite/schema.hpp>
#include <durable/queue.hpp>

#include "support.hpp"

namespace sql = durable::detail::sqlite;
using durable_test::temp_dir;

namespace {

std::int64_t pragma(sql::connection& c, const char* name) {
  auto q = c.query(name);
  REQUIRE(q->step());
  return q->int64(0);
}

std::int64_t count_rows(sql::connection& c, const char* table) {
  auto q = c.query(std::string{"SELECT count(*) FROM "} + table);
  REQUIRE(q->step());
  return q->int64(0);
}

}  // namespace

TEST_CASE("a new file gets WAL, the chosen durability and durable's schema") {
  temp_dir dir;
  const auto path = dir.file("q.db");
  {
    sql::connection c{path, {}};
    sql::ensure_schema(c);
    CHECK(pragma(c, "PRAGMA synchronous") == 1);  // NORMAL
    CHECK(sql::stored_schema_version(c) == sql::migrations.back().version);
    CHECK(count_rows(c, "durable_jobs") == 0);
    CHECK(count_rows(c, "durable_dead_letters") == 0);
  }
  sql::connection c{path, {.durability = durable::durability_mode::full}};
  CHECK(pragma(c, "PRAGMA synchronous") == 2);  // FULL
  auto mode = c.query("PRAGMA journal_mode");
  REQUIRE(mode->step());
  CHECK(mode->text(0) == "wal");
}

TEST_CASE("reopening keeps the schema and the database id") {
  temp_dir dir;
  const auto path = dir.file("q.db");
  std::string id;
  {
    sql::connection c{path, {}};
    sql::ensure_schema(c);
    id = sql::database_id(c);
    CHECK(id.size() == 32);
  }
  sql::connection c{path, {}};
  sql::ensure_schema(c);
  CHECK(sql::database_id(c) == id);
}

TEST_CASE("a text file is refused as not a database, naming the path, and left untouched") {
  temp_dir dir;
  const auto path = dir.file("notes.db");
  const std::string text = "these are my notes, not a database\n";
  { std::ofstream{path} << text; }
  try {
    sql::connection c{path, {}};
    FAIL("opening a text file must throw");
  } catch (const durable::sqlite_error& e) {
    CHECK(e.code() == SQLITE_NOTADB);
    CHECK(e.path() == path);
    CHECK(std::string{e.what()}.find(path) != std::string::npos);
    CHECK(std::string{e.what()}.find("not a SQLite database") != std::string::npos);
  }
  std::ifstream in{path};
  std::string back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(back == text);
}

TEST_CASE("a missing directory is named in the error") {
  temp_dir dir;
  const auto path = dir.file("no/such/dir/q.db");
  try {
    sql::connection c{path, {}};
    FAIL("opening in a missing directory must throw");
  } catch (const durable::sqlite_error& e) {
    CHECK(e.code() == SQLITE_CANTOPEN);
    CHECK(std::string{e.what()}.find("does not exist") != std::string::npos);
    CHECK(std::string{e.what()}.find(dir.file("no/such/dir")) != std::string::npos);
  }
  CHECK_FALSE(std::filesystem::exists(dir.file("no")));
}

TEST_CASE("a directory given as the database path is named in the error") {
  temp_dir dir;
  try {
    sql::connection c{dir.path().string(), {}};
    FAIL("opening a directory must throw");
  } catch (const durable::sqlite_error& e) {
    CHECK(e.code() == SQLITE_CANTOPEN);
    CHECK(std::string{e.what()}.find("is a directory") != std::string::npos);
  }
}

TEST_CASE("a read-only file is refused with a clear error") {
  // root ignores file permissions, so the open runs in a child that drops to 'nobody'.
  temp_dir dir;
  const auto path = dir.file("ro.db");
  {
    sql::connection c{path, {}};
    sql::ensure_schema(c);
    c.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  std::filesystem::permissions(dir.path(), std::filesystem::perms::all);
  std::filesystem::permissions(path, std::filesystem::perms::owner_read |
                                         std::filesystem::perms::group_read |
                                         std::filesystem::perms::others_read);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (geteuid() == 0) {
      const passwd* nobody = getpwnam("nobody");
      if (nobody == nullptr || setgid(nobody->pw_gid) != 0 || setuid(nobody->pw_uid) != 0) _exit(3);
    }
    try {
      sql::connection c{path, {}};
      _exit(1);  // opened read-write: wrong
    } catch (const durable::sqlite_error& e) {
      const std::string what = e.what();
      const bool ok = e.code() == SQLITE_READONLY && what.find("read-only") != std::string::npos &&
                      what.find(path) != std::string::npos;
      _exit(ok ? 0 : 2);
    } catch (...) {
      _exit(4);
    }
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("a write lock held past the busy timeout becomes busy_error, and nothing changes") {
  temp_dir dir;
  const auto path = dir.file("q.db");
  sql::connection holder{path, {}};
  sql::ensure_schema(holder);
  sql::connection waiter{path, {.busy_timeout = std::chrono::milliseconds{50}}};
  sql::write_transaction held{holder};
  holder.run("INSERT INTO durable_meta (key, value) VALUES ('held', 1)");
  try {
    sql::write_transaction tx{waiter};
    FAIL("the write lock is held, BEGIN IMMEDIATE must time out");
  } catch (const durable::busy_error& e) {
    CHECK(e.code() == SQLITE_BUSY);
    CHECK(e.path() == path);
    CHECK(std::string{e.what()}.find("busy timeout") != std::string::npos);
  }
  CHECK_FALSE(waiter.in_transaction());
  held.commit();
  sql::write_transaction tx{waiter};  // the lock is free again
  waiter.run("DELETE FROM durable_meta WHERE key = 'held'");
  tx.commit();
}

TEST_CASE("a transaction left by an exception rolls back") {
  temp_dir dir;
  sql::connection c{dir.file("q.db"), {}};
  sql::ensure_schema(c);
  CHECK_THROWS_AS(([&] {
                    sql::write_transaction tx{c};
                    c.run("INSERT INTO durable_meta (key, value) VALUES ('x', 1)");
                    throw std::runtime_error("handler failed");
                  }()),
                  std::runtime_error);
  CHECK_FALSE(c.in_transaction());
  auto q = c.query("SELECT count(*) FROM durable_meta WHERE key = 'x'");
  REQUIRE(q->step());
  CHECK(q->int64(0) == 0);
}

TEST_CASE("a schema from a newer durable is refused, and the file is not changed") {
  temp_dir dir;
  const auto path = dir.file("q.db");
  {
    sql::connection c{path, {}};
    sql::ensure_schema(c);
    c.run("UPDATE durable_meta SET value = 99 WHERE key = 'schema_version'");
  }
  sql::connection c{path, {}};
  try {
    sql::ensure_schema(c);
    FAIL("a newer schema must be refused");
  } catch (const durable::schema_error& e) {
    CHECK(e.found() == 99);
    CHECK(e.supported() == sql::migrations.back().version);
    CHECK(e.path() == path);
    CHECK(std::string{e.what()}.find("upgrade durable") != std::string::npos);
  }
  CHECK(sql::stored_schema_version(c) == 99);
}

TEST_CASE("a damaged schema_version is a schema_error") {
  temp_dir dir;
  sql::connection c{dir.file("q.db"), {}};
  sql::ensure_schema(c);
  c.run("UPDATE durable_meta SET value = 'banana' WHERE key = 'schema_version'");
  CHECK_THROWS_AS(sql::ensure_schema(c), durable::schema_error);
}

TEST_CASE("an older schema is migrated step by step, keeping its rows") {
  temp_dir dir;
  sql::connection c{dir.file("q.db"), {}};
  const sql::migration v1{1, "CREATE TABLE durable_test_a (x INTEGER)"};
  const sql::migration v2{2, "ALTER TABLE durable_test_a ADD COLUMN y INTEGER DEFAULT 7"};
  const sql::migration v3{3, "CREATE TABLE durable_test_b (z TEXT)"};
  const sql::migration old_steps[] = {v1};
  const sql::migration new_steps[] = {v1, v2, v3};
  sql::migrate(c, old_steps);
  c.run("INSERT INTO durable_test_a (x) VALUES (5)");
  CHECK(sql::stored_schema_version(c) == 1);
  sql::migrate(c, new_steps);
  CHECK(sql::stored_schema_version(c) == 3);
  auto q = c.query("SELECT x, y FROM durable_test_a");
  REQUIRE(q->step());
  CHECK(q->int64(0) == 5);
  CHECK(q->int64(1) == 7);
  CHECK(count_rows(c, "durable_test_b") == 0);
}

TEST_CASE("a version 1 file with jobs and dead letters is migrated in place and keeps working") {
  struct job {
    std::int64_t n = 0;
  };
  temp_dir dir;
  const auto path = dir.file("v1.db");
  {
    sql::connection c{path, {}};
    sql::migrate(c, std::span{sql::migrations}.first(1));
    CHECK(sql::stored_schema_version(c) == 1);
    std::vector<std::byte> payload;
    durable::pfr_codec::encode(job{42}, payload);
    const auto fingerprint = static_cast<std::int64_t>(durable::pfr_codec::fingerprint<job>());
    c.run(
        "INSERT INTO durable_jobs (queue, key, run_at, enqueued_at, codec, fingerprint, payload) "
        "VALUES ('jobs', 'k', 0, 0, 'pfr', ?1, ?2)",
        fingerprint, std::span<const std::byte>{payload});
    c.run(
        "INSERT INTO durable_dead_letters (dlq, queue, codec, fingerprint, payload, error_type, "
        "message, attempts, enqueued_at, failed_at) "
        "VALUES ('dlq', 'jobs', 'pfr', ?1, ?2, 'timeout', 'm', 3, 0, 1)",
        fingerprint, std::span<const std::byte>{payload});
  }
  durable::queue_options quiet;
  quiet.log = nullptr;
  durable::Queue<job> q{path, "jobs", quiet};
  {
    sql::connection c{path, {}};
    CHECK(sql::stored_schema_version(c) == sql::migrations.back().version);
  }
  auto claimed = q.claim(std::chrono::seconds{10});
  REQUIRE(claimed);
  CHECK(claimed->job->n == 42);
  CHECK(claimed->max_attempts == 5);  // jobs from before v2 get the old worker default
  CHECK_FALSE(claimed->exhausted);
  q.ack(*claimed);
  durable::dead_letter_options dlq_quiet;
  dlq_quiet.log = nullptr;
  durable::DeadLetterQueue<job> dlq{path, "dlq", dlq_quiet};
  const auto entries = dlq.recent(10);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].redrive == durable::redrive_policy::optional);
  CHECK(dlq.redrive({}).redriven == 1);
  CHECK(q.claim(std::chrono::seconds{10})->job->n == 42);
}

TEST_CASE("a failing migration step leaves the old schema in place") {
  temp_dir dir;
  sql::connection c{dir.file("q.db"), {}};
  const sql::migration v1{1, "CREATE TABLE durable_test_a (x INTEGER)"};
  const sql::migration bad{2, "CREATE TABLE durable_test_c (x); THIS IS NOT SQL"};
  const sql::migration old_steps[] = {v1};
  const sql::migration new_steps[] = {v1, bad};
  sql::migrate(c, old_steps);
  CHECK_THROWS_AS(sql::migrate(c, new_steps), durable::sqlite_error);
  CHECK(sql::stored_schema_version(c) == 1);
  auto q = c.query("SELECT count(*) FROM sqlite_schema WHERE name = 'durable_test_c'");
  REQUIRE(q->step());
  CHECK(q->int64(0) == 0);
}

TEST_CASE("several connections creating the schema at once all succeed") {
  temp_dir dir;
  const auto path = dir.file("q.db");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      sql::connection c{path, {}};
      sql::ensure_schema(c);
      ++ok;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 4);
  sql::connection c{path, {}};
  CHECK(sql::stored_schema_version(c) == sql::migrations.back().version);
}

TEST_CASE("a corrupted database file gives a sqlite_error naming it, not a crash") {
  temp_dir dir;
  const auto path = dir.file("q.db");
  {
    sql::connection c{path, {}};
    sql::ensure_schema(c);
    for (int i = 0; i < 200; ++i) {
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
// g++ 12 at -O3: a false -Wrestrict inside std::string's _M_replace, reached through
// operator+(const char*, std::string&&) (GCC bug 105651; its sibling 105329 is the same
// path reached by assigning a one-character literal).
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
      c.run("INSERT INTO durable_meta (key, value) VALUES (?1, randomblob(500))",
            "k" + std::to_string(i));
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
    }
    c.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  {
    std::fstream f{path, std::ios::in | std::ios::out | std::ios::binary};
    f.seekp(4096 + 16);  // inside page 2: b-tree pages of durable's tables
    const std::string garbage(8000, '\xA5');
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  try {
    sql::connection c{path, {}};
    sql::ensure_schema(c);
    auto q = c.query("SELECT count(*), sum(length(value)) FROM durable_meta");
    while (q->step()) {
    }
    FAIL("reading corrupted pages must throw");
  } catch (const durable::sqlite_error& e) {
    CHECK(e.path() == path);
    CHECK((e.code() == SQLITE_CORRUPT || e.code() == SQLITE_NOTADB));
  } catch (const durable::schema_error& e) {
    CHECK(e.path() == path);
  }
}

TEST_CASE("queue names: odd and hostile names are refused with the rule") {
  using durable::detail::validate_name;
  CHECK_NOTHROW(validate_name("queue_name", "emails"));
  CHECK_NOTHROW(validate_name("queue_name", "tenant-1/emails.v2:high"));
  const std::string bad[] = {"",
                             "a b",
                             "x'; DROP TABLE durable_jobs; --",
                             std::string(129, 'a'),
                             std::string("nul\0byte", 8),
                             "caf\xc3\xa9",
                             "line\nbreak"};
  for (const auto& name : bad) {
    try {
      validate_name("queue_name", name);
      FAIL("must refuse " << name);
    } catch (const durable::invalid_argument_error& e) {
      CHECK(e.argument() == "queue_name");
      CHECK(std::string{e.what()}.find("[A-Za-z0-9_.:/-]") != std::string::npos);
    }
  }
}

namespace {

/// The bytes of `path`, or empty when it does not exist.
std::string file_bytes(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// A durable database at `path` with one job, closed (its WAL checkpointed and removed).
void make_database(const std::string& path) {
  sql::sqlite_backend backend{path, {}};
  durable::storage::new_job job;
  job.queue = "q";
  job.run_at_ms = job.enqueued_at_ms = 5;
  job.max_attempts = 1;
  job.codec = "bytes";
  backend.push({&job, 1}, durable::storage::push_mode::each);
}

durable::open_options read_only() {
  durable::open_options o;
  o.read_only = true;
  return o;
}

}  // namespace

TEST_CASE("a read-only open reads a database and writes nothing to it") {
  temp_dir dir;
  const auto path = dir.file("q.db");
  make_database(path);
  const auto before = file_bytes(path);
  {
    sql::sqlite_backend backend{path, read_only()};
    CHECK(backend.count_jobs("q", 10).pending == 1);
    CHECK(backend.list_queues(10).size() == 1);
    CHECK_THROWS_AS(static_cast<void>(backend.set_paused("q", true)), durable::sqlite_error);
  }
  CHECK(file_bytes(path) == before);
  // Like any SQLite reader of a WAL database, it may leave an empty -wal and the -shm index.
  CHECK(file_bytes(path + "-wal").empty());
}

TEST_CASE("a read-only open never creates a missing file") {
  temp_dir dir;
  const auto path = dir.file("missing.db");
  try {
    sql::sqlite_backend backend{path, read_only()};
    FAIL("a missing file must be refused");
  } catch (const durable::sqlite_error& e) {
    CHECK(e.code() == SQLITE_CANTOPEN);
    CHECK(std::string{e.what()}.find("does not exist") != std::string::npos);
  }
  CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("a read-only open refuses files of another schema version, unchanged") {
  temp_dir dir;
  const auto check_refused = [&](const std::string& path, std::int64_t found, const char* text) {
    const auto before = file_bytes(path);
    try {
      sql::sqlite_backend backend{path, read_only()};
      FAIL("the file must be refused");
    } catch (const durable::schema_error& e) {
      CHECK(e.found() == found);
      CHECK(std::string{e.what()}.find(text) != std::string::npos);
    }
    CHECK(file_bytes(path) == before);
  };
  const auto newer = dir.file("newer.db");
  make_database(newer);
  {
    sql::connection c{newer, {}};
    c.run("UPDATE durable_meta SET value = 99 WHERE key = 'schema_version'");
  }
  check_refused(newer, 99, "newer than the version");
  const auto older = dir.file("older.db");
  {
    sql::connection c{older, {}};
    sql::migrate(c, std::span{sql::migrations}.first(1));
  }
  check_refused(older, 1, "does not migrate");
  const auto plain = dir.file("plain.db");
  {
    sql::connection c{plain, {}};
    c.exec("CREATE TABLE notes (x TEXT)");
  }
  check_refused(plain, 0, "has no durable tables");
  const auto text = dir.file("notes.txt");
  { std::ofstream{text} << "not a database\n"; }
  CHECK_THROWS_AS(sql::sqlite_backend(text, read_only()), durable::sqlite_error);
}

TEST_CASE("a read-only open of an older version refuses it, without migrating it") {
  // Reads select columns of the current version: an older file is migrated by one
  // read-write open (`durable migrate`) first.
  temp_dir dir;
  const auto path = dir.file("v3.db");
  {
    sql::connection c{path, {}};
    sql::migrate(c, std::span{sql::migrations}.first(3));
    c.run("INSERT INTO durable_queues (id, name, jobs, paused) VALUES (1, 'q', 1, 1)");
  }
  const auto before = file_bytes(path);
  try {
    sql::sqlite_backend backend{path, read_only()};
    FAIL("a version 3 file was opened read-only");
  } catch (const durable::schema_error& e) {
    CHECK(e.found() == 3);
    CHECK(std::string_view{e.what()}.find("durable migrate") != std::string_view::npos);
  }
  CHECK(file_bytes(path) == before);
  sql::connection c{path, {}};
  CHECK(sql::stored_schema_version(c) == 3);
}

TEST_CASE("the views show ISO times, states and hexadecimal fingerprints") {
  temp_dir dir;
  const auto path = dir.file("q.db");
  {
    sql::sqlite_backend backend{path, {}};
    durable::storage::new_job job;
    job.queue = "q";
    job.run_at_ms = job.enqueued_at_ms = 1'767'225'600'123;
    job.max_attempts = 1;
    job.codec = "bytes";
    job.fingerprint = 0xfedcba9876543210;
    backend.push({&job, 1}, durable::storage::push_mode::each);
    backend.record_job_type("pfr", 0x8000000000000001, "pfr/1:b", 0);
  }
  sql::connection c{path, {}};
  auto q =
      c.query("SELECT queue, state, run_at, fingerprint, payload_bytes FROM durable_view_jobs");
  REQUIRE(q->step());
  CHECK(q->text(0) == "q");
  CHECK(q->text(1) == "pending");
  CHECK(q->text(2) == "2026-01-01T00:00:00.123Z");
  CHECK(q->text(3) == "fedcba9876543210");
  CHECK(q->int64(4) == 0);
  auto v = c.query("SELECT queue, paused, pending FROM durable_view_queues");
  REQUIRE(v->step());
  CHECK(v->text(0) == "q");
  CHECK(v->int64(1) == 0);
  CHECK(v->int64(2) == 1);
  auto t = c.query("SELECT fingerprint, description, recorded_at FROM durable_view_job_types");
  REQUIRE(t->step());
  CHECK(t->text(0) == "8000000000000001");
  CHECK(t->text(2) == "1970-01-01T00:00:00.000Z");
  CHECK(count_rows(c, "durable_view_dead_letters") == 0);
  CHECK(count_rows(c, "durable_view_dead_letter_queues") == 0);
}
