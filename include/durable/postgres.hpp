// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The PostgreSQL backend (CMake: find_package(durable COMPONENTS postgres), link
/// durable::postgres). Including this header lets every durable::database, Queue,
/// DeadLetterQueue and Worker open a PostgreSQL connection string instead of a file:
///
///     durable::Queue<email> q{"postgresql://app@db.internal/jobs", "emails"};
///
/// Connection strings are libpq's: a postgresql:// (or postgres://) URI, or key=value
/// pairs starting with a connection keyword (host=, dbname=, user=, ...). durable's tables
/// live in the first schema of the connection's search_path. See docs/postgres.md.

#include <memory>
#include <string>

#include "durable/database.hpp"
#include "durable/detail/postgres/backend.hpp"
#include "durable/open_options.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0 {

/// Opens the PostgreSQL database `conninfo` names: connects, creates or migrates durable's
/// tables in the schema its search_path selects, and returns the backend, whose pool opens
/// one connection per concurrently calling thread. `options.busy_timeout` bounds lock waits
/// (lock_timeout) and the connect timeout; durability is the server's. Throws
/// invalid_argument_error (a string libpq cannot parse), connection_error (unreachable
/// server, refused credentials), postgres_error, schema_error (a newer schema). No message
/// contains the password.
[[nodiscard]] inline std::shared_ptr<storage::backend> make_postgres_backend(
    const std::string& conninfo, const open_options& options) {
  return std::make_shared<detail::postgres::postgres_backend>(conninfo, options);
}

namespace detail {
/// Registers make_postgres_backend as the factory durable::database uses for PostgreSQL
/// connection strings, in every program that includes this header.
inline const bool postgres_registered = (postgres_factory() = &make_postgres_backend, true);
}  // namespace detail

}  // namespace durable::inline v0
