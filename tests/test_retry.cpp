// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include <durable/retry.hpp>

namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

constexpr durable::retry_policy exact{.base_delay = 100ms,
                                      .max_delay = 10'000ms,
                                      .multiplier = 2.0,
                                      .jitter = durable::jitter_mode::none};

static_assert(durable::nominal_delay(exact, 1) == 100ms);
static_assert(durable::nominal_delay(exact, 1000) == 10'000ms);

TEST_CASE("without jitter the schedule is exact exponential backoff, capped") {
  std::mt19937_64 rng{1};
  const std::vector<milliseconds> expected = {100ms,   200ms,   400ms,    800ms,   1'600ms,
                                              3'200ms, 6'400ms, 10'000ms, 10'000ms};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto attempt = static_cast<std::int64_t>(i + 1);
    CAPTURE(attempt);
    CHECK(durable::next_delay(exact, attempt, rng) == expected[i]);
  }
  // Attempt 0 or below is treated as the first.
  CHECK(durable::nominal_delay(exact, 0) == 100ms);
  CHECK(durable::nominal_delay(exact, -5) == 100ms);

  auto linear = exact;
  linear.multiplier = 1.0;
  CHECK(durable::nominal_delay(linear, 7) == 100ms);
  auto fractional = exact;
  fractional.multiplier = 1.5;
  CHECK(durable::nominal_delay(fractional, 3) == 225ms);
}

TEST_CASE("the cap holds and nothing overflows, whatever the attempt") {
  for (const std::int64_t attempt : {std::int64_t{64}, std::int64_t{1000}, std::int64_t{1} << 40,
                                     std::numeric_limits<std::int64_t>::max()}) {
    CAPTURE(attempt);
    CHECK(durable::nominal_delay(exact, attempt) == 10'000ms);
  }
  durable::retry_policy huge = exact;
  huge.max_delay = milliseconds::max();
  huge.multiplier = 1e9;
  CHECK(durable::nominal_delay(huge, 1000) == milliseconds::max());
  CHECK(durable::nominal_delay(huge, 2) == milliseconds{100'000'000'000});
  huge.multiplier = std::numeric_limits<double>::infinity();
  CHECK(durable::nominal_delay(huge, 2) == milliseconds::max());

  std::mt19937_64 rng{7};
  for (const auto mode : {durable::jitter_mode::full, durable::jitter_mode::equal}) {
    huge.jitter = mode;
    const auto d = durable::next_delay(huge, 1000, rng);
    CHECK(d >= 0ms);
    CHECK(d <= milliseconds::max());
  }
}

TEST_CASE("out-of-range policy values are clamped, not undefined") {
  durable::retry_policy odd = exact;
  odd.base_delay = -5ms;
  CHECK(durable::nominal_delay(odd, 3) == 0ms);
  odd = exact;
  odd.multiplier = 0.5;
  CHECK(durable::nominal_delay(odd, 3) == 100ms);
  odd.multiplier = std::numeric_limits<double>::quiet_NaN();
  CHECK(durable::nominal_delay(odd, 3) == 100ms);
  odd = exact;
  odd.max_delay = 50ms;  // below base_delay
  CHECK(durable::nominal_delay(odd, 1) == 50ms);
}

TEST_CASE("full jitter stays in [0, d], equal jitter in [d/2, d]") {
  std::mt19937_64 rng{42};
  auto full = exact;
  full.jitter = durable::jitter_mode::full;
  auto equal = exact;
  equal.jitter = durable::jitter_mode::equal;
  for (std::int64_t attempt = 1; attempt <= 9; ++attempt) {
    const auto d = durable::nominal_delay(exact, attempt);
    milliseconds full_min = d;
    milliseconds full_max = 0ms;
    milliseconds equal_min = d;
    milliseconds equal_max = 0ms;
    for (int i = 0; i < 2000; ++i) {
      const auto f = durable::next_delay(full, attempt, rng);
      const auto e = durable::next_delay(equal, attempt, rng);
      REQUIRE(f >= 0ms);
      REQUIRE(f <= d);
      REQUIRE(e >= d / 2);
      REQUIRE(e <= d);
      full_min = std::min(full_min, f);
      full_max = std::max(full_max, f);
      equal_min = std::min(equal_min, e);
      equal_max = std::max(equal_max, e);
    }
    // The draws spread over the range rather than sticking to one value.
    CHECK(full_min < d / 4);
    CHECK(full_max > d * 3 / 4);
    CHECK(equal_min < d * 5 / 8);
    CHECK(equal_max > d * 7 / 8);
  }
}

TEST_CASE("equal seeds give equal delays") {
  auto policy = exact;
  policy.jitter = durable::jitter_mode::full;
  std::mt19937_64 a{2026};
  std::mt19937_64 b{2026};
  std::mt19937_64 other{2027};
  std::vector<milliseconds> from_a;
  std::vector<milliseconds> from_b;
  std::vector<milliseconds> from_other;
  for (std::int64_t attempt = 1; attempt <= 50; ++attempt) {
    from_a.push_back(durable::next_delay(policy, attempt, a));
    from_b.push_back(durable::next_delay(policy, attempt, b));
    from_other.push_back(durable::next_delay(policy, attempt, other));
  }
  CHECK(from_a == from_b);
  CHECK(from_a != from_other);

  std::minstd_rand small{5};  // any UniformRandomBitGenerator works
  CHECK(durable::next_delay(policy, 3, small) <= 400ms);
}

TEST_CASE("should_retry: transient errors while attempts remain") {
  constexpr std::int64_t max_attempts = 3;
  CHECK(durable::should_retry(durable::error_kind::transient, 1, max_attempts));
  CHECK(durable::should_retry(durable::error_kind::transient, 2, max_attempts));
  CHECK_FALSE(durable::should_retry(durable::error_kind::transient, 3, max_attempts));
  CHECK_FALSE(durable::should_retry(durable::error_kind::transient, 4, max_attempts));
  CHECK_FALSE(durable::should_retry(durable::error_kind::permanent, 1, max_attempts));
}

}  // namespace

struct slow_service : std::runtime_error {
  using std::runtime_error::runtime_error;
};
template <>
struct durable::error_traits<slow_service> {
  static constexpr std::string_view name = "slow_service";
  static constexpr durable::error_kind kind = durable::error_kind::transient;
  static constexpr durable::redrive_policy redrive = durable::redrive_policy::safe;
  static constexpr durable::retry_override retry{.max_attempts = 8,
                                                 .max_delay = std::chrono::minutes{1},
                                                 .jitter = durable::jitter_mode::equal};
};

namespace {

TEST_CASE("per-error retry parameters override the worker's defaults, field by field") {
  constexpr std::int64_t job_max_attempts = 3;
  constexpr durable::retry_policy worker_default{.base_delay = 250ms,
                                                 .max_delay = 5'000ms,
                                                 .multiplier = 3.0,
                                                 .jitter = durable::jitter_mode::full};
  using errors = durable::error_list<slow_service, durable::default_errors>;

  const auto slow = errors::classify(std::make_exception_ptr(slow_service("timeout")));
  const auto p = durable::effective_policy(worker_default, slow);
  CHECK(durable::effective_max_attempts(job_max_attempts, slow) == 8);  // from the traits
  CHECK(p.base_delay == 250ms);                                         // worker default
  CHECK(p.max_delay == std::chrono::minutes{1});                        // from the traits
  CHECK(p.multiplier == 3.0);                                           // worker default
  CHECK(p.jitter == durable::jitter_mode::equal);                       // from the traits
  CHECK(
      durable::should_retry(slow.kind, 5, durable::effective_max_attempts(job_max_attempts, slow)));

  const auto plain = errors::classify(std::make_exception_ptr(std::runtime_error("x")));
  CHECK(durable::effective_policy(worker_default, plain) == worker_default);
  CHECK(durable::effective_max_attempts(job_max_attempts, plain) == job_max_attempts);
  CHECK_FALSE(durable::should_retry(plain.kind, 5,
                                    durable::effective_max_attempts(job_max_attempts, plain)));

  constexpr auto merged =
      durable::effective_policy(worker_default, durable::retry_override{.multiplier = 1.5});
  static_assert(merged.multiplier == 1.5);
}

TEST_CASE("validate rejects policies that make no sense") {
  CHECK_NOTHROW(durable::validate(durable::retry_policy{}));
  CHECK_NOTHROW(durable::validate(exact));
  const auto rejects = [](durable::retry_policy p) {
    CHECK_THROWS_AS(durable::validate(p), durable::invalid_argument_error);
    try {
      durable::validate(p);
    } catch (const durable::invalid_argument_error& e) {
      CHECK(e.argument() == "retry_policy");
      CHECK(std::string_view(e.what()).starts_with("durable: invalid argument: retry_policy: "));
    }
  };
  rejects({.base_delay = -1ms});
  rejects({.base_delay = 10s, .max_delay = 1s});
  rejects({.multiplier = 0.5});
  rejects({.multiplier = std::numeric_limits<double>::quiet_NaN()});
}

}  // namespace
