// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// `durable::DeadLetterQueue<Job, Codec>`: failed jobs kept with their error, time-window
/// queries, retention, and exactly-once redrive. A thin typed layer over the byte-level
/// engine (detail/engine/dead_letter_engine.hpp, redrive.hpp). See docs/dead_letter_queue.md.

#include <array>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <ranges>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "durable/codec.hpp"
#include "durable/codecs/pfr_codec.hpp"
#include "durable/database.hpp"
#include "durable/dead_letter.hpp"
#include "durable/detail/engine/dead_letter_engine.hpp"
#include "durable/detail/engine/redrive.hpp"
#include "durable/detail/job_reader.hpp"
#include "durable/detail/names.hpp"
#include "durable/exceptions.hpp"
#include "durable/job.hpp"
#include "durable/queue.hpp"

namespace durable::inline v0 {

/// A named dead-letter queue in a database: where jobs that failed for good are kept
/// with their error and history, queried by time window, error type and key, expired by
/// retention, and put back on a queue (redriven) exactly once.
///
/// It may share its database with the queues it serves (a move is then one transaction)
/// or live in another (a move is then ordered and idempotent). Usable from many threads;
/// several processes may open the same database and DLQ.
template <class Job, class Codec = pfr_codec>
class DeadLetterQueue {
  static_assert(detail::check_job_reader<Codec, Job>());  // misuse: one durable: message

 public:
  /// The queue type this DLQ moves jobs from and redrives them to.
  using queue_type = Queue<Job, Codec>;

  /// Opens dead-letter queue `name` in `db` and registers Job's type description there.
  /// Throws invalid_argument_error for a bad name.
  DeadLetterQueue(database db, std::string name, dead_letter_options options = {})
      : engine_(std::move(db), std::move(name), std::move(options),
                detail::job_reader<Job, Codec>::info()) {}

  /// Opens (creating if needed) dead-letter queue `name` in database file `path` (shared
  /// with the process's other objects on that file). Throws invalid_argument_error for a
  /// bad name, sqlite_error/schema_error for a file that cannot be used.
  DeadLetterQueue(const std::string& path, std::string name, dead_letter_options options = {})
      : DeadLetterQueue(database{(detail::validate_name("dlq_name", name), path), options.open},
                        name, std::move(options)) {}

  DeadLetterQueue(const DeadLetterQueue&) = delete;
  DeadLetterQueue& operator=(const DeadLetterQueue&) = delete;
  DeadLetterQueue(DeadLetterQueue&&) = delete;
  DeadLetterQueue& operator=(DeadLetterQueue&&) = delete;
  ~DeadLetterQueue() = default;

  /// The dead-letter queue's name.
  [[nodiscard]] const std::string& name() const noexcept { return engine_.name(); }
  /// The database file's path (or connection target).
  [[nodiscard]] const std::string& path() const noexcept { return engine_.target(); }
  /// The database the DLQ lives in.
  [[nodiscard]] const database& db() const noexcept { return engine_.db(); }
  /// Its options.
  [[nodiscard]] const dead_letter_options& options() const noexcept { return engine_.options(); }

  // ---- Adding

  /// Dead-letters `job` by hand (it was never in a Queue, or the caller removed it):
  /// stores it with `error`, `attempts` made and `options`; returns the entry's id.
  /// Throws invalid_argument_error for an empty error type, negative attempts or a bad
  /// queue name.
  dead_letter_id add(const Job& job, const failure& error, std::int64_t attempts,
                     const add_options& options = {}) {
    std::vector<std::byte> buffer;
    Codec::encode(job, buffer);
    const detail::encoded_dead_letter entry{buffer, &error, attempts, &options};
    return engine_.add({&entry, 1}, codec()).front();
  }

  /// Dead-letters every element of `entries` (`add_entry<Job>`s) by hand in one
  /// transaction, all or none; returns the entries' ids in order. Throws as add() does,
  /// before anything is stored. Use it to build or import a large DLQ at batch speed.
  template <std::ranges::input_range R>
  std::vector<dead_letter_id> add_many(R&& entries) {
    static_assert(
        std::convertible_to<std::ranges::range_reference_t<R>, const add_entry<Job>&>,
        "durable: DeadLetterQueue::add_many: the range's elements must be add_entry<Job>; see "
        "docs/dead_letter_queue.md");
    std::vector<std::vector<std::byte>> payloads;
    std::vector<add_entry<Job>> kept;  // elements may be temporaries of a view
    std::vector<const add_entry<Job>*> items;
    if constexpr (std::is_lvalue_reference_v<std::ranges::range_reference_t<R>>) {
      for (const add_entry<Job>& e : entries) items.push_back(&e);
    } else {
      for (add_entry<Job> e : entries) kept.push_back(std::move(e));
      for (const auto& e : kept) items.push_back(&e);
    }
    payloads.resize(items.size());
    std::vector<detail::encoded_dead_letter> encoded;
    encoded.reserve(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
      Codec::encode(items[i]->job, payloads[i]);
      encoded.push_back({payloads[i], &items[i]->error, items[i]->attempts, &items[i]->options});
    }
    return engine_.add(encoded, codec());
  }

  /// Moves claimed job `claimed` from `queue` into this DLQ with its final failure
  /// `error` (its redrive policy is stored with the entry), its history and attempts (the
  /// failed attempt included); returns the entry's id. The stored bytes move as they
  /// are, so a poison job (empty `claimed.job`) moves too.
  ///
  /// Same database as the queue: one transaction; the job is never in both places nor in
  /// neither. Another database: the entry is inserted first, keyed by (the queue's
  /// database id, job id) with conflicts ignored, then the job is deleted; after a crash
  /// between the two, moving the job again (after its lease ends and it is claimed again)
  /// leaves one entry and no job.
  ///
  /// Throws lease_lost_error, changing nothing, when `claimed`'s lease no longer holds the
  /// job; invalid_argument_error for an empty error type.
  dead_letter_id move_from(queue_type& queue, const claimed_job<Job>& claimed,
                           const failure& error) {
    return engine_.move_from(queue.engine(), claimed.id, claimed.token, error,
                             claimed.attempts + 1);
  }

  // ---- Reading

  /// The newest `limit` entries not yet redriven, newest first, without decoding jobs.
  /// Throws invalid_argument_error for limit < 1. O(limit · log n).
  [[nodiscard]] std::vector<dead_letter_summary> recent(std::int64_t limit = 20) {
    return query({}, {.order = sort_order::newest_first, .limit = limit}).entries;
  }

  /// Entry `id` with its decoded job (as Job, through an upgrade, or as an older version),
  /// context and history; empty when this DLQ has no such entry. Throws decode_error (with
  /// the row id and the expected and found codec and fingerprint, and for another version
  /// of the type the first field that differs) when the stored job does not decode as
  /// `Job`; the entry stays.
  [[nodiscard]] std::optional<dead_letter<Job>> get(dead_letter_id id) {
    auto row = engine_.get(id);
    if (!row) return std::nullopt;
    auto d = decode(*row);
    if (!d.job) throw engine_.undecodable(id, codec(), row->codec, row->fingerprint, d.error);
    return dead_letter<Job>{
        std::move(row->summary), std::move(row->origin), std::move(row->context),
        std::move(row->history), row->priority,          row->sequential,
        std::move(row->codec),   row->fingerprint,       std::move(*d.job)};
  }

  /// Entry `id` without its job (it need not decode); empty when there is no such entry.
  [[nodiscard]] std::optional<dead_letter_summary> summary(dead_letter_id id) {
    auto row = engine_.get(id);
    if (!row) return std::nullopt;
    return std::move(row->summary);
  }

  /// The history of entry `id`, every failed attempt oldest first (the final one
  /// included); empty for an unknown id. Needs no decoding.
  [[nodiscard]] std::vector<attempt_record> history(dead_letter_id id) {
    auto row = engine_.get(id);
    if (!row) return {};
    return std::move(row->history);
  }

  /// The entry holding job `id` of `queue` once it was moved here (redriven or not);
  /// empty when this DLQ holds none. Works for a DLQ in another database than the queue
  /// (Queue::status finds entries only in the queue's own database). O(log n).
  [[nodiscard]] std::optional<dead_letter_id> find(const queue_type& queue, job_id id) {
    return engine_.find(queue.db().storage().database_id(), id);
  }

  /// Number of entries not yet redriven. O(1): counters kept in the same transactions
  /// as the entries.
  [[nodiscard]] std::int64_t size() { return engine_.size(); }

  /// Number of entries matching `filter`: O(1) for the whole DLQ (no window, type, key or
  /// queue), else an index range scan over the matching entries. Throws
  /// invalid_argument_error when `filter.from` is after `filter.to`.
  [[nodiscard]] std::int64_t count(const dead_letter_filter& filter) {
    return engine_.count(filter);
  }

  /// One page of the entries matching `filter`, ordered by (failed_at, id) as `page`
  /// says, resuming after `page.after` (keyset pagination: every page costs
  /// O(limit · values · log n), never a scan of earlier pages). Both window bounds are
  /// inclusive. Throws invalid_argument_error for `from > to` or limit < 1.
  [[nodiscard]] dead_letter_page query(const dead_letter_filter& filter,
                                       const page_request& page = {}) {
    return engine_.query(filter, page);
  }

  // ---- Retention

  /// Deletes every entry (redriven or not) that failed more than `age` ago, i.e. with
  /// failed_at < now - age; returns how many. Throws invalid_argument_error for a negative
  /// age. An index range scan; one transaction.
  std::int64_t delete_older_than(std::chrono::milliseconds age) {
    return engine_.delete_older_than(age);
  }

  /// Deletes the entries older than dead_letter_options::retention; returns how many (0
  /// without a retention). A Worker calls it on start and logs the count.
  std::int64_t apply_retention() { return engine_.apply_retention(); }

  /// Deletes the entries matching `filter` (`{}`: every entry not yet redriven); returns
  /// how many. Throws invalid_argument_error for `from > to`.
  std::int64_t purge(const dead_letter_filter& filter) { return engine_.purge(filter); }

  // ---- Redrive

  /// Puts entry `id`'s job back on the queue it came from (in this DLQ's database) and
  /// marks the entry redriven, in one transaction: a second redrive of the same entry
  /// enqueues nothing. The job goes through the push path (the queue's hard limit, its
  /// unique key) and restarts at attempt 0 with its history, key, priority, timeout and
  /// first enqueue time kept. An entry whose redrive policy is `never` stays unless
  /// `options.force`. Returns what happened to the entry.
  /// Throws decode_error when the entry's job does not decode as `Job` (another codec or
  /// type, or bytes that do not decode), invalid_argument_error when it has no queue to go
  /// back to in this database (the entry stays either way).
  /// (A template so that `redrive({})` means the filter overload: every entry.)
  template <std::integral Id>
  redriven_entry redrive(Id id, const redrive_options& options = {}) {
    return single(id, detail::redrive_target{nullptr, options, {}});
  }

  /// As above, into `target` (in this database or another). Across databases the order
  /// is: enqueue, then mark redriven; a crash between the two commits can enqueue the job
  /// once more on the next redrive (never lose it), and so can a second redrive of the
  /// entry running at the same time: across databases, run one redrive at a time.
  template <std::integral Id>
  redriven_entry redrive(Id id, queue_type& target, const redrive_options& options = {}) {
    return single(id, detail::redrive_target{&target.engine(), options, {}});
  }

  /// Redrives every entry matching `filter` that is not yet redriven, oldest failure
  /// first, each into the queue it came from, applying each entry's redrive policy. Each
  /// batch of up to 1,000 entries is one transaction that enqueues and marks; running the
  /// same redrive twice enqueues each job once. Entries that cannot go back are counted
  /// and left (see redrive_result; an entry whose job does not decode as `Job` is
  /// `skipped_incompatible`). Throws invalid_argument_error for `from > to`.
  redrive_result redrive(const dead_letter_filter& filter, const redrive_options& options = {}) {
    const auto ids = engine_.select(filter);
    return detail::redrive(engine_, ids, {nullptr, options, check()});
  }

  /// As above, into `target` (in this database or another; see redrive(id, target)).
  redrive_result redrive(const dead_letter_filter& filter, queue_type& target,
                         const redrive_options& options = {}) {
    const auto ids = engine_.select(filter);
    return detail::redrive(engine_, ids, {&target.engine(), options, check()});
  }

  /// Redrives the entries `ids` (a range of ids), in that order, into `target` (see
  /// redrive(filter, target)).
  template <std::ranges::input_range Ids>
  requires std::integral<std::ranges::range_value_t<Ids>> redrive_result
  redrive(const Ids& ids, queue_type& target, const redrive_options& options = {}) {
    const std::vector<dead_letter_id> list(std::ranges::begin(ids), std::ranges::end(ids));
    return detail::redrive(engine_, list, {&target.engine(), options, check()});
  }

  /// The byte-level engine under this DLQ, for recovery and tools.
  [[nodiscard]] detail::dead_letter_engine& engine() noexcept { return engine_; }

 private:
  static detail::codec_identity codec() { return {Codec::name, fingerprint_}; }

  // A stored job decoded as Job, or why it is not.
  struct decoded {
    std::optional<Job> job;
    std::string error;
  };

  // The job of `row`. Nothing a codec throws escapes.
  [[nodiscard]] decoded decode(const storage::dead_letter_row& row) {
    decoded out;
    try {
      if (row.codec == Codec::name && row.fingerprint == fingerprint_) {
        out.job.emplace(Codec::template decode<Job>(row.payload));
      } else {
        out.job.emplace(detail::job_reader<Job, Codec>::decode(
            row.codec, row.fingerprint, row.payload,
            engine_.description(row.codec, row.fingerprint)));
      }
    } catch (const std::exception& e) {
      out.error = e.what();
    } catch (...) {
      out.error = "the codec threw a non-standard exception";
    }
    return out;
  }

  // The redrive check: why an entry's job does not decode; empty when it does.
  std::function<std::string(const storage::dead_letter_row&)> check() {
    return [this](const storage::dead_letter_row& row) { return decode(row).error; };
  }

  // Redrives one entry, after decoding its job (so `target` checks nothing more).
  redriven_entry single(dead_letter_id id, const detail::redrive_target& target) {
    if (auto row = engine_.get(id); row && !row->summary.redriven_at) {
      if (auto d = decode(*row); !d.job) {
        throw engine_.undecodable(id, codec(), row->codec, row->fingerprint,
                                  d.error + "; so it was not redriven");
      }
    }
    const std::array<dead_letter_id, 1> ids{id};
    auto result = detail::redrive(engine_, ids, target);
    const auto entry = result.entries.front();
    if (entry.outcome == redrive_outcome::no_target) {
      throw invalid_argument_error(
          "target",
          fmt::format("durable: invalid argument: entry {} of dead-letter queue \"{}\" in \"{}\" "
                      "has no queue in this database to go back to (it was added without a "
                      "queue, or moved from another database); nothing was changed; pass the "
                      "Queue object to redrive it into",
                      id, name(), path()));
    }
    return entry;
  }

  static inline const std::uint64_t fingerprint_ = Codec::template fingerprint<Job>();
  detail::dead_letter_engine engine_;
};

}  // namespace durable::inline v0
