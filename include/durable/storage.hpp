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
/// - A claim takes nothing from a paused queue (set_paused), whoever paused it.
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
#include <functional>
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
  /// How long one attempt may run, stored with the job; empty: the worker's default.
  std::optional<std::int64_t> timeout_ms{};
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
  ///
  /// Either way sequential jobs are barriers, across every connection and process: a
  /// sequential job is claimable only when no older job (lower id) of its queue remains
  /// in any state (pending, scheduled, claimed), and no job younger than a remaining
  /// sequential job of its queue is claimable.
  std::size_t max = 1;
  /// The job types the claimer can decode: only jobs written by codec `codec` with one of
  /// `fingerprints` are claimed, and "the head" means the head among those; jobs of other
  /// types stay pending, untouched. Empty `fingerprints`: any job (tools).
  std::string_view codec{};
  std::span<const std::uint64_t> fingerprints{};
  /// When set and nothing is claimed, receives change_stamp() as of the claim: a commit
  /// of another connection after the claim changes it. Backends without stamps leave it.
  std::optional<std::int64_t>* stamp_if_empty = nullptr;
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
  std::optional<std::int64_t> timeout_ms{};  ///< as pushed; empty: the worker's default
  std::int64_t first_run_at_ms = 0;          ///< the first claim's now_ms (this one's if first)
  /// When the job became claimable for this claim: its run-at before the claim (the end
  /// of an expired lease for a job claimed again).
  std::int64_t ready_at_ms = 0;
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

/// Where one job is (Queue::status).
struct job_status_row {
  job_state state = job_state::not_found;
  /// pending or scheduled: its run-at; claimed: its lease end.
  std::int64_t run_at_ms = 0;
  /// Attempts recorded so far (a claim whose lease expired is counted by the next claim).
  std::int64_t attempts = 0;
  /// dead_lettered: the DLQ holding it and the entry's id.
  std::string dlq{};
  dead_letter_id entry = 0;
};

/// A dead-letter entry found by the job it holds.
struct dead_letter_ref {
  std::string dlq{};
  dead_letter_id id = 0;
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
  std::string history_json{};                ///< empty: no earlier attempt
  std::optional<std::int64_t> timeout_ms{};  ///< as pushed; empty: the worker's default
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
  std::optional<std::int64_t> timeout_ms{};  ///< the job's, kept for a redrive
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
  std::optional<std::int64_t> timeout_ms{};  ///< the job's; empty: the worker's default
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
  /// Roll back instead of committing: the results say what a redrive would do (hard
  /// limits and unique keys included) and nothing changes.
  bool dry_run = false;
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

/// A job type's description as its codec gave it (pfr_codec::description<Job>(), e.g.
/// "pfr/1:{2:i32,s}"), recorded once per (codec, fingerprint) so tools render payloads
/// without the C++ type.
struct job_type {
  std::string codec{};
  std::uint64_t fingerprint = 0;
  std::string description{};
  std::int64_t recorded_at_ms = 0;
};

// ---- Inspection and administration (the `durable` tool)

/// A queue of the database: its counts, stored settings and pause flag.
struct queue_info {
  std::string name{};
  queue_counts counts{};
  queue_settings settings{};
  /// Set by `durable queue pause`: no claim of any process takes its jobs.
  bool paused = false;
};

/// A job's state at a moment, as list_jobs selects it.
enum class job_state {
  pending,    ///< claimable now (an expired lease included)
  scheduled,  ///< waiting for its run-at, not claimed
  claimed,    ///< under a live lease
};

/// A stored job, for inspection. `payload` and `history` are filled by find_job only.
struct job_row {
  job_id id = 0;
  std::string queue{};
  std::optional<job_key> key{};
  int priority = 0;
  bool sequential = false;
  bool unique = false;
  std::int64_t run_at_ms = 0;  ///< a claimed job's lease end
  std::int64_t enqueued_at_ms = 0;
  std::int64_t attempts = 0;  ///< earlier attempts
  std::int64_t max_attempts = 0;
  bool leased = false;                      ///< holds a lease token (live or expired)
  std::optional<std::string> claimed_by{};  ///< "host|boot|pid|start" of the last claimer
  std::string codec{};
  std::uint64_t fingerprint = 0;
  std::int64_t payload_size = 0;
  std::vector<std::byte> payload{};
  std::vector<attempt_record> history{};
};

/// What cancel_job did.
enum class cancel_status {
  cancelled,  ///< deleted
  claimed,    ///< under a live lease and not forced: nothing changed
  not_found,  ///< no job with that id
};

/// The outcome of cancel_job.
struct cancel_result {
  cancel_status status = cancel_status::not_found;
  std::string queue{};  ///< the job's queue, when it was found
};

/// A dead-letter queue of the database, with counts over its entries.
struct dead_letter_queue_info {
  std::string name{};
  std::int64_t entries = 0;   ///< not redriven
  std::int64_t redriven = 0;  ///< redriven, kept as records until retention
  /// Earliest and latest failed_at among the entries not redriven; empty when none.
  std::optional<std::int64_t> oldest_failed_ms{};
  std::optional<std::int64_t> newest_failed_ms{};
};

/// How count_dead_letters_by groups entries.
enum class dead_letter_grouping {
  error_type,  ///< by error type
  hour,        ///< by UTC hour of failed_at
  day,         ///< by UTC day of failed_at
};

/// One group of count_dead_letters_by.
struct dead_letter_group {
  std::string error_type{};    ///< by error type: the type; empty otherwise
  std::int64_t bucket_ms = 0;  ///< by hour or day: the bucket's start; 0 otherwise
  std::int64_t count = 0;
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
  /// Wake-ups from other processes and hosts. From this call on, the backend calls
  /// `on_push(queue)` (from a thread of its own) soon after another connection commits a
  /// push into `queue` of this database, and `on_push("")` when any queue may have changed
  /// unseen (e.g. after it reconnected). One function at a time: a call replaces the
  /// previous one; an empty function stops the calls; when the call returns, the old
  /// function is not running and will not be called again. The default does nothing: the
  /// backend cannot tell, and idle workers poll (SQLite). PostgreSQL: LISTEN/NOTIFY.
  // NOLINTNEXTLINE(performance-unnecessary-value-param): implementations keep it
  virtual void watch_pushes(std::function<void(std::string_view queue)> on_push) {
    static_cast<void>(on_push);
  }

  // Queues
  /// Records that `queue` exists (with default settings) unless it is recorded already, so
  /// tools list it while it is empty. A Queue calls it when it opens.
  virtual void register_queue(std::string_view queue) = 0;
  /// Stores `settings` for `queue`, creating its entry if needed.
  virtual void configure_queue(std::string_view queue, const queue_settings& settings) = 0;
  /// The stored settings of `queue` (defaults when it has none).
  [[nodiscard]] virtual queue_settings queue_configuration(std::string_view queue) = 0;
  /// Stores `jobs` in order in one transaction (see push_mode); one result per job.
  virtual std::vector<pushed> push(std::span<const new_job> jobs, push_mode mode) = 0;
  /// Claims as `request` says; empty when nothing is claimable or the queue is paused.
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
  /// Where job `id` of `queue` is at `now_ms`: in the queue (pending, scheduled, claimed),
  /// moved to a DLQ of this database (the entry whose origin is this database and whose
  /// job id and queue match, redriven or not), or not found (acked, purged, unknown).
  /// One consistent read.
  [[nodiscard]] virtual job_status_row job_status(std::string_view queue, job_id id,
                                                  std::int64_t now_ms) = 0;
  /// The entry holding job `original_id` of the database `origin`, in any DLQ of this
  /// database; empty when there is none. For a DLQ in another database than its queue.
  [[nodiscard]] virtual std::optional<dead_letter_ref> locate_dead_letter(std::string_view origin,
                                                                          job_id original_id) = 0;
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

  // Job types
  /// Stores `description`, the codec's text for the job type of `fingerprint`, once per
  /// (codec, fingerprint); a later call for the same pair changes nothing.
  virtual void record_job_type(std::string_view codec, std::uint64_t fingerprint,
                               std::string_view description, std::int64_t now_ms) = 0;
  /// Every recorded job type, ordered by codec, fingerprint.
  [[nodiscard]] virtual std::vector<job_type> job_types() = 0;

  // Inspection and administration (the `durable` tool)
  /// Every queue that has settings or jobs, by name, with its counts at `now_ms`.
  [[nodiscard]] virtual std::vector<queue_info> list_queues(std::int64_t now_ms) = 0;
  /// Sets or clears `queue`'s pause flag; false (nothing changed) when the queue has
  /// neither settings nor jobs. A paused queue's jobs are claimed by nobody (claim gives
  /// nothing) until it is resumed.
  virtual bool set_paused(std::string_view queue, bool paused) = 0;
  /// Up to `limit` jobs of `queue` in claim order (priority desc, run_at, id), only those
  /// in `state` at `now_ms` when given; without payload and history.
  [[nodiscard]] virtual std::vector<job_row> list_jobs(std::string_view queue,
                                                       std::optional<job_state> state,
                                                       std::int64_t now_ms, std::int64_t limit) = 0;
  /// Job `id` of any queue, with payload and history; empty when there is none.
  [[nodiscard]] virtual std::optional<job_row> find_job(job_id id) = 0;
  /// Deletes job `id` unless it is under a live lease at `now_ms` and `claimed_too` is
  /// false. A worker holding a cancelled job gets lease_lost_error when it finishes it.
  virtual cancel_result cancel_job(job_id id, std::int64_t now_ms, bool claimed_too) = 0;
  /// Every dead-letter queue that has entries, by name.
  [[nodiscard]] virtual std::vector<dead_letter_queue_info> dead_letter_queues() = 0;
  /// The entries matching `where`, counted by error type (most first) or by UTC hour or
  /// day of failure (oldest first); empty groups are left out.
  [[nodiscard]] virtual std::vector<dead_letter_group> count_dead_letters_by(
      const dead_letter_where& where, dead_letter_grouping grouping) = 0;
};

}  // namespace durable::inline v0::storage
