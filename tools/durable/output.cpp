// SPDX-License-Identifier: MIT
#include "output.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <variant>

#include <durable/detail/iso_time.hpp>

#include "text.hpp"

namespace durable_cli {

using nlohmann::json;

json key_json(const std::optional<durable::job_key>& key) {
  if (!key) return nullptr;
  if (const auto* i = std::get_if<std::int64_t>(&*key)) return *i;
  return std::get<std::string>(*key);
}

std::string key_text(const std::optional<durable::job_key>& key) {
  if (!key) return "-";
  if (const auto* i = std::get_if<std::int64_t>(&*key)) return std::to_string(*i);
  return printable(std::get<std::string>(*key));
}

std::string iso(std::int64_t ms) { return durable::detail::iso8601_utc_ms(ms); }

json history_json(const std::vector<durable::attempt_record>& history) {
  json out = json::array();
  for (const auto& a : history) {
    out.push_back({{"attempt", a.attempt},
                   {"error_type", a.error_type},
                   {"message", a.message},
                   {"at", iso(durable::detail::to_unix_ms(a.at))}});
  }
  return out;
}

void add_payload(json& object, const rendered_payload& payload) {
  object["payload_format"] = payload.format;
  object["payload"] = payload.format == "json" ? json::parse(payload.text) : json(payload.text);
  if (!payload.note.empty()) object["payload_note"] = payload.note;
}

void print_or_none(const table& t, const char* none) {
  if (t.empty()) {
    std::puts(none);
  } else {
    t.print(stdout);
  }
}

void print_history(const context& ctx, const std::vector<durable::attempt_record>& history) {
  std::puts("\nhistory:");
  if (history.empty()) std::puts("  no failed attempt");
  for (const auto& a : history) {
    const auto line =
        fmt::format("  {}. {}  {}: {}\n", a.attempt, ctx.time(durable::detail::to_unix_ms(a.at)),
                    printable(a.error_type), printable(a.message));
    std::fputs(line.c_str(), stdout);
  }
}

void print_payload(const rendered_payload& payload, std::size_t bytes) {
  const auto body = payload.format == "json" ? json::parse(payload.text).dump(2) : payload.text;
  auto text =
      fmt::format("\npayload ({}, {} bytes):\n{}\n", payload.format, bytes, printable_block(body));
  if (!payload.note.empty()) text += fmt::format("note: {}\n", printable(payload.note));
  std::fputs(text.c_str(), stdout);
}

}  // namespace durable_cli
