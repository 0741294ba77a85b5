// SPDX-License-Identifier: MIT
#pragma once
// The PostgreSQL test server, for the conformance suite on the postgres backend and for
// tests/test_postgres.cpp: $DURABLE_TEST_POSTGRES names it (a libpq connection string;
// scripts/test.sh starts a throwaway cluster and sets it). Each database target is a fresh
// schema, named after the test's temp directory, dropped when the test process exits.
// Without the variable every test that needs the server fails, saying so: in CI a
// missing server is a failure, never a skip.

#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <durable/postgres.hpp>  // registers the backend for PostgreSQL targets

#include "support.hpp"

namespace durable_test {

/// $DURABLE_TEST_POSTGRES; throws when it is not set.
inline std::string postgres_server() {
  const char* env = std::getenv("DURABLE_TEST_POSTGRES");
  if (env == nullptr || *env == '\0') {
    throw std::runtime_error(
        "the PostgreSQL tests need a server: set DURABLE_TEST_POSTGRES to a libpq connection "
        "string (e.g. \"host=/tmp/pg dbname=postgres\"), or run scripts/test.sh, which starts "
        "a throwaway server");
  }
  return env;
}

/// `server` with its search_path set to `schema` (which must need no quoting).
inline std::string with_search_path(const std::string& server, const std::string& schema) {
  if (server.starts_with("postgresql://") || server.starts_with("postgres://")) {
    return server + (server.find('?') == std::string::npos ? "?" : "&") +
           "options=-csearch_path%3D" + schema;
  }
  return server + " options=-csearch_path=" + schema;
}

/// Runs `sql` on a connection of its own to the test server; throws with the server's message.
inline void run_on_server(const std::string& sql) {
  PGconn* conn = PQconnectdb(postgres_server().c_str());
  std::string failure;
  if (PQstatus(conn) != CONNECTION_OK) {
    failure = std::string{"cannot connect to $DURABLE_TEST_POSTGRES: "} + PQerrorMessage(conn);
  } else {
    PQclear(PQexec(conn, "SET client_min_messages = warning"));
    PGresult* r = PQexec(conn, sql.c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
      failure = "\"" + sql + "\" failed: " + PQresultErrorMessage(r);
    }
    PQclear(r);
  }
  PQfinish(conn);
  if (!failure.empty()) throw std::runtime_error(failure);
}

/// A plain libpq connection for tests that look at or change the server behind durable's
/// back. Results as text; every failure throws with the server's message.
class raw_connection {
 public:
  explicit raw_connection(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) {
      const std::string message = PQerrorMessage(conn_);
      PQfinish(conn_);
      throw std::runtime_error("cannot connect: " + message);
    }
    PQclear(PQexec(conn_, "SET client_min_messages = warning"));
  }
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;
  ~raw_connection() { PQfinish(conn_); }

  /// The rows of `sql` (one or more statements; the last one's rows), each a vector of
  /// column texts ("" for NULL).
  std::vector<std::vector<std::string>> query(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const auto status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      const std::string message = PQresultErrorMessage(r);
      PQclear(r);
      throw std::runtime_error("\"" + sql + "\" failed: " + message);
    }
    std::vector<std::vector<std::string>> rows;
    for (int i = 0; i < PQntuples(r); ++i) {
      auto& row = rows.emplace_back();
      for (int j = 0; j < PQnfields(r); ++j) row.emplace_back(PQgetvalue(r, i, j));
    }
    PQclear(r);
    return rows;
  }
  /// The first column of the first row of `sql`.
  std::string value(const std::string& sql) {
    const auto rows = query(sql);
    if (rows.empty() || rows.front().empty()) throw std::runtime_error("no value: " + sql);
    return rows.front().front();
  }

 private:
  PGconn* conn_;
};

/// The schemas this process created, dropped at exit (by the process that created them).
class schema_registry {
 public:
  schema_registry() = default;
  schema_registry(const schema_registry&) = delete;
  schema_registry& operator=(const schema_registry&) = delete;
  ~schema_registry() {
    if (owner_ != getpid() || schemas_.empty()) return;
    std::string sql;
    for (const auto& s : schemas_) sql += "DROP SCHEMA IF EXISTS " + s + " CASCADE;";
    try {
      run_on_server(sql);
    } catch (const std::exception&) {  // a leftover schema in a throwaway server
    }
  }
  /// Creates schema `name` (dropping a leftover of that name first), once: asking again
  /// for a name, as a test that reopens its database does, keeps the schema.
  void create(const std::string& name) {
    std::lock_guard lock{mutex_};
    if (std::find(schemas_.begin(), schemas_.end(), name) != schemas_.end()) return;
    run_on_server("DROP SCHEMA IF EXISTS " + name + " CASCADE; CREATE SCHEMA " + name);
    schemas_.push_back(name);
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> schemas_;
  pid_t owner_ = getpid();
};

inline schema_registry& schemas() {
  static schema_registry registry;
  return registry;
}

/// A schema name from `unique_name`: lower-case letters, digits and '_', at most 63 bytes.
inline std::string schema_name(const std::string& unique_name) {
  std::string s = "t_";
  for (const char c : unique_name) {
    s += std::isalnum(static_cast<unsigned char>(c)) != 0
             ? static_cast<char>(std::tolower(static_cast<unsigned char>(c)))
             : '_';
  }
  if (s.size() > 63) s = s.substr(0, 30) + s.substr(s.size() - 33);
  return s;
}

/// A fresh, empty database target on the test server: a new schema.
inline std::string postgres_target(const std::string& unique_name) {
  const auto server = postgres_server();
  const auto schema = schema_name(unique_name);
  schemas().create(schema);
  return with_search_path(server, schema);
}

/// Makes temp_dir::db() give fresh schemas of the test server.
inline void use_postgres() { target_factory() = postgres_target; }

}  // namespace durable_test
