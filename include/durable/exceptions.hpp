// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The library's own exception types. Every exception durable throws derives from
/// `durable::error`; the subclasses carry the fields a program can act on.
/// Messages start with "durable: " and are listed in docs/errors.md.
/// Standard headers only: this header is cheap to include.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace durable::inline v0 {

/// Base of every exception durable throws.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A call was given an argument it cannot use (empty queue name, non-positive lease, ...).
/// `argument()` names the parameter.
class invalid_argument_error : public error {
 public:
  invalid_argument_error(std::string argument, const std::string& message)
      : error(message), argument_(std::move(argument)) {}
  /// The name of the offending parameter, e.g. "queue_name".
  [[nodiscard]] const std::string& argument() const noexcept { return argument_; }

 private:
  std::string argument_;
};

/// SQLite reported a failure. Carries the primary and extended result codes and the
/// database file's path (empty for an in-memory database).
class sqlite_error : public error {
 public:
  sqlite_error(const std::string& message, int code, int extended_code, std::string path)
      : error(message), code_(code), extended_code_(extended_code), path_(std::move(path)) {}
  /// SQLite primary result code (SQLITE_BUSY, SQLITE_NOTADB, ...).
  [[nodiscard]] int code() const noexcept { return code_; }
  /// SQLite extended result code (SQLITE_BUSY_SNAPSHOT, SQLITE_READONLY_DBMOVED, ...).
  [[nodiscard]] int extended_code() const noexcept { return extended_code_; }
  /// The database file involved.
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  int code_;
  int extended_code_;
  std::string path_;
};

/// The database stayed locked by another connection for longer than the busy timeout.
/// Retrying later is safe: nothing was changed.
class busy_error : public sqlite_error {
 public:
  using sqlite_error::sqlite_error;
};

/// PostgreSQL reported a failure while the connection stayed usable (a constraint, a lock
/// wait past the busy timeout, missing privileges, ...). Carries the SQLSTATE code and the
/// connection target (its password replaced by "***"). The call changed nothing.
class postgres_error : public error {
 public:
  postgres_error(const std::string& message, std::string sqlstate, std::string target)
      : error(message), sqlstate_(std::move(sqlstate)), target_(std::move(target)) {}
  /// The five-character SQLSTATE code ("55P03", "42501", ...); empty when there is none.
  [[nodiscard]] const std::string& sqlstate() const noexcept { return sqlstate_; }
  /// The connection target, without its password.
  [[nodiscard]] const std::string& target() const noexcept { return target_; }

 private:
  std::string sqlstate_;
  std::string target_;
};

/// A database server could not be reached, refused the connection (wrong credentials, no
/// such database, too many clients), or the connection broke during a call (the server
/// restarted, the network failed). The next call opens a new connection. A call that
/// failed this way before it committed changed nothing; one whose connection broke while
/// committing may have taken effect (`during_commit()`), as with any database server.
class connection_error : public error {
 public:
  connection_error(const std::string& message, std::string target, bool during_commit = false)
      : error(message), target_(std::move(target)), during_commit_(during_commit) {}
  /// The connection target, without its password.
  [[nodiscard]] const std::string& target() const noexcept { return target_; }
  /// True when the connection broke while a commit was under way: its outcome is unknown.
  [[nodiscard]] bool during_commit() const noexcept { return during_commit_; }

 private:
  std::string target_;
  bool during_commit_;
};

/// The database was written by a newer durable (schema version `found()` > `supported()`),
/// or its durable tables are damaged. Nothing was changed.
class schema_error : public error {
 public:
  schema_error(const std::string& message, std::int64_t found, std::int64_t supported,
               std::string path)
      : error(message), found_(found), supported_(supported), path_(std::move(path)) {}
  /// The schema version stored in the file.
  [[nodiscard]] std::int64_t found() const noexcept { return found_; }
  /// The newest schema version this build understands.
  [[nodiscard]] std::int64_t supported() const noexcept { return supported_; }
  /// The database file involved.
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  std::int64_t found_;
  std::int64_t supported_;
  std::string path_;
};

/// Bytes could not be turned back into a job: truncated, garbled, oversized, or written
/// by another codec or job type. When a stored row is involved, `row_id()` is its id
/// (0 otherwise) and the fingerprints say what was expected and what was found.
/// The row itself is never deleted because of this error.
class decode_error : public error {
 public:
  explicit decode_error(const std::string& message) : error(message) {}
  decode_error(const std::string& message, std::string queue, std::int64_t row_id,
               std::string expected_codec, std::uint64_t expected_fingerprint,
               std::string found_codec, std::uint64_t found_fingerprint)
      : error(message),
        queue_(std::move(queue)),
        row_id_(row_id),
        expected_codec_(std::move(expected_codec)),
        found_codec_(std::move(found_codec)),
        expected_fingerprint_(expected_fingerprint),
        found_fingerprint_(found_fingerprint) {}
  /// Queue (or dead-letter queue) holding the row; empty when no row is involved.
  [[nodiscard]] const std::string& queue() const noexcept { return queue_; }
  /// Id of the row that failed to decode; 0 when no row is involved.
  [[nodiscard]] std::int64_t row_id() const noexcept { return row_id_; }
  /// Codec name the reader uses.
  [[nodiscard]] const std::string& expected_codec() const noexcept { return expected_codec_; }
  /// Codec name stored with the row.
  [[nodiscard]] const std::string& found_codec() const noexcept { return found_codec_; }
  /// Fingerprint of the reader's job type.
  [[nodiscard]] std::uint64_t expected_fingerprint() const noexcept {
    return expected_fingerprint_;
  }
  /// Fingerprint stored with the row.
  [[nodiscard]] std::uint64_t found_fingerprint() const noexcept { return found_fingerprint_; }

 private:
  std::string queue_;
  std::int64_t row_id_ = 0;
  std::string expected_codec_;
  std::string found_codec_;
  std::uint64_t expected_fingerprint_ = 0;
  std::uint64_t found_fingerprint_ = 0;
};

/// A claimed job's lease was lost: it expired and the job was claimed again (or finished)
/// by someone else, so this claimer may no longer ack, nack, extend or dead-letter it.
/// Nothing was changed. The job's work may have been done twice (at-least-once delivery).
class lease_lost_error : public error {
 public:
  lease_lost_error(const std::string& message, std::string queue, std::int64_t job_id)
      : error(message), queue_(std::move(queue)), job_id_(job_id) {}
  /// The queue holding the job.
  [[nodiscard]] const std::string& queue() const noexcept { return queue_; }
  /// The job whose lease was lost.
  [[nodiscard]] std::int64_t job_id() const noexcept { return job_id_; }

 private:
  std::string queue_;
  std::int64_t job_id_;
};

/// A push would take a queue past its hard limit. Nothing was pushed.
class queue_full_error : public error {
 public:
  queue_full_error(const std::string& message, std::string queue, std::int64_t limit)
      : error(message), queue_(std::move(queue)), limit_(limit) {}
  /// The full queue.
  [[nodiscard]] const std::string& queue() const noexcept { return queue_; }
  /// Its hard limit, in jobs.
  [[nodiscard]] std::int64_t limit() const noexcept { return limit_; }

 private:
  std::string queue_;
  std::int64_t limit_;
};

}  // namespace durable::inline v0
