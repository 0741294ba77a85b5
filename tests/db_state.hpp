// SPDX-License-Identifier: MIT
#pragma once
// Reading a database file the way the reliability tests compare it: every durable table
// dumped as text (random values masked), PRAGMA integrity_check, and the "crash copy" of
// a file: its database and WAL copied as they are now, without the shared memory, and
// opened elsewhere, which is what a process crashing at this instant would leave.

#include <sqlite3.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace durable_test {

/// A plain SQLite handle on an existing file (no durable code involved).
class raw_db {
 public:
  explicit raw_db(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      const std::string why = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close_v2(db_);
      throw std::runtime_error("raw_db: cannot open " + path + ": " + why);
    }
    sqlite3_busy_timeout(db_, 60000);
  }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;
  ~raw_db() { sqlite3_close_v2(db_); }

  /// Every row of `sql` as text, columns separated by '|', rows by '\n'.
  [[nodiscard]] std::string rows(const std::string& sql) const {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
      throw std::runtime_error("raw_db: " + sql + ": " + sqlite3_errmsg(db_));
    }
    std::string out;
    int rc = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      for (int i = 0; i < sqlite3_column_count(s); ++i) {
        if (i > 0) out += '|';
        const auto* text = sqlite3_column_text(s, i);
        if (text != nullptr) {
          out.append(reinterpret_cast<const char*>(text),
                     static_cast<std::size_t>(sqlite3_column_bytes(s, i)));
        } else {
          out += "NULL";
        }
      }
      out += '\n';
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) throw std::runtime_error("raw_db: " + sql + ": " + sqlite3_errmsg(db_));
    return out;
  }

  /// PRAGMA integrity_check's answer: "ok\n" for a sound file.
  [[nodiscard]] std::string integrity() const { return rows("PRAGMA integrity_check"); }

  /// The schema and every row of every table, in a stable order. Lease tokens and the
  /// random database id are masked: they differ between otherwise identical runs.
  [[nodiscard]] std::string dump() const {
    std::string out = rows("SELECT type, name, sql FROM sqlite_schema ORDER BY name");
    for (const auto& table : lines(rows(
             "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_stat%' "
             "AND name <> 'durable_job_types' ORDER BY name"))) {
      std::string columns;
      for (const auto& column :
           lines(rows("SELECT name FROM pragma_table_info('" + table + "') ORDER BY cid"))) {
        if (!columns.empty()) columns += ", ";
        if (column == "lease_token" || column == "origin") {
          columns += column + " IS NOT NULL";
        } else if (table == "durable_meta" && column == "value") {
          columns += "CASE WHEN key = 'database_id' THEN 'id' ELSE value END";
        } else {
          columns += "quote(" + column + ")";
        }
      }
      out += "-- " + table + '\n' + rows("SELECT " + columns + " FROM " + table + " ORDER BY 1");
    }
    return out;
  }

 private:
  static std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (auto end = text.find('\n'); end != std::string::npos; end = text.find('\n', start)) {
      out.push_back(text.substr(start, end - start));
      start = end + 1;
    }
    return out;
  }

  sqlite3* db_ = nullptr;
};

/// Copies `path` and its WAL (not its shared memory) into `dir` and returns the copy's
/// path: the file a crash at this instant would leave, recovered when opened. Only while
/// no other process uses the file: opening it a second time (to copy it) drops this
/// process's POSIX locks on it.
inline std::string crash_copy(const std::string& path, const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  const auto copy = dir / fs::path(path).filename();
  fs::remove(copy);
  fs::remove(copy.string() + "-wal");
  fs::remove(copy.string() + "-shm");
  fs::copy_file(path, copy);
  if (fs::exists(path + "-wal")) fs::copy_file(path + "-wal", copy.string() + "-wal");
  return copy.string();
}

}  // namespace durable_test
