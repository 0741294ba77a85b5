// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The vocabulary types shared by Queue, DeadLetterQueue and Worker: job ids and keys,
/// push options, a claimed job, and a failure as it is recorded.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "durable/clock.hpp"
#include "durable/error_traits.hpp"
#include "durable/exceptions.hpp"

namespace durable::inline v0 {

/// A job's id: unique in its database file and never reused.
using job_id = std::int64_t;

/// The key of a job, the id of the thing it works on: an integer or a string.
/// Stored in an indexed column; used for deduplication and per-key DLQ queries.
using job_key = std::variant<std::int64_t, std::string>;

/// How to push a job. All fields are optional; `{}` pushes a parallel job, priority 0,
/// claimable now.
struct push_options {
  /// The job's key, if it has one.
  std::optional<job_key> key{};
  /// With a key: if a pending or claimed job with the same key exists in this queue,
  /// push nothing and return that job's id (`push_result::created` is false).
  bool unique = false;
  /// Claimable this long from now. Ignored when `run_at` is set.
  std::chrono::milliseconds delay{0};
  /// Claimable from this time on (a scheduled job).
  std::optional<time_point> run_at{};
  /// Higher is claimed first; FIFO (by run-at, then id) within one priority.
  int priority = 0;
  /// A sequential job is a barrier: it runs alone in its queue. It is claimed only once
  /// every job pushed before it has finished (acked or dead-lettered; a job waiting for
  /// a retry has not), and no job pushed after it is claimed until it has finished,
  /// across every thread and process on the database. `claim_batch` returns it alone.
  bool sequential = false;
  /// Attempts this job gets (>= 1); empty: the queue's queue_options::max_attempts.
  /// Stored with the job, so it keeps the limit it was pushed with.
  std::optional<std::int64_t> max_attempts{};
  /// How long one attempt may run in a Worker (> 0), stored with the job; empty: the
  /// worker's worker_options::timeout. See docs/worker.md#timeouts.
  std::optional<std::chrono::milliseconds> timeout{};
};

/// What a push did.
struct push_result {
  /// The new job's id, or the existing job's id when deduplicated.
  job_id id = 0;
  /// False when `push_options::unique` found an existing job with the same key.
  bool created = true;
};

/// One failed attempt, as recorded with the job by `nack` and kept in the DLQ.
struct failure {
  /// Stable error type name (error_traits<E>::name), e.g. "timeout".
  std::string error_type{};
  /// Human-readable message, usually the exception's what().
  std::string message{};
  /// Free text: nested exceptions, stack, whatever the caller has.
  std::string context{};
  /// What a redrive may do with the job once dead-lettered with this failure; stored with
  /// the entry (error_traits<E>::redrive).
  redrive_policy redrive = redrive_policy::optional;
};

/// The error type durable records in a job's history for an attempt whose lease ended
/// before it was acked or nacked.
inline constexpr std::string_view lease_expired_error = "lease_expired";
/// The error type durable records for an attempt whose claiming process died
/// (queue_options::release_dead_claims).
inline constexpr std::string_view claimer_died_error = "claimer_died";
/// The error type of the one record a history reads as when its stored text is damaged
/// (not the JSON array durable writes, e.g. edited by hand); the record's message holds
/// that text. The job itself is served as usual and its next attempts are appended.
inline constexpr std::string_view damaged_history_error = "damaged_history";
/// The error type a Worker records for an attempt that ran past its timeout and grace
/// (transient, redrive `safe`).
inline constexpr std::string_view timed_out_error = "durable::timeout";

/// One earlier failed attempt of a job, from its history.
struct attempt_record {
  /// 1 for the first attempt.
  std::int64_t attempt = 0;
  /// Stable error type name.
  std::string error_type{};
  /// The error message.
  std::string message{};
  /// When the attempt failed.
  time_point at{};
};

/// Claimable jobs of one stored type that a Queue cannot decode, so its claims leave them
/// pending for a reader of their type (see Queue::unreadable()).
struct unreadable_jobs {
  /// The codec that wrote them.
  std::string codec{};
  /// Their type's fingerprint.
  std::uint64_t fingerprint = 0;
  /// How many are claimable now.
  std::int64_t count = 0;
  /// Why this Queue cannot decode them (e.g. the first field that differs).
  std::string reason{};
};

/// A job claimed under a lease. `job` is empty for a poison job, one whose stored bytes
/// do not decode although its codec and type are the claimer's (corrupt bytes); `poison`
/// then says why, and the row stays in the queue until it is acked or dead-lettered like
/// any other claim. Jobs of types the claimer cannot decode are not claimed at all.
template <class Job>
struct claimed_job {
  /// The job's id.
  job_id id = 0;
  /// Fencing token of this claim; ack, nack, extend and dead-letter must present it.
  std::int64_t token = 0;
  /// The job's key, if it has one.
  std::optional<job_key> key{};
  /// Earlier attempts that failed or whose lease expired (0 on the first claim).
  std::int64_t attempts = 0;
  /// Attempts the job gets, as stored when it was pushed.
  std::int64_t max_attempts = 0;
  /// The job's priority.
  int priority = 0;
  /// Whether the job was pushed as sequential.
  bool sequential = false;
  /// When the job was first pushed.
  time_point enqueued_at{};
  /// When this claim's lease ends unless extended.
  time_point lease_until{};
  /// When the job was first claimed (this claim's time on its first attempt).
  time_point first_run_at{};
  /// When the job became claimable for this claim: its run-at (a delay, a schedule or a
  /// retry backoff), or the end of the lease of an earlier claim that expired.
  time_point ready_at{};
  /// How long one attempt may run, as pushed; empty: the worker's default.
  std::optional<std::chrono::milliseconds> timeout{};
  /// True when `attempts` has reached `max_attempts` (for example through lease expiries
  /// alone): the job should be dead-lettered, not run.
  bool exhausted = false;
  /// The decoded job; empty for a poison job.
  std::optional<Job> job{};
  /// Why `job` is empty; empty otherwise.
  std::optional<decode_error> poison{};
};

/// Where a job is (Queue::status).
enum class job_state {
  pending,        ///< claimable now (also a job whose lease expired)
  scheduled,      ///< waiting for its run-at: a delay, a schedule or a retry backoff
  claimed,        ///< held under a live lease
  dead_lettered,  ///< moved to a dead-letter queue
  not_found,      ///< finished (acked), purged, or never in this queue
};

/// The lowercase name of `state` ("pending", "dead_lettered", ...).
[[nodiscard]] constexpr std::string_view to_string(job_state state) noexcept {
  switch (state) {
    case job_state::pending: return "pending";
    case job_state::scheduled: return "scheduled";
    case job_state::claimed: return "claimed";
    case job_state::dead_lettered: return "dead_lettered";
    case job_state::not_found: return "not_found";
  }
  return "unknown";
}

/// One job's status.
struct job_status {
  /// Where it is.
  job_state state = job_state::not_found;
  /// pending or scheduled: when it is (was) claimable.
  std::optional<time_point> run_at{};
  /// claimed: when its lease ends unless extended.
  std::optional<time_point> lease_until{};
  /// Attempts recorded so far, failed ones and expired leases (an expired lease is
  /// counted when the job is claimed again).
  std::int64_t attempts = 0;
  /// dead_lettered: the dead-letter queue holding it.
  std::string dead_letter_queue{};
  /// dead_lettered: the entry's id (a dead_letter_id).
  std::optional<std::int64_t> dead_letter{};
};

}  // namespace durable::inline v0
