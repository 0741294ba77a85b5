// SPDX-License-Identifier: MIT
#include "context.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <string>

#include <durable/detail/iso_time.hpp>
#include <durable/detail/sqlite/schema.hpp>

#include "text.hpp"

namespace durable_cli {

durable::database context::open(bool write) const {
  durable::open_options read_only;
  read_only.read_only = true;
  durable::database checked{target, read_only};
  if (!write) return checked;
  namespace sql = durable::detail::sqlite;
  const auto supported = sql::migrations.back().version;
  sql::connection c{target, read_only};
  if (const auto found = sql::stored_schema_version(c); found != supported) {
    throw durable::schema_error(
        fmt::format("durable: schema: \"{}\" has schema version {}, older than the version {} "
                    "this command writes, and it does not migrate; run `durable migrate` after "
                    "upgrading every program that uses the file",
                    target, found, supported),
        found, supported, target);
  }
  return durable::database{target};  // exists, current schema: nothing created or migrated
}

std::string context::time(std::int64_t ms) const {
  return utc ? durable::detail::iso8601_utc_ms(ms) : relative_time(ms, now_ms);
}

void context::emit(const nlohmann::json& object) {
  const auto line = object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + '\n';
  std::fputs(line.c_str(), stdout);
}

}  // namespace durable_cli
