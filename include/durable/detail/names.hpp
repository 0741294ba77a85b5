// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Validation of the names users give queues and dead-letter queues.

#include <fmt/format.h>

#include <string>
#include <string_view>

#include "durable/exceptions.hpp"

namespace durable::inline v0::detail {

/// The longest queue name durable accepts, in bytes.
inline constexpr std::size_t max_name_length = 128;

/// Throws invalid_argument_error unless `name` is 1 to 128 characters from
/// [A-Za-z0-9_.:/-]. Names are always bound as values, never spliced into SQL; the rule
/// keeps them readable in logs and safe in file names and metrics labels.
inline void validate_name(std::string_view argument, std::string_view name) {
  const auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == ':' || c == '/';
  };
  std::string_view problem;
  if (name.empty()) {
    problem = "is empty";
  } else if (name.size() > max_name_length) {
    problem = "is longer than 128 bytes";
  } else {
    for (const char c : name) {
      if (!allowed(c)) {
        problem = "contains a character outside [A-Za-z0-9_.:/-]";
        break;
      }
    }
  }
  if (problem.empty()) return;
  // Show the name escaped, cut to a readable length: it may be hostile.
  throw invalid_argument_error(
      std::string{argument},
      fmt::format("durable: invalid argument: {} {:?} {}; use 1 to 128 characters from "
                  "[A-Za-z0-9_.:/-]",
                  argument, name.substr(0, 64), problem));
}

}  // namespace durable::inline v0::detail
