// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// `durable::Queue<Job, Codec>`: a persistent, at-least-once job queue on SQLite.

#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <ranges>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "durable/clock.hpp"
#include "durable/codec.hpp"
#include "durable/codecs/pfr_codec.hpp"
#include "durable/detail/names.hpp"
#include "durable/detail/process.hpp"
#include "durable/detail/sqlite/job_store.hpp"
#include "durable/detail/sqlite/schema.hpp"
#include "durable/exceptions.hpp"
#include "durable/job.hpp"
#include "durable/log.hpp"
#include "durable/open_options.hpp"

namespace durable::inline v0 {

template <class Job, class Codec>
class DeadLetterQueue;

/// Options of a Queue. `{}` gives a queue with no limits, logging to stderr.
struct queue_options {
  /// Durability and lock waiting of the database file.
  open_options open{};
  /// When > 0, a claimed job whose `attempts` reached this is flagged `exhausted`.
  std::int64_t max_attempts = 0;
  /// Logs a warning when the queue's size crosses 80 % and 100 % of this; never rejects.
  std::optional<std::int64_t> soft_limit{};
  /// A push that would exceed this throws queue_full_error. Costs a count per push.
  std::optional<std::int64_t> hard_limit{};
  /// On open, return jobs claimed by dead processes of this host to pending at once,
  /// instead of waiting for their leases to end.
  bool release_dead_claims = false;
  /// Where "now" comes from; the system clock when empty.
  clock_function clock{};
  /// Where warnings go; empty discards them.
  log_sink log = stderr_sink();
};

/// A snapshot of a queue's contents.
struct queue_stats {
  /// Claimable now (including jobs whose lease expired).
  std::int64_t pending = 0;
  /// Waiting for their run-at time.
  std::int64_t scheduled = 0;
  /// Held under a live lease.
  std::int64_t claimed = 0;
  /// How long the longest-waiting claimable job has been claimable; zero when none is.
  std::chrono::milliseconds oldest_pending_age{0};
};

/// A named, persistent job queue in a SQLite file. Delivery is at-least-once: a claimed
/// job is held under a lease and comes back if it is neither acked nor nacked in time.
/// Usable from many threads; several processes may open the same file and queue.
template <class Job, class Codec = pfr_codec>
class Queue {
  static_assert(detail::check_codec<Codec, Job>());  // reports misuse with a durable: message

 public:
  /// Opens (creating if needed) queue `name` in database file `path`.
  /// Throws invalid_argument_error for a bad name, sqlite_error/schema_error for a file
  /// that cannot be used (not a database, read-only, missing directory, newer schema).
  Queue(std::string path, std::string name, queue_options options = {})
      : name_((detail::validate_name("queue_name", name), std::move(name))),
        options_(std::move(options)),
        conn_(std::move(path), options_.open),
        tokens_(std::random_device{}()) {
    if (options_.hard_limit && *options_.hard_limit <= 0) {
      throw invalid_argument_error("hard_limit",
                                   "durable: invalid argument: hard_limit must be positive");
    }
    if (options_.soft_limit && *options_.soft_limit <= 0) {
      throw invalid_argument_error("soft_limit",
                                   "durable: invalid argument: soft_limit must be positive");
    }
    detail::sqlite::ensure_schema(conn_);
    database_id_ = detail::sqlite::database_id(conn_);
    if (options_.release_dead_claims) release_dead_claims();
  }

  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;
  Queue(Queue&&) = delete;
  Queue& operator=(Queue&&) = delete;
  ~Queue() = default;

  /// The queue's name.
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// The database file's path.
  [[nodiscard]] const std::string& path() const noexcept { return conn_.path(); }

  /// Stores `job` durably (committed before returning) and returns its id. With
  /// `options.unique` and a key, returns the existing job instead when one has that key.
  /// Throws queue_full_error past the hard limit, invalid_argument_error for bad options.
  push_result push(const Job& job, const push_options& options = {}) {
    check(options);
    thread_local std::vector<std::byte> buffer;
    Codec::encode(job, buffer);
    push_result result;
    {
      std::lock_guard lock{mutex_};
      const auto now = detail::to_unix_ms(now_());
      if (options.unique || options_.hard_limit) {
        detail::sqlite::write_transaction tx{conn_};
        result = insert(options, buffer, now);
        tx.commit();
      } else {
        result = insert(options, buffer, now);
      }
      after_push(1);
    }
    if (buffer.capacity() > std::size_t{1} << 20) buffer = {};  // keep no huge job per thread
    pushed_.notify_all();
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
      check(options);
      if (options.key) {
        throw invalid_argument_error(
            "options",
            "durable: invalid argument: push_many with one push_options for all jobs "
            "cannot give them a key; pass std::pair<Job, push_options> elements");
      }
    }
    std::vector<push_result> results;
    if constexpr (std::ranges::sized_range<R>) results.reserve(std::ranges::size(jobs));
    std::vector<std::byte> buffer;
    {
      std::lock_guard lock{mutex_};
      const auto now = detail::to_unix_ms(now_());
      detail::sqlite::write_transaction tx{conn_};
      std::int64_t count = 0;
      for (auto&& item : jobs) {
        if constexpr (with_options) {
          check(item.second);
          Codec::encode(item.first, buffer);
          results.push_back(insert(item.second, buffer, now));
        } else {
          Codec::encode(item, buffer);
          results.push_back(insert(options, buffer, now));
        }
        ++count;
      }
      tx.commit();
      after_push(count);
    }
    pushed_.notify_all();
    return results;
  }

  /// Claims the next claimable job under a lease of `lease`: highest priority first,
  /// then FIFO. Empty when nothing is claimable. A job whose bytes do not decode is
  /// returned as a poison job (see claimed_job). Throws invalid_argument_error for a
  /// non-positive lease.
  [[nodiscard]] std::optional<claimed_job<Job>> claim(std::chrono::milliseconds lease) {
    check_lease(lease);
    std::lock_guard lock{mutex_};
    const auto now = detail::to_unix_ms(now_());
    if (known_empty(now)) return std::nullopt;
    const auto params = claim_params(now, lease);
    std::optional<claimed_job<Job>> claimed;
    if (!detail::sqlite::claim_next(conn_, params, [&](const detail::sqlite::statement& row) {
          claimed = read_claimed(row, params);
        })) {
      remember_empty();
    }
    return claimed;
  }

  /// Claims up to `max` jobs at the head of the queue in one transaction: the
  /// consecutive parallel jobs, stopping before a sequential job; a sequential job at the
  /// head is returned alone. Empty when nothing is claimable.
  [[nodiscard]] std::vector<claimed_job<Job>> claim_batch(std::size_t max,
                                                          std::chrono::milliseconds lease) {
    check_lease(lease);
    if (max == 0) {
      throw invalid_argument_error("max", "durable: invalid argument: claim_batch max must be > 0");
    }
    std::vector<claimed_job<Job>> batch;
    std::lock_guard lock{mutex_};
    const auto now = detail::to_unix_ms(now_());
    if (known_empty(now)) return batch;
    detail::sqlite::write_transaction tx{conn_};
    const auto head =
        detail::sqlite::claimable_head(conn_, name_, now, static_cast<std::int64_t>(max));
    auto params = claim_params(now, lease);
    for (const auto& [id, sequential] : head) {
      if (sequential && !batch.empty()) break;
      params.token = next_token();
      detail::sqlite::claim_by_id(conn_, params, id, [&](const detail::sqlite::statement& row) {
        batch.push_back(read_claimed(row, params));
      });
      if (sequential) break;
    }
    tx.commit();
    if (batch.empty()) remember_empty();
    return batch;
  }

  /// Finishes a claimed job: removes it. Throws lease_lost_error (changing nothing) when
  /// the lease was lost to another claimer or the job was already finished.
  void ack(const claimed_job<Job>& claimed) { ack(claimed.id, claimed.token); }
  /// As above, by id and lease token.
  void ack(job_id id, std::int64_t token) {
    std::lock_guard lock{mutex_};
    if (!detail::sqlite::delete_claimed(conn_, id, token)) lease_lost(id, "ack");
  }

  /// Returns a claimed job to the queue, claimable after `delay`, with one more attempt
  /// and `error` (type, message) appended to its history. Throws lease_lost_error.
  void nack(const claimed_job<Job>& claimed, std::chrono::milliseconds delay,
            const failure& error) {
    nack(claimed.id, claimed.token, delay, error);
  }
  /// As above, by id and lease token.
  void nack(job_id id, std::int64_t token, std::chrono::milliseconds delay, const failure& error) {
    if (delay.count() < 0) {
      throw invalid_argument_error("delay", "durable: invalid argument: nack delay is negative");
    }
    {
      std::lock_guard lock{mutex_};
      const auto now = detail::to_unix_ms(now_());
      if (!detail::sqlite::release_claimed(conn_, id, token, now + delay.count(), now, error.type,
                                           error.message)) {
        lease_lost(id, "nack");
      }
      empty_.reset();
    }
    pushed_.notify_all();
  }

  /// Extends a claimed job's lease to `lease` from now; returns the new lease end.
  /// Throws lease_lost_error.
  time_point extend_lease(const claimed_job<Job>& claimed, std::chrono::milliseconds lease) {
    return extend_lease(claimed.id, claimed.token, lease);
  }
  /// As above, by id and lease token.
  time_point extend_lease(job_id id, std::int64_t token, std::chrono::milliseconds lease) {
    check_lease(lease);
    std::lock_guard lock{mutex_};
    const auto until = detail::to_unix_ms(now_()) + lease.count();
    if (!detail::sqlite::extend_claimed(conn_, id, token, until)) lease_lost(id, "extend_lease");
    return detail::from_unix_ms(until);
  }

  /// The errors of job `id`'s earlier attempts, oldest first (empty for an unknown id).
  [[nodiscard]] std::vector<attempt_record> history(job_id id) {
    std::lock_guard lock{mutex_};
    return detail::sqlite::job_history(conn_, id);
  }

  /// Counts by state, and the age of the oldest claimable job. O(jobs in the queue).
  [[nodiscard]] queue_stats stats() {
    std::lock_guard lock{mutex_};
    const auto now = detail::to_unix_ms(now_());
    const auto c = detail::sqlite::count_jobs(conn_, name_, now);
    return {c.pending, c.scheduled, c.claimed,
            std::chrono::milliseconds{c.oldest_claimable_ms ? now - *c.oldest_claimable_ms : 0}};
  }

  /// Number of jobs in the queue, in any state. O(jobs in the queue).
  [[nodiscard]] std::int64_t size() {
    std::lock_guard lock{mutex_};
    return detail::sqlite::count_all(conn_, name_);
  }

  /// True when the queue holds no job in any state.
  [[nodiscard]] bool empty() {
    std::lock_guard lock{mutex_};
    return !detail::sqlite::next_run_at(conn_, name_).has_value();
  }

  /// Counts pushes (and nacks) through this object; pass it to wait_for_push.
  [[nodiscard]] std::uint64_t push_sequence() const {
    std::lock_guard lock{wait_mutex_};
    return push_sequence_;
  }

  /// Blocks until a job is pushed or nacked through this Queue object after `seen`
  /// (a push_sequence() value), `timeout` passes, or `stop` is requested. True if pushed.
  /// Pushes from other processes do not wake it: poll claim() for those.
  bool wait_for_push(std::uint64_t seen, std::chrono::milliseconds timeout,
                     std::stop_token stop = {}) {
    std::unique_lock lock{wait_mutex_};
    return pushed_.wait_for(lock, stop, timeout, [&] { return push_sequence_ != seen; });
  }

 private:
  template <class, class>
  friend class DeadLetterQueue;

  [[nodiscard]] time_point now_() const { return detail::now(options_.clock); }

  static void check(const push_options& options) {
    if (options.unique && !options.key) {
      throw invalid_argument_error(
          "options", "durable: invalid argument: push_options::unique needs a key to compare");
    }
    if (options.delay.count() < 0) {
      throw invalid_argument_error("options",
                                   "durable: invalid argument: push_options::delay is negative");
    }
  }

  static void check_lease(std::chrono::milliseconds lease) {
    if (lease.count() <= 0) {
      throw invalid_argument_error(
          "lease", fmt::format("durable: invalid argument: lease must be positive, got {} ms",
                               lease.count()));
    }
  }

  // Inserts one job (caller holds mutex_, and a transaction when unique or hard-limited).
  push_result insert(const push_options& options, std::span<const std::byte> payload,
                     std::int64_t now) {
    if (options.unique) {
      if (auto existing = detail::sqlite::find_by_key(conn_, name_, *options.key)) {
        return {*existing, false};
      }
    }
    if (options_.hard_limit && detail::sqlite::count_all(conn_, name_) + 1 > *options_.hard_limit) {
      throw queue_full_error(
          fmt::format(
              "durable: queue full: queue \"{}\" in \"{}\" holds its hard limit of {} jobs; "
              "nothing was pushed; consume jobs or raise queue_options::hard_limit",
              name_, conn_.path(), *options_.hard_limit),
          name_, *options_.hard_limit);
    }
    const std::int64_t run_at =
        options.run_at ? detail::to_unix_ms(*options.run_at) : now + options.delay.count();
    detail::sqlite::new_job row;
    row.queue = name_;
    row.key = &options.key;
    row.priority = options.priority;
    row.run_at_ms = run_at;
    row.enqueued_at_ms = now;
    row.sequential = options.sequential;
    row.codec = Codec::name;
    row.fingerprint = fingerprint_;
    row.payload = payload;
    return {detail::sqlite::insert_job(conn_, row), true};
  }

  // Bookkeeping after `count` jobs were pushed (caller holds mutex_).
  void after_push(std::int64_t count) {
    empty_.reset();
    {
      std::lock_guard lock{wait_mutex_};
      ++push_sequence_;
    }
    if (options_.soft_limit) check_soft_limit(count);
  }

  // Soft limit: an exact count every ~1/200 of the limit pushes, so the cost stays
  // amortized; one warning per upward crossing of 80 % and of 100 %.
  void check_soft_limit(std::int64_t count) {
    const std::int64_t limit = *options_.soft_limit;
    pushes_since_count_ += count;
    if (pushes_since_count_ < std::max<std::int64_t>(1, limit / 200)) return;
    pushes_since_count_ = 0;
    const std::int64_t size = detail::sqlite::count_all(conn_, name_);
    const int level = size >= limit ? 2 : (size * 5 >= limit * 4 ? 1 : 0);
    if (level > soft_level_) {
      detail::log(options_.log, log_level::warning,
                  R"(queue "{}" in "{}" holds {} jobs, {} of its soft limit of {})", name_,
                  conn_.path(), size, level == 2 ? "over 100 %" : "over 80 %", limit);
    }
    soft_level_ = level;
  }

  // A fresh, non-zero fencing token (caller holds mutex_).
  std::int64_t next_token() {
    std::int64_t token = 0;
    while (token == 0) token = static_cast<std::int64_t>(tokens_());
    return token;
  }

  detail::sqlite::claim_params claim_params(std::int64_t now, std::chrono::milliseconds lease) {
    return {name_, now, now + lease.count(), next_token(), detail::self_identity()};
  }

  claimed_job<Job> read_claimed(const detail::sqlite::statement& row,
                                const detail::sqlite::claim_params& params) const {
    claimed_job<Job> c;
    c.id = row.int64(0);
    c.token = params.token;
    c.key = detail::sqlite::column_key(row, 1);
    c.attempts = row.int64(2);
    c.priority = static_cast<int>(row.int64(3));
    c.sequential = row.int64(4) != 0;
    c.enqueued_at = detail::from_unix_ms(row.int64(5));
    c.lease_until = detail::from_unix_ms(params.lease_until_ms);
    c.exhausted = options_.max_attempts > 0 && c.attempts >= options_.max_attempts;
    const auto found_codec = row.text(6);
    const auto found_fingerprint = static_cast<std::uint64_t>(row.int64(7));
    const auto poison = [&](const std::string& why) {
      c.poison.emplace(fmt::format("durable: decode: job {} in queue \"{}\" of \"{}\" cannot be "
                                   "decoded as this Queue's job type: {}; it was left in the "
                                   "queue as a poison job: dead-letter or ack it",
                                   c.id, name_, conn_.path(), why),
                       name_, c.id, std::string{Codec::name}, fingerprint_,
                       std::string{found_codec}, found_fingerprint);
    };
    if (found_codec != Codec::name || found_fingerprint != fingerprint_) {
      poison(
          fmt::format("it was written by codec \"{}\" with type fingerprint {:#018x}, this "
                      "Queue reads codec \"{}\" with fingerprint {:#018x}",
                      found_codec, found_fingerprint, Codec::name, fingerprint_));
      return c;
    }
    try {
      c.job.emplace(Codec::template decode<Job>(row.blob(8)));
    } catch (const decode_error& e) {
      poison(e.what());
    }
    return c;
  }

  [[noreturn]] void lease_lost(job_id id, std::string_view operation) const {
    throw lease_lost_error(
        fmt::format("durable: lease lost: {} of job {} in queue \"{}\" of \"{}\" refused: this "
                    "claim no longer holds the job (its lease expired and it was claimed again, "
                    "or it was already finished); nothing was changed",
                    operation, id, name_, conn_.path()),
        name_, id);
  }

  // An empty claim remembers the file's data_version and the earliest run_at; until
  // another connection commits, this object writes, or that time comes, claims return
  // empty without taking the write lock. Keeps idle pollers from contending.
  struct empty_snapshot {
    std::int64_t data_version = 0;
    std::optional<std::int64_t> next_run_at;
  };
  bool known_empty(std::int64_t now) {
    if (!empty_) return false;
    if (conn_.data_version() != empty_->data_version ||
        (empty_->next_run_at && *empty_->next_run_at <= now)) {
      empty_.reset();
      return false;
    }
    return true;
  }
  void remember_empty() {
    empty_ = empty_snapshot{conn_.data_version(), detail::sqlite::next_run_at(conn_, name_)};
  }

  void release_dead_claims() {
    std::lock_guard lock{mutex_};
    for (const auto& claimer : detail::sqlite::claimers(conn_, name_)) {
      if (!detail::is_dead_local_process(claimer)) continue;
      const auto released =
          detail::sqlite::release_claimer(conn_, name_, claimer, detail::to_unix_ms(now_()));
      detail::log(options_.log, log_level::info,
                  R"(queue "{}" in "{}": returned {} job(s) claimed by dead process {} to pending)",
                  name_, conn_.path(), released, claimer);
    }
  }

  std::string name_;
  queue_options options_;
  std::mutex mutex_;  // guards everything below except the wait state
  detail::sqlite::connection conn_;
  std::string database_id_;
  std::mt19937_64 tokens_;
  std::optional<empty_snapshot> empty_;
  std::int64_t pushes_since_count_ = 0;
  int soft_level_ = 0;
  static inline const std::uint64_t fingerprint_ = Codec::template fingerprint<Job>();

  mutable std::mutex wait_mutex_;
  std::condition_variable_any pushed_;
  std::uint64_t push_sequence_ = 0;
};

}  // namespace durable::inline v0
