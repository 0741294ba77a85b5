// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// `durable::metrics`: counters and histograms of job outcomes per queue (and error
/// type), fed by Workers, read as a snapshot or rendered in the Prometheus text
/// exposition format for an endpoint of your own. See docs/worker.md#metrics.

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "durable/exceptions.hpp"

namespace durable::inline v0 {

/// A histogram's state: observations counted per bucket.
struct histogram_snapshot {
  /// Upper bounds of the buckets in seconds, ascending; a last bucket (+Inf) is implied.
  std::vector<double> bounds{};
  /// Observations per bucket (not cumulative); one more than `bounds` (the +Inf bucket).
  std::vector<std::int64_t> counts{};
  /// Sum of all observations, in seconds.
  double sum = 0;
  /// Number of observations.
  std::int64_t count = 0;
};

/// The counters and histograms of one queue.
struct queue_metrics {
  /// The queue's name.
  std::string queue{};
  /// Jobs finished one way or another (succeeded, retried, dead-lettered).
  std::int64_t processed = 0;
  /// Jobs whose handler returned; acked.
  std::int64_t succeeded = 0;
  /// Attempts that failed and were put back for another attempt, by error type.
  std::map<std::string, std::int64_t, std::less<>> retried{};
  /// Jobs moved to the dead-letter queue, by error type.
  std::map<std::string, std::int64_t, std::less<>> dead_lettered{};
  /// Attempts that ran past their timeout and its grace (recorded as failed, error type
  /// "durable::timeout", so also counted in `retried` or `dead_lettered`).
  std::int64_t timed_out = 0;
  /// How long handlers ran.
  histogram_snapshot run_time{};
  /// How long jobs waited from claimable (their run-at) to their start.
  histogram_snapshot wait_time{};
};

/// What became of one attempt, for metrics::record_finish.
enum class job_outcome {
  succeeded,      ///< acked
  retried,        ///< put back for another attempt
  dead_lettered,  ///< moved to the dead-letter queue
};

/// Counters and histograms of job outcomes, per queue. Thread-safe; one registry may be
/// shared by several Workers (worker_options::metrics), each recording under its queue's
/// name. Recording costs one mutex and a map lookup.
class metrics {
 public:
  /// The default bucket bounds in seconds, 1 ms to 30 min.
  static constexpr std::array<double, 16> default_buckets{
      0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800};

  /// An empty registry with the default buckets.
  metrics() : metrics(default_buckets) {}
  /// An empty registry with histogram buckets bounded by `bounds` (seconds). Throws
  /// invalid_argument_error unless they are finite, positive and strictly ascending.
  explicit metrics(std::span<const double> bounds) : bounds_(bounds.begin(), bounds.end()) {
    for (std::size_t i = 0; i < bounds_.size(); ++i) {
      if (!std::isfinite(bounds_[i]) || bounds_[i] <= 0 ||
          (i > 0 && bounds_[i] <= bounds_[i - 1])) {
        throw invalid_argument_error(
            "bounds",
            "durable: invalid argument: metrics bucket bounds must be finite, positive "
            "and strictly ascending");
      }
    }
  }

  /// Records that a job of `queue` started after waiting `wait` since it was claimable.
  void record_start(std::string_view queue, std::chrono::duration<double> wait) {
    std::lock_guard lock{mutex_};
    observe(of(queue).wait_time, wait.count());
  }

  /// Records that a handler of a job of `queue` ran for `run_time`.
  void record_run(std::string_view queue, std::chrono::duration<double> run_time) {
    std::lock_guard lock{mutex_};
    observe(of(queue).run_time, run_time.count());
  }

  /// Records the outcome of an attempt of a job of `queue`; `error_type` names the
  /// failure (retried, dead_lettered). `timed_out`: the attempt ran past its timeout.
  void record_finish(std::string_view queue, job_outcome outcome, std::string_view error_type,
                     bool timed_out = false) {
    std::lock_guard lock{mutex_};
    auto& q = of(queue);
    ++q.processed;
    switch (outcome) {
      case job_outcome::succeeded: ++q.succeeded; break;
      case job_outcome::retried: ++counter(q.retried, error_type); break;
      case job_outcome::dead_lettered: ++counter(q.dead_lettered, error_type); break;
    }
    if (timed_out) ++q.timed_out;
  }

  /// Every queue's counters and histograms now, by queue name.
  [[nodiscard]] std::vector<queue_metrics> snapshot() const {
    std::lock_guard lock{mutex_};
    std::vector<queue_metrics> out;
    out.reserve(queues_.size());
    for (const auto& [name, q] : queues_) out.push_back(q);
    return out;
  }

  /// One queue's counters and histograms now (zeros for a queue never recorded).
  [[nodiscard]] queue_metrics of_queue(std::string_view queue) const {
    std::lock_guard lock{mutex_};
    const auto it = queues_.find(queue);
    if (it != queues_.end()) return it->second;
    queue_metrics empty;
    empty.queue = queue;
    empty.run_time = empty_histogram();
    empty.wait_time = empty_histogram();
    return empty;
  }

  /// Everything in the Prometheus text exposition format (version 0.0.4): counters
  /// durable_jobs_{processed,succeeded,retried,dead_lettered,timed_out}_total labelled by
  /// queue (and error_type for retried and dead_lettered), histograms
  /// durable_job_{run,wait}_seconds labelled by queue. Serve it with content type
  /// "text/plain; version=0.0.4".
  [[nodiscard]] std::string prometheus() const {
    const auto queues = snapshot();
    std::string out;
    auto it = std::back_inserter(out);
    const auto family = [&](std::string_view name, std::string_view type, std::string_view help) {
      fmt::format_to(it, "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    };
    const auto per_queue = [&](std::string_view name, std::string_view help, auto field) {
      family(name, "counter", help);
      for (const auto& q : queues) {
        fmt::format_to(it, "{}{{queue=\"{}\"}} {}\n", name, label(q.queue), q.*field);
      }
    };
    const auto per_type = [&](std::string_view name, std::string_view help, auto field) {
      family(name, "counter", help);
      for (const auto& q : queues) {
        for (const auto& [type, n] : q.*field) {
          fmt::format_to(it, "{}{{queue=\"{}\",error_type=\"{}\"}} {}\n", name, label(q.queue),
                         label(type), n);
        }
      }
    };
    const auto histograms = [&](std::string_view name, std::string_view help, auto field) {
      family(name, "histogram", help);
      for (const auto& q : queues) {
        const histogram_snapshot& h = q.*field;
        const auto queue = label(q.queue);
        std::int64_t cumulative = 0;
        for (std::size_t i = 0; i < h.bounds.size(); ++i) {
          cumulative += h.counts[i];
          fmt::format_to(it, "{}_bucket{{queue=\"{}\",le=\"{}\"}} {}\n", name, queue, h.bounds[i],
                         cumulative);
        }
        fmt::format_to(it, "{}_bucket{{queue=\"{}\",le=\"+Inf\"}} {}\n", name, queue, h.count);
        fmt::format_to(it, "{}_sum{{queue=\"{}\"}} {}\n", name, queue, h.sum);
        fmt::format_to(it, "{}_count{{queue=\"{}\"}} {}\n", name, queue, h.count);
      }
    };
    per_queue("durable_jobs_processed_total", "Jobs a worker finished, whatever the outcome.",
              &queue_metrics::processed);
    per_queue("durable_jobs_succeeded_total", "Jobs whose handler returned; acked.",
              &queue_metrics::succeeded);
    per_type("durable_jobs_retried_total", "Failed attempts put back for another attempt.",
             &queue_metrics::retried);
    per_type("durable_jobs_dead_lettered_total", "Jobs moved to the dead-letter queue.",
             &queue_metrics::dead_lettered);
    per_queue("durable_jobs_timed_out_total",
              "Attempts that ran past their timeout and grace, recorded as failed.",
              &queue_metrics::timed_out);
    histograms("durable_job_run_seconds", "How long handlers ran.", &queue_metrics::run_time);
    histograms("durable_job_wait_seconds", "How long jobs waited from claimable to their start.",
               &queue_metrics::wait_time);
    return out;
  }

 private:
  [[nodiscard]] histogram_snapshot empty_histogram() const {
    return {bounds_, std::vector<std::int64_t>(bounds_.size() + 1, 0), 0, 0};
  }

  queue_metrics& of(std::string_view queue) {
    auto it = queues_.find(queue);
    if (it == queues_.end()) {
      queue_metrics q;
      q.queue = queue;
      q.run_time = empty_histogram();
      q.wait_time = empty_histogram();
      it = queues_.emplace(std::string{queue}, std::move(q)).first;
    }
    return it->second;
  }

  static std::int64_t& counter(std::map<std::string, std::int64_t, std::less<>>& by_type,
                               std::string_view type) {
    auto it = by_type.find(type);
    if (it == by_type.end()) it = by_type.emplace(std::string{type}, 0).first;
    return it->second;
  }

  void observe(histogram_snapshot& h, double seconds) const {
    seconds = std::max(seconds, 0.0);
    const auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), seconds) - bounds_.begin();
    ++h.counts[static_cast<std::size_t>(bucket)];
    h.sum += seconds;
    ++h.count;
  }

  // A label value escaped as the exposition format requires: \ " and newline.
  static std::string label(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (const char c : value) {
      if (c == '\\' || c == '"') {
        out += '\\';
        out += c;
      } else if (c == '\n') {
        out += "\\n";
      } else {
        out += c;
      }
    }
    return out;
  }

  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::map<std::string, queue_metrics, std::less<>> queues_;
};

}  // namespace durable::inline v0
