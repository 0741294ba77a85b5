// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The byte-level queue engine: push, claim, ack, nack, extend and the queue's state, on
/// encoded jobs, for one queue of one database. Not a template: every Queue<Job, Codec>
/// forwards here after encoding, so this code is compiled once, not once per job type.

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "durable/clock.hpp"
#include "durable/database.hpp"
#include "durable/detail/engine/job_types.hpp"
#include "durable/detail/names.hpp"
#include "durable/detail/process.hpp"
#include "durable/exceptions.hpp"
#include "durable/job.hpp"
#include "durable/log.hpp"
#include "durable/queue_options.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail {

/// One encoded job to push, with its options.
struct encoded_job {
  const push_options* options = nullptr;
  std::span<const std::byte> payload;
};

/// Throws invalid_argument_error unless `d` >= 0.
inline void check_not_negative(std::string_view argument, std::chrono::milliseconds d) {
  if (d.count() < 0) {
    throw invalid_argument_error(
        std::string{argument},
        fmt::format("durable: invalid argument: {} must be >= 0, got {} ms", argument, d.count()));
  }
}

/// Throws invalid_argument_error unless `type` (an error type name) is non-empty and free
/// of NUL bytes: it is a name, stored and filtered on as given.
inline void check_error_type(std::string_view argument, std::string_view type) {
  if (type.empty()) {
    throw invalid_argument_error(
        std::string{argument},
        fmt::format("durable: invalid argument: {} is empty; give the error's stable type name "
                    "(error_traits<E>::name)",
                    argument));
  }
  if (type.find('\0') != std::string_view::npos) {
    throw invalid_argument_error(
        std::string{argument},
        fmt::format("durable: invalid argument: {} {:?} contains a NUL byte; an error type is a "
                    "name: use printable characters",
                    argument, type.substr(0, 64)));
  }
}

/// The end of a poison job's decode_error message: advice to whoever claimed it. The
/// Worker leaves it out of the message it stores when it dead-letters the job.
inline constexpr std::string_view poison_advice =
    "; it was left in the queue as a poison job: dead-letter or ack it";

/// Queue operations on bytes for queue `name` of `db`. Thread-safe. Claims take only jobs
/// of the types `reader` decodes (any job for an untyped reader, codec name empty).
class queue_engine {
 public:
  queue_engine(database db, std::string name, queue_options options, type_reader reader)
      : db_(std::move(db)),
        name_((validate_name("queue_name", name), std::move(name))),
        options_(std::move(options)),
        types_(std::move(reader)),
        tokens_(std::random_device{}()) {
    const auto positive = [](const char* argument, const std::optional<std::int64_t>& v) {
      if (v && *v <= 0) {
        throw invalid_argument_error(
            argument,
            fmt::format("durable: invalid argument: {} must be positive, got {}", argument, *v));
      }
    };
    positive("hard_limit", options_.hard_limit);
    positive("soft_limit", options_.soft_limit);
    check_max_attempts(options_.max_attempts);
    storage().register_queue(name_);
    auto settings = storage().queue_configuration(name_);
    if (options_.hard_limit || options_.soft_limit) {
      if (options_.hard_limit) settings.hard_limit = options_.hard_limit;
      if (options_.soft_limit) settings.soft_limit = options_.soft_limit;
      storage().configure_queue(name_, settings);
    }
    soft_limit_ = settings.soft_limit;  // this object's, or the one stored with the queue
    types_.open(storage(), now_ms());
    if (options_.release_dead_claims) release_dead_claims();
  }

  /// A queue engine for a reader of exactly one type (`codec`).
  queue_engine(database db, std::string name, queue_options options, codec_identity codec)
      : queue_engine(std::move(db), std::move(name), std::move(options),
                     type_reader{codec, {}, {codec.fingerprint}, nullptr}) {}

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const database& db() const noexcept { return db_; }
  [[nodiscard]] const std::string& target() const noexcept { return db_.target(); }
  [[nodiscard]] const queue_options& options() const noexcept { return options_; }
  [[nodiscard]] std::int64_t now_ms() const { return to_unix_ms(detail::now(options_.clock)); }

  /// Checks `o` as push() will; throws invalid_argument_error.
  static void check(const push_options& o) {
    if (o.unique && !o.key) {
      throw invalid_argument_error(
          "options", "durable: invalid argument: push_options::unique needs a key to compare");
    }
    check_not_negative("push_options::delay", o.delay);
    if (o.max_attempts) check_max_attempts(*o.max_attempts);
    if (o.timeout && o.timeout->count() <= 0) {
      throw invalid_argument_error(
          "push_options::timeout",
          fmt::format("durable: invalid argument: push_options::timeout must be positive, got {} "
                      "ms; leave it empty for the worker's default",
                      o.timeout->count()));
    }
  }

  /// Pushes `jobs` in one transaction, all or none. Throws queue_full_error.
  std::vector<push_result> push(std::span<const encoded_job> jobs) {
    const auto now = now_ms();
    std::vector<storage::new_job> rows;
    rows.reserve(jobs.size());
    for (const auto& job : jobs) {
      const push_options& o = *job.options;
      storage::new_job row;
      row.queue = name_;
      row.key = o.key ? &*o.key : nullptr;
      row.unique = o.unique;
      row.priority = o.priority;
      row.run_at_ms = o.run_at ? to_unix_ms(*o.run_at) : add_ms(now, o.delay);
      row.enqueued_at_ms = now;
      row.sequential = o.sequential;
      row.max_attempts = o.max_attempts.value_or(options_.max_attempts);
      row.codec = types_.reader().codec.name;
      row.fingerprint = types_.reader().codec.fingerprint;
      row.payload = job.payload;
      if (o.timeout) row.timeout_ms = o.timeout->count();
      rows.push_back(row);
    }
    const auto pushed = storage().push(rows, storage::push_mode::all_or_nothing);
    std::vector<push_result> results;
    results.reserve(pushed.size());
    for (const auto& p : pushed) {
      if (p.status == storage::push_status::full) throw full();
      results.push_back({p.id, p.status == storage::push_status::created});
    }
    after_push(static_cast<std::int64_t>(results.size()));
    return results;
  }

  /// Claims up to `max` jobs (see storage::claim_request) under a lease of `lease`.
  [[nodiscard]] std::vector<storage::claimed_row> claim(std::size_t max,
                                                        std::chrono::milliseconds lease) {
    check_lease(lease);
    if (max == 0) {
      throw invalid_argument_error("max", "durable: invalid argument: claim_batch max must be > 0");
    }
    const auto now = now_ms();
    if (known_empty(now)) return {};
    std::optional<std::int64_t> stamp;
    const auto claimer = self_identity();
    storage::claim_request r;
    r.queue = name_;
    r.now_ms = now;
    r.lease_until_ms = add_ms(now, lease);
    r.token = next_token();
    r.claimer = claimer;
    r.max = max;
    types_.refresh(storage(), false);
    const auto accepted = types_.accepted();
    if (types_.typed()) {
      r.codec = types_.reader().codec.name;
      r.fingerprints = *accepted;
    }
    r.stamp_if_empty = &stamp;
    auto rows = storage().claim(r);
    if (rows.empty()) remember_empty(stamp);
    return rows;
  }

  /// Deletes a claimed job. Throws lease_lost_error.
  void ack(job_id id, std::int64_t token) {
    if (!storage().ack({name_, id, token})) lease_lost(id, "ack");
  }

  /// Returns a claimed job for another attempt after `delay`. Throws lease_lost_error.
  void nack(job_id id, std::int64_t token, std::chrono::milliseconds delay, const failure& error) {
    check_not_negative("delay", delay);
    check_error_type("failure::error_type", error.error_type);
    const auto now = now_ms();
    storage::nack_request r;
    r.lease = {name_, id, token};
    r.run_at_ms = add_ms(now, delay);
    r.now_ms = now;
    r.error_type = error.error_type;
    r.message = error.message;
    if (!storage().nack(r)) lease_lost(id, "nack");
    forget_empty();
    db_.state().notify_push(name_);
  }

  /// Moves a claimed job's lease end to now + `lease`; returns it. Throws lease_lost_error.
  std::int64_t extend(job_id id, std::int64_t token, std::chrono::milliseconds lease) {
    check_lease(lease);
    const auto until = add_ms(now_ms(), lease);
    if (!storage().extend({name_, id, token}, until)) lease_lost(id, "extend_lease");
    return until;
  }

  [[nodiscard]] std::vector<attempt_record> history(job_id id) {
    return storage().job_history(name_, id);
  }

  [[nodiscard]] queue_stats stats() {
    const auto now = now_ms();
    const auto c = storage().count_jobs(name_, now);
    queue_stats s{c.pending, c.scheduled, c.claimed,
                  std::chrono::milliseconds{c.oldest_pending_ms ? now - *c.oldest_pending_ms : 0}};
    if (soft_limit_) {
      s.capacity_percent = 100.0 * static_cast<double>(c.pending + c.scheduled + c.claimed) /
                           static_cast<double>(*soft_limit_);
    }
    return s;
  }

  /// Where job `id` is now: in this queue, or in a DLQ of this database.
  [[nodiscard]] job_status status(job_id id) {
    const auto row = storage().job_status(name_, id, now_ms());
    job_status out;
    out.state = row.state;
    out.attempts = row.attempts;
    switch (row.state) {
      case job_state::pending:
      case job_state::scheduled: out.run_at = from_unix_ms(row.run_at_ms); break;
      case job_state::claimed: out.lease_until = from_unix_ms(row.run_at_ms); break;
      case job_state::dead_lettered:
        out.dead_letter_queue = row.dlq;
        out.dead_letter = row.entry;
        break;
      case job_state::not_found: break;
    }
    return out;
  }
  [[nodiscard]] std::int64_t size() { return storage().size(name_); }
  [[nodiscard]] bool empty() { return !storage().next_run_at(name_).has_value(); }
  [[nodiscard]] bool has_key(const job_key& key) { return storage().has_key(name_, key); }

  [[nodiscard]] std::uint64_t push_sequence() const { return db_.state().push_sequence(name_); }
  bool wait_for_push(std::uint64_t seen, std::chrono::milliseconds timeout,
                     const std::stop_token& stop) {
    return db_.state().wait_for_push(name_, seen, timeout, stop);
  }

  /// Bookkeeping after `count` jobs entered this queue (push or redrive).
  void after_push(std::int64_t count) {
    forget_empty();
    db_.state().notify_push(name_);
    if (soft_limit_) check_soft_limit(count);
  }

  /// The decode_error of a claimed row that this queue's reader cannot decode, for `why`.
  [[nodiscard]] decode_error poison(const storage::claimed_row& row, std::string_view why) const {
    const auto& codec = types_.reader().codec;
    return {
        fmt::format("durable: decode: job {} in queue \"{}\" of \"{}\" cannot be decoded as this "
                    "Queue's job type: {}{}",
                    row.id, name_, target(), why, poison_advice),
        name_,
        row.id,
        std::string{codec.name},
        codec.fingerprint,
        row.codec,
        row.fingerprint};
  }

  /// Reads the registered job types now (after a redrive that may have brought rows of a
  /// type this queue has not judged yet), instead of within the next second.
  void refresh_types() { types_.refresh(storage(), true); }

  /// The registered description of a claimed row's type, for a reader of older versions.
  [[nodiscard]] std::optional<std::string> description(const storage::claimed_row& row) const {
    return types_.description(row.codec, row.fingerprint);
  }

  /// The claimable jobs this queue's reader cannot decode, per type, with the reason; the
  /// registered types are read again first. An index-only count of the claimable jobs.
  [[nodiscard]] std::vector<unreadable_jobs> unreadable() {
    if (!types_.typed()) return {};
    types_.refresh(storage(), true);
    std::vector<unreadable_jobs> out;
    for (auto& t : storage().count_job_types(name_, now_ms())) {
      if (types_.accepts(t.codec, t.fingerprint)) continue;
      auto why = types_.why_not(t.codec, t.fingerprint);
      out.push_back({std::move(t.codec), t.fingerprint, t.count, std::move(why)});
    }
    return out;
  }

  [[noreturn]] void lease_lost(job_id id, std::string_view operation) const {
    throw lease_lost_error(
        fmt::format("durable: lease lost: {} of job {} in queue \"{}\" of \"{}\" refused: this "
                    "claim no longer holds the job (its lease expired and it was claimed again, "
                    "it was already finished, or it belongs to another queue); nothing was "
                    "changed",
                    operation, id, name_, target()),
        name_, id);
  }

 private:
  [[nodiscard]] storage::backend& storage() const noexcept { return db_.storage(); }

  static void check_max_attempts(std::int64_t n) {
    if (n < 1) {
      throw invalid_argument_error(
          "max_attempts",
          fmt::format("durable: invalid argument: max_attempts must be >= 1, got {}", n));
    }
  }

  static void check_lease(std::chrono::milliseconds lease) {
    if (lease.count() <= 0) {
      throw invalid_argument_error(
          "lease", fmt::format("durable: invalid argument: lease must be positive, got {} ms",
                               lease.count()));
    }
  }

  [[nodiscard]] queue_full_error full() const {
    const auto limit = storage().queue_configuration(name_).hard_limit.value_or(0);
    return {
        fmt::format("durable: queue full: queue \"{}\" in \"{}\" has no room for this push "
                    "under its hard limit of {} jobs; nothing was pushed; consume jobs or raise "
                    "queue_options::hard_limit",
                    name_, target(), limit),
        name_, limit};
  }

  // Soft limit: an exact count every ~1/200 of the limit pushes, so the cost stays
  // amortized; one warning per upward crossing of 80 % and of 100 %.
  void check_soft_limit(std::int64_t count) {
    const std::int64_t limit = *soft_limit_;
    std::lock_guard lock{mutex_};
    pushes_since_count_ += count;
    if (pushes_since_count_ < std::max<std::int64_t>(1, limit / 200)) return;
    pushes_since_count_ = 0;
    const std::int64_t size = storage().size(name_);
    const int level = size >= limit ? 2 : (size * 5 >= limit * 4 ? 1 : 0);
    if (level > soft_level_) {
      log(options_.log, log_level::warning,
          R"(queue "{}" in "{}" holds {} jobs, {} of its soft limit of {})", name_, target(), size,
          level == 2 ? "over 100 %" : "over 80 %", limit);
    }
    soft_level_ = level;
  }

  std::int64_t next_token() {
    std::lock_guard lock{mutex_};
    std::int64_t token = 0;
    while (token == 0) token = static_cast<std::int64_t>(tokens_());
    return token;
  }

  // An empty claim remembers the database's change stamp and the earliest run_at; until
  // another connection commits, this process pushes, or that time comes, claims return
  // empty without touching the database's write lock. Keeps idle pollers from contending.
  bool known_empty(std::int64_t now) {
    std::unique_lock lock{mutex_};
    if (!empty_) return false;
    const auto snapshot = *empty_;
    lock.unlock();
    if ((snapshot.next_run_at && *snapshot.next_run_at <= now) ||
        storage().change_stamp() != snapshot.stamp) {
      forget_empty();
      return false;
    }
    return true;
  }
  void remember_empty(std::optional<std::int64_t> stamp) {
    if (!stamp) return;
    const auto next = storage().next_run_at(name_);
    std::lock_guard lock{mutex_};
    empty_ = empty_snapshot{*stamp, next};
  }
  void forget_empty() {
    std::lock_guard lock{mutex_};
    empty_.reset();
  }

  void release_dead_claims() {
    for (const auto& claimer : storage().claimers(name_)) {
      if (!is_dead_local_process(claimer)) continue;
      const auto released = storage().release_claimer(name_, claimer, now_ms());
      log(options_.log, log_level::info,
          R"(queue "{}" in "{}": returned {} job(s) claimed by dead process {} to pending)", name_,
          target(), released, claimer);
    }
  }

  struct empty_snapshot {
    std::int64_t stamp = 0;
    std::optional<std::int64_t> next_run_at;
  };

  database db_;
  std::string name_;
  queue_options options_;
  readable_types types_;
  std::mutex mutex_;  // guards the members below
  std::mt19937_64 tokens_;
  std::optional<empty_snapshot> empty_;
  std::optional<std::int64_t> soft_limit_;
  std::int64_t pushes_since_count_ = 0;
  int soft_level_ = 0;
};

}  // namespace durable::inline v0::detail
