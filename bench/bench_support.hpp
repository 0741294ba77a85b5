// SPDX-License-Identifier: MIT
#pragma once
// What the benchmarks share: a scratch directory, and a raw SQLite connection opened and
// configured exactly as durable opens its own (WAL, synchronous=NORMAL, busy timeout).

#include <sqlite3.h>

#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>

#include <durable/detail/sqlite/schema.hpp>

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
inline sqlite3* open_raw(const std::string& path) {
  sqlite3* db = nullptr;
  check(db,
        sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr));
  sqlite3_busy_timeout(db, 5000);
  check(db, sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", nullptr, nullptr,
                         nullptr));
  return db;
}

/// A persistent prepared statement on `db`; throws with SQLite's message on error.
inline sqlite3_stmt* prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* s = nullptr;
  check(db, sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr));
  return s;
}

}  // namespace durable_bench
