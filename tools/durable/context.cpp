// SPDX-License-Identifier: MIT
#include "context.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <string>

#include <durable/detail/iso_time.hpp>
#include <durable/detail/sqlite/schema.hpp>
#ifdef DURABLE_CLI_WITH_POSTGRES
#include <durable/postgres.hpp>  // PostgreSQL targets reach the PostgreSQL backend
#endif

#include "text.hpp"

namespace durable_cli {

namespace {

/// The schema version stored in `target` (opened read-only) and the version this build
/// writes; `shown` is the target as messages show it (a connection string redacted).
struct stored_version {
  std::int64_t found = 0;
  std::int64_t supported = 0;
  std::string shown;
};

stored_version read_version(const std::string& target, const durable::open_options& read_only) {
  if (durable::detail::is_postgres_target(target)) {
#ifdef DURABLE_CLI_WITH_POSTGRES
    namespace pg = durable::detail::postgres;
    pg::connection c{target, pg::redact(target), read_only};
    return {pg::stored_schema_version(c), pg::migrations.back().version, c.target()};
#endif
  }
  namespace sql = durable::detail::sqlite;
  sql::connection c{target, read_only};
  return {sql::stored_schema_version(c), sql::migrations.back().version, target};
}

}  // namespace

durable::database context::open(bool write) const {
  durable::open_options read_only;
  read_only.read_only = true;
  durable::database checked{target, read_only};
  if (!write) return checked;
  if (const auto v = read_version(target, read_only); v.found != v.supported) {
    throw durable::schema_error(
        fmt::format("durable: schema: \"{}\" has schema version {}, older than the version {} "
                    "this command writes, and it does not migrate; run `durable migrate` after "
                    "upgrading every program that uses the database",
                    v.shown, v.found, v.supported),
        v.found, v.supported, v.shown);
  }
  return durable::database{target};  // exists, current schema: nothing created or migrated
}

std::int64_t context::schema_version() const {
#ifdef DURABLE_CLI_WITH_POSTGRES
  if (durable::detail::is_postgres_target(target)) {
    return durable::detail::postgres::migrations.back().version;
  }
#endif
  return durable::detail::sqlite::migrations.back().version;
}

std::string context::time(std::int64_t ms) const {
  return utc ? durable::detail::iso8601_utc_ms(ms) : relative_time(ms, now_ms);
}

void context::emit(const nlohmann::json& object) {
  const auto line = object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + '\n';
  std::fputs(line.c_str(), stdout);
}

}  // namespace durable_cli
