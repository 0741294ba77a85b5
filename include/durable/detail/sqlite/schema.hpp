// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// durable's tables and their versioned migrations. Part of the SQLite layer.
///
/// Every time column holds INTEGER milliseconds since the Unix epoch, UTC.

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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

// Version 4: what lets people and tools read a database without the C++ types.
// - durable_job_types keeps, once per (codec, fingerprint), the codec's description of the
//   job type (pfr_codec::description<Job>()), recorded when a Queue or DeadLetterQueue of
//   that type is opened; the `durable` tool renders payloads from it.
// - Read-only views with names instead of ids, ISO 8601 UTC times, hexadecimal
//   fingerprints and each job's state, for people querying with the sqlite3 shell
//   (docs/schema.md). They compute "now" when read; the tables stay the interface
//   programs write through. Totals come from the counters (durable_queues.jobs,
//   durable_dead_letter_queues.entries / .redriven); a queue's scheduled and claimed
//   counts walk that queue's index entries.
inline constexpr migration schema_v4{4, R"sql(
CREATE TABLE durable_job_types (
  codec        TEXT    NOT NULL,
  fingerprint  INTEGER NOT NULL,
  description  TEXT    NOT NULL,
  recorded_at  INTEGER NOT NULL,
  PRIMARY KEY (codec, fingerprint)
) WITHOUT ROWID;
CREATE VIEW durable_view_jobs AS
WITH now(ms) AS (SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
SELECT j.id, q.name AS queue,
  CASE WHEN j.run_at <= now.ms THEN 'pending'
       WHEN j.lease_token IS NULL THEN 'scheduled' ELSE 'claimed' END AS state,
  j.key, j.priority,
  strftime('%Y-%m-%dT%H:%M:%S', j.run_at / 1000, 'unixepoch')
    || printf('.%03dZ', j.run_at % 1000) AS run_at,
  strftime('%Y-%m-%dT%H:%M:%S', j.enqueued_at / 1000, 'unixepoch')
    || printf('.%03dZ', j.enqueued_at % 1000) AS enqueued_at,
  j.attempts, j.max_attempts, j.sequential, j.unique_key, j.claimed_by, j.codec,
  printf('%016x', j.fingerprint) AS fingerprint, length(j.payload) AS payload_bytes, j.history
FROM durable_jobs AS j JOIN durable_queues AS q ON q.id = j.queue_id, now;
CREATE VIEW durable_view_queues AS
WITH now(ms) AS (SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
later AS (SELECT q.name, q.paused, q.hard_limit, q.soft_limit, q.jobs,
  (SELECT count(*) FROM durable_jobs AS j WHERE j.queue_id = q.id AND j.run_at > now.ms
    AND j.lease_token IS NULL) AS scheduled,
  (SELECT count(*) FROM durable_jobs AS j WHERE j.queue_id = q.id AND j.run_at > now.ms
    AND j.lease_token IS NOT NULL) AS claimed
  FROM durable_queues AS q, now)
SELECT name AS queue, paused, hard_limit, soft_limit, jobs,
  jobs - scheduled - claimed AS pending, scheduled, claimed
FROM later;
CREATE VIEW durable_view_dead_letter_queues AS
SELECT name AS dlq, entries - redriven AS entries, redriven
FROM durable_dead_letter_queues;
CREATE VIEW durable_view_dead_letters AS
SELECT d.id, l.name AS dlq, d.queue, d.job_id, d.origin, d.key, d.error_type, d.message,
  d.context, d.redrive_policy, d.attempts, d.max_attempts, d.priority, d.sequential,
  d.unique_key,
  strftime('%Y-%m-%dT%H:%M:%S', d.enqueued_at / 1000, 'unixepoch')
    || printf('.%03dZ', d.enqueued_at % 1000) AS enqueued_at,
  strftime('%Y-%m-%dT%H:%M:%S', d.failed_at / 1000, 'unixepoch')
    || printf('.%03dZ', d.failed_at % 1000) AS failed_at,
  CASE WHEN d.redriven_at IS NOT NULL THEN
    strftime('%Y-%m-%dT%H:%M:%S', d.redriven_at / 1000, 'unixepoch')
    || printf('.%03dZ', d.redriven_at % 1000) END AS redriven_at,
  d.codec, printf('%016x', d.fingerprint) AS fingerprint, length(d.payload) AS payload_bytes,
  d.history
FROM durable_dead_letters AS d JOIN durable_dead_letter_queues AS l ON l.id = d.dlq_id;
CREATE VIEW durable_view_job_types AS
SELECT codec, printf('%016x', fingerprint) AS fingerprint, description,
  strftime('%Y-%m-%dT%H:%M:%S', recorded_at / 1000, 'unixepoch')
    || printf('.%03dZ', recorded_at % 1000) AS recorded_at
FROM durable_job_types;
)sql"};

// Version 5: the Worker's columns. Each job keeps the timeout it was pushed with (NULL:
// the worker's default), when it first ran, and when it became claimable for its current
// claim (its run-at before the claim overwrote it with the lease end; for wait-time
// metrics). A dead letter keeps its job's timeout, so a redrive restores it, and moved
// entries of this file's jobs are indexed by job id (durable_dead_letters_job) for
// Queue::status. The partial
// barrier index serves the sequential barrier of the claim statements (barrier.hpp): it
// finds a queue's oldest sequential job in one probe and is maintained only for
// sequential jobs. (A full (queue_id, id) index would answer "is any job older than this
// one" in one probe too, but it cost every push and ack an index update; the rowid walk
// the barrier uses instead costs nothing to jobs that are not sequential.) The columns
// are appended (ALTER TABLE), so they sit after the payload: rows are rewritten whole by
// every claim anyway, and a payload small enough to stay on its page costs nothing.
inline constexpr migration schema_v5{5, R"sql(
ALTER TABLE durable_jobs ADD COLUMN timeout_ms INTEGER;
ALTER TABLE durable_jobs ADD COLUMN first_run_at INTEGER;
ALTER TABLE durable_jobs ADD COLUMN ready_at INTEGER;
ALTER TABLE durable_dead_letters ADD COLUMN timeout_ms INTEGER;
CREATE INDEX durable_jobs_barrier ON durable_jobs (queue_id, id) WHERE sequential <> 0;
CREATE INDEX durable_dead_letters_job ON durable_dead_letters (job_id)
  WHERE origin IS NULL AND job_id IS NOT NULL;
)sql"};

// Version 6: a typed claim (one that takes only the job types its reader decodes) walks
// durable_jobs_claim from the head and skips other types within the index, so the claim
// index also holds (codec, fingerprint) and, before them, id: ORDER BY priority DESC,
// run_at, id stays the index order. With one type in a queue the first entry matches; one
// index rather than a second per-type index keeps pushes, claims and acks at one index
// write each.
inline constexpr migration schema_v6{6, R"sql(
DROP INDEX durable_jobs_claim;
CREATE INDEX durable_jobs_claim ON durable_jobs
  (queue_id, priority DESC, run_at, id, codec, fingerprint);
)sql"};

/// The migrations of this build, in order; the last one is the supported version.
inline constexpr std::array migrations{schema_v1, schema_v2, schema_v3,
                                       schema_v4, schema_v5, schema_v6};

/// The oldest schema version a read-only open reads: version 5 (reads select its columns;
/// version 6 changed only an index); an older file is migrated by one read-write open first.
inline constexpr std::int64_t oldest_readable_version = 5;

/// The identity durable writes into the header of a file it creates (PRAGMA
/// application_id): derived from its database id, never 0. Page 1, which holds it, is
/// rewritten by most transactions, so a WAL of another database almost always carries
/// that database's page 1, and the identity seen through it no longer matches.
[[nodiscard]] inline std::int32_t header_identity(std::string_view database_id) noexcept {
  std::uint32_t value = 0;
  for (const char ch : database_id.substr(0, 8)) {
    const auto c = static_cast<unsigned char>(ch);
    const auto digit = c >= 'a' ? c - 'a' + 10U : c - '0';
    value = (value << 4U) | (digit & 0xFU);
  }
  return value == 0 ? 1 : static_cast<std::int32_t>(value);
}

/// The header identity as stored in the database file itself, ignoring the WAL: bytes
/// 68 to 71, big-endian; 0 when the file is shorter (new, or all still in the WAL).
/// Read through the connection's own file handle: opening the file a second time and
/// closing it would drop this process's POSIX locks on it, and another process could then
/// checkpoint and reset the WAL under this connection.
[[nodiscard]] inline std::int32_t file_header_identity(connection& c) noexcept {
  sqlite3_file* file = nullptr;
  if (sqlite3_file_control(c.handle(), "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK ||
      file == nullptr || file->pMethods == nullptr) {
    return 0;
  }
  std::array<unsigned char, 4> bytes{};
  if (file->pMethods->xRead(file, bytes.data(), bytes.size(), 68) != SQLITE_OK) return 0;
  std::uint32_t value = 0;
  for (const auto byte : bytes) value = (value << 8U) | byte;
  return static_cast<std::int32_t>(value);
}

/// Refuses a WAL that holds another database's pages: the header identity seen through
/// the WAL must match the database id, and the one in the file itself (when it has one).
/// Files created before durable wrote the identity (0) are not checked.
inline void check_identity(connection& c, std::int64_t version) {
  std::int32_t seen = 0;
  {
    auto q = c.query("PRAGMA application_id");
    if (q->step()) seen = static_cast<std::int32_t>(q->int64(0));
  }
  if (seen == 0) return;
  std::string id;
  {
    auto q = c.query("SELECT value FROM durable_meta WHERE key = 'database_id'");
    if (q->step()) id = std::string{q->text(0)};
  }
  const auto in_file = file_header_identity(c);
  if (seen == header_identity(id) && (in_file == 0 || in_file == seen)) return;
  throw schema_error(
      fmt::format("durable: schema: \"{}\" read through its WAL \"{}-wal\" is not one database: "
                  "the header says {:#010x}, the database id {} (and the file itself {:#010x}); "
                  "the WAL holds another database's pages, or the file is damaged; durable "
                  "wrote nothing; if the WAL was copied next to this file by mistake, move it "
                  "away (the file then opens as of its last checkpoint), else restore a backup",
                  c.path(), c.path(), static_cast<std::uint32_t>(seen), id,
                  static_cast<std::uint32_t>(in_file)),
      version, migrations.back().version, c.path());
}

/// What of durable's schema a file must have: its tables and views, each table's
/// columns, and its indexes. Read from a file with read_shape(); the expected one is
/// what this build's migrations give a new file (expected_shape()), so every later
/// schema step is checked without a list to keep in step with it.
struct schema_shape {
  struct table {
    std::string name;
    std::string type;  // "table" or "view"
    std::vector<std::string> columns;
  };
  struct index {
    std::string name;  // for an index SQLite made for a constraint, the name it chose
    std::string table;
    std::vector<std::string> columns;  // key columns in order, "<expr>" for an expression,
                                       // " DESC" appended to a descending one
    bool unique = false;
    bool partial = false;
    bool automatic = false;  // made for a PRIMARY KEY or UNIQUE constraint

    [[nodiscard]] std::string describe() const {
      std::string text = fmt::format("{}index {} on {} (", unique ? "unique " : "",
                                     automatic ? "of a constraint" : name, table);
      for (std::size_t i = 0; i < columns.size(); ++i) {
        text.append(i == 0 ? "" : ", ").append(columns[i]);
      }
      return text.append(partial ? ") WHERE ..." : ")");
    }
    [[nodiscard]] bool same_keys(const index& other) const {
      return table == other.table && columns == other.columns && unique == other.unique &&
             partial == other.partial;
    }
  };
  std::vector<table> tables;
  std::vector<index> indexes;
};

/// The shape of durable's tables, views and indexes in `c` (those named durable_*).
[[nodiscard]] inline schema_shape read_shape(connection& c) {
  schema_shape shape;
  {
    auto q = c.query(
        "SELECT name, type FROM sqlite_schema WHERE type IN ('table', 'view') "
        "AND name LIKE 'durable\\_%' ESCAPE '\\' ORDER BY name");
    while (q->step()) {
      shape.tables.push_back(
          {.name = std::string{q->text(0)}, .type = std::string{q->text(1)}, .columns = {}});
    }
  }
  for (auto& table : shape.tables) {
    try {
      auto q = c.query("SELECT name FROM pragma_table_info(?1) ORDER BY cid", table.name);
      while (q->step()) table.columns.emplace_back(q->text(0));
    } catch (const sqlite_error&) {
      // A view over a table that is gone has no columns; the missing table is reported
      // (tables sort before durable_view_*).
      if (table.type != "view") throw;
    }
    if (table.type != "table") continue;
    std::vector<schema_shape::index> found;
    {
      auto q = c.query("SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1)",
                       table.name);
      while (q->step()) {
        found.push_back({.name = std::string{q->text(0)},
                         .table = table.name,
                         .columns = {},
                         .unique = q->int64(1) != 0,
                         .partial = q->int64(3) != 0,
                         .automatic = q->text(2) != "c"});
      }
    }
    for (auto& index : found) {
      auto q = c.query(
          "SELECT coalesce(name, '<expr>'), \"desc\" FROM pragma_index_xinfo(?1) WHERE key = 1 "
          "ORDER BY seqno",
          index.name);
      while (q->step()) {
        index.columns.push_back(std::string{q->text(0)} + (q->int64(1) != 0 ? " DESC" : ""));
      }
      shape.indexes.push_back(std::move(index));
    }
  }
  return shape;
}

/// Applies the steps of `steps` newer than `found` (0: a new file, which first gets
/// durable_meta, its database id and header identity) in the caller's transaction.
inline void apply_migrations(connection& c, std::span<const migration> steps, std::int64_t found) {
  if (found == 0) {
    c.exec("CREATE TABLE durable_meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID");
    std::random_device rd;
    const std::string origin = fmt::format("{:08x}{:08x}{:08x}{:08x}", rd(), rd(), rd(), rd());
    c.run("INSERT INTO durable_meta (key, value) VALUES ('database_id', ?1)", origin);
    c.exec(fmt::format("PRAGMA application_id = {}", header_identity(origin)).c_str());
    c.run("INSERT INTO durable_meta (key, value) VALUES ('schema_version', 0)");
  }
  for (const migration& step : steps) {
    if (step.version <= found) continue;
    c.exec(step.sql);
    c.run("UPDATE durable_meta SET value = ?1 WHERE key = 'schema_version'", step.version);
  }
}

/// The shape this build's migrations give a new file, computed once per process by
/// applying them to an in-memory database.
[[nodiscard]] inline const schema_shape& expected_shape() {
  static const schema_shape shape = [] {
    connection memory{connection::in_memory_t{}};
    apply_migrations(memory, migrations, 0);
    return read_shape(memory);
  }();
  return shape;
}

/// What `file` lacks of `expected`: a table or view, a column, an index (by name, or by
/// its keys for one SQLite made for a constraint); empty when nothing. Extra tables,
/// columns and indexes are allowed.
[[nodiscard]] inline std::string missing_from(const schema_shape& expected,
                                              const schema_shape& file) {
  for (const auto& table : expected.tables) {
    const auto it = std::find_if(file.tables.begin(), file.tables.end(),
                                 [&](const auto& t) { return t.name == table.name; });
    if (it == file.tables.end() || it->type != table.type) {
      return fmt::format("{} {} is missing", table.type, table.name);
    }
    for (const auto& column : table.columns) {
      if (std::find(it->columns.begin(), it->columns.end(), column) == it->columns.end()) {
        return fmt::format("{} {} has no column {}", table.type, table.name, column);
      }
    }
  }
  for (const auto& index : expected.indexes) {
    const bool found =
        std::any_of(file.indexes.begin(), file.indexes.end(), [&](const auto& other) {
          return (index.automatic || other.name == index.name) && index.same_keys(other);
        });
    if (!found) return fmt::format("{} is missing or differs", index.describe());
  }
  return {};
}

/// Checks that the file has every table, view, column and index that the migrations of
/// this build create (expected_shape(); a file may have more) and that its WAL is its own
/// (check_identity); SELECTs only. A file whose schema was edited by hand, or whose
/// schema pages are damaged, is refused before anything is written. Throws schema_error
/// naming the file and what is missing.
inline void check_schema(connection& c, std::int64_t version) {
  const auto missing = missing_from(expected_shape(), read_shape(c));
  if (!missing.empty()) {
    throw schema_error(
        fmt::format("durable: schema: \"{}\" does not have durable's schema version {}: {}; the "
                    "schema was edited by hand or the file is damaged, and durable changed "
                    "nothing; restore the file from a backup, or recreate what is missing as "
                    "include/durable/detail/sqlite/schema.hpp defines it",
                    c.path(), version, missing),
        version, migrations.back().version, c.path());
  }
  check_identity(c, version);
}

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
/// with schema_error. Safe when several processes open the same file at once. `check`,
/// when given, is run on a file at the newest version before returning, and before the
/// migration commits (so a file it refuses is left unchanged).
inline void migrate(connection& c, std::span<const migration> steps,
                    void (*check)(connection&, std::int64_t) = nullptr) {
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
  if (found == supported) {
    if (check != nullptr) check(c, supported);
    return;
  }

  write_transaction tx{c};
  found = stored_schema_version(c);  // another process may have migrated meanwhile
  check_not_newer(found);
  if (found == supported) {
    if (check != nullptr) check(c, supported);
    return;
  }
  apply_migrations(c, steps, found);
  if (check != nullptr) check(c, supported);
  tx.commit();
}

/// Brings the file to the current schema and checks it (check_schema). On any failure
/// the connection is set to close without a checkpoint, so a file that is refused (or a
/// WAL that does not belong to it) is not written to.
inline void ensure_schema(connection& c) {
  try {
    migrate(c, migrations, &check_schema);
  } catch (...) {
    c.keep_wal_on_close();
    throw;
  }
}

/// Checks, without writing, that a read-only connection's file has a schema this build
/// reads: durable's tables (else schema_error, found 0), not newer than the current
/// version, not older than oldest_readable_version (a read-only open does not migrate).
inline void check_schema_readable(connection& c) {
  const std::int64_t supported = migrations.back().version;
  const std::int64_t found = stored_schema_version(c);
  if (found >= oldest_readable_version && found <= supported) return;
  std::string why;
  if (found == 0) {
    why = "has no durable tables; give the path of a database that durable created";
  } else if (found > supported) {
    why = fmt::format(
        "has schema version {}, newer than the version {} this build supports; "
        "use a durable build as new as the programs that write it",
        found, supported);
  } else {
    why = fmt::format(
        "has schema version {}, older than the version {} this build reads, "
        "and a read-only open does not migrate; read it with the durable version "
        "that wrote it, or migrate it (open it read-write once, e.g. `durable "
        "migrate`) after upgrading every program that uses it",
        found, oldest_readable_version);
  }
  throw schema_error(fmt::format("durable: schema: \"{}\" {}", c.path(), why), found, supported,
                     c.path());
}

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
