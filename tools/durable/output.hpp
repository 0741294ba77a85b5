// SPDX-License-Identifier: MIT
#pragma once
// Output shared by the commands: keys, attempt histories and payloads, as table text or
// JSON values.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <durable/job.hpp>

#include "context.hpp"
#include "payload.hpp"
#include "text.hpp"

namespace durable_cli {

/// A job key as JSON: a number, a string, or null.
[[nodiscard]] nlohmann::json key_json(const std::optional<durable::job_key>& key);
/// A job key for a table: the number, the printable string, or "-".
[[nodiscard]] std::string key_text(const std::optional<durable::job_key>& key);
/// `ms` as ISO 8601 UTC with milliseconds.
[[nodiscard]] std::string iso(std::int64_t ms);

/// A history as a JSON array of {attempt, error_type, message, at}.
[[nodiscard]] nlohmann::json history_json(const std::vector<durable::attempt_record>& history);
/// Sets "payload_format", "payload" (a JSON value for pfr, else a string) and, when there
/// is one, "payload_note" in `object`.
void add_payload(nlohmann::json& object, const rendered_payload& payload);

/// Prints `t`, or `none` when it has no rows.
void print_or_none(const table& t, const char* none);
/// Prints "history:" and one line per attempt.
void print_history(const context& ctx, const std::vector<durable::attempt_record>& history);
/// Prints "payload (format, N bytes):", the payload (JSON indented) and its note.
void print_payload(const rendered_payload& payload, std::size_t bytes);

}  // namespace durable_cli
