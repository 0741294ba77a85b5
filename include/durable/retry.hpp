// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Retry decisions and backoff: the worker's `retry_policy`, whether a failed job gets
/// another attempt, and how long it waits first (exponential, capped, jittered).
/// `retry_override` and `jitter_mode` are declared in error_traits.hpp, so that
/// `error_traits` can carry them. Standard headers only.

#include <chrono>
#include <cstdint>
#include <random>
#include <string>

#include <durable/error_traits.hpp>
#include <durable/errors.hpp>
#include <durable/exceptions.hpp>

namespace durable::inline v0 {

/// Backoff parameters: the worker's defaults, possibly overridden per error type
/// (`retry_override`). The delay before attempt n+1 is
/// `min(max_delay, base_delay * multiplier^(n-1))`, then jittered (`next_delay`). How many
/// attempts a job gets is stored with the job (push_options::max_attempts).
struct retry_policy {
  /// Delay after the first failed attempt, before jitter (>= 0).
  std::chrono::milliseconds base_delay{1'000};
  /// Upper bound of any delay (>= base_delay).
  std::chrono::milliseconds max_delay{300'000};
  /// Growth factor per attempt (>= 1).
  double multiplier = 2.0;
  /// How delays are randomized.
  jitter_mode jitter = jitter_mode::full;

  friend bool operator==(const retry_policy&, const retry_policy&) = default;
};

/// The worker's default policy with each backoff field `per_error` sets replacing the
/// default.
[[nodiscard]] constexpr retry_policy effective_policy(retry_policy worker_default,
                                                      const retry_override& per_error) noexcept {
  if (per_error.base_delay) worker_default.base_delay = *per_error.base_delay;
  if (per_error.max_delay) worker_default.max_delay = *per_error.max_delay;
  if (per_error.multiplier) worker_default.multiplier = *per_error.multiplier;
  if (per_error.jitter) worker_default.jitter = *per_error.jitter;
  return worker_default;
}

/// The policy that applies to a job that failed with `error`: the worker's default,
/// overridden by the fields `error_traits<E>::retry` sets.
[[nodiscard]] inline retry_policy effective_policy(const retry_policy& worker_default,
                                                   const classification& error) noexcept {
  return effective_policy(worker_default, error.retry);
}

/// The attempts a job that failed with `error` gets: the error's own
/// `retry_override::max_attempts` if it sets one, else the job's stored `job_max_attempts`.
[[nodiscard]] inline std::int64_t effective_max_attempts(std::int64_t job_max_attempts,
                                                         const classification& error) noexcept {
  return error.retry.max_attempts.value_or(job_max_attempts);
}

/// Whether a job that failed with an error of `kind` after `attempts` attempts (the
/// failed one included) gets another: only transient errors, while
/// `attempts < max_attempts`.
[[nodiscard]] constexpr bool should_retry(error_kind kind, std::int64_t attempts,
                                          std::int64_t max_attempts) noexcept {
  return kind == error_kind::transient && attempts < max_attempts;
}

/// Throws `durable::invalid_argument_error` (argument "retry_policy") unless
/// 0 <= base_delay <= max_delay and multiplier >= 1.
inline void validate(const retry_policy& policy) {
  const auto fail = [](const std::string& what) {
    throw invalid_argument_error("retry_policy",
                                 "durable: invalid argument: retry_policy: " + what);
  };
  if (policy.base_delay.count() < 0) {
    fail("base_delay must be >= 0 ms, got " + std::to_string(policy.base_delay.count()));
  }
  if (policy.max_delay < policy.base_delay) {
    fail("max_delay (" + std::to_string(policy.max_delay.count()) + " ms) must be >= base_delay (" +
         std::to_string(policy.base_delay.count()) + " ms)");
  }
  if (!(policy.multiplier >= 1.0)) {  // also rejects NaN
    fail("multiplier must be >= 1, got " + std::to_string(policy.multiplier));
  }
}

/// The delay before the attempt after attempt number `attempt` (1-based), before jitter:
/// `min(max_delay, base_delay * multiplier^(attempt - 1))`. Never overflows, whatever
/// `attempt`; out-of-range policy values are clamped (negative delays to 0, a
/// multiplier below 1 or NaN to 1). O(log attempt).
[[nodiscard]] constexpr std::chrono::milliseconds nominal_delay(const retry_policy& policy,
                                                                std::int64_t attempt) noexcept {
  using std::chrono::milliseconds;
  const std::int64_t cap = policy.max_delay.count() < 0 ? 0 : policy.max_delay.count();
  const std::int64_t base = policy.base_delay.count() < 0 ? 0 : policy.base_delay.count();
  if (base == 0) return milliseconds{0};
  if (base >= cap) return milliseconds{cap};
  const double multiplier = policy.multiplier > 1.0 ? policy.multiplier : 1.0;  // NaN -> 1
  // factor = multiplier^(attempt - 1) by squaring, stopping as soon as it reaches `limit`
  // (the factor that hits the cap): every intermediate stays far below overflow.
  const double limit = static_cast<double>(cap) / static_cast<double>(base);
  auto exponent = static_cast<std::uint64_t>(attempt > 1 ? attempt - 1 : 0);
  double factor = 1.0;
  double square = multiplier;
  while (exponent != 0) {
    if ((exponent & 1U) != 0) {
      factor *= square;
      if (factor >= limit) return milliseconds{cap};
    }
    exponent >>= 1U;
    if (exponent != 0) {
      if (square >= limit) return milliseconds{cap};  // a later bit multiplies it in
      square *= square;
    }
  }
  const double delay = static_cast<double>(base) * factor;  // < cap, so it fits
  const auto ms = static_cast<std::int64_t>(delay);
  return milliseconds{ms < cap ? ms : cap};
}

/// The delay before the attempt after attempt number `attempt` (1-based): the
/// `nominal_delay` d, jittered per `policy.jitter` (none: d; full: uniform in [0, d];
/// equal: uniform in [d/2, d]), drawing from `generator`. The same policy, attempt and
/// generator state give the same delay (with the same standard library).
template <std::uniform_random_bit_generator Generator>
[[nodiscard]] std::chrono::milliseconds next_delay(const retry_policy& policy, std::int64_t attempt,
                                                   Generator& generator) {
  const std::int64_t d = nominal_delay(policy, attempt).count();
  switch (policy.jitter) {
    case jitter_mode::none: break;
    case jitter_mode::full:
      return std::chrono::milliseconds{
          std::uniform_int_distribution<std::int64_t>{0, d}(generator)};
    case jitter_mode::equal: {
      const std::int64_t half = d / 2;
      return std::chrono::milliseconds{
          half + std::uniform_int_distribution<std::int64_t>{0, d - half}(generator)};
    }
  }
  return std::chrono::milliseconds{d};
}

}  // namespace durable::inline v0
