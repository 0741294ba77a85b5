// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Turns SQLite result codes into durable exceptions whose messages say what failed,
/// on which file, and what to do.

#include <fmt/format.h>
#include <sqlite3.h>

#include <string>
#include <string_view>

#include "durable/exceptions.hpp"

namespace durable::inline v0::detail::sqlite {

/// What a user can do about a failure with primary result code `code`.
[[nodiscard]] inline std::string_view advice(int code) noexcept {
  switch (code) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return "another connection held the database lock longer than the busy timeout; "
             "retry later or raise open_options::busy_timeout";
    case SQLITE_NOTADB:
      return "the file is not a SQLite database; point durable at a new file or at one "
             "durable created";
    case SQLITE_READONLY:
      return "durable needs write access to the database file and to its directory "
             "(for the -wal and -shm files); check permissions and the mount";
    case SQLITE_CANTOPEN:
      return "check that the directory exists and that the file can be created or opened";
    case SQLITE_CORRUPT:
      return "the file is damaged; restore it from a backup (PRAGMA integrity_check shows "
             "what is broken)";
    case SQLITE_FULL: return "the disk is full; free space and retry";
    case SQLITE_IOERR: return "an I/O error occurred; check the disk and the file system";
    case SQLITE_PERM: return "the operating system refused access; check permissions";
    default: return "see the SQLite result code";
  }
}

/// Throws the durable exception for SQLite result `rc` (busy_error for BUSY/LOCKED,
/// sqlite_error otherwise). `doing` says what durable was doing, e.g. "claiming a job".
[[noreturn]] inline void throw_error(sqlite3* db, int rc, std::string_view doing,
                                     const std::string& path) {
  const int extended = (db != nullptr) ? sqlite3_extended_errcode(db) : rc;
  const int primary = rc & 0xff;
  const char* detail = (db != nullptr) ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string message =
      fmt::format("durable: sqlite: {} failed on \"{}\": {} (code {}, extended {}); {}", doing,
                  path.empty() ? std::string_view{":memory:"} : std::string_view{path}, detail,
                  primary, extended, advice(primary));
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    throw busy_error(message, primary, extended, path);
  }
  throw sqlite_error(message, primary, extended, path);
}

}  // namespace durable::inline v0::detail::sqlite
