// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// durable's tables on PostgreSQL and their versioned migrations. The tables live in the
/// first schema of the connection's search_path (current_schema()), so one database can
/// hold several independent durable databases, one per schema. Part of the PostgreSQL layer.
///
/// Version 2 has the semantics of SQLite's schema version 2 (detail/sqlite/schema.hpp),
/// column by column; version 3 adds the counters that answer size(), the hard limit and
/// whole-DLQ counts without a scan, as SQLite's version 3 does; version 4 the job types
/// and the views, version 5 the Worker's columns and the barrier index, version 6 the
/// claim index with codec and fingerprint, as SQLite's versions 4 to 6 do. Every time
/// column holds BIGINT milliseconds since the Unix epoch, UTC.

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

// Version 4: what lets people and tools read a database without the C++ types, as SQLite's
// version 4 does (docs/schema.md).
// - durable_job_types keeps, once per (codec, fingerprint), the codec's description of the
//   job type (pfr_codec::description<Job>()), recorded when a Queue or DeadLetterQueue of
//   that type is opened; the `durable` tool renders payloads from it.
// - Read-only views with ISO 8601 UTC times, hexadecimal fingerprints and each job's
//   state, for people querying with psql. They compute "now" when read; the tables stay
//   the interface programs write through. Totals come from the counters.
inline constexpr migration schema_v4{4, R"sql(
CREATE TABLE durable_job_types (
  codec        TEXT COLLATE "C" NOT NULL,
  fingerprint  BIGINT NOT NULL,
  description  TEXT NOT NULL,
  recorded_at  BIGINT NOT NULL,
  PRIMARY KEY (codec, fingerprint)
);
CREATE FUNCTION durable_iso_time(ms BIGINT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $fn$
  SELECT to_char(timestamp '1970-01-01' + ms * interval '1 millisecond',
                 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$fn$;
CREATE FUNCTION durable_hex(v BIGINT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $fn$
  SELECT lpad(to_hex(v), 16, '0')
$fn$;
CREATE VIEW durable_view_jobs AS
SELECT j.id, j.queue,
  CASE WHEN j.run_at <= now.ms THEN 'pending'
       WHEN j.lease_token IS NULL THEN 'scheduled' ELSE 'claimed' END AS state,
  j.key_int, j.key_text, j.priority, durable_iso_time(j.run_at) AS run_at,
  durable_iso_time(j.enqueued_at) AS enqueued_at, j.attempts, j.max_attempts, j.sequential,
  j.unique_key, j.claimed_by, j.codec, durable_hex(j.fingerprint) AS fingerprint,
  octet_length(j.payload) AS payload_bytes, j.history
FROM durable_jobs AS j, (SELECT (extract(epoch FROM now()) * 1000)::int8 AS ms) AS now;
CREATE VIEW durable_view_queues AS
WITH now AS (SELECT (extract(epoch FROM now()) * 1000)::int8 AS ms),
names AS (SELECT name FROM durable_queues UNION SELECT queue FROM durable_queue_counts),
later AS (SELECT n.name, coalesce(q.paused, false) AS paused, q.hard_limit, q.soft_limit,
  (SELECT coalesce(sum(jobs), 0)::int8 FROM durable_queue_counts WHERE queue = n.name) AS jobs,
  (SELECT count(*) FROM durable_jobs AS j WHERE j.queue = n.name AND j.run_at > now.ms
    AND j.lease_token IS NULL) AS scheduled,
  (SELECT count(*) FROM durable_jobs AS j WHERE j.queue = n.name AND j.run_at > now.ms
    AND j.lease_token IS NOT NULL) AS claimed
  FROM names AS n LEFT JOIN durable_queues AS q ON q.name = n.name, now)
SELECT name AS queue, paused, hard_limit, soft_limit, jobs,
  jobs - scheduled - claimed AS pending, scheduled, claimed
FROM later;
CREATE VIEW durable_view_dead_letter_queues AS
SELECT dlq, (sum(entries) - sum(redriven))::int8 AS entries, sum(redriven)::int8 AS redriven
FROM durable_dead_letter_counts GROUP BY dlq;
CREATE VIEW durable_view_dead_letters AS
SELECT id, dlq, queue, job_id, origin, key_int, key_text, error_type, message, context,
  redrive_policy, attempts, max_attempts, priority, sequential, unique_key,
  durable_iso_time(enqueued_at) AS enqueued_at, durable_iso_time(failed_at) AS failed_at,
  durable_iso_time(redriven_at) AS redriven_at, codec,
  durable_hex(fingerprint) AS fingerprint, octet_length(payload) AS payload_bytes, history
FROM durable_dead_letters;
CREATE VIEW durable_view_job_types AS
SELECT codec, durable_hex(fingerprint) AS fingerprint, description,
  durable_iso_time(recorded_at) AS recorded_at
FROM durable_job_types;
)sql"};

// Version 5: the Worker's additions, as SQLite's version 5.
// - timeout_ms: how long one attempt may run (NULL: the worker's default), kept by a move
//   to a DLQ and by a redrive.
// - first_run_at: the first claim's time; ready_at: when the job became claimable for its
//   latest claim (its run_at before that claim). Both NULL until the first claim.
// - durable_jobs_barrier: the sequential jobs of each queue by id, for the barrier every
//   claim checks (claim.hpp); empty for queues without sequential jobs, so other jobs pay
//   nothing on push, claim or ack.
inline constexpr migration schema_v5{5, R"sql(
ALTER TABLE durable_jobs ADD COLUMN timeout_ms BIGINT;
ALTER TABLE durable_jobs ADD COLUMN first_run_at BIGINT;
ALTER TABLE durable_jobs ADD COLUMN ready_at BIGINT;
ALTER TABLE durable_dead_letters ADD COLUMN timeout_ms BIGINT;
CREATE INDEX durable_jobs_barrier ON durable_jobs (queue, id) WHERE sequential;
)sql"};

// Version 6: a typed claim (one that takes only the job types its reader decodes,
// storage::claim_request::fingerprints) walks durable_jobs_claim from the head and skips
// other types within the index, as SQLite's version 6: the claim index also holds (codec,
// fingerprint) after id, so ORDER BY priority DESC, run_at, id stays the index order and
// pushes, claims and acks still write one claim index entry each.
inline constexpr migration schema_v6{6, R"sql(
DROP INDEX durable_jobs_claim;
CREATE INDEX durable_jobs_claim ON durable_jobs
  (queue, priority DESC, run_at, id, codec, fingerprint);
)sql"};

/// The migrations of this build, in order; the last one is the supported version.
inline constexpr std::array migrations{schema_v2, schema_v3, schema_v4, schema_v5, schema_v6};

/// The oldest schema version a read-only open reads: version 5 (reads select its columns);
/// an older schema is migrated by one read-write open first (`durable migrate`).
inline constexpr std::int64_t oldest_readable_version = 5;

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

/// Checks, without writing, that the connection's schema is one this build reads:
/// durable's tables (else schema_error, found 0), not newer than the current version, not
/// older than oldest_readable_version (a read-only open does not migrate).
inline void check_schema_readable(connection& c) {
  c.doing("opening the database");
  const std::int64_t supported = migrations.back().version;
  const std::int64_t found = stored_schema_version(c);
  if (found >= oldest_readable_version && found <= supported) return;
  std::string why;
  if (found == 0) {
    why =
        "has no durable tables in the schema its search_path selects; give the connection "
        "string of a database that durable created";
  } else if (found > supported) {
    why = fmt::format(
        "has schema version {}, newer than the version {} this build supports; "
        "use a durable build as new as the programs that write it",
        found, supported);
  } else {
    why = fmt::format(
        "has schema version {}, older than the version {} this build reads, "
        "and a read-only open does not migrate; migrate it (open it read-write once, e.g. "
        "`durable migrate`) after upgrading every program that uses it",
        found, oldest_readable_version);
  }
  throw schema_error(fmt::format("durable: schema: \"{}\" {}", c.target(), why), found, supported,
                     c.target());
}

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
