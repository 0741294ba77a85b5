// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// durable's tables on PostgreSQL and their versioned migrations. The tables live in the
/// first schema of the connection's search_path (current_schema()), so one database can
/// hold several independent durable databases, one per schema. Part of the PostgreSQL layer.
///
/// Version 2 has the semantics of SQLite's schema version 2 (detail/sqlite/schema.hpp),
/// column by column; version 3 adds the counters that answer size(), the hard limit and
/// whole-DLQ counts without a scan, as SQLite's version 3 does. Every time column holds
/// BIGINT milliseconds since the Unix epoch, UTC.

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "durable/detail/postgres/connection.hpp"
#include "durable/exceptions.hpp"

namespace durable::inline v0::detail::postgres {

/// One step of the schema: the SQL that brings a database from the previous version to
/// `version`.
struct migration {
  std::int64_t version;
  const char* sql;
};

// Version 2, the first PostgreSQL version (SQLite's versions 1 and 2 together). Notes:
// - Ids are identity columns: a sequence never hands out an id twice, so a dead letter
//   keyed by (origin, job_id) never collides with a later, different job.
// - A job is claimable when run_at <= now. A claimed job has a lease_token and its run_at
//   is its lease end, so an expired lease makes it claimable again with no sweep.
// - A key is an integer (key_int) or a text (key_text), never both: 42 and "42" differ.
// - history is a jsonb array of earlier attempts' errors ({attempt, type, message, at}).
// - Names, keys and error types use the "C" collation: byte order, no locale.
// - Every statement-level insert into durable_jobs notifies channel durable_push with
//   "<queue> <schema>" per queue, so idle workers on other hosts wake at once.
inline constexpr migration schema_v2{2, R"sql(
CREATE TABLE durable_jobs (
  id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  queue        TEXT COLLATE "C" NOT NULL,
  key_int      BIGINT,
  key_text     TEXT COLLATE "C",
  priority     INTEGER NOT NULL DEFAULT 0,
  run_at       BIGINT NOT NULL,
  enqueued_at  BIGINT NOT NULL,
  sequential   BOOLEAN NOT NULL DEFAULT false,
  attempts     BIGINT NOT NULL DEFAULT 0,
  lease_token  BIGINT,
  claimed_by   TEXT,
  codec        TEXT NOT NULL,
  fingerprint  BIGINT NOT NULL,
  payload      BYTEA NOT NULL,
  history      JSONB,
  max_attempts BIGINT NOT NULL DEFAULT 5,
  unique_key   BOOLEAN NOT NULL DEFAULT false,
  CHECK (key_int IS NULL OR key_text IS NULL)
);
CREATE INDEX durable_jobs_claim ON durable_jobs (queue, priority DESC, run_at, id);
CREATE INDEX durable_jobs_key_int ON durable_jobs (queue, key_int) WHERE key_int IS NOT NULL;
CREATE INDEX durable_jobs_key_text ON durable_jobs (queue, key_text) WHERE key_text IS NOT NULL;

CREATE TABLE durable_dead_letters (
  id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  dlq            TEXT COLLATE "C" NOT NULL,
  origin         TEXT,
  job_id         BIGINT,
  queue          TEXT COLLATE "C" NOT NULL,
  key_int        BIGINT,
  key_text       TEXT COLLATE "C",
  priority       INTEGER NOT NULL DEFAULT 0,
  sequential     BOOLEAN NOT NULL DEFAULT false,
  codec          TEXT NOT NULL,
  fingerprint    BIGINT NOT NULL,
  payload        BYTEA NOT NULL,
  error_type     TEXT COLLATE "C" NOT NULL,
  message        TEXT NOT NULL,
  context        TEXT NOT NULL DEFAULT '',
  history        JSONB,
  attempts       BIGINT NOT NULL,
  enqueued_at    BIGINT NOT NULL,
  failed_at      BIGINT NOT NULL,
  redriven_at    BIGINT,
  max_attempts   BIGINT NOT NULL DEFAULT 5,
  unique_key     BOOLEAN NOT NULL DEFAULT false,
  redrive_policy TEXT NOT NULL DEFAULT 'optional',
  UNIQUE (origin, job_id),
  CHECK (key_int IS NULL OR key_text IS NULL)
);
CREATE INDEX durable_dead_letters_time ON durable_dead_letters
  (dlq, failed_at, id, redriven_at);
CREATE INDEX durable_dead_letters_type ON durable_dead_letters
  (dlq, error_type, failed_at, id, redriven_at);
CREATE INDEX durable_dead_letters_key_int ON durable_dead_letters
  (dlq, key_int, failed_at, id, redriven_at) WHERE key_int IS NOT NULL;
CREATE INDEX durable_dead_letters_key_text ON durable_dead_letters
  (dlq, key_text, failed_at, id, redriven_at) WHERE key_text IS NOT NULL;

CREATE TABLE durable_queues (
  name        TEXT COLLATE "C" PRIMARY KEY,
  hard_limit  BIGINT,
  soft_limit  BIGINT,
  paused      BOOLEAN NOT NULL DEFAULT false
);

CREATE FUNCTION durable_notify_push() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_notify('durable_push', q.queue || ' ' || TG_TABLE_SCHEMA)
    FROM (SELECT DISTINCT queue FROM durable_new_jobs) AS q;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER durable_jobs_notify_push AFTER INSERT ON durable_jobs
  REFERENCING NEW TABLE AS durable_new_jobs
  FOR EACH STATEMENT EXECUTE FUNCTION durable_notify_push();
)sql"};

// Version 3: counters kept in the same transaction as the rows they count (counters.hpp).
// Each queue and DLQ has up to 16 counter rows ("slots"); a session adds its changes to the
// slot of its backend process id, so sessions of many workers seldom wait for one another's
// row lock, and a count is the sum of at most 16 rows. Existing rows are counted into slot 0.
inline constexpr migration schema_v3{3, R"sql(
CREATE TABLE durable_queue_counts (
  queue TEXT COLLATE "C" NOT NULL,
  slot  INTEGER NOT NULL,
  jobs  BIGINT NOT NULL,
  PRIMARY KEY (queue, slot)
);
CREATE TABLE durable_dead_letter_counts (
  dlq      TEXT COLLATE "C" NOT NULL,
  slot     INTEGER NOT NULL,
  entries  BIGINT NOT NULL,
  redriven BIGINT NOT NULL,
  PRIMARY KEY (dlq, slot)
);
INSERT INTO durable_queue_counts (queue, slot, jobs)
  SELECT queue, 0, count(*) FROM durable_jobs GROUP BY queue;
INSERT INTO durable_dead_letter_counts (dlq, slot, entries, redriven)
  SELECT dlq, 0, count(*), count(redriven_at) FROM durable_dead_letters GROUP BY dlq;
)sql"};

/// The migrations of this build, in order; the last one is the supported version.
inline constexpr std::array migrations{schema_v2, schema_v3};

/// The channel pushes are notified on; the payload is "<queue> <schema>".
inline constexpr const char* push_channel = "durable_push";

/// The schema version stored in the connection's schema; 0 when durable has no tables there.
[[nodiscard]] inline std::int64_t stored_schema_version(connection& c) {
  if (c.query("SELECT 1 WHERE to_regclass('durable_meta') IS NOT NULL").rows() == 0) return 0;
  const auto r = c.query("SELECT value FROM durable_meta WHERE key = 'schema_version'");
  std::int64_t version = -1;
  if (r.rows() == 1) {
    const auto text = r.text(0, 0);
    const auto parsed = std::from_chars(text.data(), text.data() + text.size(), version);
    if (parsed.ec != std::errc{} || parsed.ptr != text.data() + text.size()) version = -1;
  }
  if (version < 0) {
    throw schema_error(
        fmt::format("durable: schema: \"{}\" has a durable_meta table without an integer "
                    "schema_version; the schema is damaged or not durable's",
                    c.target()),
        -1, migrations.back().version, c.target());
  }
  return version;
}

/// Holds a session-level advisory lock for its lifetime (the server releases it, too, when
/// the session ends). The destructor never throws.
class advisory_lock {
 public:
  advisory_lock(connection& c, std::string_view key_sql) : c_(c), key_sql_(key_sql) {
    c_.query(fmt::format("SELECT pg_advisory_lock({})", key_sql_));
  }
  advisory_lock(const advisory_lock&) = delete;
  advisory_lock& operator=(const advisory_lock&) = delete;
  advisory_lock(advisory_lock&&) = delete;
  advisory_lock& operator=(advisory_lock&&) = delete;
  ~advisory_lock() {
    if (!c_.broken()) {
      PQclear(PQexec(c_.handle(), fmt::format("SELECT pg_advisory_unlock({})", key_sql_).c_str()));
    }
  }

 private:
  connection& c_;
  std::string_view key_sql_;
};

/// Brings the connection's schema to the newest of `steps`: creates durable's tables in a
/// schema without them, applies missing steps to an older one in one transaction, refuses
/// a newer one with schema_error. Concurrent first opens (several processes or hosts) are
/// serialized by an advisory lock on the schema's name, taken before the transaction
/// starts, so that the transaction sees the tables another session created meanwhile.
inline void migrate(connection& c, std::span<const migration> steps) {
  const std::int64_t supported = steps.back().version;
  const auto check_not_newer = [&](std::int64_t found) {
    if (found > supported) {
      throw schema_error(
          fmt::format("durable: schema: \"{}\" has schema version {}, newer than the version {} "
                      "this build supports; upgrade durable to open it",
                      c.target(), found, supported),
          found, supported, c.target());
    }
  };
  c.doing("opening the database");
  std::int64_t found = stored_schema_version(c);  // fast path: no lock when current
  check_not_newer(found);
  if (found == supported) return;

  const advisory_lock lock{
      c, "hashtextextended('durable.migrate.' || coalesce(current_schema(), ''), 0)"};
  transaction tx{c};
  found = stored_schema_version(c);  // another process may have migrated meanwhile
  check_not_newer(found);
  if (found == supported) return;
  if (found == 0) {
    if (c.query("SELECT 1 WHERE current_schema() IS NOT NULL").rows() == 0) {
      throw schema_error(
          fmt::format("durable: schema: \"{}\" selects no existing schema to create durable's "
                      "tables in; create the schema or fix the search_path",
                      c.target()),
          0, supported, c.target());
    }
    c.exec("CREATE TABLE durable_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)", c.doing());
    std::random_device rd;
    const std::string origin = fmt::format("{:08x}{:08x}{:08x}{:08x}", rd(), rd(), rd(), rd());
    c.query("INSERT INTO durable_meta (key, value) VALUES ('database_id', $1)", origin);
    c.query("INSERT INTO durable_meta (key, value) VALUES ('schema_version', '0')");
  }
  for (const migration& step : steps) {
    if (step.version <= found) continue;
    c.exec(step.sql, c.doing());
    c.query("UPDATE durable_meta SET value = $1 WHERE key = 'schema_version'",
            std::to_string(step.version));
  }
  tx.commit();
}

/// Brings the connection's schema to the current version.
inline void ensure_schema(connection& c) { migrate(c, migrations); }

/// The random id durable gave this database when it created its tables.
[[nodiscard]] inline std::string database_id(connection& c) {
  const auto r = c.query("SELECT value FROM durable_meta WHERE key = 'database_id'");
  if (r.rows() != 1) {
    throw schema_error(
        fmt::format("durable: schema: \"{}\" has no database_id; the schema is damaged",
                    c.target()),
        -1, migrations.back().version, c.target());
  }
  return std::string{r.text(0, 0)};
}

}  // namespace durable::inline v0::detail::postgres
