// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// `durable::Worker`: runs a handler over a Queue on N threads; retries transient
/// failures with backoff, dead-letters permanent and exhausted ones, extends leases of
/// long jobs, watches the DLQ, and stops gracefully. See docs/worker.md.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "durable/circuit_breaker.hpp"
#include "durable/clock.hpp"
#include "durable/dead_letter_queue.hpp"
#include "durable/errors.hpp"
#include "durable/job.hpp"
#include "durable/log.hpp"
#include "durable/queue.hpp"
#include "durable/retry.hpp"

namespace durable::inline v0 {

/// What the worker's hooks learn about a job.
struct job_event {
  /// The job's id.
  job_id id = 0;
  /// The job's key, if it has one.
  std::optional<job_key> key{};
  /// Which attempt this was, 1 for the first.
  std::int64_t attempt = 0;
};

/// Options of a Worker. `{}` runs one thread with 30 s leases, the default retry policy,
/// a circuit breaker with default options, and 30 days of DLQ retention.
struct worker_options {
  /// Handler threads.
  std::size_t threads = 1;
  /// Lease of each claim; extended every third of it while a handler runs.
  std::chrono::milliseconds lease{30'000};
  /// 1: claim one job at a time. More: claim_batch up to this many (a sequential job
  /// comes alone) and run them one after another on the claiming thread.
  std::size_t batch_size = 1;
  /// Backoff for errors whose traits do not override it. How many attempts a job gets is
  /// stored with the job (push_options::max_attempts, queue_options::max_attempts).
  retry_policy retry{};
  /// The circuit breaker; empty: none. Its `on_change` hook is called after logging.
  std::optional<breaker_options> breaker = breaker_options{};
  /// Log a DLQ summary on start and after every this many processed jobs; 0: only on start.
  std::int64_t dlq_summary_every = 1000;
  /// Idle polling starts at this interval and doubles up to `max_poll_interval`; a push
  /// through the same Queue object wakes the worker at once.
  std::chrono::milliseconds min_poll_interval{10};
  /// Longest wait between polls when idle.
  std::chrono::milliseconds max_poll_interval{1'000};
  /// While the queue holds claimable jobs this worker cannot decode (a newer or another job
  /// type: they stay pending for a worker of their type), log how many and why once per
  /// this interval (measured with `clock`); 0: never.
  std::chrono::milliseconds unreadable_log_interval{60'000};
  /// Seed of the jitter generator; 0: random.
  std::uint64_t seed = 0;
  /// Where "now" comes from; the system clock when empty.
  clock_function clock{};
  /// Where the worker logs; empty discards.
  log_sink log = stderr_sink();
  /// Called after a job succeeded and was acked.
  std::function<void(const job_event&)> on_success{};
  /// Called after a failed job was put back for another attempt in `delay`.
  std::function<void(const job_event&, const classification&, std::chrono::milliseconds delay)>
      on_retry{};
  /// Called after a job was moved to the dead-letter queue.
  std::function<void(const job_event&, const classification&)> on_dead_letter{};
};

/// Counters of a Worker since it was created.
struct worker_stats {
  std::int64_t processed = 0;                     ///< jobs finished one way or another
  std::int64_t succeeded = 0;                     ///< handler returned, job acked
  std::int64_t retried = 0;                       ///< nacked for another attempt
  std::int64_t dead_lettered = 0;                 ///< moved to the DLQ
  std::int64_t in_flight = 0;                     ///< handlers running now
  breaker_state breaker = breaker_state::closed;  ///< closed when there is no breaker
};

/// Runs `handler(const Job&)` over a Queue. Success acks; a transient failure with
/// attempts left is nacked with a backoff delay (persisted, so retries survive a restart);
/// a permanent failure, exhausted attempts (also through lease expiries) or a job that
/// does not decode are moved to the DeadLetterQueue with the error and its history.
/// A handler's exception never escapes: `Errors` classifies it (see errors.hpp).
/// The queue and DLQ must outlive the worker. The destructor stops the worker.
template <class Job, class Codec = pfr_codec, error_classifier Errors = default_errors>
class Worker {
 public:
  /// The handler type: throws to fail the job.
  using handler_type = std::function<void(const Job&)>;

  /// A stopped worker; call start() or process_available(). Throws invalid_argument_error
  /// for bad options.
  Worker(Queue<Job, Codec>& queue, DeadLetterQueue<Job, Codec>& dlq, handler_type handler,
         worker_options options = {})
      : queue_(queue),
        dlq_(dlq),
        handler_(std::move(handler)),
        options_(std::move(options)),
        rng_(options_.seed != 0 ? options_.seed : std::random_device{}()) {
    validate(options_.retry);
    const auto bad = [](const char* argument, const char* what) {
      throw invalid_argument_error(argument,
                                   fmt::format("durable: invalid argument: worker {}", what));
    };
    if (!handler_) bad("handler", "handler is empty");
    if (options_.threads == 0) bad("threads", "threads must be >= 1");
    if (options_.batch_size == 0) bad("batch_size", "batch_size must be >= 1");
    if (options_.lease.count() <= 0) bad("lease", "lease must be positive");
    if (options_.min_poll_interval.count() <= 0 ||
        options_.max_poll_interval < options_.min_poll_interval) {
      bad("min_poll_interval", "poll intervals must be positive, min <= max");
    }
    if (options_.breaker) {
      breaker_options b = *options_.breaker;
      b.on_change = [this, user = std::move(b.on_change)](breaker_state from, breaker_state to) {
        detail::log(options_.log, to == breaker_state::open ? log_level::warning : log_level::info,
                    "circuit breaker of queue \"{}\": {} -> {}{}", queue_.name(), to_string(from),
                    to_string(to),
                    to == breaker_state::open ? "; no jobs are claimed until it half-opens" : "");
        if (user) user(from, to);
      };
      breaker_.emplace(std::move(b), options_.clock);
    }
  }

  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  Worker(Worker&&) = delete;
  Worker& operator=(Worker&&) = delete;
  /// Stops the worker (see stop()) and joins its threads; a handler still running is
  /// waited for.
  ~Worker() {
    stop(std::chrono::milliseconds{0});
    threads_.clear();
  }

  /// Runs DLQ retention and logs the DLQ summary, then starts the handler threads and
  /// the lease keeper; does nothing while running. Throws durable errors from the DLQ
  /// maintenance (nothing started).
  void start() {
    std::lock_guard lock{lifecycle_};
    if (!threads_.empty() && !threads_.front().get_stop_token().stop_requested()) return;
    threads_.clear();  // after a stop() that timed out: waits for those handlers to end
    maintain();
    {
      std::lock_guard count{idle_mutex_};
      running_threads_ = static_cast<std::int64_t>(options_.threads);
    }
    for (std::size_t i = 0; i < options_.threads; ++i) {
      threads_.emplace_back([this](std::stop_token stop) { run(stop); });
    }
    keeper_ = std::jthread{[this](std::stop_token stop) { keep_leases(stop); }};
  }

  /// Stops claiming, waits up to `deadline` for running handlers, then returns: true if
  /// none is still running. A job still running past the deadline keeps its claim, its
  /// lease is no longer extended, and it comes back by lease expiry: nothing is lost.
  bool stop(std::chrono::milliseconds deadline = std::chrono::seconds{30}) {
    std::lock_guard lock{lifecycle_};
    for (auto& t : threads_) t.request_stop();
    std::unique_lock wait{idle_mutex_};
    const bool finished = idle_.wait_for(wait, deadline, [&] { return running_threads_ == 0; });
    wait.unlock();
    keeper_ = {};  // joins the keeper: leases of stuck handlers now lapse
    if (finished) threads_.clear();
    return finished;
  }

  /// Processes jobs on the calling thread until none is claimable now (or the breaker is
  /// open); returns how many were processed. For tests, tools and manual-clock setups.
  std::int64_t process_available() {
    std::int64_t done = 0;
    while (auto n = claim_and_process()) done += *n;
    return done;
  }

  /// Applies the DLQ's retention (dead_letter_options::retention) and logs the DLQ
  /// summary when it is not empty. start() calls it.
  void maintain() {
    const auto removed = dlq_.apply_retention();
    if (removed > 0) {
      detail::log(options_.log, log_level::info,
                  "dead-letter queue \"{}\": removed {} entr{} older than the retention of {}",
                  dlq_.name(), removed, removed == 1 ? "y" : "ies",
                  std::chrono::duration_cast<std::chrono::hours>(*dlq_.options().retention));
    }
    log_dlq_summary();
  }

  /// The counters now.
  [[nodiscard]] worker_stats stats() const {
    return {processed_.load(), succeeded_.load(),
            retried_.load(),   dead_lettered_.load(),
            in_flight_.load(), breaker_ ? breaker_->state() : breaker_state::closed};
  }

 private:
  // One claim (a job or a batch) processed; empty when nothing was claimable or the
  // breaker is open. Never throws.
  std::optional<std::int64_t> claim_and_process() {
    report_unreadable();
    if (breaker_ && !breaker_->allow()) return std::nullopt;
    std::vector<claimed_job<Job>> claimed;
    try {
      if (options_.batch_size == 1) {
        if (auto c = queue_.claim(options_.lease)) claimed.push_back(std::move(*c));
      } else {
        claimed = queue_.claim_batch(options_.batch_size, options_.lease);
      }
    } catch (const std::exception& e) {
      detail::log(options_.log, log_level::error, "claiming from queue \"{}\" failed: {}",
                  queue_.name(), e.what());
    }
    if (claimed.empty()) {
      if (breaker_) breaker_->release();
      return std::nullopt;
    }
    {
      // Every claimed job's lease is kept from now on, also while it waits in its batch.
      std::lock_guard lock{leases_mutex_};
      for (const auto& c : claimed) leases_.emplace(c.id, c.token);
    }
    for (auto& c : claimed) process(c);
    return static_cast<std::int64_t>(claimed.size());
  }

  void run(const std::stop_token& stop) {
    auto poll = options_.min_poll_interval;
    while (!stop.stop_requested()) {
      const auto seen = queue_.push_sequence();
      if (claim_and_process()) {
        poll = options_.min_poll_interval;
        continue;
      }
      queue_.wait_for_push(seen, poll, stop);
      poll = std::min(poll * 2, options_.max_poll_interval);
    }
    std::lock_guard lock{idle_mutex_};
    --running_threads_;
    idle_.notify_all();
  }

  void process(claimed_job<Job>& c) {
    ++in_flight_;
    const job_event event{c.id, c.key, c.attempts + 1};
    try {
      if (c.poison) {
        if (breaker_) breaker_->release();  // says nothing about the downstream's health
        dead_letter(c, event, Errors::classify(std::make_exception_ptr(*c.poison)));
      } else if (out_of_attempts(c)) {
        if (breaker_) breaker_->release();
        dead_letter(c, event, exhausted(c));
      } else {
        run_handler(c, event);
      }
    } catch (const lease_lost_error& e) {
      detail::log(options_.log, log_level::warning,
                  "job {} of queue \"{}\": {}; another worker has it now", c.id, queue_.name(),
                  e.what());
    } catch (const std::exception& e) {
      // The job stays claimed and comes back when its lease ends: nothing is lost.
      detail::log(options_.log, log_level::error,
                  "job {} of queue \"{}\" could not be finished: {}; it will be retried after "
                  "its lease ends",
                  c.id, queue_.name(), e.what());
    } catch (...) {
      detail::log(options_.log, log_level::error,
                  "job {} of queue \"{}\" could not be finished: a non-standard exception; it "
                  "will be retried after its lease ends",
                  c.id, queue_.name());
    }
    {
      std::lock_guard lock{leases_mutex_};
      leases_.erase(c.id);
    }
    --in_flight_;
    const auto processed = ++processed_;
    if (options_.dlq_summary_every > 0 && processed % options_.dlq_summary_every == 0) {
      try {
        log_dlq_summary();
      } catch (const std::exception& e) {
        detail::log(options_.log, log_level::error, "reading dead-letter queue \"{}\": {}",
                    dlq_.name(), e.what());
      }
    }
  }

  void run_handler(claimed_job<Job>& c, const job_event& event) {
    std::optional<classification> failed;
    try {
      handler_(*c.job);
    } catch (...) {
      failed = Errors::classify(std::current_exception());
    }
    if (!failed) {
      if (breaker_) breaker_->record_success();
      queue_.ack(c);
      ++succeeded_;
      call_hook(options_.on_success, event);
      return;
    }
    if (breaker_) breaker_->record_failure(failed->kind);
    const retry_policy policy = effective_policy(options_.retry, *failed);
    const std::int64_t max_attempts = effective_max_attempts(c.max_attempts, *failed);
    if (!should_retry(failed->kind, event.attempt, max_attempts)) {
      dead_letter(c, event, *failed);
      return;
    }
    std::chrono::milliseconds delay;
    {
      std::lock_guard lock{rng_mutex_};
      delay = next_delay(policy, event.attempt, rng_);
    }
    queue_.nack(c, delay, as_failure(*failed));
    ++retried_;
    detail::log(options_.log, log_level::info,
                "job {} of queue \"{}\" failed attempt {} of {} with {}: {}; retrying in {}", c.id,
                queue_.name(), event.attempt, max_attempts, failed->name, cut(failed->message),
                delay);
    call_hook(options_.on_retry, event, *failed, delay);
  }

  void dead_letter(claimed_job<Job>& c, const job_event& event, const classification& why) {
    dlq_.move_from(queue_, c, as_failure(why));
    ++dead_lettered_;
    detail::log(options_.log, log_level::warning,
                R"(job {} of queue "{}" dead-lettered to "{}" after attempt {} with {} ({}): {})",
                c.id, queue_.name(), dlq_.name(), event.attempt, why.name, to_string(why.kind),
                cut(why.message));
    call_hook(options_.on_dead_letter, event, why);
  }

  static failure as_failure(const classification& why) {
    return {why.name, why.message, why.context_text(), why.redrive};
  }

  // True when a job must not run again: it has used its attempts and its last attempt
  // ended without a verdict (lease expiry, dead claimer). A job nacked past its limit ran
  // under an error's own retry override: it runs.
  bool out_of_attempts(const claimed_job<Job>& c) {
    if (!c.exhausted) return false;
    const auto history = queue_.history(c.id);
    return history.empty() || history.back().error_type == lease_expired_error ||
           history.back().error_type == claimer_died_error;
  }

  classification exhausted(const claimed_job<Job>& c) const {
    classification why;
    why.name = "durable::attempts_exhausted";
    why.kind = error_kind::permanent;
    why.redrive = redrive_policy::safe;
    why.message = fmt::format(
        "job {} made {} attempts without finishing, the last ended by lease expiry or a "
        "crashed worker; no attempts are left",
        c.id, c.attempts);
    return why;
  }

  void keep_leases(const std::stop_token& stop) {
    std::mutex m;
    std::condition_variable_any wake;
    const auto every = std::max(options_.lease / 3, std::chrono::milliseconds{1});
    while (!stop.stop_requested()) {
      {
        std::unique_lock lock{m};
        wake.wait_for(lock, stop, every, [] { return false; });
      }
      if (stop.stop_requested()) return;
      std::vector<std::pair<job_id, std::int64_t>> held;
      {
        std::lock_guard lock{leases_mutex_};
        held.assign(leases_.begin(), leases_.end());
      }
      for (const auto& [id, token] : held) {
        try {
          (void)queue_.extend_lease(id, token, options_.lease);
        } catch (const std::exception& e) {
          detail::log(options_.log, log_level::warning,
                      "extending the lease of job {} of queue \"{}\" failed: {}", id, queue_.name(),
                      e.what());
        }
      }
    }
  }

  // Once per unreadable_log_interval: logs the claimable jobs this worker leaves pending
  // because it cannot decode their type. Never throws.
  void report_unreadable() noexcept {
    if (options_.unreadable_log_interval.count() <= 0) return;
    try {
      {
        std::unique_lock lock{report_mutex_, std::try_to_lock};
        const auto now = detail::now(options_.clock);
        if (!lock || (next_report_ && now < *next_report_)) return;
        next_report_ = now + options_.unreadable_log_interval;
      }
      const auto left = queue_.unreadable();
      if (left.empty()) return;
      std::int64_t total = 0;
      for (const auto& t : left) total += t.count;
      detail::log(options_.log, log_level::warning,
                  "queue \"{}\": leaving {} claimable job(s) this worker cannot decode; they "
                  "stay pending for a worker of their type (docs/evolving-jobs.md):",
                  queue_.name(), total);
      for (const auto& t : left) {
        detail::log(options_.log, log_level::warning, "  {} of codec \"{}\" type {:#018x}: {}",
                    t.count, t.codec, t.fingerprint, t.reason);
      }
    } catch (const std::exception& e) {
      detail::log(options_.log, log_level::error, "counting the jobs of queue \"{}\": {}",
                  queue_.name(), e.what());
    } catch (...) {  // NOLINT(bugprone-empty-catch): a report must never stop the worker
    }
  }

  void log_dlq_summary() {
    const auto count = dlq_.size();
    if (count == 0) return;
    detail::log(options_.log, log_level::warning,
                "dead-letter queue \"{}\" holds {} entr{}; most recent:", dlq_.name(), count,
                count == 1 ? "y" : "ies");
    for (const auto& e : dlq_.recent(5)) {
      detail::log(options_.log, log_level::warning, "  #{} key={} {}: {}", e.id,
                  e.key ? key_text(*e.key) : std::string{"-"}, e.error_type, cut(e.message));
    }
  }

  static std::string key_text(const job_key& key) {
    if (const auto* i = std::get_if<std::int64_t>(&key)) return std::to_string(*i);
    return std::get<std::string>(key);
  }

  // `message` cut to 80 characters for a log line.
  static std::string cut(const std::string& message) {
    return message.size() <= 80 ? message : message.substr(0, 77) + "...";
  }

  template <class Hook, class... Args>
  void call_hook(const Hook& hook, const Args&... args) noexcept {
    if (!hook) return;
    try {
      hook(args...);
    } catch (const std::exception& e) {
      detail::log(options_.log, log_level::error, "a worker hook threw: {}", e.what());
    } catch (...) {
      detail::log(options_.log, log_level::error, "a worker hook threw a non-std exception");
    }
  }

  Queue<Job, Codec>& queue_;
  DeadLetterQueue<Job, Codec>& dlq_;
  handler_type handler_;
  worker_options options_;
  std::optional<circuit_breaker> breaker_;

  std::mutex rng_mutex_;
  std::mt19937_64 rng_;

  std::mutex report_mutex_;
  std::optional<time_point> next_report_;  // guarded by report_mutex_

  std::mutex leases_mutex_;
  std::map<job_id, std::int64_t> leases_;

  std::atomic<std::int64_t> processed_{0};
  std::atomic<std::int64_t> succeeded_{0};
  std::atomic<std::int64_t> retried_{0};
  std::atomic<std::int64_t> dead_lettered_{0};
  std::atomic<std::int64_t> in_flight_{0};

  std::mutex lifecycle_;
  std::mutex idle_mutex_;
  std::condition_variable idle_;
  std::int64_t running_threads_ = 0;
  std::vector<std::jthread> threads_;
  std::jthread keeper_;
};

}  // namespace durable::inline v0
