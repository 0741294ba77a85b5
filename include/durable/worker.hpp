// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// `durable::Worker`: runs a handler over a Queue on N threads; retries transient
/// failures with backoff, dead-letters permanent and exhausted ones, extends leases of
/// long jobs, enforces timeouts, watches the DLQ, records metrics and logs, and stops
/// gracefully. See docs/worker.md.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "durable/circuit_breaker.hpp"
#include "durable/clock.hpp"
#include "durable/dead_letter_queue.hpp"
#include "durable/detail/json.hpp"
#include "durable/errors.hpp"
#include "durable/job.hpp"
#include "durable/job_context.hpp"
#include "durable/log.hpp"
#include "durable/metrics.hpp"
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
  /// How long the handler ran; zero when it did not run (poison or exhausted job).
  std::chrono::microseconds run_time{0};
  /// How long the job waited from claimable (its run-at, or an expired lease's end) to its
  /// start; zero when it did not run.
  std::chrono::milliseconds wait_time{0};
};

/// Options of a Worker. `{}` runs one thread with 30 s leases and 30 min timeouts, the
/// default retry policy, a circuit breaker with default options, and its own metrics.
struct worker_options {
  /// Handler threads.
  std::size_t threads = 1;
  /// Lease of each claim; extended every third of it while a handler runs.
  std::chrono::milliseconds lease{30'000};
  /// How long one attempt may run when its job was pushed without push_options::timeout;
  /// empty: no limit. At the deadline the job's stop token fires; if the handler has not
  /// returned `timeout_grace` later, the attempt is recorded as failed with error type
  /// durable::timeout (transient) and its lease is no longer extended. The handler's
  /// thread keeps running until the handler returns (docs/worker.md#timeouts).
  std::optional<std::chrono::milliseconds> timeout = std::chrono::minutes{30};
  /// How long a handler may run past its deadline before the attempt is recorded as failed.
  std::chrono::milliseconds timeout_grace{5'000};
  /// 1: claim one job at a time. More: claim_batch up to this many (a sequential job
  /// comes alone) and run them one after another on the claiming thread, or all at once
  /// in a batch handler, or spread over the threads with `parallel_batches`.
  std::size_t batch_size = 1;
  /// With batch_size > 1 and a per-job handler: the jobs of a claimed batch run
  /// concurrently on the worker's threads (idle threads take them before claiming more).
  bool parallel_batches = false;
  /// Backoff for errors whose traits do not override it. How many attempts a job gets is
  /// stored with the job (push_options::max_attempts, queue_options::max_attempts).
  retry_policy retry{};
  /// The circuit breaker; empty: none. Its `on_change` hook is called after logging.
  std::optional<breaker_options> breaker = breaker_options{};
  /// Log a DLQ summary on start and after every this many processed jobs; 0: only on start.
  std::int64_t dlq_summary_every = 1000;
  /// Idle polling starts at this interval and doubles up to `max_poll_interval`; a push
  /// through the same Queue object wakes the worker at once, and on PostgreSQL so does a
  /// push from any process or host (LISTEN/NOTIFY).
  std::chrono::milliseconds min_poll_interval{10};
  /// Longest wait between polls when idle.
  std::chrono::milliseconds max_poll_interval{1'000};
  /// While the queue holds claimable jobs this worker cannot decode (a newer or another job
  /// type: they stay pending for a worker of their type), log how many and why once per
  /// this interval (measured with `clock`); 0: never.
  std::chrono::milliseconds unreadable_log_interval{60'000};
  /// Seed of the jitter generator; 0: random.
  std::uint64_t seed = 0;
  /// Where "now" comes from; the system clock when empty. With a custom clock, run times
  /// are measured on it too, and running deadlines are checked every 10 ms.
  clock_function clock{};
  /// Where the worker logs: a text sink (default: stderr, info and up) or a structured
  /// one such as json_lines_sink(); empty discards. Successes are logged at debug level.
  log_sink log = stderr_sink();
  /// The registry the worker records its metrics in, under its queue's name; share one
  /// between workers to render them together. Empty: the worker makes its own.
  std::shared_ptr<durable::metrics> metrics{};
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
  std::int64_t timed_out = 0;                     ///< attempts recorded as durable::timeout
  std::int64_t in_flight = 0;                     ///< handlers running now
  breaker_state breaker = breaker_state::closed;  ///< closed when there is no breaker
};

/// Runs a handler over a Queue. Success acks; a transient failure with attempts left is
/// nacked with a backoff delay (persisted, so retries survive a restart); a permanent
/// failure, exhausted attempts (also through lease expiries or timeouts) or a job that
/// does not decode are moved to the DeadLetterQueue with the error and its history.
/// A handler's exception never escapes: `Errors` classifies it (see errors.hpp).
///
/// The handler is one of: `void(const Job&)`, `void(const Job&, job_context&)`, or a
/// batch handler `void(std::span<const Job>, std::span<job_context>)` that gets each
/// claimed batch whole and reports failures per job with job_context::fail.
/// The queue and DLQ must outlive the worker. The destructor stops the worker.
template <class Job, class Codec = pfr_codec, error_classifier Errors = default_errors>
class Worker {
 public:
  /// A handler of one job: throws to fail it.
  using handler_type = std::function<void(const Job&)>;
  /// A handler of one job with its context: throws (or calls context.fail) to fail it.
  using context_handler_type = std::function<void(const Job&, job_context&)>;
  /// A handler of a claimed batch: contexts[i] belongs to jobs[i]; contexts[i].fail(e)
  /// fails job i; a throw fails every job it did not mark.
  using batch_handler_type = std::function<void(std::span<const Job>, std::span<job_context>)>;

  /// A stopped worker running `handler` on each job; call start(), run() or
  /// process_available(). Throws invalid_argument_error for bad options or an empty handler.
  Worker(Queue<Job, Codec>& queue, DeadLetterQueue<Job, Codec>& dlq, handler_type handler,
         worker_options options = {})
      : Worker(queue, dlq, wrap(std::move(handler)), std::move(options)) {}

  /// A stopped worker running `handler` on each job with its context.
  Worker(Queue<Job, Codec>& queue, DeadLetterQueue<Job, Codec>& dlq, context_handler_type handler,
         worker_options options = {})
      : queue_(queue),
        dlq_(dlq),
        handler_(std::move(handler)),
        options_(std::move(options)),
        rng_(options_.seed != 0 ? options_.seed : std::random_device{}()) {
    if (!handler_) bad("handler", "handler is empty");
    init();
  }

  /// A stopped worker running `handler` on each claimed batch (up to batch_size jobs).
  Worker(Queue<Job, Codec>& queue, DeadLetterQueue<Job, Codec>& dlq, batch_handler_type handler,
         worker_options options = {})
      : queue_(queue),
        dlq_(dlq),
        batch_handler_(std::move(handler)),
        options_(std::move(options)),
        rng_(options_.seed != 0 ? options_.seed : std::random_device{}()) {
    if (!batch_handler_) bad("handler", "handler is empty");
    if (options_.parallel_batches) {
      bad("parallel_batches",
          "parallel_batches runs per-job handlers; a batch handler gets the "
          "whole batch");
    }
    init();
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
  /// the keeper (leases, timeouts); does nothing while running. Throws durable errors
  /// from the DLQ maintenance (nothing started).
  void start() {
    std::lock_guard lock{lifecycle_};
    if (!threads_.empty() && !threads_.front().get_stop_token().stop_requested()) return;
    threads_.clear();  // after a stop() that timed out: waits for those handlers to end
    maintain();
    {
      std::lock_guard running{running_mutex_};
      stopping_ = false;
    }
    {
      std::lock_guard count{idle_mutex_};
      running_threads_ = static_cast<std::int64_t>(options_.threads);
    }
    for (std::size_t i = 0; i < options_.threads; ++i) {
      threads_.emplace_back([this](std::stop_token stop) { run_thread(stop); });
    }
    keeper_ = std::jthread{[this](std::stop_token stop) { keep(stop); }};
  }

  /// Stops claiming, fires the stop token of every running job, finishes the jobs already
  /// claimed, and waits up to `deadline` for running handlers; returns true if none is
  /// still running. A job still running past the deadline keeps its claim, its lease is no
  /// longer extended, and it comes back by lease expiry: nothing is lost.
  bool stop(std::chrono::milliseconds deadline = std::chrono::seconds{30}) {
    std::lock_guard lock{lifecycle_};
    for (auto& t : threads_) t.request_stop();
    {
      std::lock_guard running{running_mutex_};
      stopping_ = true;
    }
    for (const auto& a : held()) a->stop.request_stop();  // outside the lock: callbacks run
    std::unique_lock wait{idle_mutex_};
    const bool finished = idle_.wait_until(wait, detail::steady_after(deadline),
                                           [&] { return running_threads_ == 0; });
    wait.unlock();
    keeper_ = {};  // joins the keeper: leases of stuck handlers now lapse
    if (finished) threads_.clear();
    return finished;
  }

  /// Runs the worker as a process's main loop: start(), then blocks until `stop` is
  /// requested (e.g. stop_signals::token(): SIGINT, SIGTERM) or request_stop() is called,
  /// then stop(drain). Returns stop()'s result: true when every running job finished.
  bool run(const std::stop_token& stop = {},
           std::chrono::milliseconds drain = std::chrono::seconds{30}) {
    start();
    {
      std::unique_lock lock{run_mutex_};
      run_wake_.wait(lock, stop, [&] { return run_stop_; });
      run_stop_ = false;
    }
    detail::emit(options_.log, worker_event("worker.stopping"),
                 R"(worker of queue "{}": stop requested; finishing the running jobs (up to {}))",
                 queue_.name(), drain);
    return this->stop(drain);
  }

  /// Makes run() return (after its drain). Thread-safe; not async-signal-safe (use
  /// stop_signals for signals). A request made before run() starts makes it return at once.
  void request_stop() {
    {
      std::lock_guard lock{run_mutex_};
      run_stop_ = true;
    }
    run_wake_.notify_all();
  }

  /// Processes jobs on the calling thread until none is claimable now (or the breaker is
  /// open); returns how many were processed. Leases are not extended and timeouts not
  /// enforced here (the keeper runs only after start()). For tests, tools and cron jobs.
  std::int64_t process_available() {
    std::int64_t done = 0;
    while (auto n = claim_and_process(false)) done += *n;
    return done;
  }

  /// Applies the DLQ's retention (dead_letter_options::retention) and logs the DLQ
  /// summary when it is not empty. start() calls it.
  void maintain() {
    const auto removed = dlq_.apply_retention();
    if (removed > 0) {
      auto event = worker_event("dlq.retention");
      event.dead_letter_queue = dlq_.name();
      event.count = removed;
      detail::emit(options_.log, event,
                   R"(dead-letter queue "{}": removed {} entr{} older than the retention of {})",
                   dlq_.name(), removed, removed == 1 ? "y" : "ies",
                   std::chrono::duration_cast<std::chrono::hours>(*dlq_.options().retention));
    }
    log_dlq_summary();
  }

  /// Where job `id` of the worker's queue is (Queue::status), also when it was moved to
  /// the worker's DLQ in another database.
  [[nodiscard]] job_status status(job_id id) {
    auto s = queue_.status(id);
    if (s.state == job_state::not_found) {
      if (const auto entry = dlq_.find(queue_, id)) {
        s.state = job_state::dead_lettered;
        s.dead_letter_queue = dlq_.name();
        s.dead_letter = *entry;
      }
    }
    return s;
  }

  /// The counters now.
  [[nodiscard]] worker_stats stats() const {
    return {processed_.load(),
            succeeded_.load(),
            retried_.load(),
            dead_lettered_.load(),
            timed_out_.load(),
            in_flight_.load(),
            breaker_ ? breaker_->state() : breaker_state::closed};
  }

  /// The metrics registry the worker records in (worker_options::metrics, or its own).
  [[nodiscard]] durable::metrics& metrics() const noexcept { return *metrics_; }

 private:
  // A claimed job from its claim to its outcome; shared with the keeper, which extends
  // its lease and enforces its deadline.
  struct attempt {
    explicit attempt(claimed_job<Job> c) : claim(std::move(c)) {}
    claimed_job<Job> claim;
    std::stop_source stop;
    std::atomic<int> state{state_running};  // who records the outcome: the handler or the keeper
    std::atomic<bool> started{false};
    std::atomic<std::int64_t> deadline_ms{detail::max_time_ms};
    time_point started_at{};  // written before `started` is set
    std::chrono::steady_clock::time_point started_steady{};
    std::chrono::milliseconds wait{0};
    bool deadline_fired = false;  // keeper only
  };
  using attempt_ptr = std::shared_ptr<attempt>;
  static constexpr int state_running = 0;
  static constexpr int state_finished = 1;
  static constexpr int state_timed_out = 2;

  static context_handler_type wrap(handler_type handler) {
    if (!handler) return {};
    return [h = std::move(handler)](const Job& job, job_context&) { h(job); };
  }

  [[noreturn]] static void bad(const char* argument, const char* what) {
    throw invalid_argument_error(argument,
                                 fmt::format("durable: invalid argument: worker {}", what));
  }

  void init() {
    validate(options_.retry);
    if (options_.threads == 0) bad("threads", "threads must be >= 1");
    if (options_.batch_size == 0) bad("batch_size", "batch_size must be >= 1");
    if (options_.lease.count() <= 0) bad("lease", "lease must be positive");
    if (options_.timeout && options_.timeout->count() <= 0) {
      bad("timeout", "timeout must be positive; leave it empty for none");
    }
    if (options_.timeout_grace.count() < 0) bad("timeout_grace", "timeout_grace must be >= 0");
    if (options_.min_poll_interval.count() <= 0 ||
        options_.max_poll_interval < options_.min_poll_interval) {
      bad("min_poll_interval", "poll intervals must be positive, min <= max");
    }
    metrics_ = options_.metrics ? options_.metrics : std::make_shared<durable::metrics>();
    if (options_.breaker) {
      breaker_options b = *options_.breaker;
      b.on_change = [this, user = std::move(b.on_change)](breaker_state from, breaker_state to) {
        auto event = worker_event("breaker.changed");
        event.level = to == breaker_state::open ? log_level::warning : log_level::info;
        detail::emit(options_.log, event, "circuit breaker of queue \"{}\": {} -> {}{}",
                     queue_.name(), to_string(from), to_string(to),
                     to == breaker_state::open ? "; no jobs are claimed until it half-opens" : "");
        if (user) user(from, to);
      };
      breaker_.emplace(std::move(b), options_.clock);
    }
  }

  [[nodiscard]] time_point now() const { return detail::now(options_.clock); }

  [[nodiscard]] log_event worker_event(std::string_view name,
                                       log_level level = log_level::info) const {
    log_event event;
    try {
      event.time = now();
    } catch (...) {  // a clock that throws must not turn a log line into an escape
      event.time = std::chrono::system_clock::now();
    }
    event.level = level;
    event.name = name;
    event.queue = queue_.name();
    return event;
  }

  [[nodiscard]] log_event job_log(std::string_view name, log_level level,
                                  const job_event& e) const {
    auto event = worker_event(name, level);
    event.job = e.id;
    event.attempt = e.attempt;
    if (e.run_time.count() > 0) event.run_time = e.run_time;
    if (e.run_time.count() > 0 || e.wait_time.count() > 0) event.wait_time = e.wait_time;
    return event;
  }

  // ---- Claiming

  // One claim (a job or a batch) processed; empty when nothing was claimable or the
  // breaker is open. With `share`, the rest of a batch goes to idle threads. Never throws.
  std::optional<std::int64_t> claim_and_process(bool share) {
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
      detail::emit(options_.log, worker_event("queue.claim_failed", log_level::error),
                   R"(claiming from queue "{}" failed: {})", queue_.name(), e.what());
    }
    if (claimed.empty()) {
      if (breaker_) breaker_->release();
      return std::nullopt;
    }
    const auto count = static_cast<std::int64_t>(claimed.size());
    std::vector<attempt_ptr> attempts;
    attempts.reserve(claimed.size());
    {
      // Every claimed job's lease is kept from now on, also while it waits in its batch.
      std::lock_guard lock{running_mutex_};
      for (auto& c : claimed) {
        auto a = std::make_shared<attempt>(std::move(c));
        if (stopping_) a->stop.request_stop();
        running_.insert_or_assign(a->claim.id, a);  // an earlier attempt may still be running
        attempts.push_back(std::move(a));
      }
    }
    if (batch_handler_) {
      process_batch(attempts);
    } else if (share && options_.parallel_batches && attempts.size() > 1) {
      {
        std::lock_guard lock{shared_mutex_};
        shared_.insert(shared_.end(), attempts.begin() + 1, attempts.end());
      }
      queue_.engine().db().state().notify_push(queue_.name());  // wakes idle threads
      process(*attempts.front());
    } else {
      for (const auto& a : attempts) process(*a);
    }
    return count;
  }

  attempt_ptr take_shared() {
    std::lock_guard lock{shared_mutex_};
    if (shared_.empty()) return nullptr;
    auto a = std::move(shared_.front());
    shared_.pop_front();
    return a;
  }

  void run_thread(const std::stop_token& stop) {
    auto poll = options_.min_poll_interval;
    for (;;) {
      try {
        const auto seen = queue_.push_sequence();  // before take_shared: no missed wake-up
        if (auto a = take_shared()) {
          process(*a);
          continue;
        }
        if (stop.stop_requested()) break;
        if (claim_and_process(true)) {
          poll = options_.min_poll_interval;
          continue;
        }
        queue_.wait_for_push(seen, poll, stop);
      } catch (...) {
        // Only user code outside its own guards gets here (a clock that throws): the
        // thread reports it and goes on after a poll interval, never ends by it.
        report_thread_error("a worker thread", stop, poll);
      }
      poll = poll > options_.max_poll_interval / 2 ? options_.max_poll_interval : poll * 2;
    }
    std::lock_guard lock{idle_mutex_};
    --running_threads_;
    idle_.notify_all();
  }

  // Logs the exception being handled, then waits `pause` or until `stop`. Never throws.
  void report_thread_error(std::string_view where, const std::stop_token& stop,
                           std::chrono::milliseconds pause) noexcept {
    std::string what = "a non-standard exception";
    try {
      throw;
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {  // NOLINT(bugprone-empty-catch): described above
    }
    detail::log(options_.log, log_level::error,
                R"({} of the worker on queue "{}" caught {}; it goes on in {} ms)", where,
                queue_.name(), what, pause.count());
    try {
      std::mutex m;
      std::condition_variable_any cv;
      std::unique_lock lock{m};
      cv.wait_until(lock, stop, detail::steady_after(pause), [] { return false; });
    } catch (...) {  // NOLINT(bugprone-empty-catch): a failed wait only shortens the pause
    }
  }

  // ---- Running

  [[nodiscard]] static job_event event_of(const attempt& a) {
    return {a.claim.id, a.claim.key, a.claim.attempts + 1, {}, {}};
  }

  // Marks `a` started now: its deadline, its wait, the keeper told of an early deadline.
  void begin(attempt& a, job_context& context) {
    a.started_at = now();
    a.started_steady = std::chrono::steady_clock::now();
    a.wait = std::max(
        std::chrono::milliseconds{0},
        std::chrono::duration_cast<std::chrono::milliseconds>(a.started_at - a.claim.ready_at));
    const auto timeout = a.claim.timeout ? a.claim.timeout : options_.timeout;
    if (timeout) a.deadline_ms = detail::add_ms(detail::to_unix_ms(a.started_at), *timeout);
    a.started.store(true, std::memory_order_release);
    metrics_->record_start(queue_.name(), a.wait);
    context.id = a.claim.id;
    context.key = a.claim.key;
    context.attempt = a.claim.attempts + 1;
    context.max_attempts = a.claim.max_attempts;
    context.enqueued_at = a.claim.enqueued_at;
    context.first_run_at = a.claim.first_run_at;
    context.queue = queue_.name();
    context.deadline = timeout ? detail::from_unix_ms(a.deadline_ms) : max_time;
    context.stop = a.stop.get_token();
    if (timeout) wake_keeper_before(detail::from_unix_ms(a.deadline_ms));
  }

  [[nodiscard]] std::chrono::microseconds run_time(const attempt& a) const {
    const auto elapsed =
        options_.clock ? std::chrono::duration_cast<std::chrono::microseconds>(now() - a.started_at)
                       : std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::steady_clock::now() - a.started_steady);
    return std::max(elapsed, std::chrono::microseconds{0});
  }

  // One job from its claim to its outcome, on the calling thread. Never throws.
  void process(attempt& a) {
    ++in_flight_;
    guarded(a, [&] {
      run_one(a);
      return true;
    });
    --in_flight_;
  }

  // Dead-letters a job that must not run (poison, or out of attempts); false for one that
  // may run. Throws storage errors.
  bool dead_letter_unrunnable(attempt& a) {
    std::optional<classification> why;
    if (a.claim.poison) {
      why = Errors::classify(std::make_exception_ptr(*a.claim.poison));
      if (why->message.ends_with(detail::poison_advice)) {  // it is dead-lettered now
        why->message.resize(why->message.size() - detail::poison_advice.size());
      }
    } else if (out_of_attempts(a.claim)) {
      why = exhausted(a.claim);
    } else {
      return false;
    }
    if (breaker_) breaker_->release();  // says nothing about the downstream's health
    conclude(a, event_of(a), std::move(why), false);
    return true;
  }

  // Dead-letters an unrunnable job, else runs the handler. Throws storage errors.
  void run_one(attempt& a) {
    if (dead_letter_unrunnable(a)) return;
    job_context context;
    begin(a, context);
    std::optional<classification> failed;
    try {
      handler_(*a.claim.job, context);
      if (context.failed()) failed = Errors::classify(context.failure());
    } catch (...) {
      failed = Errors::classify(std::current_exception());
    }
    finish(a, std::move(failed));
  }

  // A claimed batch through the batch handler. Never throws.
  void process_batch(const std::vector<attempt_ptr>& attempts) {
    in_flight_ += static_cast<std::int64_t>(attempts.size());
    std::vector<attempt*> runnable;
    std::vector<Job> jobs;
    for (const auto& a : attempts) {
      guarded(*a, [&] {
        if (dead_letter_unrunnable(*a)) return true;
        runnable.push_back(a.get());
        jobs.push_back(std::move(*a->claim.job));
        return false;  // runs below
      });
    }
    if (!runnable.empty()) {
      std::vector<job_context> contexts(runnable.size());
      for (std::size_t i = 0; i < runnable.size(); ++i) begin(*runnable[i], contexts[i]);
      std::exception_ptr thrown;
      try {
        batch_handler_(std::span<const Job>{jobs}, std::span<job_context>{contexts});
      } catch (...) {
        thrown = std::current_exception();
      }
      for (std::size_t i = 0; i < runnable.size(); ++i) {
        guarded(*runnable[i], [&] {  // classified here: a classifier's throw stays guarded
          std::optional<classification> failed;
          if (contexts[i].failed()) {
            failed = Errors::classify(contexts[i].failure());
          } else if (thrown) {
            failed = Errors::classify(thrown);
          }
          finish(*runnable[i], std::move(failed));
          return true;
        });
      }
    }
    in_flight_ -= static_cast<std::int64_t>(attempts.size());
  }

  // Runs `body` for attempt `a` and logs what escapes (the job then comes back by lease
  // expiry); forgets the attempt unless `body` returned false. Never throws.
  template <class Body>
  void guarded(attempt& a, Body&& body) noexcept {
    const job_id id = a.claim.id;
    try {
      if (!std::forward<Body>(body)()) return;
    } catch (const lease_lost_error& e) {
      detail::emit(options_.log, job_log("job.lease_lost", log_level::warning, event_of(a)),
                   R"(job {} of queue "{}": {}; another worker has it now)", id, queue_.name(),
                   e.what());
    } catch (const std::exception& e) {
      // The job stays claimed and comes back when its lease ends: nothing is lost.
      detail::emit(options_.log, job_log("job.finish_failed", log_level::error, event_of(a)),
                   R"(job {} of queue "{}" could not be finished: {}; it will be retried after )"
                   "its lease ends",
                   id, queue_.name(), e.what());
    } catch (...) {
      detail::emit(options_.log, job_log("job.finish_failed", log_level::error, event_of(a)),
                   R"(job {} of queue "{}" could not be finished: a non-standard exception; it )"
                   "will be retried after its lease ends",
                   id, queue_.name());
    }
    std::lock_guard lock{running_mutex_};
    const auto it = running_.find(id);
    if (it != running_.end() && it->second.get() == &a) running_.erase(it);
  }

  // The handler returned: records its outcome unless the keeper timed the attempt out.
  void finish(attempt& a, std::optional<classification> failed) {
    int expected = state_running;
    if (!a.state.compare_exchange_strong(expected, state_finished)) {
      detail::emit(
          options_.log, job_log("job.late_result", log_level::warning, event_of(a)),
          R"(job {} of queue "{}" returned after its attempt was recorded as timed out; its )"
          "result ({}) is discarded",
          a.claim.id, queue_.name(), failed ? failed->name : std::string{"success"});
      return;
    }
    auto event = event_of(a);
    event.run_time = run_time(a);
    event.wait_time = a.wait;
    conclude(a, event, std::move(failed), true);
  }

  // Acks, retries or dead-letters. Throws lease_lost_error and storage errors.
  void conclude(attempt& a, const job_event& event, std::optional<classification> failed, bool ran,
                bool timeout = false) {
    auto& c = a.claim;
    if (ran) metrics_->record_run(queue_.name(), event.run_time);
    if (!failed) {
      if (breaker_) breaker_->record_success();
      queue_.ack(c);
      ++succeeded_;
      metrics_->record_finish(queue_.name(), job_outcome::succeeded, {});
      count_processed();
      detail::emit(options_.log, job_log("job.succeeded", log_level::debug, event),
                   R"(job {} of queue "{}" succeeded on attempt {} in {})", c.id, queue_.name(),
                   event.attempt, event.run_time);
      call_hook(options_.on_success, event);
      return;
    }
    if (ran && breaker_) breaker_->record_failure(failed->kind);
    const retry_policy policy = effective_policy(options_.retry, *failed);
    const std::int64_t max_attempts = effective_max_attempts(c.max_attempts, *failed);
    if (!ran || !should_retry(failed->kind, event.attempt, max_attempts)) {
      dlq_.move_from(queue_, c, as_failure(*failed));
      ++dead_lettered_;
      metrics_->record_finish(queue_.name(), job_outcome::dead_lettered, failed->name, timeout);
      count_processed();
      auto log = job_log("job.dead_lettered", log_level::warning, event);
      log.dead_letter_queue = dlq_.name();
      log.error_type = failed->name;
      detail::emit(
          options_.log, log,
          R"(job {} of queue "{}" dead-lettered to "{}" after attempt {} with {} ({}): {})", c.id,
          queue_.name(), dlq_.name(), event.attempt, failed->name, to_string(failed->kind),
          cut(failed->message));
      call_hook(options_.on_dead_letter, event, *failed);
      return;
    }
    std::chrono::milliseconds delay;
    {
      std::lock_guard lock{rng_mutex_};
      delay = next_delay(policy, event.attempt, rng_);
    }
    queue_.nack(c, delay, as_failure(*failed));
    ++retried_;
    metrics_->record_finish(queue_.name(), job_outcome::retried, failed->name, timeout);
    count_processed();
    auto log = job_log("job.retried", log_level::info, event);
    log.error_type = failed->name;
    log.delay = delay;
    detail::emit(options_.log, log,
                 R"(job {} of queue "{}" failed attempt {} of {} with {}: {}; retrying in {})",
                 c.id, queue_.name(), event.attempt, max_attempts, failed->name,
                 cut(failed->message), delay);
    call_hook(options_.on_retry, event, *failed, delay);
  }

  void count_processed() {
    const auto processed = ++processed_;
    if (options_.dlq_summary_every > 0 && processed % options_.dlq_summary_every == 0) {
      try {
        log_dlq_summary();
      } catch (const std::exception& e) {
        detail::log(options_.log, log_level::error, R"(reading dead-letter queue "{}": {})",
                    dlq_.name(), e.what());
      }
    }
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

  static classification exhausted(const claimed_job<Job>& c) {
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

  // ---- The keeper: leases and deadlines

  // Asks the keeper to wake by `deadline` (the worker's clock) if it sleeps longer.
  void wake_keeper_before(time_point deadline) {
    const auto real = options_.clock ? custom_clock_tick
                                     : std::chrono::duration_cast<std::chrono::nanoseconds>(
                                           deadline - std::chrono::system_clock::now());
    const auto by = (std::chrono::steady_clock::now() + real).time_since_epoch().count();
    if (by >= keeper_sleeps_until_.load()) return;
    {
      std::lock_guard lock{keeper_mutex_};
      keeper_poked_ = true;
    }
    keeper_wake_.notify_all();
  }

  void keep(const std::stop_token& stop) {
    const auto every = std::max(options_.lease / 3, std::chrono::milliseconds{1});
    auto next_extension = detail::steady_after(every);
    while (!stop.stop_requested()) {
      try {
        keep_once(stop, every, next_extension);
      } catch (...) {
        report_thread_error("the lease keeper", stop, every);
      }
    }
  }

  // Sleeps until the next extension or deadline, then extends and enforces what is due.
  void keep_once(const std::stop_token& stop, std::chrono::milliseconds every,
                 std::chrono::steady_clock::time_point& next_extension) {
    using steady = std::chrono::steady_clock;
    auto wake = next_extension;
    if (const auto next = next_deadline()) {
      wake = std::min(wake, options_.clock ? steady::now() + custom_clock_tick
                                           : steady::now() + (*next - now()));
    }
    keeper_sleeps_until_ = wake.time_since_epoch().count();
    {
      std::unique_lock lock{keeper_mutex_};
      keeper_wake_.wait_until(lock, stop, wake, [&] { return keeper_poked_; });
      keeper_poked_ = false;
    }
    keeper_sleeps_until_ = steady::time_point::max().time_since_epoch().count();
    if (stop.stop_requested()) return;
    enforce_deadlines();
    if (steady::now() >= next_extension) {
      extend_leases();
      next_extension = detail::steady_after(every);
    }
  }

  [[nodiscard]] std::vector<attempt_ptr> held() {
    std::lock_guard lock{running_mutex_};
    std::vector<attempt_ptr> out;
    out.reserve(running_.size());
    for (const auto& [id, a] : running_) out.push_back(a);
    return out;
  }

  // The earliest deadline or end of grace the keeper waits for (the worker's clock).
  [[nodiscard]] std::optional<time_point> next_deadline() {
    std::optional<time_point> next;
    for (const auto& a : held()) {
      if (!a->started.load(std::memory_order_acquire) || a->state != state_running) continue;
      if (a->deadline_ms == detail::max_time_ms) continue;
      const auto t = detail::from_unix_ms(
          a->deadline_fired ? detail::add_ms(a->deadline_ms, options_.timeout_grace)
                            : a->deadline_ms.load());
      next = next ? std::min(*next, t) : t;
    }
    return next;
  }

  void enforce_deadlines() {
    const auto t = detail::to_unix_ms(now());
    for (const auto& a : held()) {
      if (!a->started.load(std::memory_order_acquire) || a->state != state_running) continue;
      const std::int64_t deadline = a->deadline_ms;
      if (deadline == detail::max_time_ms) continue;
      if (t >= detail::add_ms(deadline, options_.timeout_grace)) {
        time_out(*a);
      } else if (t >= deadline && !a->deadline_fired) {
        a->deadline_fired = true;
        a->stop.request_stop();
      }
    }
  }

  // Records attempt `a` as failed with durable::timeout, unless its handler returned first.
  void time_out(attempt& a) {
    int expected = state_running;
    if (!a.state.compare_exchange_strong(expected, state_timed_out)) return;
    a.stop.request_stop();
    ++timed_out_;
    auto event = event_of(a);
    event.run_time = run_time(a);
    event.wait_time = a.wait;
    const auto timeout = a.claim.timeout ? *a.claim.timeout : *options_.timeout;
    classification why;
    why.name = std::string{timed_out_error};
    why.kind = error_kind::transient;
    why.redrive = redrive_policy::safe;
    why.message = fmt::format(
        "job {} ran past its timeout of {} and the grace of {}; the attempt was recorded as "
        "failed while its handler was still running",
        a.claim.id, timeout, options_.timeout_grace);
    auto log = job_log("job.timed_out", log_level::warning, event);
    log.error_type = why.name;
    detail::emit(options_.log, log,
                 R"(job {} of queue "{}" ran past its timeout of {} and the grace of {}: the )"
                 "attempt is recorded as failed; its handler thread keeps running until the "
                 "handler returns, and its result will be discarded",
                 a.claim.id, queue_.name(), timeout, options_.timeout_grace);
    try {
      conclude(a, event, why, true, true);
    } catch (const std::exception& e) {
      detail::emit(options_.log, job_log("job.finish_failed", log_level::error, event),
                   R"(job {} of queue "{}": recording its timeout failed: {}; it comes back )"
                   "when its lease ends",
                   a.claim.id, queue_.name(), e.what());
    }
    std::lock_guard lock{running_mutex_};  // its lease is no longer extended
    const auto it = running_.find(a.claim.id);
    if (it != running_.end() && it->second.get() == &a) running_.erase(it);
  }

  void extend_leases() {
    for (const auto& a : held()) {
      if (a->state != state_running) continue;
      try {
        (void)queue_.extend_lease(a->claim.id, a->claim.token, options_.lease);
      } catch (const lease_lost_error& e) {
        a->stop.request_stop();  // another claimer has it: the handler should stop
        std::lock_guard lock{running_mutex_};
        const auto it = running_.find(a->claim.id);
        if (it != running_.end() && it->second == a) running_.erase(it);
        detail::emit(options_.log, job_log("job.lease_lost", log_level::warning, event_of(*a)),
                     R"(job {} of queue "{}": {}; its stop token fired)", a->claim.id,
                     queue_.name(), e.what());
      } catch (const std::exception& e) {
        detail::emit(options_.log, job_log("job.extend_failed", log_level::warning, event_of(*a)),
                     R"(extending the lease of job {} of queue "{}" failed: {})", a->claim.id,
                     queue_.name(), e.what());
      }
    }
  }

  // ---- Monitoring

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
    auto event = worker_event("dlq.summary", log_level::warning);
    event.dead_letter_queue = dlq_.name();
    event.count = count;
    detail::emit(options_.log, event, R"(dead-letter queue "{}" holds {} entr{}; most recent:)",
                 dlq_.name(), count, count == 1 ? "y" : "ies");
    for (const auto& e : dlq_.recent(5)) {
      auto entry = worker_event("dlq.summary_entry", log_level::warning);
      entry.dead_letter_queue = dlq_.name();
      entry.entry = e.id;
      if (e.original_id) entry.job = *e.original_id;
      entry.error_type = e.error_type;
      detail::emit(options_.log, entry, "  #{} key={} {}: {}", e.id,
                   e.key ? key_text(*e.key) : std::string{"-"}, e.error_type, cut(e.message));
    }
  }

  static std::string key_text(const job_key& key) {
    if (const auto* i = std::get_if<std::int64_t>(&key)) return std::to_string(*i);
    return std::get<std::string>(key);
  }

  // `message` cut to 80 bytes for a log line, never inside a UTF-8 character (a JSON
  // line must stay valid UTF-8).
  static std::string cut(const std::string& message) {
    if (message.size() <= 80) return message;
    return std::string{detail::utf8_prefix(message, 77)} + "...";
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

  // With a custom clock the keeper cannot sleep until a deadline: it re-reads the clock.
  static constexpr std::chrono::milliseconds custom_clock_tick{10};

  Queue<Job, Codec>& queue_;
  DeadLetterQueue<Job, Codec>& dlq_;
  context_handler_type handler_;
  batch_handler_type batch_handler_;
  worker_options options_;
  std::shared_ptr<durable::metrics> metrics_;
  std::optional<circuit_breaker> breaker_;

  std::mutex rng_mutex_;
  std::mt19937_64 rng_;

  std::mutex running_mutex_;               // guards running_ and stopping_
  std::map<job_id, attempt_ptr> running_;  // claimed and not yet concluded
  bool stopping_ = false;

  std::mutex shared_mutex_;
  std::deque<attempt_ptr> shared_;  // parallel_batches: claimed jobs for any thread

  std::mutex report_mutex_;
  std::optional<time_point> next_report_;  // guarded by report_mutex_

  std::atomic<std::int64_t> processed_{0};
  std::atomic<std::int64_t> succeeded_{0};
  std::atomic<std::int64_t> retried_{0};
  std::atomic<std::int64_t> dead_lettered_{0};
  std::atomic<std::int64_t> timed_out_{0};
  std::atomic<std::int64_t> in_flight_{0};

  std::mutex keeper_mutex_;
  std::condition_variable_any keeper_wake_;
  bool keeper_poked_ = false;  // guarded by keeper_mutex_
  std::atomic<std::int64_t> keeper_sleeps_until_{
      std::chrono::steady_clock::time_point::max().time_since_epoch().count()};

  std::mutex run_mutex_;
  std::condition_variable_any run_wake_;
  bool run_stop_ = false;  // guarded by run_mutex_

  std::mutex lifecycle_;
  std::mutex idle_mutex_;
  std::condition_variable idle_;
  std::int64_t running_threads_ = 0;
  std::vector<std::jthread> threads_;
  std::jthread keeper_;
};

}  // namespace durable::inline v0
