// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// A circuit breaker: after enough transient failures, stop claiming jobs for a cooldown
/// instead of burning their attempts against a dependency that is down; then let a few
/// probes through to find out whether it is back. Shared by all of a Worker's threads.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <durable/clock.hpp>
#include <durable/errors.hpp>
#include <durable/exceptions.hpp>

namespace durable::inline v0 {

/// State of a `circuit_breaker`.
enum class breaker_state {
  closed,     ///< jobs flow; failures are counted
  open,       ///< no job is claimed until the cooldown has passed
  half_open,  ///< a limited number of probe jobs find out whether the dependency is back
};

/// The lowercase name of `state` ("closed", "open", "half_open").
[[nodiscard]] constexpr std::string_view to_string(breaker_state state) noexcept {
  switch (state) {
    case breaker_state::closed: return "closed";
    case breaker_state::open: return "open";
    case breaker_state::half_open: return "half_open";
  }
  return "unknown";
}

/// Called on every state change with the old and the new state.
using breaker_hook = std::function<void(breaker_state from, breaker_state to)>;

/// When a `circuit_breaker` opens, how long it stays open, and how it probes.
/// A closed breaker opens when either trigger fires.
struct breaker_options {
  /// Consecutive transient failures that open the breaker; 0 turns this trigger off.
  std::int64_t failure_threshold = 5;
  /// Number of most recent outcomes in the failure-rate window; 0 turns this trigger off.
  std::int64_t window_size = 0;
  /// The breaker opens when failures / outcomes in the window reach this, in (0, 1].
  double failure_rate = 0.5;
  /// Outcomes the window must hold before the failure rate counts, in [1, window_size].
  std::int64_t minimum_samples = 10;
  /// How long the breaker stays open before letting probes through (>= 0).
  std::chrono::milliseconds cooldown{30'000};
  /// How many probes a half-open breaker lets through at once (>= 1).
  std::int64_t half_open_probes = 1;
  /// Called on every transition; may be empty. See `circuit_breaker` for when it runs.
  breaker_hook on_change{};
};

/// A thread-safe circuit breaker, shared by the threads of a Worker.
///
/// - closed: `allow()` is true. Transient failures count toward the triggers in
///   `breaker_options`; a success resets the consecutive count.
/// - open: `allow()` is false until `cooldown` has passed since it opened; the first
///   `allow()` after that moves it to half_open. Outcomes recorded while open (jobs that
///   started before it opened) are ignored.
/// - half_open: `allow()` is true for up to `half_open_probes` probes at a time. The
///   first success closes the breaker; the first transient failure reopens it for
///   another cooldown. A probe that ends without verdict (`release()`, a permanent
///   failure) frees its slot. Any outcome recorded while half-open counts as a probe's.
///
/// Permanent failures never trip the breaker: they say the job is bad, not that a
/// dependency is down. The `on_change` hook runs after the breaker's lock is released,
/// one call at a time, in transition order; it may call back into the breaker (a
/// transition it causes is reported by a nested call). Exceptions it throws are ignored.
class circuit_breaker {
 public:
  /// A closed breaker reading time from `clock` (system clock if empty). Throws
  /// `durable::invalid_argument_error` (argument "breaker_options") for options outside
  /// the documented ranges.
  explicit circuit_breaker(breaker_options options = {}, clock_function clock = {})
      : options_(validated(std::move(options))),
        clock_(std::move(clock)),
        window_(static_cast<std::size_t>(options_.window_size)) {}

  circuit_breaker(const circuit_breaker&) = delete;
  circuit_breaker& operator=(const circuit_breaker&) = delete;
  circuit_breaker(circuit_breaker&&) = delete;
  circuit_breaker& operator=(circuit_breaker&&) = delete;
  ~circuit_breaker() = default;

  /// Whether a job may be claimed now. Moves open to half_open once the cooldown has
  /// passed; in half_open, takes a probe slot when it returns true. A caller that then
  /// runs nothing (no job to claim) must call `release()`.
  [[nodiscard]] bool allow() {
    const time_point now = detail::now(clock_);
    bool allowed = false;
    bool changed = false;
    {
      const std::lock_guard lock(mutex_);
      if (state_ == breaker_state::open && now >= open_until_) {
        move_to_(breaker_state::half_open, now);
        changed = true;
      }
      switch (state_) {
        case breaker_state::closed: allowed = true; break;
        case breaker_state::open: break;
        case breaker_state::half_open:
          allowed = probes_ < options_.half_open_probes;
          if (allowed) ++probes_;
          break;
      }
    }
    if (changed) notify_();
    return allowed;
  }

  /// Records a job that succeeded: resets the consecutive failure count (closed) or
  /// closes the breaker (half_open).
  void record_success() {
    const time_point now = detail::now(clock_);
    bool changed = false;
    {
      const std::lock_guard lock(mutex_);
      switch (state_) {
        case breaker_state::closed:
          consecutive_failures_ = 0;
          push_outcome_(false);
          break;
        case breaker_state::open: break;
        case breaker_state::half_open:
          move_to_(breaker_state::closed, now);
          changed = true;
          break;
      }
    }
    if (changed) notify_();
  }

  /// Records a job that failed with an error of `kind`. A transient failure counts toward
  /// opening (closed) or reopens the breaker (half_open); a permanent one is no verdict
  /// on the dependency and only frees a probe slot, like `release()`.
  void record_failure(error_kind kind = error_kind::transient) {
    if (kind == error_kind::permanent) {
      release();
      return;
    }
    const time_point now = detail::now(clock_);
    bool changed = false;
    {
      const std::lock_guard lock(mutex_);
      switch (state_) {
        case breaker_state::closed:
          ++consecutive_failures_;
          push_outcome_(true);
          if (tripped_()) {
            move_to_(breaker_state::open, now);
            changed = true;
          }
          break;
        case breaker_state::open: break;
        case breaker_state::half_open:
          move_to_(breaker_state::open, now);
          changed = true;
          break;
      }
    }
    if (changed) notify_();
  }

  /// Gives back a half-open probe slot taken by `allow()` that was not used to run a job.
  /// Does nothing in the other states.
  void release() {
    const std::lock_guard lock(mutex_);
    if (state_ == breaker_state::half_open && probes_ > 0) --probes_;
  }

  /// The current state. An open breaker whose cooldown has passed reads open until the
  /// next `allow()`.
  [[nodiscard]] breaker_state state() const {
    const std::lock_guard lock(mutex_);
    return state_;
  }

  /// The options this breaker was built with.
  [[nodiscard]] const breaker_options& options() const noexcept { return options_; }

 private:
  static breaker_options validated(breaker_options o) {
    const auto fail = [](const std::string& what) {
      throw invalid_argument_error("breaker_options",
                                   "durable: invalid argument: breaker_options: " + what);
    };
    if (o.failure_threshold < 0) fail("failure_threshold must be >= 0");
    if (o.window_size < 0) fail("window_size must be >= 0");
    if (o.window_size > 0) {
      if (!(o.failure_rate > 0.0 && o.failure_rate <= 1.0)) fail("failure_rate must be in (0, 1]");
      if (o.minimum_samples < 1 || o.minimum_samples > o.window_size) {
        fail("minimum_samples must be in [1, window_size]");
      }
    }
    if (o.cooldown.count() < 0) fail("cooldown must be >= 0 ms");
    if (o.half_open_probes < 1) fail("half_open_probes must be >= 1");
    return o;
  }

  // All members below the mutex are guarded by it.

  [[nodiscard]] bool tripped_() const {
    if (options_.failure_threshold > 0 && consecutive_failures_ >= options_.failure_threshold) {
      return true;
    }
    return !window_.empty() && samples_ >= options_.minimum_samples &&
           static_cast<double>(window_failures_) >=
               options_.failure_rate * static_cast<double>(samples_);
  }

  void push_outcome_(bool failed) {
    if (window_.empty()) return;
    if (samples_ == static_cast<std::int64_t>(window_.size())) {
      window_failures_ -= window_[next_];  // the oldest outcome leaves the window
    } else {
      ++samples_;
    }
    window_[next_] = failed ? 1 : 0;
    window_failures_ += window_[next_];
    next_ = (next_ + 1) % window_.size();
  }

  /// Moves to `to`, resetting what the new state starts from; queues the hook call.
  void move_to_(breaker_state to, time_point now) {
    const breaker_state from = state_;
    state_ = to;
    probes_ = 0;
    consecutive_failures_ = 0;
    samples_ = 0;
    window_failures_ = 0;
    next_ = 0;
    if (to == breaker_state::open) {
      open_until_ = now + options_.cooldown;
    }
    if (options_.on_change) pending_.emplace_back(from, to);
  }

  /// Delivers queued transitions to the hook, in order, without `mutex_` held.
  void notify_() {
    if (!options_.on_change) return;
    const std::lock_guard hook_lock(hook_mutex_);
    for (;;) {
      std::pair<breaker_state, breaker_state> change;
      {
        const std::lock_guard lock(mutex_);
        if (pending_.empty()) return;
        change = pending_.front();
        pending_.pop_front();
      }
      try {
        options_.on_change(change.first, change.second);
      } catch (...) {  // NOLINT(bugprone-empty-catch): a failing hook must not lose a job
      }
    }
  }

  const breaker_options options_;
  const clock_function clock_;

  mutable std::mutex mutex_;
  breaker_state state_ = breaker_state::closed;
  time_point open_until_{};
  std::int64_t probes_ = 0;
  std::int64_t consecutive_failures_ = 0;
  std::vector<std::int64_t> window_;  // 1 = failure, ring buffer of the last outcomes
  std::size_t next_ = 0;
  std::int64_t samples_ = 0;
  std::int64_t window_failures_ = 0;
  std::deque<std::pair<breaker_state, breaker_state>> pending_;

  std::recursive_mutex hook_mutex_;  // serializes hook calls; taken before, never under, mutex_
};

}  // namespace durable::inline v0
