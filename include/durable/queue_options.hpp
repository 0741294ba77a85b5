// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// How a Queue is opened, and what its stats say.

#include <chrono>
#include <cstdint>
#include <optional>

#include "durable/clock.hpp"
#include "durable/log.hpp"
#include "durable/open_options.hpp"

namespace durable::inline v0 {

/// Options of a Queue. `{}` gives a queue with no limits, logging to stderr.
struct queue_options {
  /// Durability and lock waiting of the database file (when opened by path).
  open_options open{};
  /// Attempts a job gets, stored with each job at push (push_options::max_attempts
  /// overrides it per job). A claimed job that has used them is flagged `exhausted`.
  std::int64_t max_attempts = 5;
  /// Logs a warning when the queue's size crosses 80 % and 100 % of this; never rejects.
  /// Stored with the queue in the database; empty: the stored one, if any.
  std::optional<std::int64_t> soft_limit{};
  /// A push or redrive that would exceed this fails with queue_full_error. Stored with
  /// the queue in the database, so it holds for every process and tool; empty: keep
  /// what is stored.
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
  /// All jobs (pending, scheduled, claimed) as a percentage of the soft limit (this
  /// object's, or the one stored with the queue); over 100 past it. Empty without one.
  std::optional<double> capacity_percent{};
};

}  // namespace durable::inline v0
