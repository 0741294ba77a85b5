// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Turns SQLite result codes into durable exceptions whose messages say what failed,
/// on which file, and what to do.

#include <fmt/format.h>
#include <sqlite3.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>

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
    case SQLITE_FULL:
      return "the disk is full, or the file reached a size limit (a quota, ulimit -f); free "
             "space or raise the limit and retry";
    case SQLITE_IOERR: return "an I/O error occurred; check the disk and the file system";
    case SQLITE_PERM: return "the operating system refused access; check permissions";
    default: return "see the SQLite result code";
  }
}

/// The operating system's error behind an I/O failure on `db` (errno), 0 if unknown.
/// sqlite3_system_errno() is often 0 by the time a statement fails, so the last error of
/// the database file and of its WAL, which SQLite keeps per file, are asked too. Asked for
/// SQLITE_CORRUPT as well: SQLite's unix VFS reports a read failing with EIO as a damaged
/// file (SQLITE_IOERR_CORRUPTFS, returned as SQLITE_CORRUPT).
[[nodiscard]] inline int os_error_code(sqlite3* db, int primary) noexcept {
  if (db == nullptr ||
      (primary != SQLITE_IOERR && primary != SQLITE_FULL && primary != SQLITE_CORRUPT)) {
    return 0;
  }
  int code = sqlite3_system_errno(db);
  if (code == 0) sqlite3_file_control(db, "main", SQLITE_FCNTL_LAST_ERRNO, &code);
  sqlite3_file* wal = nullptr;
  if (code == 0 &&
      sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) == SQLITE_OK &&
      wal != nullptr && wal->pMethods != nullptr) {
    wal->pMethods->xFileControl(wal, SQLITE_FCNTL_LAST_ERRNO, &code);
  }
  return code;
}

/// ", system error 27: File too large" for an I/O failure whose errno is known; else empty.
[[nodiscard]] inline std::string system_detail(int code) {
  if (code == 0) return {};
  return fmt::format(", system error {}: {}", code, std::generic_category().message(code));
}

/// The advice for `primary`, sharpened by the operating system's error where it says more.
[[nodiscard]] inline std::string_view advice(int primary, int system_code) noexcept {
  if (primary == SQLITE_IOERR || primary == SQLITE_FULL) {
    switch (system_code) {
      case EFBIG:
        return "the file reached a size limit (the process's ulimit -f, or the largest file "
               "the file system allows); raise the limit, or make room in the file (ack jobs, "
               "purge dead letters) and retry";
      case ENOSPC:
      case EDQUOT: return advice(SQLITE_FULL);
      default: break;
    }
  }
  if (primary == SQLITE_CORRUPT && system_code != 0) {
    return "the disk reported an error while reading it, which SQLite reports as a damaged "
           "file; the file may well be intact: check the disk, then run PRAGMA "
           "integrity_check, and restore from a backup only if it reports damage";
  }
  return advice(primary);
}

/// Throws the durable exception for SQLite result `rc` (busy_error for BUSY/LOCKED,
/// sqlite_error otherwise). `doing` says what durable was doing, e.g. "claiming a job".
[[noreturn]] inline void throw_error(sqlite3* db, int rc, std::string_view doing,
                                     const std::string& path) {
  const int extended = (db != nullptr) ? sqlite3_extended_errcode(db) : rc;
  const int primary = rc & 0xff;
  const char* detail = (db != nullptr) ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const int system_code = os_error_code(db, primary);
  std::string message =
      fmt::format("durable: sqlite: {} failed on \"{}\": {} (code {}, extended {}{}); {}", doing,
                  path.empty() ? std::string_view{":memory:"} : std::string_view{path}, detail,
                  primary, extended, system_detail(system_code), advice(primary, system_code));
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    throw busy_error(message, primary, extended, path);
  }
  throw sqlite_error(message, primary, extended, path);
}

}  // namespace durable::inline v0::detail::sqlite
