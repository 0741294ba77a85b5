// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// How durable opens a database file: durability, lock waiting, read-only.

#include <chrono>
#include <cstdint>

namespace durable::inline v0 {

/// What a committed write survives. See README, "Guarantees".
enum class durability_mode {
  /// SQLite `synchronous=NORMAL` in WAL mode: a commit survives the process being
  /// killed at any moment; on power loss or an OS crash the last commits may roll back.
  normal,
  /// SQLite `synchronous=FULL`: a commit also survives power loss and OS crashes,
  /// at the price of an fsync per commit.
  full,
};

/// Options for opening a database file; shared by Queue and DeadLetterQueue.
struct open_options {
  /// What a committed write survives.
  durability_mode durability = durability_mode::normal;
  /// How long a write waits for a lock that another connection holds without committing
  /// before `busy_error`. Waiting while other connections take the lock in turn, each
  /// committing, does not count: many processes writing one file never time out.
  std::chrono::milliseconds busy_timeout{5000};
  /// SQLite's page cache of each connection, in KiB (`PRAGMA cache_size = -N`). A process
  /// opens one writer and a few reader connections per database file. The default keeps
  /// the hot index pages of a queue or a DLQ with a million rows in memory; SQLite's own
  /// default is 2,000 KiB. Raise it for window queries over large DLQs, lower it for
  /// many small databases. Must be >= 0.
  std::int64_t page_cache_kib = 8192;
  /// Open an existing database for reading only, as tools do: a missing file is an error
  /// (never created), nothing is migrated or switched to WAL, and every write fails with
  /// sqlite_error. A file older than schema version 5 (whose columns reads select) or
  /// newer than this build's is refused with schema_error: read-only opens do not migrate.
  bool read_only = false;
};

}  // namespace durable::inline v0
