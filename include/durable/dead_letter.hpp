// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The vocabulary of the dead-letter queue: an entry and its summary, the filter of
/// window queries, keyset pagination, and what a redrive did. See docs/dead_letter_queue.md.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "durable/clock.hpp"
#include "durable/error_traits.hpp"
#include "durable/job.hpp"
#include "durable/log.hpp"
#include "durable/open_options.hpp"

namespace durable::inline v0 {

/// A dead-letter entry's id: unique in its database file and never reused.
using dead_letter_id = std::int64_t;

/// What the DLQ shows of an entry without decoding its job (recent, query, summary).
struct dead_letter_summary {
  /// The entry's own id.
  dead_letter_id id = 0;
  /// The id the job had in its queue; empty for an entry added by hand.
  std::optional<job_id> original_id{};
  /// The queue the job came from (or was added for); may be empty for an entry added by hand.
  std::string queue{};
  /// The job's key, if it had one.
  std::optional<job_key> key{};
  /// Stable name of the final error's type (error_traits<E>::name).
  std::string error_type{};
  /// The final error's message.
  std::string message{};
  /// Attempts made, the final one included.
  std::int64_t attempts = 0;
  /// When the job was first pushed.
  time_point enqueued_at{};
  /// When the job was dead-lettered (millisecond precision).
  time_point failed_at{};
  /// When the entry was redriven; empty until then. A redriven entry stays as a record
  /// until retention removes it, and is never redriven again.
  std::optional<time_point> redriven_at{};
  /// What a redrive may do with it, stored from its error's error_traits<E>::redrive.
  redrive_policy redrive = redrive_policy::optional;
};

/// A full dead-letter entry with its decoded job (DeadLetterQueue::get).
template <class Job>
struct dead_letter : dead_letter_summary {
  /// The database_id of the file the job's queue lives in; empty for an entry added by hand.
  std::string origin{};
  /// Free text given with the final error: nested exceptions, stack, ...
  std::string context{};
  /// Every failed attempt, oldest first, the final one included ("timeout, then 503, then 400").
  std::vector<attempt_record> history{};
  /// The job's priority, restored on redrive.
  int priority = 0;
  /// Whether the job was pushed as sequential, restored on redrive.
  bool sequential = false;
  /// Codec name stored with the job.
  std::string codec{};
  /// Job-type fingerprint stored with the job.
  std::uint64_t fingerprint = 0;
  /// The decoded job.
  Job job{};
};

/// Which entries a query, count, purge, redrive or recovery selects. `{}` selects every
/// entry not yet redriven. All set fields must match (AND); list fields match any of
/// their values (OR).
struct dead_letter_filter {
  /// Entries that failed at or after this time (inclusive).
  std::optional<time_point> from{};
  /// Entries that failed at or before this time (inclusive). `from > to` is an error.
  std::optional<time_point> to{};
  /// Entries whose error type is one of these; empty: any type.
  std::vector<std::string> error_types{};
  /// Entries whose key is one of these; empty: any key (or none).
  std::vector<job_key> keys{};
  /// Entries that came from this queue; empty: any queue.
  std::optional<std::string> queue{};
  /// Also select entries already redriven. Redrive and recovery ignore it: they never
  /// redrive an entry twice.
  bool include_redriven = false;
};

/// Where a page of a query resumes: the (failed_at, id) of the last entry of the
/// previous page. Opaque in spirit; stable across processes and restarts.
struct dead_letter_cursor {
  /// failed_at of the last entry seen.
  time_point failed_at{};
  /// id of the last entry seen.
  dead_letter_id id = 0;

  friend bool operator==(const dead_letter_cursor&, const dead_letter_cursor&) = default;
};

/// The order of a query's entries: by failed_at, then id.
enum class sort_order {
  oldest_first,  ///< ascending failed_at
  newest_first,  ///< descending failed_at
};

/// Which page of a query to return.
struct page_request {
  /// The order of entries.
  sort_order order = sort_order::oldest_first;
  /// At most this many entries (>= 1).
  std::int64_t limit = 100;
  /// Resume after this entry (the previous page's `next`); empty: the first page.
  std::optional<dead_letter_cursor> after{};
};

/// One page of a query.
struct dead_letter_page {
  /// The entries, in the requested order.
  std::vector<dead_letter_summary> entries{};
  /// Pass as `page_request::after` for the next page; empty when this is the last page.
  std::optional<dead_letter_cursor> next{};
};

/// Options of a DeadLetterQueue. `{}` keeps entries 30 days, logs to stderr and reads
/// the system clock.
struct dead_letter_options {
  /// Durability and lock waiting of the database file (when opened by path).
  open_options open{};
  /// Entries that failed longer ago than this are deleted by apply_retention(), which
  /// a Worker calls on start; empty: kept until purged.
  std::optional<std::chrono::milliseconds> retention = std::chrono::hours{24 * 30};
  /// Where "now" comes from (failed_at, redriven_at, retention); the system clock when empty.
  clock_function clock{};
  /// Where notices go; empty discards them.
  log_sink log = stderr_sink();
  /// Also log, at info level through `log`, every entry added or moved in ("job 12 of
  /// queue "orders" moved to dead-letter queue "orders.dlq" after 3 attempts:
  /// payments.timeout") and every retention or age-based delete ("removed 4 entries
  /// older than 720h"), as events "dlq.added", "dlq.moved" and "dlq.retention". Off by
  /// default.
  bool log_events = false;
};

/// Options of DeadLetterQueue::add, for a job dead-lettered by hand.
struct add_options {
  /// The queue the job belongs to; a redrive without a target puts it back there. May be
  /// empty (then a redrive needs a target queue).
  std::string queue{};
  /// The job's key, if it has one.
  std::optional<job_key> key{};
  /// Whether a redrive skips the job while its key is queued (push_options::unique).
  bool unique = false;
  /// When the job was first pushed; empty: now.
  std::optional<time_point> enqueued_at{};
  /// The job's priority, used when it is redriven.
  int priority = 0;
  /// Whether the job is sequential, used when it is redriven.
  bool sequential = false;
  /// Attempts the job gets when redriven (>= 1).
  std::int64_t max_attempts = 5;
};

/// One job to dead-letter by hand with DeadLetterQueue::add_many: the job, its final
/// failure, the attempts made and the add_options, as DeadLetterQueue::add takes them.
template <class Job>
struct add_entry {
  /// The job.
  Job job{};
  /// Its final failure.
  failure error{};
  /// Attempts made (>= 0).
  std::int64_t attempts = 0;
  /// Where it belongs and how a redrive treats it.
  add_options options{};
};

/// How a redrive puts jobs back.
struct redrive_options {
  /// The redriven jobs become claimable this long from now.
  std::chrono::milliseconds delay{0};
  /// Also redrive entries whose redrive policy is `never` (by default they stay).
  bool force = false;
};

/// What a redrive did with one entry.
enum class redrive_outcome {
  redriven,      ///< put back as a new job and marked redriven
  gone,          ///< no such entry, or it was redriven already
  incompatible,  ///< its job does not decode as the DLQ's type (another type, bad bytes); it stays
  no_target,     ///< it has no queue to go back to; it stays
  not_redrivable,  ///< its redrive policy is `never` and the redrive was not forced
  already_queued,  ///< its key is unique and already queued; it stays
  queue_full,      ///< the target queue is at its hard limit; it stays
};

/// The lowercase name of `outcome` ("redriven", "queue_full", ...).
[[nodiscard]] constexpr std::string_view to_string(redrive_outcome outcome) noexcept {
  switch (outcome) {
    case redrive_outcome::redriven: return "redriven";
    case redrive_outcome::gone: return "gone";
    case redrive_outcome::incompatible: return "incompatible";
    case redrive_outcome::no_target: return "no_target";
    case redrive_outcome::not_redrivable: return "not_redrivable";
    case redrive_outcome::already_queued: return "already_queued";
    case redrive_outcome::queue_full: return "queue_full";
  }
  return "unknown";
}

/// One entry of a redrive.
struct redriven_entry {
  dead_letter_id id = 0;
  redrive_outcome outcome = redrive_outcome::gone;
  /// The new job's id (redriven), or the queued job's (already_queued); 0 otherwise.
  job_id job = 0;
};

/// What a redrive did. Every selected entry is in `entries`, and every entry that was not
/// already gone is counted in exactly one counter.
struct redrive_result {
  /// Entries put back on a queue and marked redriven.
  std::int64_t redriven = 0;
  /// Entries whose job does not decode as this DLQ's type (another codec or type, or bytes
  /// that do not decode): left as they are.
  std::int64_t skipped_incompatible = 0;
  /// Entries with no queue to go back to (added by hand without a queue, or moved from
  /// another database, and no target given). Left as they are.
  std::int64_t skipped_no_target = 0;
  /// Entries whose redrive policy is `never` (the redrive was not forced). Left.
  std::int64_t skipped_not_redrivable = 0;
  /// Entries with a unique key that is already queued. Left.
  std::int64_t skipped_already_queued = 0;
  /// Entries that did not fit under the target queue's hard limit. Left.
  std::int64_t skipped_queue_full = 0;
  /// The new jobs' ids, in the order they were pushed (oldest failure first).
  std::vector<job_id> jobs{};
  /// Every selected entry with its outcome, in redrive order.
  std::vector<redriven_entry> entries{};
};

}  // namespace durable::inline v0
