// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// durable's tables and their versioned migrations. Part of the SQLite layer.
///
/// Every time column holds INTEGER milliseconds since the Unix epoch, UTC.

#include <array>
#include <cstdint>
#include <random>
#include <span>
#include <string>

#include "durable/detail/sqlite/connection.hpp"
#include "durable/exceptions.hpp"

namespace durable::inline v0::detail::sqlite {

/// One step of the schema: the SQL that brings a database from `version - 1` to `version`.
struct migration {
  std::int64_t version;
  const char* sql;
};

// Version 1. Notes on the design:
// - Ids use AUTOINCREMENT so an id is never reused after a delete: a dead-letter entry
//   keyed by (origin, job_id) can then never collide with a later, different job.
// - A job is claimable when run_at <= now. A claimed job has a lease_token and its
//   run_at is its lease end, so an expired lease makes it claimable again with no sweep.
// - `key` has no declared type: it holds an INTEGER or a TEXT key exactly as given.
// - `history` is a JSON array of earlier attempts' errors ({attempt, type, message, at}).
// - A dead letter's (origin, job_id) is NULL for an entry added by hand (no queue row);
//   UNIQUE treats NULLs as distinct. priority and sequential are kept for redrive.
//   Each dead-letter index ends with redriven_at so the default "not redriven" filter and
//   count() are answered from the index alone.
inline constexpr migration schema_v1{1, R"sql(
CREATE TABLE durable_jobs (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  queue       TEXT    NOT NULL,
  key,
  priority    INTEGER NOT NULL DEFAULT 0,
  run_at      INTEGER NOT NULL,
  enqueued_at INTEGER NOT NULL,
  sequential  INTEGER NOT NULL DEFAULT 0,
  attempts    INTEGER NOT NULL DEFAULT 0,
  lease_token INTEGER,
  claimed_by  TEXT,
  codec       TEXT    NOT NULL,
  fingerprint INTEGER NOT NULL,
  payload     BLOB    NOT NULL,
  history     TEXT
);
CREATE INDEX durable_jobs_claim ON durable_jobs (queue, priority DESC, run_at, id);
CREATE INDEX durable_jobs_key ON durable_jobs (queue, key) WHERE key IS NOT NULL;

CREATE TABLE durable_dead_letters (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  dlq         TEXT    NOT NULL,
  origin      TEXT,
  job_id      INTEGER,
  queue       TEXT    NOT NULL,
  key,
  priority    INTEGER NOT NULL DEFAULT 0,
  sequential  INTEGER NOT NULL DEFAULT 0,
  codec       TEXT    NOT NULL,
  fingerprint INTEGER NOT NULL,
  payload     BLOB    NOT NULL,
  error_type  TEXT    NOT NULL,
  message     TEXT    NOT NULL,
  context     TEXT    NOT NULL DEFAULT '',
  history     TEXT,
  attempts    INTEGER NOT NULL,
  enqueued_at INTEGER NOT NULL,
  failed_at   INTEGER NOT NULL,
  redriven_at INTEGER,
  UNIQUE (origin, job_id)
);
CREATE INDEX durable_dead_letters_time ON durable_dead_letters
  (dlq, failed_at, id, redriven_at);
CREATE INDEX durable_dead_letters_type ON durable_dead_letters
  (dlq, error_type, failed_at, id, redriven_at);
CREATE INDEX durable_dead_letters_key ON durable_dead_letters
  (dlq, key, failed_at, id, redriven_at) WHERE key IS NOT NULL;
)sql"};

// Version 2: what the engine needs so that tools without the C++ types see the whole
// picture. Each job keeps the max attempts it was pushed with and whether its key is
// unique; each dead letter keeps both too and the redrive policy of its error. Queue
// settings (limits, paused) live in durable_queues, so a redrive or another process
// honours the same hard limit as the Queue object that set it.
inline constexpr migration schema_v2{2, R"sql(
ALTER TABLE durable_jobs ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 5;
ALTER TABLE durable_jobs ADD COLUMN unique_key INTEGER NOT NULL DEFAULT 0;
ALTER TABLE durable_dead_letters ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 5;
ALTER TABLE durable_dead_letters ADD COLUMN unique_key INTEGER NOT NULL DEFAULT 0;
ALTER TABLE durable_dead_letters ADD COLUMN redrive_policy TEXT NOT NULL DEFAULT 'optional';
CREATE TABLE durable_queues (
  name        TEXT PRIMARY KEY,
  hard_limit  INTEGER,
  soft_limit  INTEGER,
  paused      INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT OR IGNORE INTO durable_queues (name) SELECT DISTINCT queue FROM durable_jobs;
)sql"};

// Version 3: leaner rows and indexes, and O(1) bookkeeping.
// - Queues and DLQs get integer ids (durable_queues.id, durable_dead_letter_queues.id);
//   rows and index keys carry the id, not the name, so no index repeats a long name.
// - No AUTOINCREMENT (its sqlite_sequence row was written on every insert). Ids are
//   assigned by durable: max(high-water mark, max(id)) + 1, the high-water marks kept in
//   durable_meta ('job_id_hwm', 'dead_letter_id_hwm') and raised only when a transaction
//   deletes the newest row, so an id is still never reused.
// - Counters kept in the same transactions as the rows they count: durable_queues.jobs
//   (jobs of the queue in any state), durable_dead_letter_queues.entries and .redriven.
//   size(), the hard-limit check and a DLQ's size and count() read them.
// - A dead letter's history holds the earlier attempts only; the final failure is the
//   row's own (error_type, message, failed_at, attempts), so adding an entry builds no JSON.
// - A dead letter's origin is NULL when the job came from this database (job_id set) or
//   was added by hand (job_id NULL); the (origin, job_id) uniqueness that makes a move
//   from another database idempotent is a partial index over the other entries only.
// - The claim index ends at run_at: the rowid (id) that every index entry ends with gives
//   the FIFO order among equal run_at.
inline constexpr migration schema_v3{3, R"sql(
CREATE TABLE durable_queues_v3 (
  id          INTEGER PRIMARY KEY,
  name        TEXT    NOT NULL UNIQUE,
  hard_limit  INTEGER,
  soft_limit  INTEGER,
  paused      INTEGER NOT NULL DEFAULT 0,
  jobs        INTEGER NOT NULL DEFAULT 0
);
INSERT INTO durable_queues_v3 (name, hard_limit, soft_limit, paused)
  SELECT name, hard_limit, soft_limit, paused FROM durable_queues ORDER BY name;
INSERT OR IGNORE INTO durable_queues_v3 (name) SELECT DISTINCT queue FROM durable_jobs;
UPDATE durable_queues_v3 SET jobs = (SELECT count(*) FROM durable_jobs WHERE queue = name);
DROP TABLE durable_queues;
ALTER TABLE durable_queues_v3 RENAME TO durable_queues;

INSERT INTO durable_meta (key, value) SELECT 'job_id_hwm', max(
  coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'durable_jobs'), 0),
  coalesce((SELECT max(id) FROM durable_jobs), 0));
INSERT INTO durable_meta (key, value) SELECT 'dead_letter_id_hwm', max(
  coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'durable_dead_letters'), 0),
  coalesce((SELECT max(id) FROM durable_dead_letters), 0));

CREATE TABLE durable_jobs_v3 (
  id           INTEGER PRIMARY KEY,
  queue_id     INTEGER NOT NULL,
  priority     INTEGER NOT NULL DEFAULT 0,
  run_at       INTEGER NOT NULL,
  lease_token  INTEGER,
  attempts     INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL DEFAULT 5,
  sequential   INTEGER NOT NULL DEFAULT 0,
  unique_key   INTEGER NOT NULL DEFAULT 0,
  enqueued_at  INTEGER NOT NULL,
  key,
  codec        TEXT    NOT NULL,
  fingerprint  INTEGER NOT NULL,
  claimed_by   TEXT,
  history      TEXT,
  payload      BLOB    NOT NULL
);
INSERT INTO durable_jobs_v3 (id, queue_id, priority, run_at, lease_token, attempts,
    max_attempts, sequential, unique_key, enqueued_at, key, codec, fingerprint, claimed_by,
    history, payload)
  SELECT j.id, q.id, j.priority, j.run_at, j.lease_token, j.attempts, j.max_attempts,
    j.sequential, j.unique_key, j.enqueued_at, j.key, j.codec, j.fingerprint, j.claimed_by,
    j.history, j.payload
  FROM durable_jobs AS j JOIN durable_queues AS q ON q.name = j.queue;
DROP TABLE durable_jobs;
ALTER TABLE durable_jobs_v3 RENAME TO durable_jobs;
CREATE INDEX durable_jobs_claim ON durable_jobs (queue_id, priority DESC, run_at);
CREATE INDEX durable_jobs_key ON durable_jobs (queue_id, key) WHERE key IS NOT NULL;

CREATE TABLE durable_dead_letter_queues (
  id        INTEGER PRIMARY KEY,
  name      TEXT    NOT NULL UNIQUE,
  entries   INTEGER NOT NULL DEFAULT 0,
  redriven  INTEGER NOT NULL DEFAULT 0
);
INSERT INTO durable_dead_letter_queues (name, entries, redriven)
  SELECT dlq, count(*), count(redriven_at) FROM durable_dead_letters GROUP BY dlq ORDER BY dlq;

CREATE TABLE durable_dead_letters_v3 (
  id             INTEGER PRIMARY KEY,
  dlq_id         INTEGER NOT NULL,
  failed_at      INTEGER NOT NULL,
  redriven_at    INTEGER,
  error_type     TEXT    NOT NULL,
  message        TEXT    NOT NULL,
  attempts       INTEGER NOT NULL,
  enqueued_at    INTEGER NOT NULL,
  redrive_policy TEXT    NOT NULL DEFAULT 'optional',
  queue          TEXT    NOT NULL,
  key,
  job_id         INTEGER,
  origin         TEXT,
  priority       INTEGER NOT NULL DEFAULT 0,
  sequential     INTEGER NOT NULL DEFAULT 0,
  max_attempts   INTEGER NOT NULL DEFAULT 5,
  unique_key     INTEGER NOT NULL DEFAULT 0,
  codec          TEXT    NOT NULL,
  fingerprint    INTEGER NOT NULL,
  context        TEXT    NOT NULL DEFAULT '',
  history        TEXT,
  payload        BLOB    NOT NULL
);
INSERT INTO durable_dead_letters_v3 (id, dlq_id, failed_at, redriven_at, error_type, message,
    attempts, enqueued_at, redrive_policy, queue, key, job_id, origin, priority, sequential,
    max_attempts, unique_key, codec, fingerprint, context, history, payload)
  SELECT d.id, l.id, d.failed_at, d.redriven_at, d.error_type, d.message, d.attempts,
    d.enqueued_at, d.redrive_policy, d.queue, d.key, d.job_id,
    CASE WHEN d.origin = (SELECT value FROM durable_meta WHERE key = 'database_id') THEN NULL
         ELSE d.origin END,
    d.priority, d.sequential, d.max_attempts, d.unique_key, d.codec, d.fingerprint,
    d.context,
    CASE WHEN d.history IS NULL OR json_array_length(d.history) <= 1 THEN NULL
         ELSE json_remove(d.history, '$[#-1]') END,
    d.payload
  FROM durable_dead_letters AS d JOIN durable_dead_letter_queues AS l ON l.name = d.dlq;
DROP TABLE durable_dead_letters;
ALTER TABLE durable_dead_letters_v3 RENAME TO durable_dead_letters;
CREATE INDEX durable_dead_letters_time ON durable_dead_letters
  (dlq_id, failed_at, id, redriven_at);
CREATE INDEX durable_dead_letters_type ON durable_dead_letters
  (dlq_id, error_type, failed_at, id, redriven_at);
CREATE INDEX durable_dead_letters_key ON durable_dead_letters
  (dlq_id, key, failed_at, id, redriven_at) WHERE key IS NOT NULL;
CREATE UNIQUE INDEX durable_dead_letters_origin ON durable_dead_letters (origin, job_id)
  WHERE origin IS NOT NULL;
)sql"};

// Version 4: job types. durable_job_types holds one description per (codec, fingerprint),
// as the codec writes it (pfr_codec: "pfr/1:{3:u64,s,o(s)}"), recorded when a Queue or
// DeadLetterQueue of the type is opened: a reader of a newer version of the type tells an
// older version (fewer trailing fields) from a different type by it, and tools can render
// payloads. recorded_at: when it was first recorded (ms since the epoch).
inline constexpr migration schema_v4{4, R"sql(
CREATE TABLE durable_job_types (codec TEXT NOT NULL, fingerprint INTEGER NOT NULL, description TEXT NOT NULL, recorded_at INTEGER NOT NULL, PRIMARY KEY (codec, fingerprint)) WITHOUT ROWID;
)sql"};

// Version 5: a typed claim (one that takes only the job types its reader decodes) walks
// durable_jobs_claim from the head and skips other types within the index, so the claim
// index also holds (codec, fingerprint) and, before them, id: ORDER BY priority DESC,
// run_at, id stays the index order. With one type in a queue the first entry matches; one
// index rather than a second per-type index keeps pushes, claims and acks at one index
// write each.
inline constexpr migration schema_v5{5, R"sql(
DROP INDEX durable_jobs_claim;
CREATE INDEX durable_jobs_claim ON durable_jobs
  (queue_id, priority DESC, run_at, id, codec, fingerprint);
)sql"};

/// The migrations of this build, in order; the last one is the supported version.
inline constexpr std::array migrations{schema_v1, schema_v2, schema_v3, schema_v4, schema_v5};

/// The schema version stored in the file; 0 when durable has not written to it yet.
[[nodiscard]] inline std::int64_t stored_schema_version(connection& c) {
  {
    auto q = c.query("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'durable_meta'");
    if (!q->step()) return 0;
  }
  auto q = c.query("SELECT value FROM durable_meta WHERE key = 'schema_version'");
  if (!q->step() || q->type(0) != SQLITE_INTEGER) {
    throw schema_error(fmt::format("durable: schema: \"{}\" has a durable_meta table without an "
                                   "integer schema_version; the file is damaged or not durable's",
                                   c.path()),
                       -1, migrations.back().version, c.path());
  }
  return q->int64(0);
}

/// Brings the file to the newest of `steps`: creates durable's tables in a new file,
/// applies missing steps to an older one in one transaction, refuses a newer one
/// with schema_error. Safe when several processes open the same file at once.
inline void migrate(connection& c, std::span<const migration> steps) {
  const std::int64_t supported = steps.back().version;
  const auto check_not_newer = [&](std::int64_t found) {
    if (found > supported) {
      throw schema_error(
          fmt::format("durable: schema: \"{}\" has schema version {}, newer than the version {} "
                      "this build supports; upgrade durable to open it",
                      c.path(), found, supported),
          found, supported, c.path());
    }
  };
  std::int64_t found = stored_schema_version(c);  // fast path: no write lock when current
  check_not_newer(found);
  if (found == supported) return;

  write_transaction tx{c};
  found = stored_schema_version(c);  // another process may have migrated meanwhile
  check_not_newer(found);
  if (found == supported) return;
  if (found == 0) {
    c.exec("CREATE TABLE durable_meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID");
    std::random_device rd;
    const std::string origin = fmt::format("{:08x}{:08x}{:08x}{:08x}", rd(), rd(), rd(), rd());
    c.run("INSERT INTO durable_meta (key, value) VALUES ('database_id', ?1)", origin);
    c.run("INSERT INTO durable_meta (key, value) VALUES ('schema_version', 0)");
  }
  for (const migration& step : steps) {
    if (step.version <= found) continue;
    c.exec(step.sql);
    c.run("UPDATE durable_meta SET value = ?1 WHERE key = 'schema_version'", step.version);
  }
  tx.commit();
}

/// Opens `path` and brings it to the current schema.
inline void ensure_schema(connection& c) { migrate(c, migrations); }

/// The random id durable gave this database file when it created its tables.
[[nodiscard]] inline std::string database_id(connection& c) {
  auto q = c.query("SELECT value FROM durable_meta WHERE key = 'database_id'");
  if (!q->step()) {
    throw schema_error(
        fmt::format("durable: schema: \"{}\" has no database_id; the file is damaged", c.path()),
        -1, migrations.back().version, c.path());
  }
  return std::string{q->text(0)};
}

}  // namespace durable::inline v0::detail::sqlite
