// SPDX-License-Identifier: MIT
#pragma once
// What every command gets: the database target, the output mode and "now".

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include <durable/database.hpp>

#include "payload.hpp"

namespace durable_cli {

/// The command line's common options and what follows from them.
struct context {
  /// The database: a SQLite file or a PostgreSQL connection string.
  std::string target;
  /// --json: one JSON object per line instead of tables.
  bool json = false;
  /// --utc: ISO 8601 UTC times instead of "3 min ago".
  bool utc = false;
  /// --render CODEC=COMMAND.
  renderers render;
  /// When the command started, in milliseconds since the Unix epoch.
  std::int64_t now_ms = 0;

  /// Opens the database. Every command first opens it read-only, which refuses a missing
  /// file (never creating it) and a schema this build does not read (reading commands
  /// read the previous version too, as it is); a command that writes also needs the
  /// current version and then opens it read-write, so no command but `migrate` creates or
  /// migrates anything.
  [[nodiscard]] durable::database open(bool write) const;

  /// The schema version this build writes on the target's backend.
  [[nodiscard]] std::int64_t schema_version() const;

  /// A stored time as text: relative ("3 min ago") or, with --utc, ISO 8601 UTC.
  [[nodiscard]] std::string time(std::int64_t ms) const;

  /// Prints `object` as one line of JSON (invalid UTF-8 replaced, never thrown on).
  static void emit(const nlohmann::json& object);
};

}  // namespace durable_cli
