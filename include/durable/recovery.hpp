// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Recovery: selective, idempotent redrive from a DeadLetterQueue back into a Queue once
/// an outage is over, behind gates (health, already queued, subject exists) and the
/// error classification's redrive policy. See docs/dead_letter_queue.md#recovery.

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "durable/dead_letter.hpp"
#include "durable/dead_letter_queue.hpp"
#include "durable/errors.hpp"
#include "durable/job.hpp"
#include "durable/log.hpp"
#include "durable/queue.hpp"

namespace durable::inline v0 {

/// The redrive policy of each stored error type name: which dead-lettered jobs recovery
/// may put back. Build it from the error list your Worker classifies with
/// (`redrive_policies::from<my_errors>()`), or by hand with `set`.
class redrive_policies {
 public:
  /// An empty table: every name gets `fallback`.
  explicit redrive_policies(redrive_policy fallback = redrive_policy::optional) noexcept
      : fallback_(fallback) {}

  /// The policies of every type of error list `List` (an `error_list<...>` or
  /// `basic_error_list<...>`, nested lists included), by `error_traits<E>::name`; names
  /// the list does not know get the policy of its default (unlisted) classification.
  template <class List>
  [[nodiscard]] static redrive_policies from();

  /// Sets the policy of error type `name`, replacing an earlier one. Returns *this.
  redrive_policies& set(std::string name, redrive_policy policy) {
    table_.insert_or_assign(std::move(name), policy);
    return *this;
  }

  /// The policy of error type `name`: its entry, else the fallback.
  [[nodiscard]] redrive_policy of(std::string_view name) const {
    const auto it = table_.find(name);
    return it == table_.end() ? fallback_ : it->second;
  }

  /// The policy of names without an entry.
  [[nodiscard]] redrive_policy fallback() const noexcept { return fallback_; }

 private:
  // The first listed type with a name wins, as in classification.
  template <class... Ts>
  void add_all(detail::type_list<Ts...> /*unused*/) {
    (table_.try_emplace(std::string{error_traits<Ts>::name}, error_traits<Ts>::redrive), ...);
  }

  std::map<std::string, redrive_policy, std::less<>> table_;
  redrive_policy fallback_;
};

namespace detail {
template <class>
inline constexpr bool always_false = false;

template <class List>
struct error_list_policies {
  static_assert(always_false<List>,
                "durable: redrive_policies::from<List>: List must be a durable::error_list<...> "
                "(or basic_error_list<...>); see docs/dead_letter_queue.md#recovery");
};
template <class Default, class... Es>
struct error_list_policies<basic_error_list<Default, Es...>> {
  // Instantiates the list, which runs its own checks and reports misuse first.
  // NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof forces the instantiation
  static_assert(sizeof(basic_error_list<Default, Es...>) > 0);
  using types = flatten_t<Es...>;
  using default_traits = Default;
};
}  // namespace detail

template <class List>
redrive_policies redrive_policies::from() {
  using info = detail::error_list_policies<List>;
  using unlisted = typename info::default_traits;
  redrive_policies p{unlisted::redrive};
  p.add_all(typename info::types{});
  p.table_.try_emplace(std::string{unlisted::name}, unlisted::redrive);
  return p;
}

/// Optional callables deciding, per recovery, what may move. Empty ones are skipped
/// (`already_queued` then has a default).
struct recovery_gates {
  /// Run once before anything moves; false (or an exception) means unhealthy: nothing
  /// moves and the result says so. E.g. "the payment service answers its health check".
  std::function<bool()> healthy;
  /// For an entry with a key: true when its work is already queued, so it is skipped.
  /// Default: the target queue holds a pending, scheduled or claimed job with that key.
  /// Either way, a second entry with a key already recovered in this run is skipped.
  std::function<bool(const job_key&)> already_queued;
  /// For an entry with a key: false when the thing it works on is gone (deleted
  /// account, cancelled order), so it is skipped.
  std::function<bool(const job_key&)> exists;
};

/// How recovery chooses error types and puts jobs back.
struct recovery_options {
  /// Redrive policy per error type name; empty: the policy stored with each entry when it
  /// was dead-lettered (its error_traits<E>::redrive).
  std::optional<redrive_policies> policies{};
  /// Also recover error types whose policy is `optional`. Without it, an optional type is
  /// recovered only when the filter names it in `error_types`. `never` types never are.
  bool include_optional = false;
  /// The recovered jobs become claimable this long from now.
  std::chrono::milliseconds delay{0};
};

/// What a recovery did. Every selected entry (not yet redriven, matching the filter) is
/// counted in `total` and in exactly one other counter.
struct recovery_result {
  /// False when the health gate said no (or threw): nothing moved.
  bool healthy = true;
  /// Entries selected by the filter.
  std::int64_t total = 0;
  /// Entries put back on the queue and marked redriven.
  std::int64_t recovered = 0;
  /// Entries whose error type's redrive policy forbids it (never, or optional not asked for).
  std::int64_t skipped_not_redrivable = 0;
  /// Entries skipped because the health gate said no.
  std::int64_t skipped_unhealthy = 0;
  /// Entries whose key is already queued (or recovered earlier in this run).
  std::int64_t skipped_already_queued = 0;
  /// Entries whose subject the `exists` gate says is gone.
  std::int64_t skipped_missing = 0;
  /// Entries a gate threw for, or whose stored job is not the DLQ's type; left as they are.
  std::int64_t failed = 0;
  /// Keys of the recovered entries that have one, in recovery order.
  std::vector<job_key> recovered_keys{};
  /// Ids of the new jobs, in recovery order.
  std::vector<job_id> jobs{};
};

namespace detail {
/// One run of recover(): the gates, the counters and the batch being redriven.
template <class Job, class Codec>
class recovery_run {
 public:
  recovery_run(DeadLetterQueue<Job, Codec>& dlq, Queue<Job, Codec>& queue,
               const dead_letter_filter& filter, const recovery_gates& gates,
               const recovery_options& options)
      : dlq_(dlq),
        queue_(queue),
        gates_(gates),
        options_(options),
        log_(dlq.options().log),
        named_(filter.error_types.begin(), filter.error_types.end()) {}

  recovery_result run(const dead_letter_filter& filter) {
    if (!healthy()) {
      result_.healthy = false;
      result_.total = dlq_.count(filter);
      result_.skipped_unhealthy = result_.total;
      detail::log(log_, log_level::warning,
                  "recovery from dead-letter queue \"{}\" into queue \"{}\": unhealthy, "
                  "nothing moved ({} entries waiting)",
                  dlq_.name(), queue_.name(), result_.total);
      return std::move(result_);
    }
    page_request page{.order = sort_order::oldest_first, .limit = 500};
    do {
      auto batch = dlq_.query(filter, page);
      page.after = batch.next;
      for (auto& entry : batch.entries) admit(entry);
      redrive_admitted();
    } while (page.after);
    return std::move(result_);
  }

 private:
  bool healthy() {
    if (!gates_.healthy) return true;
    try {
      return gates_.healthy();
    } catch (const std::exception& e) {
      detail::log(log_, log_level::warning,
                  "recovery from dead-letter queue \"{}\" into queue \"{}\": the health check "
                  "threw: {}",
                  dlq_.name(), queue_.name(), e.what());
    } catch (...) {  // NOLINT(bugprone-empty-catch): any failure of the check means unhealthy
    }
    return false;
  }

  [[nodiscard]] bool redrivable(const dead_letter_summary& entry) const {
    const std::string_view type = entry.error_type;
    switch (options_.policies ? options_.policies->of(type) : entry.redrive) {
      case redrive_policy::safe: return true;
      case redrive_policy::optional: return options_.include_optional || named_.contains(type);
      case redrive_policy::never: return false;
    }
    return false;
  }

  // The key gates for an entry with a key; true when it may move.
  bool passes_key_gates(const dead_letter_summary& entry) {
    const job_key& key = *entry.key;
    try {
      if (seen_.contains(key) ||
          (gates_.already_queued ? gates_.already_queued(key) : queue_.contains(key))) {
        ++result_.skipped_already_queued;
        return false;
      }
      if (gates_.exists && !gates_.exists(key)) {
        ++result_.skipped_missing;
        return false;
      }
    } catch (const std::exception& e) {
      ++result_.failed;
      detail::log(log_, log_level::warning,
                  "recovery from dead-letter queue \"{}\": a gate threw for entry {}: {}",
                  dlq_.name(), entry.id, e.what());
      return false;
    } catch (...) {
      ++result_.failed;
      return false;
    }
    seen_.insert(key);
    return true;
  }

  // Counts `entry` and, when the policy and gates let it, queues it for this page's batch.
  void admit(dead_letter_summary& entry) {
    ++result_.total;
    if (!redrivable(entry)) {
      ++result_.skipped_not_redrivable;
      return;
    }
    if (entry.key && !passes_key_gates(entry)) return;
    admitted_.push_back(entry.id);
    keys_.emplace(entry.id, std::move(entry.key));
  }

  // Redrives this page's admitted entries; recovery's own policy check already ran, so
  // the redrive is forced past the stored policy.
  void redrive_admitted() {
    const auto done =
        dlq_.redrive(admitted_, queue_, redrive_options{.delay = options_.delay, .force = true});
    for (const auto& e : done.entries) {
      switch (e.outcome) {
        case redrive_outcome::redriven:
          ++result_.recovered;
          result_.jobs.push_back(e.job);
          if (auto& key = keys_[e.id]) result_.recovered_keys.push_back(std::move(*key));
          break;
        case redrive_outcome::gone:
        case redrive_outcome::already_queued: ++result_.skipped_already_queued; break;
        case redrive_outcome::queue_full:
        case redrive_outcome::incompatible:
        case redrive_outcome::no_target:
        case redrive_outcome::not_redrivable:
          ++result_.failed;
          detail::log(log_, log_level::warning,
                      "recovery from dead-letter queue \"{}\": entry {} was not redriven ({}); "
                      "left in place",
                      dlq_.name(), e.id, to_string(e.outcome));
          break;
      }
    }
    admitted_.clear();
    keys_.clear();
  }

  DeadLetterQueue<Job, Codec>& dlq_;
  Queue<Job, Codec>& queue_;
  const recovery_gates& gates_;
  const recovery_options& options_;
  const log_sink& log_;
  std::set<std::string, std::less<>> named_;
  std::set<job_key> seen_;
  std::vector<dead_letter_id> admitted_;
  std::map<dead_letter_id, std::optional<job_key>> keys_;
  recovery_result result_;
};
}  // namespace detail

/// Puts the entries of `dlq` matching `filter` back on `queue`, once each, oldest failure
/// first, behind `gates` and the redrive policy of their error type (see
/// recovery_options). `filter.queue` defaults to `queue.name()` (entries that came from
/// this queue); `filter.include_redriven` is ignored: an entry is never recovered twice,
/// so running the same recovery again recovers nothing more.
///
/// Order per entry: policy, health (checked once, before anything moves), already
/// queued (default: a job with the same key in `queue`; duplicates within the run),
/// exists. Entries without a key skip the key gates. Gates run outside any transaction;
/// each page of up to 500 entries is then redriven in one transaction (see
/// DeadLetterQueue::redrive). Throws invalid_argument_error for `from > to` or a negative
/// delay; storage errors propagate (batches already done stay done; running again
/// finishes the rest). O(entries selected · log n) plus the gates.
template <class Job, class Codec>
recovery_result recover(DeadLetterQueue<Job, Codec>& dlq, Queue<Job, Codec>& queue,
                        dead_letter_filter filter = {}, const recovery_gates& gates = {},
                        const recovery_options& options = {}) {
  if (options.delay.count() < 0) {
    throw invalid_argument_error(
        "options.delay",
        fmt::format("durable: invalid argument: recovery delay must be >= 0, got {} ms",
                    options.delay.count()));
  }
  filter.include_redriven = false;
  if (!filter.queue) filter.queue = queue.name();
  return detail::recovery_run<Job, Codec>{dlq, queue, filter, gates, options}.run(filter);
}

}  // namespace durable::inline v0
