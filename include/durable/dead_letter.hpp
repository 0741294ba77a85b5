// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The vocabulary of the dead-letter queue: an entry and its summary, the filter of
/// window queries, keyset pagination, and what a redrive did. See docs/dead_letter_queue.md.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "durable/clock.hpp"
#include "durable/job.hpp"

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

/// Options of DeadLetterQueue::add, for a job dead-lettered by hand.
struct add_options {
  /// The queue the job belongs to; a redrive without a target puts it back there. May be
  /// empty (then a redrive needs a target queue).
  std::string queue{};
  /// The job's key, if it has one.
  std::optional<job_key> key{};
  /// When the job was first pushed; empty: now.
  std::optional<time_point> enqueued_at{};
  /// The job's priority, used when it is redriven.
  int priority = 0;
  /// Whether the job is sequential, used when it is redriven.
  bool sequential = false;
};

/// Where retry/redrive puts jobs when no Queue object is given.
struct redrive_options {
  /// A queue in the DLQ's own database file; empty: each entry's source queue.
  std::optional<std::string> queue{};
  /// The redriven jobs become claimable this long from now.
  std::chrono::milliseconds delay{0};
};

/// What a redrive did. Every selected entry is counted once.
struct redrive_result {
  /// Entries put back on a queue and marked redriven.
  std::int64_t redriven = 0;
  /// Entries whose stored codec or job-type fingerprint is not this DLQ's: left as they are.
  std::int64_t skipped_incompatible = 0;
  /// Entries with no queue to go back to: added by hand without a queue, or moved from
  /// another database file, and no target given. Left as they are.
  std::int64_t skipped_no_target = 0;
  /// The new jobs' ids, in the order they were pushed (oldest failure first).
  std::vector<job_id> jobs{};
};

}  // namespace durable::inline v0
