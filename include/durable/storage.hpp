// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The storage contract: what a backend (SQLite, PostgreSQL, ...) must provide. The
/// engine (detail/engine/) drives every queue and dead-letter operation through this
/// interface with typed parameter structs and gets typed rows back; no column number or
/// SQL text crosses it. Payloads are bytes: a backend never sees a C++ job type.
///
/// Rules every backend follows (docs/architecture.md, "Writing a backend"):
/// - Each call is one transaction: it commits before returning, or throws a
///   `durable::error` and changes nothing.
/// - Times are INTEGER milliseconds since the Unix epoch, UTC.
/// - A claimed job's `run_at` is its lease end; it is claimable again when that passes.
/// - Every finalising call (ack, nack, extend, move to the DLQ) matches queue, id and
///   lease token, and changes nothing when they do not match.
/// - Names, keys and texts are bound values, never spliced into statements.
/// - A backend object may be called from several threads; it serializes what it must,
///   and may merge concurrent calls into one transaction (group commit) as long as each
///   call returns only after its own changes committed and a failing call changes nothing.
/// - Bookkeeping does not scan: size(), the hard-limit check of push, the total of
///   count_jobs and count_dead_letters of a whole DLQ come from counters the backend keeps
///   in the same transactions as the rows (the SQLite backend: durable_queues.jobs,
///   durable_dead_letter_queues.entries / .redriven).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "durable/dead_letter.hpp"
#include "durable/error_traits.hpp"
#include "durable/job.hpp"

namespace durable::inline v0::storage {

// ---- Queues

/// What a queue holds as settings in the database, so every process and tool sees them.
struct queue_settings {
  /// Pushes past this many jobs fail (queue_full); none: no limit.
  std::optional<std::int64_t> hard_limit{};
  /// The size the queue should stay under; warnings only.
  std::optional<std::int64_t> soft_limit{};
};

/// One job to store.
struct new_job {
  std::string_view queue;
  const job_key* key = nullptr;  ///< null: no key
  /// With a key: store nothing when the queue holds a job with that key (push_status::duplicate).
  bool unique = false;
  int priority = 0;
  std::int64_t run_at_ms = 0;
  std::int64_t enqueued_at_ms = 0;
  bool sequential = false;
  std::int64_t attempts = 0;
  std::int64_t max_attempts = 0;
  std::string_view codec;
  std::uint64_t fingerprint = 0;
  std::span<const std::byte> payload;
  /// Earlier attempts, as the JSON array the backend stores; empty: none.
  std::string_view history_json;
};

/// What a push did with one job.
enum class push_status {
  created,    ///< stored under `id`
  duplicate,  ///< unique key already queued as job `id`; nothing stored
  full,       ///< the queue's hard limit was reached; nothing stored
};

/// The outcome of one job of a push.
struct pushed {
  job_id id = 0;
  push_status status = push_status::created;
};

/// How a batch of pushes treats a job that hits the hard limit.
enum class push_mode {
  all_or_nothing,  ///< any `full` rolls back the whole batch
  each,            ///< `full` jobs are skipped, the others stored
};

/// One claim (or batch claim, `max` > 1) of the jobs at the head of `queue`.
struct claim_request {
  std::string_view queue;
  std::int64_t now_ms = 0;
  std::int64_t lease_until_ms = 0;
  /// The fencing token the claimed rows get.
  std::int64_t token = 0;
  /// Who claims: "host|boot|pid|start" (detail/process.hpp).
  std::string_view claimer;
  /// 1: the single head job. More: the consecutive parallel jobs at the head, stopping
  /// before a sequential job; a sequential job at the head comes alone.
  std::size_t max = 1;
  /// The job types the claimer can decode: only jobs written by codec `codec` with one of
  /// `fingerprints` are claimed, and "the head" means the head among those; jobs of other
  /// types stay pending, untouched. Empty `fingerprints`: any job (tools).
  std::string_view codec{};
  std::span<const std::uint64_t> fingerprints{};
};

/// A claimed job as stored.
struct claimed_row {
  job_id id = 0;
  std::int64_t token = 0;
  std::optional<job_key> key{};
  std::int64_t attempts = 0;  ///< earlier attempts, a lost lease counted
  std::int64_t max_attempts = 0;
  int priority = 0;
  bool sequential = false;
  std::int64_t enqueued_at_ms = 0;
  std::int64_t lease_until_ms = 0;
  std::string codec{};
  std::uint64_t fingerprint = 0;
  std::vector<std::byte> payload{};
};

/// The claim a finalising call presents.
struct lease_ref {
  std::string_view queue;
  job_id id = 0;
  std::int64_t token = 0;
};

/// A failed attempt: the job goes back to pending at `run_at_ms`.
struct nack_request {
  lease_ref lease;
  std::int64_t run_at_ms = 0;
  std::int64_t now_ms = 0;
  std::string_view error_type;
  std::string_view message;
};

/// Counts of a queue at a moment.
struct queue_counts {
  std::int64_t pending = 0;                         ///< claimable now (expired leases included)
  std::int64_t scheduled = 0;                       ///< waiting for their run-at
  std::int64_t claimed = 0;                         ///< under a live lease
  std::optional<std::int64_t> oldest_pending_ms{};  ///< earliest run_at among pending
};

// ---- Job types

/// A job type as its codec describes it, recorded once per (codec, fingerprint) in the
/// database (table durable_job_types), so that readers of a newer version of the type, and
/// tools, can interpret rows of it.
struct job_type {
  std::string codec{};              ///< the codec's name
  std::uint64_t fingerprint = 0;    ///< the type's fingerprint under that codec
  std::string description{};        ///< the codec's description of the type
  std::int64_t recorded_at_ms = 0;  ///< when it was first recorded
};

/// How many claimable jobs (run_at <= now) of one type a queue holds.
struct job_type_count {
  std::string codec{};
  std::uint64_t fingerprint = 0;
  std::int64_t count = 0;
};

// ---- Dead letters

/// The final failure of a job being dead-lettered.
struct final_failure {
  std::string_view error_type;
  std::string_view message;
  std::string_view context;
  redrive_policy redrive = redrive_policy::optional;
  std::int64_t failed_at_ms = 0;
};

/// A same-database move of a claimed job into dead-letter queue `dlq`.
struct move_request {
  lease_ref lease;
  std::string_view dlq;
  final_failure failure;
};

/// A claimed job's stored fields, read for a move into a DLQ in another database.
struct job_snapshot {
  std::optional<job_key> key{};
  bool unique = false;
  int priority = 0;
  bool sequential = false;
  std::int64_t attempts = 0;
  std::int64_t max_attempts = 0;
  std::int64_t enqueued_at_ms = 0;
  std::string codec{};
  std::uint64_t fingerprint = 0;
  std::vector<std::byte> payload{};
  std::string history_json{};  ///< empty: no earlier attempt
};

/// One dead-letter entry to store. The final failure is appended to the history.
struct new_dead_letter {
  std::string_view dlq;
  std::optional<std::string_view> origin{};  ///< database id of the job's queue; none by hand
  std::optional<job_id> original_id{};       ///< the job's id there; none by hand
  std::string_view queue;                    ///< the source queue; may be empty by hand
  const job_key* key = nullptr;
  bool unique = false;
  int priority = 0;
  bool sequential = false;
  std::int64_t max_attempts = 0;
  std::string_view codec;
  std::uint64_t fingerprint = 0;
  std::span<const std::byte> payload;
  final_failure failure;
  std::string_view history_json;  ///< earlier attempts; empty: none
  std::int64_t attempts = 0;      ///< the final attempt included
  std::int64_t enqueued_at_ms = 0;
};

/// A stored entry with everything but the summary's fields.
struct dead_letter_row {
  dead_letter_summary summary;
  std::string origin{};
  std::string context{};
  int priority = 0;
  bool sequential = false;
  bool unique = false;
  std::int64_t max_attempts = 0;
  std::string codec{};
  std::uint64_t fingerprint = 0;
  std::vector<std::byte> payload{};
  std::vector<attempt_record> history{};
};

/// A filter over one dead-letter queue with inclusive millisecond bounds; lists are
/// sorted and free of duplicates.
struct dead_letter_where {
  std::string_view dlq;
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
  std::span<const std::string> error_types{};
  std::span<const job_key> keys{};
  std::optional<std::string_view> queue{};
  bool include_redriven = false;
};

/// Where an ordered page starts: strictly after (ascending) or before (descending)
/// (after_ms, after_id).
struct page_position {
  bool descending = false;
  std::int64_t after_ms = 0;
  dead_letter_id after_id = 0;
  std::int64_t limit = 100;
};

/// A redrive of entries of `dlq` into queues of the same database.
struct redrive_request {
  std::string_view dlq;
  std::span<const dead_letter_id> ids;
  /// The target queue; none: each entry's source queue (entries from another database,
  /// or added without a queue, then have no target).
  std::optional<std::string_view> queue{};
  std::int64_t now_ms = 0;
  std::int64_t run_at_ms = 0;
  /// Redrive entries whose policy is `never` too.
  bool force = false;
};

/// What a redrive did with one entry.
enum class redrive_status {
  redriven,        ///< pushed as job `job` and marked redriven
  gone,            ///< no such entry, or already redriven
  no_target,       ///< no queue to go back to
  not_redrivable,  ///< its policy is `never` and the redrive was not forced
  duplicate,       ///< unique key already queued (as job `job`); the entry stays
  full,            ///< the target queue's hard limit was reached; the entry stays
};

/// The outcome of one entry of a redrive.
struct redriven_entry {
  dead_letter_id id = 0;
  redrive_status status = redrive_status::gone;
  job_id job = 0;
  std::string queue{};  ///< the queue the job went to (redriven)
};

/// The storage contract. See the file comment for the rules every implementation follows.
class backend {
 public:
  backend() = default;
  backend(const backend&) = delete;
  backend& operator=(const backend&) = delete;
  backend(backend&&) = delete;
  backend& operator=(backend&&) = delete;
  virtual ~backend() = default;

  /// The file path or connection target, without any password.
  [[nodiscard]] virtual const std::string& target() const noexcept = 0;
  /// A random id the database got when durable created its tables.
  [[nodiscard]] virtual const std::string& database_id() const noexcept = 0;
  /// A number that changes whenever another connection commits; empty when the backend
  /// cannot tell (then idle claims are never skipped).
  [[nodiscard]] virtual std::optional<std::int64_t> change_stamp() = 0;

  // Queues
  /// Stores `settings` for `queue`, creating its entry if needed.
  virtual void configure_queue(std::string_view queue, const queue_settings& settings) = 0;
  /// The stored settings of `queue` (defaults when it has none).
  [[nodiscard]] virtual queue_settings queue_configuration(std::string_view queue) = 0;
  /// Stores `jobs` in order in one transaction (see push_mode); one result per job.
  virtual std::vector<pushed> push(std::span<const new_job> jobs, push_mode mode) = 0;
  /// Claims as `request` says; empty when nothing is claimable.
  [[nodiscard]] virtual std::vector<claimed_row> claim(const claim_request& request) = 0;
  /// Deletes the claimed job; false when the lease does not match.
  virtual bool ack(const lease_ref& lease) = 0;
  /// Returns the claimed job to pending with one more attempt recorded; false on mismatch.
  virtual bool nack(const nack_request& request) = 0;
  /// Moves the lease end; false on mismatch.
  virtual bool extend(const lease_ref& lease, std::int64_t lease_until_ms) = 0;
  /// Earlier attempts of job `id` of `queue`, oldest first; empty when unknown.
  [[nodiscard]] virtual std::vector<attempt_record> job_history(std::string_view queue,
                                                                job_id id) = 0;
  /// Counts of `queue` at `now_ms`.
  [[nodiscard]] virtual queue_counts count_jobs(std::string_view queue, std::int64_t now_ms) = 0;
  /// Jobs of `queue` in any state.
  [[nodiscard]] virtual std::int64_t size(std::string_view queue) = 0;
  /// Earliest run_at of any job of `queue`; empty when it has none.
  [[nodiscard]] virtual std::optional<std::int64_t> next_run_at(std::string_view queue) = 0;
  /// True when `queue` holds a job (any state) with `key`.
  [[nodiscard]] virtual bool has_key(std::string_view queue, const job_key& key) = 0;
  /// Distinct claimers holding jobs of `queue`.
  [[nodiscard]] virtual std::vector<std::string> claimers(std::string_view queue) = 0;
  /// Returns every job of `queue` held by `claimer` to pending, counting the lost attempt.
  virtual std::int64_t release_claimer(std::string_view queue, std::string_view claimer,
                                       std::int64_t now_ms) = 0;
  /// Claimable jobs (run_at <= `now_ms`) of `queue`, counted per (codec, fingerprint).
  [[nodiscard]] virtual std::vector<job_type_count> count_job_types(std::string_view queue,
                                                                    std::int64_t now_ms) = 0;

  // Job types
  /// Records a job type at `now_ms`; does nothing when (codec, fingerprint) is recorded
  /// already.
  virtual void record_job_type(std::string_view codec, std::uint64_t fingerprint,
                               std::string_view description, std::int64_t now_ms) = 0;
  /// Every recorded job type, ordered by codec, fingerprint.
  [[nodiscard]] virtual std::vector<job_type> job_types() = 0;

  // Dead letters
  /// Moves a claimed job into a DLQ of this database in one transaction; empty when the
  /// lease does not match.
  virtual std::optional<dead_letter_id> move_to_dead_letter(const move_request& request) = 0;
  /// A claimed job's fields, for a move into another database; empty on mismatch.
  [[nodiscard]] virtual std::optional<job_snapshot> read_claimed(const lease_ref& lease) = 0;
  /// Stores `entries` in one transaction. An entry whose (origin, original_id) is stored
  /// already is not stored again: its result is the existing id and `false`.
  virtual std::vector<std::pair<dead_letter_id, bool>> add_dead_letters(
      std::span<const new_dead_letter> entries) = 0;
  /// Deletes entry `id` of `dlq`; false when there is none.
  virtual bool remove_dead_letter(std::string_view dlq, dead_letter_id id) = 0;
  /// Entry `id` of `dlq`, with payload and history; empty when there is none.
  [[nodiscard]] virtual std::optional<dead_letter_row> dead_letter(std::string_view dlq,
                                                                   dead_letter_id id) = 0;
  /// Up to `position.limit` summaries matching `where`, in (failed_at, id) order from
  /// `position`.
  [[nodiscard]] virtual std::vector<dead_letter_summary> dead_letter_page(
      const dead_letter_where& where, const page_position& position) = 0;
  /// How many entries match `where`.
  [[nodiscard]] virtual std::int64_t count_dead_letters(const dead_letter_where& where) = 0;
  /// Ids of the entries matching `where`, oldest failure first.
  [[nodiscard]] virtual std::vector<dead_letter_id> select_dead_letters(
      const dead_letter_where& where) = 0;
  /// Deletes the entries matching `where`; returns how many.
  virtual std::int64_t delete_dead_letters(const dead_letter_where& where) = 0;
  /// Deletes the entries of `dlq` that failed before `cutoff_ms`; returns how many.
  virtual std::int64_t delete_failed_before(std::string_view dlq, std::int64_t cutoff_ms) = 0;
  /// Redrives entries into queues of this database: per entry, the push path (hard
  /// limit, unique keys) and the mark, all in one transaction. One result per id.
  virtual std::vector<redriven_entry> redrive(const redrive_request& request) = 0;
  /// Marks entries redriven at `now_ms` (after a redrive into another database); returns
  /// how many were not marked yet.
  virtual std::int64_t mark_redriven(std::string_view dlq, std::span<const dead_letter_id> ids,
                                     std::int64_t now_ms) = 0;
};

}  // namespace durable::inline v0::storage
