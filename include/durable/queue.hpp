// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// `durable::Queue<Job, Codec>`: a persistent, at-least-once job queue. A thin typed
/// layer: it encodes and decodes jobs and forwards to the byte-level engine
/// (detail/engine/queue_engine.hpp).

#include <chrono>
#include <concepts>
#include <cstdint>
#include <exception>
#include <optional>
#include <ranges>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "durable/clock.hpp"
#include "durable/codec.hpp"
#include "durable/codecs/pfr_codec.hpp"
#include "durable/database.hpp"
#include "durable/detail/engine/queue_engine.hpp"
#include "durable/detail/job_reader.hpp"
#include "durable/detail/names.hpp"
#include "durable/exceptions.hpp"
#include "durable/job.hpp"
#include "durable/queue_options.hpp"

namespace durable::inline v0 {

/// A named, persistent job queue in a database. Delivery is at-least-once: a claimed
/// job is held under a lease and comes back if it is neither acked nor nacked in time.
/// Usable from many threads; several processes may open the same database and queue.
///
/// Claims take only jobs this Queue can decode: of its own type, of the types it declares
/// upgrades from (job_upgrades<Job>), and older versions of those with fewer trailing fields
/// (pfr_codec). Jobs of other types stay pending for a reader that knows them; unreadable()
/// counts them. See docs/evolving-jobs.md.
template <class Job, class Codec = pfr_codec>
class Queue {
  static_assert(detail::check_job_reader<Codec, Job>());  // misuse: one durable: message

 public:
  /// Opens queue `name` in `db` and registers Job's type description there. Throws
  /// invalid_argument_error for a bad name or options.
  Queue(database db, std::string name, queue_options options = {})
      : engine_(std::move(db), std::move(name), std::move(options),
                detail::job_reader<Job, Codec>::info()) {}

  /// Opens (creating if needed) queue `name` in database file `path` (shared with the
  /// process's other objects on that file). Throws invalid_argument_error for a bad name,
  /// sqlite_error/schema_error for a file that cannot be used (not a database, read-only,
  /// missing directory, newer schema).
  Queue(const std::string& path, std::string name, queue_options options = {})
      : Queue(database{(detail::validate_name("queue_name", name), path), options.open}, name,
              std::move(options)) {}

  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;
  Queue(Queue&&) = delete;
  Queue& operator=(Queue&&) = delete;
  ~Queue() = default;

  /// The queue's name.
  [[nodiscard]] const std::string& name() const noexcept { return engine_.name(); }
  /// The database file's path (or connection target).
  [[nodiscard]] const std::string& path() const noexcept { return engine_.target(); }
  /// The database the queue lives in.
  [[nodiscard]] const database& db() const noexcept { return engine_.db(); }

  /// Stores `job` durably (committed before returning) and returns its id. With
  /// `options.unique` and a key, returns the existing job instead when one has that key.
  /// Throws queue_full_error past the hard limit, invalid_argument_error for bad options.
  push_result push(const Job& job, const push_options& options = {}) {
    detail::queue_engine::check(options);
    thread_local std::vector<std::byte> buffer;
    Codec::encode(job, buffer);
    const detail::encoded_job encoded{&options, buffer};
    const auto result = engine_.push({&encoded, 1}).front();
    if (buffer.capacity() > std::size_t{1} << 20) buffer = {};  // keep no huge job per thread
    return result;
  }

  /// Pushes every job of `jobs` in one transaction: all are stored or none. Elements are
  /// `Job`s (all pushed with `options`, which may not carry a key) or
  /// `std::pair<Job, push_options>`. Returns one result per element, in order.
  template <std::ranges::input_range R>
  std::vector<push_result> push_many(R&& jobs, const push_options& options = {}) {
    using element = std::ranges::range_value_t<R>;
    constexpr bool with_options = std::same_as<element, std::pair<Job, push_options>>;
    static_assert(
        with_options || std::convertible_to<std::ranges::range_reference_t<R>, const Job&>,
        "durable: Queue::push_many: the range's elements must be Job or "
        "std::pair<Job, push_options>; see docs/queue.md");
    if constexpr (!with_options) {
      detail::queue_engine::check(options);
      if (options.key) {
        throw invalid_argument_error(
            "options",
            "durable: invalid argument: push_many with one push_options for all jobs "
            "cannot give them a key; pass std::pair<Job, push_options> elements");
      }
    }
    std::vector<std::vector<std::byte>> payloads;
    std::vector<const push_options*> each;
    for (auto&& item : jobs) {
      payloads.emplace_back();
      if constexpr (with_options) {
        detail::queue_engine::check(item.second);
        Codec::encode(item.first, payloads.back());
        each.push_back(&item.second);
      } else {
        Codec::encode(item, payloads.back());
        each.push_back(&options);
      }
    }
    std::vector<detail::encoded_job> encoded;
    encoded.reserve(payloads.size());
    for (std::size_t i = 0; i < payloads.size(); ++i) encoded.push_back({each[i], payloads[i]});
    return engine_.push(encoded);
  }

  /// Claims the next claimable job this Queue can decode under a lease of `lease`: highest
  /// priority first, then FIFO. Empty when there is none. A job of a readable type whose
  /// bytes do not decode is returned as a poison job (see claimed_job). Throws
  /// invalid_argument_error for a non-positive lease; a lease past durable::max_time ends
  /// there.
  [[nodiscard]] std::optional<claimed_job<Job>> claim(std::chrono::milliseconds lease) {
    auto rows = engine_.claim(1, lease);
    if (rows.empty()) return std::nullopt;
    return typed(rows.front());
  }

  /// Claims up to `max` jobs at the head of the queue in one transaction: the
  /// consecutive parallel jobs, stopping before a sequential job; a sequential job at the
  /// head is returned alone. Empty when nothing is claimable.
  [[nodiscard]] std::vector<claimed_job<Job>> claim_batch(std::size_t max,
                                                          std::chrono::milliseconds lease) {
    std::vector<claimed_job<Job>> batch;
    for (auto& row : engine_.claim(max, lease)) batch.push_back(typed(row));
    return batch;
  }

  /// Finishes a claimed job: removes it. Throws lease_lost_error (changing nothing) when
  /// the lease was lost to another claimer, the job was already finished, or it is not
  /// this queue's.
  void ack(const claimed_job<Job>& claimed) { engine_.ack(claimed.id, claimed.token); }
  /// As above, by id and lease token.
  void ack(job_id id, std::int64_t token) { engine_.ack(id, token); }

  /// Returns a claimed job to the queue, claimable after `delay`, with one more attempt
  /// and `error` (type, message) appended to its history. Throws lease_lost_error.
  void nack(const claimed_job<Job>& claimed, std::chrono::milliseconds delay,
            const failure& error) {
    engine_.nack(claimed.id, claimed.token, delay, error);
  }
  /// As above, by id and lease token.
  void nack(job_id id, std::int64_t token, std::chrono::milliseconds delay, const failure& error) {
    engine_.nack(id, token, delay, error);
  }

  /// Extends a claimed job's lease to `lease` from now; returns the new lease end.
  /// Throws lease_lost_error.
  time_point extend_lease(const claimed_job<Job>& claimed, std::chrono::milliseconds lease) {
    return extend_lease(claimed.id, claimed.token, lease);
  }
  /// As above, by id and lease token.
  time_point extend_lease(job_id id, std::int64_t token, std::chrono::milliseconds lease) {
    return detail::from_unix_ms(engine_.extend(id, token, lease));
  }

  /// The errors of job `id`'s earlier attempts, oldest first (empty for an unknown id).
  [[nodiscard]] std::vector<attempt_record> history(job_id id) { return engine_.history(id); }

  /// Counts by state, the age of the oldest claimable job, and how full the queue is
  /// against its soft limit. The total is a counter; the split walks the claim index:
  /// O(distinct priorities · log n + jobs not claimable now), so 1M pending jobs cost what
  /// 1k do.
  [[nodiscard]] queue_stats stats() { return engine_.stats(); }

  /// Where job `id` is: pending, scheduled, claimed (with its lease end), dead-lettered
  /// (with the entry's id, for a DLQ in this queue's database), or not found (acked,
  /// purged, or not this queue's). One consistent read; O(log n).
  [[nodiscard]] job_status status(job_id id) { return engine_.status(id); }

  /// Number of jobs in the queue, in any state. O(1): a counter kept in the same
  /// transactions as the jobs.
  [[nodiscard]] std::int64_t size() { return engine_.size(); }

  /// True when the queue holds no job in any state.
  [[nodiscard]] bool empty() { return engine_.empty(); }

  /// The claimable jobs this Queue cannot decode (newer or other job types), counted per
  /// type with the reason; claims leave them pending for a reader of their type. A Worker
  /// logs them once per worker_options::unreadable_log_interval. An index-only count.
  [[nodiscard]] std::vector<unreadable_jobs> unreadable() { return engine_.unreadable(); }

  /// True when the queue holds a job (pending, scheduled or claimed) with `key`.
  [[nodiscard]] bool contains(const job_key& key) { return engine_.has_key(key); }

  /// Counts pushes (and nacks, redrives) into this queue in this process, and on
  /// PostgreSQL pushes by other processes too; pass it to wait_for_push.
  [[nodiscard]] std::uint64_t push_sequence() const { return engine_.push_sequence(); }

  /// Blocks until a job is pushed, nacked or redriven into this queue by this process
  /// after `seen` (a push_sequence() value), `timeout` passes, or `stop` is requested.
  /// True if pushed. On SQLite pushes from other processes do not wake it: poll claim()
  /// for those. On PostgreSQL they do (LISTEN/NOTIFY), soon after they commit.
  bool wait_for_push(std::uint64_t seen, std::chrono::milliseconds timeout,
                     const std::stop_token& stop = {}) {
    return engine_.wait_for_push(seen, timeout, stop);
  }

  /// The byte-level engine under this queue, for the DLQ, recovery and tools.
  [[nodiscard]] detail::queue_engine& engine() noexcept { return engine_; }

 private:
  // A claimed row as a claimed_job: decoded (as Job, through an upgrade, or as an older
  // version), or a poison job when its bytes do not decode. Nothing a codec throws escapes.
  [[nodiscard]] claimed_job<Job> typed(const storage::claimed_row& row) const {
    claimed_job<Job> c;
    c.id = row.id;
    c.token = row.token;
    c.key = row.key;
    c.attempts = row.attempts;
    c.max_attempts = row.max_attempts;
    c.priority = row.priority;
    c.sequential = row.sequential;
    c.enqueued_at = detail::from_unix_ms(row.enqueued_at_ms);
    c.lease_until = detail::from_unix_ms(row.lease_until_ms);
    c.first_run_at = detail::from_unix_ms(row.first_run_at_ms);
    c.ready_at = detail::from_unix_ms(row.ready_at_ms);
    if (row.timeout_ms) c.timeout = std::chrono::milliseconds{*row.timeout_ms};
    c.exhausted = c.attempts >= c.max_attempts;
    try {
      if (row.codec == Codec::name && row.fingerprint == fingerprint_) {
        c.job.emplace(Codec::template decode<Job>(row.payload));
      } else {
        c.job.emplace(detail::job_reader<Job, Codec>::decode(
            row.codec, row.fingerprint, row.payload, engine_.description(row)));
      }
    } catch (const std::exception& e) {
      c.poison.emplace(engine_.poison(row, e.what()));
    } catch (...) {
      c.poison.emplace(engine_.poison(row, "the codec threw a non-standard exception"));
    }
    return c;
  }

  static inline const std::uint64_t fingerprint_ = Codec::template fingerprint<Job>();
  detail::queue_engine engine_;
};

}  // namespace durable::inline v0
