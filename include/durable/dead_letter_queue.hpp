// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// `durable::DeadLetterQueue<Job, Codec>`: failed jobs kept with their error, time-window
/// queries, retention, and exactly-once redrive. See docs/dead_letter_queue.md.

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "durable/clock.hpp"
#include "durable/codec.hpp"
#include "durable/codecs/pfr_codec.hpp"
#include "durable/dead_letter.hpp"
#include "durable/detail/names.hpp"
#include "durable/detail/sqlite/dead_letter_store.hpp"
#include "durable/detail/sqlite/job_store.hpp"
#include "durable/detail/sqlite/schema.hpp"
#include "durable/exceptions.hpp"
#include "durable/job.hpp"
#include "durable/log.hpp"
#include "durable/open_options.hpp"
#include "durable/queue.hpp"

namespace durable::inline v0 {

/// Options of a DeadLetterQueue. `{}` logs to stderr and reads the system clock.
struct dead_letter_options {
  /// Durability and lock waiting of the database file.
  open_options open{};
  /// Where "now" comes from (failed_at, redriven_at, retention); the system clock when empty.
  clock_function clock{};
  /// Where notices go; empty discards them.
  log_sink log = stderr_sink();
};

namespace detail {
struct recovery_access;
}  // namespace detail

/// A named dead-letter queue in a SQLite file: where jobs that failed for good are kept
/// with their error and history, queried by time window, error type and key, expired by
/// retention, and put back on a queue (redriven) exactly once.
///
/// It may share its file with the queues it serves (a move is then one transaction) or
/// live in its own file (a move is then ordered and idempotent). Usable from many
/// threads; several processes may open the same file and DLQ.
template <class Job, class Codec = pfr_codec>
class DeadLetterQueue {
  static_assert(detail::check_codec<Codec, Job>());  // reports misuse with a durable: message

 public:
  /// The queue type this DLQ moves jobs from and redrives them to.
  using queue_type = Queue<Job, Codec>;

  /// Opens (creating if needed) dead-letter queue `name` in database file `path`.
  /// Throws invalid_argument_error for a bad name, sqlite_error/schema_error for a file
  /// that cannot be used (not a database, read-only, missing directory, newer schema).
  DeadLetterQueue(std::string path, std::string name, dead_letter_options options = {})
      : name_((detail::validate_name("dlq_name", name), std::move(name))),
        options_(std::move(options)),
        conn_(std::move(path), options_.open) {
    detail::sqlite::ensure_schema(conn_);
    database_id_ = detail::sqlite::database_id(conn_);
  }

  DeadLetterQueue(const DeadLetterQueue&) = delete;
  DeadLetterQueue& operator=(const DeadLetterQueue&) = delete;
  DeadLetterQueue(DeadLetterQueue&&) = delete;
  DeadLetterQueue& operator=(DeadLetterQueue&&) = delete;
  ~DeadLetterQueue() = default;

  /// The dead-letter queue's name.
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// The database file's path.
  [[nodiscard]] const std::string& path() const noexcept { return conn_.path(); }

  // ---- Adding

  /// Dead-letters `job` by hand (it was never in a Queue, or the caller removed it):
  /// stores it with `error`, `attempts` made and `options`; returns the entry's id.
  /// Throws invalid_argument_error for an empty error type, negative attempts or a bad
  /// queue name.
  dead_letter_id add(const Job& job, const failure& error, std::int64_t attempts,
                     const add_options& options = {}) {
    check_failure(error);
    if (attempts < 0) {
      throw invalid_argument_error(
          "attempts",
          fmt::format("durable: invalid argument: attempts must be >= 0, got {}", attempts));
    }
    if (!options.queue.empty()) detail::validate_name("add_options::queue", options.queue);
    std::vector<std::byte> buffer;
    Codec::encode(job, buffer);
    std::lock_guard lock{mutex_};
    const auto now = now_ms();
    detail::sqlite::new_dead_letter row;
    row.dlq = name_;
    row.queue = options.queue;
    row.key = &options.key;
    row.priority = options.priority;
    row.sequential = options.sequential;
    row.codec = Codec::name;
    row.fingerprint = fingerprint_;
    row.payload = buffer;
    row.error_type = error.type;
    row.message = error.message;
    row.context = error.context;
    row.attempts = attempts;
    row.enqueued_at_ms = options.enqueued_at ? detail::to_unix_ms(*options.enqueued_at) : now;
    row.failed_at_ms = now;
    detail::sqlite::write_transaction tx{conn_};
    const auto id = detail::sqlite::insert_dead_letter(conn_, row);
    tx.commit();
    return id.value_or(0);  // (NULL, NULL) never conflicts
  }

  /// Moves claimed job `claimed` from `queue` into this DLQ with its final failure
  /// `error`, its history and attempts (the failed attempt included); returns the
  /// entry's id. The stored bytes move as they are, so a poison job (empty
  /// `claimed.job`) moves too.
  ///
  /// Same file as the queue: one transaction; the job is never in both places nor in
  /// neither. Another file: the entry is inserted first, keyed by (the queue file's
  /// database id, job id) with conflicts ignored, then the job is deleted while the
  /// queue's write lock is held; after a crash between the two, moving the job again
  /// (after its lease ends and it is claimed again) leaves one entry and no job.
  ///
  /// Throws lease_lost_error, changing nothing, when `claimed`'s lease no longer holds the
  /// job; invalid_argument_error for an empty error type.
  dead_letter_id move_from(queue_type& queue, const claimed_job<Job>& claimed,
                           const failure& error) {
    check_failure(error);
    if (queue.database_id_ == database_id_) {
      std::lock_guard lock{mutex_};
      detail::sqlite::write_transaction tx{conn_};
      const auto id = detail::sqlite::copy_claimed_to_dead_letters(
          conn_, name_, database_id_, queue.name_, claimed.id, claimed.token,
          {error.type, error.message, error.context, now_ms()});
      if (!id || !detail::sqlite::delete_claimed(conn_, claimed.id, claimed.token)) {
        queue.lease_lost(claimed.id, "dead-lettering");
      }
      tx.commit();
      return *id;
    }
    // Lock order, here and in every cross-file write: the queue's file, then the DLQ's.
    std::scoped_lock lock{queue.mutex_, mutex_};
    detail::sqlite::write_transaction queue_tx{queue.conn_};
    const auto row =
        detail::sqlite::read_claimed_row(queue.conn_, queue.name_, claimed.id, claimed.token);
    if (!row) queue.lease_lost(claimed.id, "dead-lettering");
    std::optional<dead_letter_id> id;
    {
      detail::sqlite::new_dead_letter entry;
      entry.dlq = name_;
      entry.origin = queue.database_id_;
      entry.original_id = claimed.id;
      entry.queue = queue.name_;
      entry.key = &row->key;
      entry.priority = row->priority;
      entry.sequential = row->sequential;
      entry.codec = row->codec;
      entry.fingerprint = row->fingerprint;
      entry.payload = row->payload;
      entry.error_type = error.type;
      entry.message = error.message;
      entry.context = error.context;
      if (row->history) entry.history = *row->history;
      entry.attempts = row->attempts + 1;
      entry.enqueued_at_ms = row->enqueued_at_ms;
      entry.failed_at_ms = now_ms();
      detail::sqlite::write_transaction tx{conn_};
      id = detail::sqlite::insert_dead_letter(conn_, entry);
      if (!id) {
        id = detail::sqlite::find_dead_letter(conn_, queue.database_id_, claimed.id);
        detail::log(options_.log, log_level::info,
                    "job {} of queue \"{}\" was already in dead-letter queue \"{}\" of \"{}\" as "
                    "entry {} (an earlier move was interrupted); removing it from the queue",
                    claimed.id, queue.name_, name_, conn_.path(), id.value_or(0));
      }
      tx.commit();
    }
    if (!detail::sqlite::delete_claimed(queue.conn_, claimed.id, claimed.token)) {
      queue.lease_lost(claimed.id, "dead-lettering");
    }
    queue_tx.commit();
    return id.value_or(0);
  }

  // ---- Reading

  /// The newest `limit` entries not yet redriven, newest first, without decoding jobs.
  /// Throws invalid_argument_error for limit < 1. O(limit · log n).
  [[nodiscard]] std::vector<dead_letter_summary> recent(std::int64_t limit = 20) {
    return query({}, {.order = sort_order::newest_first, .limit = limit}).entries;
  }

  /// Entry `id` with its decoded job, context and history; empty when this DLQ has no
  /// such entry. Throws decode_error (with the row id and the expected and found codec
  /// and fingerprint) when the stored job does not decode as `Job`; the entry stays.
  [[nodiscard]] std::optional<dead_letter<Job>> get(dead_letter_id id) {
    std::lock_guard lock{mutex_};
    detail::sqlite::read_transaction snapshot{conn_};
    std::optional<dead_letter<Job>> out;
    detail::sqlite::read_dead_letter(conn_, name_, id, [&](const detail::sqlite::statement& row) {
      auto summary = detail::sqlite::read_summary(row);
      std::string found_codec{row.text(14)};
      const auto found_fingerprint = static_cast<std::uint64_t>(row.int64(15));
      if (found_codec != Codec::name || found_fingerprint != fingerprint_) {
        throw undecodable(id, found_codec, found_fingerprint,
                          fmt::format("it was written by codec \"{}\" with type fingerprint "
                                      "{:#018x}, this DeadLetterQueue reads codec \"{}\" with "
                                      "fingerprint {:#018x}",
                                      found_codec, found_fingerprint, Codec::name, fingerprint_));
      }
      std::optional<Job> job;
      try {
        job.emplace(Codec::template decode<Job>(row.blob(16)));
      } catch (const decode_error& e) {
        throw undecodable(id, found_codec, found_fingerprint, e.what());
      }
      out.emplace(dead_letter<Job>{std::move(summary),
                                   std::string{row.text(10)},
                                   std::string{row.text(11)},
                                   {},
                                   static_cast<int>(row.int64(12)),
                                   row.int64(13) != 0,
                                   std::move(found_codec),
                                   found_fingerprint,
                                   std::move(*job)});
    });
    if (out) out->history = detail::sqlite::dead_letter_history(conn_, id);
    return out;
  }

  /// Entry `id` without its job (it need not decode); empty when there is no such entry.
  [[nodiscard]] std::optional<dead_letter_summary> summary(dead_letter_id id) {
    std::lock_guard lock{mutex_};
    std::optional<dead_letter_summary> out;
    detail::sqlite::read_dead_letter(conn_, name_, id, [&](const detail::sqlite::statement& row) {
      out = detail::sqlite::read_summary(row);
    });
    return out;
  }

  /// The history of entry `id`, every failed attempt oldest first (the final one
  /// included); empty for an unknown id. Needs no decoding.
  [[nodiscard]] std::vector<attempt_record> history(dead_letter_id id) {
    std::lock_guard lock{mutex_};
    if (!exists(id)) return {};
    return detail::sqlite::dead_letter_history(conn_, id);
  }

  /// Number of entries not yet redriven. O(n) over the time index, no table reads.
  [[nodiscard]] std::int64_t count() { return count(dead_letter_filter{}); }

  /// Number of entries matching `filter`. An index range scan. Throws
  /// invalid_argument_error when `filter.from` is after `filter.to`.
  [[nodiscard]] std::int64_t count(const dead_letter_filter& filter) {
    const auto f = prepare(filter);
    std::lock_guard lock{mutex_};
    return detail::sqlite::count_dead_letters(conn_, f.where(name_));
  }

  /// One page of the entries matching `filter`, ordered by (failed_at, id) as `page`
  /// says, resuming after `page.after` (keyset pagination: every page costs
  /// O(limit · values · log n), never a scan of earlier pages). With several error types
  /// or keys, each value is read from the index in order and the results merged.
  /// Throws invalid_argument_error for `from > to` or limit < 1.
  [[nodiscard]] dead_letter_page query(const dead_letter_filter& filter,
                                       const page_request& page = {}) {
    const auto f = prepare(filter);
    if (page.limit < 1) {
      throw invalid_argument_error(
          "page.limit",
          fmt::format("durable: invalid argument: page_request::limit must be >= 1, got {}",
                      page.limit));
    }
    using position = std::pair<std::int64_t, dead_letter_id>;
    const bool descending = page.order == sort_order::newest_first;
    position after = descending ? position{f.to_ms, detail::sqlite::max_ms}
                                : position{f.from_ms, detail::sqlite::min_ms};
    if (page.after) {
      const position cursor{cursor_ms(page.after->failed_at), page.after->id};
      after = descending ? std::min(after, cursor) : std::max(after, cursor);
    }
    detail::sqlite::page_query q;
    q.dlq = name_;
    q.descending = descending;
    q.after_ms = after.first;
    q.after_id = after.second;
    q.bound_ms = descending ? f.from_ms : f.to_ms;
    q.queue = f.queue;
    q.include_redriven = f.include_redriven;
    q.limit = page.limit < detail::sqlite::max_ms ? page.limit + 1 : page.limit;

    dead_letter_page result;
    auto& rows = result.entries;
    std::size_t statements = 0;
    {
      std::lock_guard lock{mutex_};
      detail::sqlite::read_transaction snapshot{conn_};
      if (!f.keys.empty()) {
        q.index = detail::sqlite::dead_letter_index::key;
        q.types_json = f.types_json ? &*f.types_json : nullptr;
        for (const auto& key : f.keys) {
          q.key = &key;
          detail::sqlite::select_page(conn_, q, rows);
        }
        statements = f.keys.size();
      } else if (!f.types.empty()) {
        q.index = detail::sqlite::dead_letter_index::type;
        for (const auto& type : f.types) {
          q.type = &type;
          detail::sqlite::select_page(conn_, q, rows);
        }
        statements = f.types.size();
      } else {
        detail::sqlite::select_page(conn_, q, rows);
        statements = 1;
      }
    }
    if (statements > 1) {
      const auto by_position = [descending](const dead_letter_summary& a,
                                            const dead_letter_summary& b) {
        const auto pa = std::tuple{a.failed_at, a.id};
        const auto pb = std::tuple{b.failed_at, b.id};
        return descending ? pb < pa : pa < pb;
      };
      std::sort(rows.begin(), rows.end(), by_position);
    }
    const auto limit = static_cast<std::size_t>(page.limit);
    if (rows.size() > limit) {
      rows.resize(limit);
      result.next = dead_letter_cursor{rows.back().failed_at, rows.back().id};
    }
    return result;
  }

  // ---- Retention

  /// Deletes every entry (redriven or not) that failed more than `age` ago, i.e. with
  /// failed_at < now - age; returns how many. Throws invalid_argument_error for a negative
  /// age. An index range scan; one transaction.
  std::int64_t delete_older_than(std::chrono::milliseconds age) {
    if (age.count() < 0) {
      throw invalid_argument_error(
          "age", fmt::format("durable: invalid argument: delete_older_than age must be >= 0, "
                             "got {} ms",
                             age.count()));
    }
    std::lock_guard lock{mutex_};
    detail::sqlite::write_transaction tx{conn_};
    const auto removed = detail::sqlite::delete_failed_before(conn_, name_, now_ms() - age.count());
    tx.commit();
    return removed;
  }

  /// Deletes the entries matching `filter` (`{}`: every entry not yet redriven); returns
  /// how many. Throws invalid_argument_error for `from > to`.
  std::int64_t purge(const dead_letter_filter& filter) {
    const auto f = prepare(filter);
    std::lock_guard lock{mutex_};
    detail::sqlite::write_transaction tx{conn_};
    const auto removed = detail::sqlite::delete_dead_letters(conn_, f.where(name_));
    tx.commit();
    return removed;
  }

  // ---- Redrive

  /// Puts entry `id`'s job back on a queue in this DLQ's file (`options.queue`, or the
  /// queue it came from) and marks the entry redriven, in one transaction: a second
  /// retry of the same entry enqueues nothing. The job restarts at attempt 0 with its
  /// history, key, priority and first enqueue time kept. Returns the new job's id; empty
  /// when there is no such entry or it was already redriven.
  /// Throws decode_error when the entry's codec or job-type fingerprint is not this DLQ's
  /// (the entry stays); invalid_argument_error when it has no queue to go back to in this
  /// file (added without one, or moved from another file: pass the Queue instead).
  std::optional<job_id> retry(dead_letter_id id, const redrive_options& options = {}) {
    const auto target = name_target(options);
    return single(id, target);
  }

  /// As above, into `target` (in this file or another). Across files the order is:
  /// enqueue, then mark redriven; a crash between the two commits can enqueue the job
  /// once more on the next retry (never lose it).
  std::optional<job_id> retry(dead_letter_id id, queue_type& target,
                              std::chrono::milliseconds delay = {}) {
    check_delay(delay);
    return single(id, redrive_target{&target, nullptr, delay.count()});
  }

  /// Redrives every entry matching `filter` that is not yet redriven, oldest failure
  /// first, into a queue in this DLQ's file (`options.queue`, or each entry's source
  /// queue). Each batch of up to 1,000 entries is one transaction that enqueues and marks;
  /// running the same redrive twice enqueues each job once. Entries that cannot go back
  /// are counted and left (see redrive_result). Throws invalid_argument_error for
  /// `from > to` or a bad queue name.
  redrive_result redrive(const dead_letter_filter& filter, const redrive_options& options = {}) {
    const auto target = name_target(options);
    return many(matching(filter), target);
  }

  /// As above, into `target` (in this file or another; see retry(id, target)).
  redrive_result redrive(const dead_letter_filter& filter, queue_type& target,
                         std::chrono::milliseconds delay = {}) {
    check_delay(delay);
    return many(matching(filter), redrive_target{&target, nullptr, delay.count()});
  }

 private:
  friend struct detail::recovery_access;

  [[nodiscard]] std::int64_t now_ms() const {
    return detail::to_unix_ms(detail::now(options_.clock));
  }

  static std::int64_t cursor_ms(time_point t) {
    return std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
  }

  static void check_failure(const failure& error) {
    if (error.type.empty()) {
      throw invalid_argument_error(
          "error",
          "durable: invalid argument: failure::type is empty; give the error's stable "
          "type name (error_traits<E>::name)");
    }
  }

  static void check_delay(std::chrono::milliseconds delay) {
    if (delay.count() < 0) {
      throw invalid_argument_error(
          "delay", fmt::format("durable: invalid argument: redrive delay must be >= 0, got {} ms",
                               delay.count()));
    }
  }

  // True when `queue` holds a job (pending, scheduled or claimed) with `key`.
  static bool queued_in(queue_type& queue, const job_key& key) {
    std::lock_guard lock{queue.mutex_};
    return detail::sqlite::find_by_key(queue.conn_, queue.name_, key).has_value();
  }

  bool exists(dead_letter_id id) {
    return detail::sqlite::read_dead_letter(conn_, name_, id, [](const auto&) {});
  }

  // A filter checked and turned into bound values. Lists are deduplicated.
  struct prepared_filter {
    std::int64_t from_ms = detail::sqlite::min_ms;
    std::int64_t to_ms = detail::sqlite::max_ms;
    std::vector<std::string> types;
    std::vector<job_key> keys;
    std::optional<std::string> types_json;
    std::optional<std::string> keys_json;
    const std::string* queue = nullptr;
    bool include_redriven = false;

    [[nodiscard]] detail::sqlite::dead_letter_where where(std::string_view dlq) const {
      return {dlq,
              from_ms,
              to_ms,
              types_json ? &*types_json : nullptr,
              keys_json ? &*keys_json : nullptr,
              queue,
              include_redriven};
    }
  };

  static prepared_filter prepare(const dead_letter_filter& filter) {
    using std::chrono::milliseconds;
    if (filter.from && filter.to && *filter.from > *filter.to) {
      throw invalid_argument_error(
          "filter",
          fmt::format("durable: invalid argument: dead_letter_filter window is empty: from "
                      "{:%FT%T}Z is after to {:%FT%T}Z; give from <= to (both are inclusive)",
                      std::chrono::floor<milliseconds>(*filter.from),
                      std::chrono::floor<milliseconds>(*filter.to)));
    }
    prepared_filter f;
    // Inclusive bounds at millisecond precision, the precision failed_at is stored with.
    if (filter.from) {
      f.from_ms = std::chrono::ceil<milliseconds>(filter.from->time_since_epoch()).count();
    }
    if (filter.to) {
      f.to_ms = std::chrono::floor<milliseconds>(filter.to->time_since_epoch()).count();
    }
    f.types = filter.error_types;
    std::sort(f.types.begin(), f.types.end());
    f.types.erase(std::unique(f.types.begin(), f.types.end()), f.types.end());
    f.keys = filter.keys;
    std::sort(f.keys.begin(), f.keys.end());
    f.keys.erase(std::unique(f.keys.begin(), f.keys.end()), f.keys.end());
    if (!f.types.empty()) f.types_json = detail::sqlite::json_array(f.types);
    if (!f.keys.empty()) f.keys_json = detail::sqlite::json_array(f.keys);
    if (filter.queue) f.queue = &*filter.queue;
    f.include_redriven = filter.include_redriven;
    return f;
  }

  // Ids of the entries matching `filter` that are not yet redriven, oldest failure first.
  std::vector<dead_letter_id> matching(const dead_letter_filter& filter) {
    auto f = prepare(filter);
    f.include_redriven = false;
    std::vector<std::pair<std::int64_t, dead_letter_id>> found;
    {
      std::lock_guard lock{mutex_};
      found = detail::sqlite::select_dead_letters(conn_, f.where(name_));
    }
    std::sort(found.begin(), found.end());
    std::vector<dead_letter_id> ids;
    ids.reserve(found.size());
    for (const auto& [at, id] : found) ids.push_back(id);
    return ids;
  }

  // Where a redrive puts jobs: a Queue object, a named queue in this file, or (both
  // null) each entry's source queue in this file.
  struct redrive_target {
    queue_type* queue = nullptr;
    const std::string* name = nullptr;
    std::int64_t delay_ms = 0;
  };

  static redrive_target name_target(const redrive_options& options) {
    check_delay(options.delay);
    if (options.queue) detail::validate_name("redrive_options::queue", *options.queue);
    return {nullptr, options.queue ? &*options.queue : nullptr, options.delay.count()};
  }

  enum class outcome { redriven, gone, incompatible, no_target };
  struct one_result {
    outcome what = outcome::gone;
    job_id job = 0;
    std::string found_codec;
    std::uint64_t found_fingerprint = 0;
  };

  // Redrives entry `id` (caller holds the locks and write transactions); jobs go through
  // `jobs` (this DLQ's connection, or the target queue's in another file).
  one_result redrive_one(detail::sqlite::connection& jobs, dead_letter_id id,
                         const redrive_target& target, std::int64_t now) {
    one_result r;
    detail::sqlite::read_for_redrive(conn_, name_, id, [&](const detail::sqlite::statement& row) {
      const auto codec_name = row.text(5);
      const auto fingerprint = static_cast<std::uint64_t>(row.int64(6));
      if (codec_name != Codec::name || fingerprint != fingerprint_) {
        r.what = outcome::incompatible;
        r.found_codec = std::string{codec_name};
        r.found_fingerprint = fingerprint;
        return;
      }
      std::string_view queue;
      if (target.queue != nullptr) {
        queue = target.queue->name_;
      } else if (target.name != nullptr) {
        queue = *target.name;
      } else {
        const bool foreign = !row.is_null(0) && row.text(0) != database_id_;
        queue = row.text(1);
        if (foreign || queue.empty()) {
          r.what = outcome::no_target;
          return;
        }
      }
      const auto key = detail::sqlite::column_key(row, 2);
      std::optional<std::string_view> history;
      if (!row.is_null(8)) history = row.text(8);
      detail::sqlite::new_job job;
      job.queue = queue;
      job.key = &key;
      job.priority = static_cast<int>(row.int64(3));
      job.run_at_ms = now + target.delay_ms;
      job.enqueued_at_ms = row.int64(9);
      job.sequential = row.int64(4) != 0;
      job.attempts = 0;
      job.codec = codec_name;
      job.fingerprint = fingerprint;
      job.payload = row.blob(7);
      job.history = history;
      r.job = detail::sqlite::insert_job(jobs, job);
      r.what = outcome::redriven;
    });
    if (r.what == outcome::redriven && !detail::sqlite::mark_redriven(conn_, id, now)) {
      r.what = outcome::gone;  // unreachable under the write lock; kept for safety
    }
    return r;
  }

  static constexpr std::size_t batch_size = 1000;

  static std::int64_t count_redriven(const std::vector<one_result>& results) {
    return std::count_if(results.begin(), results.end(),
                         [](const one_result& r) { return r.what == outcome::redriven; });
  }

  // One batch into this DLQ's own file: one transaction enqueues and marks.
  void redrive_batch_here(std::span<const dead_letter_id> batch, const redrive_target& target,
                          std::vector<one_result>& results) {
    {
      std::lock_guard lock{mutex_};
      detail::sqlite::write_transaction tx{conn_};
      const auto now = now_ms();
      for (const auto id : batch) results.push_back(redrive_one(conn_, id, target, now));
      tx.commit();
    }
    const auto pushed = count_redriven(results);
    if (target.queue != nullptr && pushed > 0) {
      {
        std::lock_guard lock{target.queue->mutex_};
        target.queue->after_push(pushed);
      }
      target.queue->pushed_.notify_all();
    }
  }

  // One batch into a Queue in another file: enqueue and commit there first, then mark and
  // commit here. A crash between the commits duplicates; it never loses.
  void redrive_batch_across(std::span<const dead_letter_id> batch, const redrive_target& target,
                            std::vector<one_result>& results) {
    queue_type& queue = *target.queue;
    std::int64_t pushed = 0;
    {
      std::scoped_lock lock{queue.mutex_, mutex_};  // the queue's file first, as in move_from
      detail::sqlite::write_transaction queue_tx{queue.conn_};
      detail::sqlite::write_transaction tx{conn_};
      const auto now = now_ms();
      for (const auto id : batch) results.push_back(redrive_one(queue.conn_, id, target, now));
      queue_tx.commit();
      tx.commit();
      pushed = count_redriven(results);
      if (pushed > 0) queue.after_push(pushed);
    }
    if (pushed > 0) queue.pushed_.notify_all();
  }

  // Redrives `ids` in batches of batch_size; calls `report(id, one_result&)` for each.
  template <class Report>
  void redrive_ids(std::span<const dead_letter_id> ids, const redrive_target& target,
                   Report&& report) {
    const bool across = target.queue != nullptr && target.queue->database_id_ != database_id_;
    std::vector<one_result> results;
    for (std::size_t start = 0; start < ids.size(); start += batch_size) {
      const auto batch = ids.subspan(start, std::min(batch_size, ids.size() - start));
      results.clear();
      if (across) {
        redrive_batch_across(batch, target, results);
      } else {
        redrive_batch_here(batch, target, results);
      }
      for (std::size_t i = 0; i < batch.size(); ++i) report(batch[i], results[i]);
    }
  }

  std::optional<job_id> single(dead_letter_id id, const redrive_target& target) {
    std::optional<job_id> job;
    const std::array<dead_letter_id, 1> ids{id};
    redrive_ids(ids, target, [&](dead_letter_id, const one_result& r) {
      switch (r.what) {
        case outcome::redriven: job = r.job; break;
        case outcome::gone: break;
        case outcome::incompatible:
          throw undecodable(
              id, r.found_codec, r.found_fingerprint,
              fmt::format("it was written by codec \"{}\" with type fingerprint "
                          "{:#018x}, this DeadLetterQueue reads codec \"{}\" with "
                          "fingerprint {:#018x}, so it was not redriven",
                          r.found_codec, r.found_fingerprint, Codec::name, fingerprint_));
        case outcome::no_target:
          throw invalid_argument_error(
              "target",
              fmt::format("durable: invalid argument: entry {} of dead-letter queue \"{}\" in "
                          "\"{}\" has no queue in this file to go back to (it was added without "
                          "a queue, or moved from another database file); nothing was changed; "
                          "pass the Queue object, or redrive_options::queue",
                          id, name_, conn_.path()));
      }
    });
    return job;
  }

  redrive_result many(const std::vector<dead_letter_id>& ids, const redrive_target& target) {
    redrive_result result;
    redrive_ids(ids, target, [&](dead_letter_id, const one_result& r) {
      switch (r.what) {
        case outcome::redriven:
          ++result.redriven;
          result.jobs.push_back(r.job);
          break;
        case outcome::gone: break;
        case outcome::incompatible: ++result.skipped_incompatible; break;
        case outcome::no_target: ++result.skipped_no_target; break;
      }
    });
    return result;
  }

  [[nodiscard]] decode_error undecodable(dead_letter_id id, const std::string& found_codec,
                                         std::uint64_t found_fingerprint,
                                         std::string_view why) const {
    return decode_error(
        fmt::format("durable: decode: entry {} of dead-letter queue \"{}\" in \"{}\" cannot be "
                    "decoded as this DeadLetterQueue's job type: {}; the entry was kept: read it "
                    "with a DeadLetterQueue of its job type and codec, or purge it",
                    id, name_, conn_.path(), why),
        name_, id, std::string{Codec::name}, fingerprint_, found_codec, found_fingerprint);
  }

  std::string name_;
  dead_letter_options options_;
  std::mutex mutex_;  // guards conn_
  detail::sqlite::connection conn_;
  std::string database_id_;
  static inline const std::uint64_t fingerprint_ = Codec::template fingerprint<Job>();
};

}  // namespace durable::inline v0
