// SPDX-License-Identifier: MIT
// Hostile database files opened through the public API: garbage pages, a truncated file,
// a WAL from another database, a schema edited by hand (a missing index, column or
// table). Each is a durable::error naming the file, and durable writes nothing to it:
// the database file (and its WAL) are byte for byte what they were, also after every
// durable object on it is gone.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <durable/detail/sqlite/connection.hpp>
#include <durable/queue.hpp>

#include "quiet_options.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using durable_test::quiet_queue;
using durable_test::temp_dir;

namespace {

struct job {
  std::int64_t n = 0;
  std::string body;
};
using queue = durable::Queue<job>;

/// The file's bytes; "(none)" for no file or an empty one (opening may create an empty WAL).
std::string bytes_of(const std::string& path) {
  if (!std::filesystem::exists(path) || std::filesystem::file_size(path) == 0) return "(none)";
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// A database with `jobs` jobs, closed cleanly (no WAL left).
void make_database(const std::string& path, int jobs) {
  queue q{path, "jobs", quiet_queue()};
  for (int i = 0; i < jobs; ++i) q.push({i, std::string(300, 'j')});
}

/// Runs SQL on the file without durable, as someone editing it by hand would.
void edit_by_hand(const std::string& path, const char* sql) {
  durable::detail::sqlite::connection c{path, {}};
  c.exec(sql);
}

/// Opens `path` as a queue and uses it: it must throw a durable::error naming the file,
/// and leave the database file and its WAL as they were. Returns the message.
std::string refused(const std::string& path) {
  const auto db_before = bytes_of(path);
  const auto wal_before = bytes_of(path + "-wal");
  std::string message;
  try {
    queue q{path, "jobs", quiet_queue()};
    q.push({99, "new"});
    while (auto c = q.claim(1min)) q.ack(*c);
    FAIL("a hostile file was used without an error");
  } catch (const durable::error& e) {
    message = e.what();
  }
  INFO(message);
  CHECK(message.rfind("durable: ", 0) == 0);
  CHECK(message.find(path) != std::string::npos);
  CHECK(bytes_of(path) == db_before);
  CHECK(bytes_of(path + "-wal") == wal_before);
  return message;
}

}  // namespace

TEST_CASE("a file with garbage pages is refused naming it, and not written to") {
  temp_dir dir;
  const auto path = dir.file("q.db");
  make_database(path, 200);
  {
    std::fstream f{path, std::ios::in | std::ios::out | std::ios::binary};
    f.seekp(4096);  // every page after the first (the schema): every table's b-tree
    const std::string garbage(std::filesystem::file_size(path) - 4096, '\xA5');
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  const auto message = refused(path);
  CHECK((message.find("malformed") != std::string::npos ||
         message.find("damaged") != std::string::npos));
}

TEST_CASE("a truncated file is refused naming it, and not written to") {
  temp_dir dir;
  const auto path = dir.file("q.db");
  make_database(path, 200);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  refused(path);
}

TEST_CASE("a WAL from another database is refused naming the file, and not written into it") {
  temp_dir dir;
  const auto path = dir.file("q.db");
  const auto other = dir.file("other.db");
  make_database(path, 50);
  make_database(other, 10);
  // The other database's process dies with commits still in its WAL.
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    queue q{other, "jobs", quiet_queue()};
    for (int i = 0; i < 100; ++i) q.push({1000 + i, std::string(500, 'o')});
    while (auto c = q.claim(1min)) q.ack(*c);
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(std::filesystem::file_size(other + "-wal") > 0);
  std::filesystem::copy_file(other + "-wal", path + "-wal");
  refused(path);
  // Without the foreign WAL the file is as it was.
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  queue q{path, "jobs", quiet_queue()};
  CHECK(q.size() == 50);
}

TEST_CASE("a schema edited by hand is refused naming the file and what is missing") {
  temp_dir dir;
  const auto path = dir.file("q.db");
  make_database(path, 5);
  SUBCASE("a missing index") {
    edit_by_hand(path, "DROP INDEX durable_jobs_claim");
    CHECK(refused(path).find("index durable_jobs_claim on durable_jobs (queue_id, priority DESC, "
                             "run_at, id, codec, fingerprint) is missing") != std::string::npos);
  }
  SUBCASE("an index with other columns") {
    edit_by_hand(path,
                 "DROP INDEX durable_dead_letters_type; CREATE INDEX durable_dead_letters_type "
                 "ON durable_dead_letters (dlq_id, failed_at)");
    CHECK(refused(path).find("index durable_dead_letters_type") != std::string::npos);
  }
  SUBCASE("a missing column") {
    edit_by_hand(path, "ALTER TABLE durable_jobs DROP COLUMN timeout_ms");
    CHECK(refused(path).find("table durable_jobs has no column timeout_ms") != std::string::npos);
  }
  SUBCASE("a missing table") {
    edit_by_hand(path, "DROP TABLE durable_queues");
    CHECK(refused(path).find("table durable_queues is missing") != std::string::npos);
  }
  SUBCASE("the unique (origin, job_id) index gone") {
    edit_by_hand(path, "DROP INDEX durable_dead_letters_origin");
    CHECK(refused(path).find("unique index durable_dead_letters_origin on durable_dead_letters "
                             "(origin, job_id) WHERE ... is missing") != std::string::npos);
  }
  SUBCASE("the (origin, job_id) index no longer unique") {
    edit_by_hand(path,
                 "DROP INDEX durable_dead_letters_origin; CREATE INDEX durable_dead_letters_origin "
                 "ON durable_dead_letters (origin, job_id) WHERE origin IS NOT NULL");
    CHECK(refused(path).find("unique index durable_dead_letters_origin") != std::string::npos);
  }
  SUBCASE("a name column no longer unique") {
    edit_by_hand(path,
                 "PRAGMA legacy_alter_table = ON; "  // the rename would check the views
                 "CREATE TABLE copy AS SELECT * FROM durable_dead_letter_queues; "
                 "DROP TABLE durable_dead_letter_queues; ALTER TABLE copy RENAME TO "
                 "durable_dead_letter_queues");
    CHECK(refused(path).find("unique index of a constraint on durable_dead_letter_queues (name)") !=
          std::string::npos);
  }
}

TEST_CASE("opening a file keeps this process's locks on it, so no other process resets its WAL") {
  // Reading the file through a second descriptor and closing it would drop every POSIX lock
  // this process holds on it; another process closing its connection would then checkpoint
  // and delete the WAL under this one, and later commits would be lost.
  temp_dir dir;
  const auto path = dir.file("q.db");
  make_database(path, 1);
  queue q{path, "jobs", quiet_queue()};
  q.push({1, "before"});
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const int fd = open(path.c_str(), O_RDWR);
    flock lock{};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;  // the whole file
    const bool locked = fd >= 0 && fcntl(fd, F_GETLK, &lock) == 0 && lock.l_type != F_UNLCK;
    {  // another connection comes and goes
      durable::detail::sqlite::connection other{path, {}};
    }
    _exit(locked ? 0 : 1);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);  // the other process saw this process's lock
  for (int i = 0; i < 20; ++i) q.push({i, "after"});
  CHECK(std::filesystem::exists(path + "-wal"));
  CHECK(q.size() == 2 + 20);
}
