// SPDX-License-Identifier: MIT
#include "context.hpp"

#include <cstdio>
#include <string>

#include <durable/detail/iso_time.hpp>

#include "text.hpp"

namespace durable_cli {

durable::database context::open(bool write) const {
  durable::open_options read_only;
  read_only.read_only = true;
  durable::database checked{target, read_only};
  if (!write) return checked;
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
