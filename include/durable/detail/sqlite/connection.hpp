// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// RAII SQLite connection with a prepared-statement cache and write transactions.
/// Part of the SQLite layer, the only place SQL lives.

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include "durable/clock.hpp"
#include "durable/detail/sqlite/error.hpp"
#include "durable/detail/sqlite/statement.hpp"
#include "durable/open_options.hpp"

namespace durable::inline v0::detail::sqlite {

/// One connection to a database file, opened read-write in WAL mode with the
/// durability and busy timeout of `open_options`, or read-only (`open_options::read_only`:
/// an existing file, no WAL switch, no pragma that writes). Not thread-safe: callers
/// serialize.
class connection {
 public:
  connection(std::string path, const open_options& options)
      : path_(std::move(path)),
        read_only_(options.read_only),
        busy_{path_ + "-wal", options.busy_timeout} {
    if (path_.empty()) {
      throw_open(SQLITE_CANTOPEN, "the path is empty", "give the path of a database file");
    }
    const auto parent = std::filesystem::path(path_).parent_path();
    std::error_code ec;
    if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
      throw_open(SQLITE_CANTOPEN, "its directory \"" + parent.string() + "\" does not exist");
    }
    if (std::filesystem::is_directory(path_, ec)) {
      throw_open(SQLITE_CANTOPEN, "it is a directory", "give the path of a database file");
    }
    if (read_only_ && !std::filesystem::exists(path_, ec)) {
      throw_open(SQLITE_CANTOPEN, "it does not exist (a read-only open never creates a file)",
                 "check the path");
    }
    const int flags =
        (read_only_ ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
        SQLITE_OPEN_NOMUTEX;
    const int rc = sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
      // db_ may be non-null on failure and then carries the message; close after reading it.
      std::unique_ptr<sqlite3, int (*)(sqlite3*)> guard{std::exchange(db_, nullptr),
                                                        sqlite3_close_v2};
      throw_error(guard.get(), rc, "opening the database", path_);
    }
    sqlite3_extended_result_codes(db_, 1);
    try {
      sqlite3_busy_handler(db_, &busy_wait::on_busy, &busy_);
      exec(fmt::format("PRAGMA cache_size = -{}", std::max<std::int64_t>(options.page_cache_kib, 0))
               .c_str());
      if (read_only_) return;
      if (sqlite3_db_readonly(db_, "main") == 1) {
        // SQLite opens a file read-only when opening it for writing fails for any reason
        // (EIO included); when the permissions allow writing, that is not the cause.
        if (::access(path_.c_str(), W_OK) == 0) {
          throw_open(SQLITE_READONLY,
                     "SQLite could open it only for reading although its permissions allow "
                     "writing: opening it for writing failed",
                     "check the disk (an I/O error) and the mount (read-only?), then retry");
        }
        throw_open(SQLITE_READONLY, "the file is read-only for this process");
      }
      switch_to_wal(options.busy_timeout);
      exec(options.durability == durability_mode::full ? "PRAGMA synchronous=FULL"
                                                       : "PRAGMA synchronous=NORMAL");
    } catch (...) {
      keep_wal_on_close();
      cache_.clear();
      sqlite3_close_v2(db_);
      throw;
    }
  }
  /// Tag of the in-memory constructor.
  struct in_memory_t {};
  /// A private in-memory database (no file, no WAL): the schema check applies the
  /// migrations to one to learn the shape they give a file.
  explicit connection(in_memory_t /*tag*/) : path_(":memory:"), busy_{{}, {}} {
    const int rc =
        sqlite3_open_v2(path_.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      std::unique_ptr<sqlite3, int (*)(sqlite3*)> guard{std::exchange(db_, nullptr),
                                                        sqlite3_close_v2};
      throw_error(guard.get(), rc, "opening an in-memory database", path_);
    }
    sqlite3_extended_result_codes(db_, 1);
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  connection(connection&&) = delete;
  connection& operator=(connection&&) = delete;
  ~connection() {
    cache_.clear();  // statements first: close_v2 would otherwise defer
    sqlite3_close_v2(db_);
  }

  /// The file this connection opened.
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  /// True when opened with open_options::read_only.
  [[nodiscard]] bool read_only() const noexcept { return read_only_; }
  /// The raw handle, for the few calls the layer does not wrap.
  [[nodiscard]] sqlite3* handle() const noexcept { return db_; }

  /// Runs one or more statements without parameters (DDL, PRAGMAs).
  void exec(const char* sql) {
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) throw_error(db_, rc, fmt::format("running \"{:.60}\"", sql), path_);
  }

  /// The cached prepared statement for `sql`, with `args` bound to parameters 1..n.
  /// Bound text and blobs are not copied: keep them alive while using the result.
  template <class... Args>
  [[nodiscard]] statement_use query(std::string_view sql, const Args&... args) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) {
      it = cache_.emplace(std::string{sql}, statement{db_, sql, path_}).first;
    }
    statement_use use{it->second};
    use->bind_all(args...);
    return use;
  }

  /// Runs `sql` with `args` to completion; returns the number of rows changed.
  template <class... Args>
  std::int64_t run(std::string_view sql, const Args&... args) {
    query(sql, args...)->run();
    return changes();
  }

  /// The number of rows the last finished INSERT, UPDATE or DELETE changed.
  [[nodiscard]] std::int64_t changes() const noexcept { return sqlite3_changes64(db_); }

  /// The id of the row the last INSERT created.
  [[nodiscard]] std::int64_t last_insert_rowid() const noexcept {
    return sqlite3_last_insert_rowid(db_);
  }

  /// PRAGMA data_version: changes whenever another connection commits to the file.
  [[nodiscard]] std::int64_t data_version() {
    auto q = query("PRAGMA data_version");
    return q->step() ? q->int64(0) : 0;
  }

  /// Closing will not checkpoint the WAL into the database file. For a file durable
  /// refuses: a WAL that is damaged or belongs to another file must not be copied into it.
  void keep_wal_on_close() noexcept {
    sqlite3_db_config(db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1,  // NOLINT: SQLite's C API
                      nullptr);
  }

  /// True while a transaction is open on this connection.
  [[nodiscard]] bool in_transaction() const noexcept { return sqlite3_get_autocommit(db_) == 0; }

 private:
  /// Throws for an open that failed because of `why`; `what_to_do` replaces the general
  /// advice for `code` (which, for SQLITE_CANTOPEN, speaks of creating the file).
  [[noreturn]] void throw_open(int code, const std::string& why,
                               std::string_view what_to_do = {}) const {
    throw sqlite_error(fmt::format("durable: sqlite: opening the database failed on \"{}\": {}; {}",
                                   path_, why, what_to_do.empty() ? advice(code) : what_to_do),
                       code, code, path_);
  }

  // Reading the header here turns "not a database" into an error at open time. The
  // switch needs an exclusive lock, and SQLite returns SQLITE_BUSY at once (without the
  // busy handler) when another connection is opening the same new file: retry until
  // the busy timeout.
  void switch_to_wal(std::chrono::milliseconds busy_timeout) {
    const auto deadline = steady_after(busy_timeout);
    for (;;) {
      try {
        statement mode{db_, "PRAGMA journal_mode=WAL", path_};
        if (!mode.step() || mode.text(0) != "wal") {
          throw_open(SQLITE_CANTOPEN, "the database could not be switched to WAL mode");
        }
        return;
      } catch (const busy_error&) {
        if (std::chrono::steady_clock::now() >= deadline) throw;
        std::this_thread::sleep_for(std::chrono::milliseconds{1});
      }
    }
  }

  // Waiting for a lock another connection holds. SQLite's own handler sleeps longer and
  // longer between tries (up to 100 ms): with many processes writing in turn, a waiter
  // that sleeps long keeps losing the lock to those that just asked, and runs out its
  // timeout although no one holds the lock for long. This one tries again within 0.1
  // to 3.2 ms (jittered), and its timeout counts from the last commit of another connection
  // (seen as a change of the WAL file): busy_error then means that one connection held
  // the lock, without committing, for longer than the busy timeout.
  struct busy_wait {
    std::string wal;
    std::chrono::milliseconds timeout;
    std::chrono::steady_clock::time_point deadline{};
    struct stat seen {};
    std::minstd_rand jitter{std::random_device{}()};

    static bool same(const struct stat& a, const struct stat& b) noexcept {
      return a.st_ino == b.st_ino && a.st_size == b.st_size &&
             a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
    }

    static int on_busy(void* self, int count) noexcept {
      auto& w = *static_cast<busy_wait*>(self);
      const auto now = std::chrono::steady_clock::now();
      struct stat st {};
      if (::stat(w.wal.c_str(), &st) != 0) st = {};
      if (count == 0 || !same(st, w.seen)) {  // first try, or another commit since
        w.seen = st;
        w.deadline = now + w.timeout;
      }
      if (now >= w.deadline) return 0;  // SQLITE_BUSY: busy_error
      const auto cap = std::uint32_t{100} << static_cast<unsigned>(std::min(count, 5));
      const std::chrono::microseconds pause{1 + w.jitter() % cap};
      std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(pause, w.deadline - now));
      return 1;
    }
  };

  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  std::string path_;
  bool read_only_ = false;
  busy_wait busy_;
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, statement, string_hash, std::equal_to<>> cache_;
};

/// A write transaction: BEGIN IMMEDIATE on construction (waits up to the busy timeout
/// for the write lock, then throws busy_error), ROLLBACK on destruction unless committed.
/// The destructor never throws.
class write_transaction {
 public:
  explicit write_transaction(connection& c) : c_(&c) { c_->run("BEGIN IMMEDIATE"); }
  write_transaction(const write_transaction&) = delete;
  write_transaction& operator=(const write_transaction&) = delete;
  write_transaction(write_transaction&&) = delete;
  write_transaction& operator=(write_transaction&&) = delete;
  ~write_transaction() {
    if (c_ != nullptr && c_->in_transaction()) {
      // A failed rollback leaves nothing to do here; SQLite rolls back on close anyway.
      sqlite3_exec(c_->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
  /// Makes the transaction's writes durable. Throws (and rolls back) on failure.
  void commit() {
    c_->run("COMMIT");
    c_ = nullptr;
  }

 private:
  connection* c_;
};

/// A read transaction: one consistent snapshot for several SELECTs.
class read_transaction {
 public:
  explicit read_transaction(connection& c) : c_(&c) { c_->run("BEGIN DEFERRED"); }
  read_transaction(const read_transaction&) = delete;
  read_transaction& operator=(const read_transaction&) = delete;
  read_transaction(read_transaction&&) = delete;
  read_transaction& operator=(read_transaction&&) = delete;
  ~read_transaction() {
    if (c_->in_transaction()) sqlite3_exec(c_->handle(), "COMMIT", nullptr, nullptr, nullptr);
  }

 private:
  connection* c_;
};

}  // namespace durable::inline v0::detail::sqlite
