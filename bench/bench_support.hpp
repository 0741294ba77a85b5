// SPDX-License-Identifier: MIT
#pragma once
// What the benchmarks share: a scratch directory, a raw SQLite connection opened and
// configured exactly as durable opens its own (WAL, the same synchronous, busy timeout),
// and the *minimal* raw queue that every queue operation is quoted against.

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>

#include <durable/detail/sqlite/schema.hpp>
#include <durable/open_options.hpp>

namespace durable_bench {

/// A directory removed (with its contents) on destruction.
class scratch {
 public:
  scratch() {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() /
           ("durable-bench-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
  }
  scratch(const scratch&) = delete;
  scratch& operator=(const scratch&) = delete;
  ~scratch() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  /// A file name in the directory.
  [[nodiscard]] std::string file(const std::string& name) const { return (dir_ / name).string(); }
  /// The benchmark's database file.
  [[nodiscard]] std::string db() const { return file("bench.db"); }

 private:
  std::filesystem::path dir_;
};

/// Throws with SQLite's message unless `rc` is a success code.
inline void check(sqlite3* db, int rc) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    throw std::runtime_error(sqlite3_errmsg(db));
  }
}

/// Creates durable's tables in `path`, through durable, so both sides use the same schema.
inline void create_schema(const std::string& path) {
  durable::detail::sqlite::connection c{path, {}};
  durable::detail::sqlite::ensure_schema(c);
}

/// A raw connection opened and configured as durable opens its own.
inline sqlite3* open_raw(const std::string& path,
                         durable::durability_mode durability = durable::durability_mode::normal) {
  sqlite3* db = nullptr;
  check(db,
        sqlite3_open_v2(path.c_str(), &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr));
  sqlite3_busy_timeout(db, 5000);
  check(db, sqlite3_exec(db,
                         durability == durable::durability_mode::full
                             ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL"
                             : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
                         nullptr, nullptr, nullptr));
  return db;
}

/// A persistent prepared statement on `db`; throws with SQLite's message on error.
inline sqlite3_stmt* prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* s = nullptr;
  check(db, sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr));
  return s;
}

/// Milliseconds since the Unix epoch.
inline std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// The least work any SQLite queue must do, the ceiling durable's queue is quoted
/// against: one table `(id INTEGER PRIMARY KEY, run_at, payload BLOB)`, one index in
/// claim order, a claim that leases a job by moving its run_at (so an unacked job comes
/// back), an ack that deletes it. WAL and the same synchronous as durable; no names, no
/// keys, no priorities, no fencing tokens, no attempts, no history, no counters.
///
/// `counted`: also keeps the queue's size in a counter row, updated in the transaction of
/// each push and ack, as durable does to answer size(), stats() and the hard limit in
/// constant time; the difference to the plain minimal queue is what that costs.
class minimal_queue {
 public:
  explicit minimal_queue(const std::string& path,
                         durable::durability_mode durability = durable::durability_mode::normal,
                         bool counted = false)
      : db_(open_raw(path, durability)), counted_(counted) {
    std::string schema =
        "CREATE TABLE IF NOT EXISTS q (id INTEGER PRIMARY KEY, run_at INTEGER NOT NULL, "
        "payload BLOB NOT NULL); CREATE INDEX IF NOT EXISTS q_claim ON q (run_at, id);";
    if (counted_) {
      schema +=
          "CREATE TABLE IF NOT EXISTS q_size (id INTEGER PRIMARY KEY, jobs INTEGER NOT NULL); "
          "INSERT OR IGNORE INTO q_size VALUES (1, 0);";
    }
    check(db_, sqlite3_exec(db_, schema.c_str(), nullptr, nullptr, nullptr));
    insert_ = prepare(db_, "INSERT INTO q (run_at, payload) VALUES (?1, ?2)");
    claim_ = prepare(db_,
                     "UPDATE q SET run_at = ?2 WHERE id = (SELECT id FROM q WHERE run_at <= ?1 "
                     "ORDER BY run_at, id LIMIT 1) RETURNING id, payload");
    ack_ = prepare(db_, "DELETE FROM q WHERE id = ?1");
    begin_ = prepare(db_, "BEGIN IMMEDIATE");
    commit_ = prepare(db_, "COMMIT");
    if (counted_) count_ = prepare(db_, "UPDATE q_size SET jobs = jobs + ?1 WHERE id = 1");
  }
  minimal_queue(const minimal_queue&) = delete;
  minimal_queue& operator=(const minimal_queue&) = delete;
  ~minimal_queue() {
    for (auto* s : {insert_, claim_, ack_, begin_, commit_, count_}) sqlite3_finalize(s);
    sqlite3_close_v2(db_);
  }

  /// One job, one transaction.
  void push(const std::string& body) {
    if (counted_) done(begin_);
    insert(body);
    if (counted_) {
      add(1);
      done(commit_);
    }
  }
  /// `n` jobs in one transaction.
  void push_many(const std::string& body, std::int64_t n) {
    done(begin_);
    for (std::int64_t i = 0; i < n; ++i) insert(body);
    if (counted_) add(n);
    done(commit_);
  }
  /// Claims the head job (one transaction) and acks it (another); false when empty.
  bool claim_ack() {
    const auto now = now_ms();
    sqlite3_bind_int64(claim_, 1, now);
    sqlite3_bind_int64(claim_, 2, now + 30'000);
    if (sqlite3_step(claim_) != SQLITE_ROW) {
      sqlite3_reset(claim_);
      return false;
    }
    const auto id = sqlite3_column_int64(claim_, 0);
    const void* payload = sqlite3_column_blob(claim_, 1);
    check(db_, sqlite3_step(claim_));  // to SQLITE_DONE: the autocommit commits here
    sqlite3_reset(claim_);
    (void)payload;
    if (counted_) done(begin_);
    sqlite3_bind_int64(ack_, 1, id);
    done(ack_);
    if (counted_) {
      add(-1);
      done(commit_);
    }
    return true;
  }

 private:
  void insert(const std::string& body) {
    sqlite3_bind_int64(insert_, 1, now_ms());
    sqlite3_bind_blob(insert_, 2, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
    done(insert_);
  }
  void add(std::int64_t jobs) {
    sqlite3_bind_int64(count_, 1, jobs);
    done(count_);
  }
  void done(sqlite3_stmt* s) {
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db_));
  }

  sqlite3* db_;
  bool counted_;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* claim_ = nullptr;
  sqlite3_stmt* ack_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* count_ = nullptr;
};

/// Text of column `i`; empty for NULL.
inline std::string column_text(sqlite3_stmt* s, int i) {
  const auto* p = sqlite3_column_text(s, i);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): SQLite text is UTF-8 bytes
  return p == nullptr ? std::string{}
                      : std::string{reinterpret_cast<const char*>(p),
                                    static_cast<std::size_t>(sqlite3_column_bytes(s, i))};
}

/// Entries of populated DLQs fail about one every `spacing_ms`, from `t0_ms`.
constexpr std::int64_t t0_ms = 1'767'225'600'000;
constexpr std::int64_t spacing_ms = 10;

/// Creates durable's schema in `path` (through durable) and fills DLQ `dlq` with `n`
/// entries in one transaction, as durable stores them (one in 20 redriven; the history
/// holds one earlier attempt), with its counters; ends with a
/// checkpoint so the file stands alone. failed_at follows the insertion order, as in a
/// real DLQ, with up to 1 s of jitter so that (failed_at, id) order differs from id order
/// locally.
inline void populate_dead_letters(const std::string& path, const std::string& dlq, std::int64_t n) {
  create_schema(path);
  sqlite3* db = open_raw(path);
  check(db, sqlite3_exec(db, "PRAGMA cache_size = -524288", nullptr, nullptr, nullptr));
  check(db, sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr));
  sqlite3_stmt* catalog =
      prepare(db, "INSERT INTO durable_dead_letter_queues (name) VALUES (?1) RETURNING id");
  sqlite3_bind_text(catalog, 1, dlq.c_str(), -1, SQLITE_TRANSIENT);
  check(db, sqlite3_step(catalog));
  const auto dlq_id = sqlite3_column_int64(catalog, 0);
  sqlite3_finalize(catalog);
  sqlite3_stmt* s = prepare(
      db,
      "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < ?1) "
      "INSERT INTO durable_dead_letters (dlq_id, failed_at, redriven_at, error_type, message, "
      "attempts, enqueued_at, queue, key, job_id, codec, fingerprint, context, history, payload) "
      "SELECT ?4, ?2 + i * ?3 + (i * 7919) % 1000, CASE WHEN i % 20 = 0 THEN ?2 END, "
      "'type' || (i % 5), 'HTTP 503 from payments', 3, ?2, 'jobs', i % 10007, i, 'pfr', 42, '', "
      "'[{\"attempt\":1,\"type\":\"timeout\",\"message\":\"slow\",\"at\":0}]', "
      "randomblob(24) FROM k");
  sqlite3_bind_int64(s, 1, n);
  sqlite3_bind_int64(s, 2, t0_ms);
  sqlite3_bind_int64(s, 3, spacing_ms);
  sqlite3_bind_int64(s, 4, dlq_id);
  check(db, sqlite3_step(s));
  sqlite3_finalize(s);
  // The counters durable keeps in the same transaction as the rows.
  s = prepare(db,
              "UPDATE durable_dead_letter_queues SET entries = (SELECT count(*) FROM "
              "durable_dead_letters WHERE dlq_id = ?1), redriven = (SELECT count(redriven_at) "
              "FROM durable_dead_letters WHERE dlq_id = ?1) WHERE id = ?1");
  sqlite3_bind_int64(s, 1, dlq_id);
  check(db, sqlite3_step(s));
  sqlite3_finalize(s);
  check(db, sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr));
  check(db, sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr));
  sqlite3_close_v2(db);
}

/// A field of /proc/self/status in KiB ("VmHWM", "VmRSS"); 0 when unknown.
inline std::int64_t proc_status_kib(const std::string& field) {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1));
  }
  return 0;
}

}  // namespace durable_bench
