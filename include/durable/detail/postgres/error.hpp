// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Failures of the PostgreSQL backend as durable exceptions whose messages say what failed,
/// on which target, and what to do; and the redaction that keeps passwords out of them.
/// Part of the PostgreSQL layer.

#include <fmt/format.h>
#include <libpq-fe.h>

#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>

#include "durable/exceptions.hpp"

namespace durable::inline v0::detail::postgres {

/// redact() of a postgresql:// or postgres:// URI.
[[nodiscard]] inline std::string redact_uri(std::string_view conninfo) {
  std::string out;
  out.reserve(conninfo.size());
  const auto scheme_end = conninfo.find("://") + 3;
  // User info ends at the last '@' before the path or query.
  const auto rest = conninfo.substr(scheme_end);
  const auto authority_end = rest.find_first_of("/?");
  const auto authority = rest.substr(0, authority_end);
  const auto at = authority.rfind('@');
  out.append(conninfo.substr(0, scheme_end));
  std::string_view tail = rest;
  if (at != std::string_view::npos) {
    const auto userinfo = authority.substr(0, at);
    const auto colon = userinfo.find(':');
    out.append(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) out.append(":***");
    tail = rest.substr(at);
  }
  // Query parameters: password=... up to the next '&'.
  const auto query = tail.find('?');
  out.append(tail.substr(0, query));
  if (query == std::string_view::npos) return out;
  std::string_view params = tail.substr(query);
  while (!params.empty()) {
    const auto amp = params.find('&', 1);
    const auto param = params.substr(0, amp);
    const auto name = param.substr(1);
    if (name.starts_with("password=")) {
      out.append(param.substr(0, 1)).append("password=***");
    } else {
      out.append(param);
    }
    params.remove_prefix(amp == std::string_view::npos ? params.size() : amp);
  }
  return out;
}

/// The end of the conninfo value starting at `i`: a single-quoted string (with \' and
/// \\), or up to the next space.
[[nodiscard]] inline std::size_t conninfo_value_end(std::string_view s, std::size_t i) {
  const auto n = s.size();
  const bool quoted = i < n && s[i] == '\'';
  if (quoted) ++i;
  while (i < n && (quoted ? s[i] != '\'' : std::isspace(static_cast<unsigned char>(s[i])) == 0)) {
    i += (s[i] == '\\' && i + 1 < n) ? 2U : 1U;
  }
  return quoted && i < n ? i + 1 : i;
}

/// redact() of libpq key = value pairs.
[[nodiscard]] inline std::string redact_pairs(std::string_view conninfo) {
  std::string out;
  out.reserve(conninfo.size());
  const auto n = conninfo.size();
  const auto skip = [&](std::size_t i, auto stop) {
    while (i < n && !stop(static_cast<unsigned char>(conninfo[i]))) ++i;
    return i;
  };
  const auto non_space = [](unsigned char c) { return std::isspace(c) == 0; };
  const auto space_or_eq = [](unsigned char c) { return c == '=' || std::isspace(c) != 0; };
  std::size_t i = 0;
  while (i < n) {
    const auto word_start = i;
    const auto key_start = skip(i, non_space);
    i = skip(key_start, space_or_eq);
    const auto key = conninfo.substr(key_start, i - key_start);
    i = skip(i, non_space);
    if (i >= n || conninfo[i] != '=') {  // not a pair: keep as is
      out.append(conninfo.substr(word_start, i - word_start));
      continue;
    }
    const auto value_start = skip(i + 1, non_space);
    i = conninfo_value_end(conninfo, value_start);
    out.append(conninfo.substr(word_start, value_start - word_start));
    out.append(key == "password" ? std::string_view{"***"}
                                 : conninfo.substr(value_start, i - value_start));
  }
  return out;
}

/// `conninfo` with every password replaced by "***": the password of a URI's user info,
/// a `password` query parameter, and a `password=` key-value pair (quoted or not). All else
/// is kept as written, so a target without a password is returned unchanged.
[[nodiscard]] inline std::string redact(std::string_view conninfo) {
  const bool uri = conninfo.starts_with("postgresql://") || conninfo.starts_with("postgres://");
  return uri ? redact_uri(conninfo) : redact_pairs(conninfo);
}

/// libpq's message as one line: trailing newlines dropped, inner line breaks turned into "; ".
[[nodiscard]] inline std::string one_line(std::string_view message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
    message.remove_suffix(1);
  }
  std::string out;
  out.reserve(message.size());
  for (std::size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\n') {
      out += "; ";
      while (i + 1 < message.size() && (message[i + 1] == '\t' || message[i + 1] == ' ')) ++i;
    } else {
      out += message[i];
    }
  }
  return out;
}

/// True for SQLSTATEs that mean the connection is gone or the server is going away.
[[nodiscard]] inline bool is_connection_state(std::string_view sqlstate) noexcept {
  return sqlstate.starts_with("08") || sqlstate == "57P01" || sqlstate == "57P02" ||
         sqlstate == "57P03";
}

/// True for SQLSTATEs after which running the whole transaction again is safe and useful.
[[nodiscard]] inline bool is_retryable_state(std::string_view sqlstate) noexcept {
  return sqlstate == "40001" || sqlstate == "40P01";
}

/// What a user can do about a failure with `sqlstate`.
[[nodiscard]] inline std::string_view advice(std::string_view sqlstate) noexcept {
  if (sqlstate == "55P03") {
    return "another transaction held a lock longer than open_options::busy_timeout; retry "
           "later or raise the timeout";
  }
  if (sqlstate == "40001" || sqlstate == "40P01") {
    return "a concurrent transaction conflicted with this one; nothing was changed, retrying "
           "is safe";
  }
  if (sqlstate == "42501") {
    return "the role lacks privileges on durable's schema or tables; grant them, or connect "
           "as the role that created them";
  }
  if (sqlstate == "42P01" || sqlstate == "3F000") {
    return "durable's tables are not in the schema the connection's search_path selects; "
           "check the search_path (options=-csearch_path=...) and that the schema exists";
  }
  if (sqlstate == "53100") return "the server's disk is full; free space and retry";
  if (sqlstate == "22021" || sqlstate == "22P05") {
    return "text stored by durable must be valid in the database's encoding (UTF8 "
           "recommended) and free of NUL bytes";
  }
  if (sqlstate == "57014") return "the statement was cancelled (statement_timeout or by hand)";
  return "see the PostgreSQL error code in the server's documentation (Appendix A)";
}

/// Throws connection_error: `doing` failed on `target` because the connection is not usable.
[[noreturn]] inline void throw_connection(std::string_view doing, const std::string& target,
                                          std::string_view libpq_message,
                                          bool during_commit = false) {
  throw connection_error(
      fmt::format("durable: postgres: {} failed on \"{}\": the connection to the server is "
                  "lost or could not be made: {}; {}",
                  doing, target, one_line(libpq_message),
                  during_commit ? "the commit was under way, so the call may have taken effect; "
                                  "the next call reconnects"
                                : "nothing was changed; the next call reconnects (check that "
                                  "the server runs and accepts this connection)"),
      target, during_commit);
}

/// Throws the durable exception for the failed `result` of `conn` (not freed here):
/// connection_error when the connection is gone, postgres_error otherwise.
[[noreturn]] inline void throw_result(PGconn* conn, const PGresult* result, std::string_view doing,
                                      const std::string& target, bool during_commit = false) {
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const std::string sqlstate = state != nullptr ? state : "";
  const char* primary =
      result != nullptr ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const std::string message = primary != nullptr ? primary : one_line(PQerrorMessage(conn));
  if (PQstatus(conn) == CONNECTION_BAD || is_connection_state(sqlstate)) {
    throw_connection(doing, target, message, during_commit);
  }
  throw postgres_error(
      fmt::format("durable: postgres: {} failed on \"{}\": {} (SQLSTATE {}); {}", doing, target,
                  message, sqlstate.empty() ? "none" : sqlstate, advice(sqlstate)),
      sqlstate, target);
}

}  // namespace durable::inline v0::detail::postgres
