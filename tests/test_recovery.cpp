// SPDX-License-Identifier: MIT
// recover(dlq, queue, filter, gates, options) against real database files: redrive
// policies from the error classification, each gate skipping, idempotence, windows,
// another file, entries that do not decode, and bad input.

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <durable/recovery.hpp>

#include "quiet_options.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using durable::DeadLetterQueue;
using durable::Queue;
using durable::redrive_policy;
using durable_test::quiet_dlq;
using durable_test::quiet_queue;
using durable_test::temp_dir;

namespace {

struct order {
  std::int64_t n = 0;
};

struct other_job {
  std::string s;
};

struct payment_timeout : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct card_declined : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace

template <>
struct durable::error_traits<payment_timeout> {
  static constexpr std::string_view name = "payments.timeout";
  static constexpr durable::error_kind kind = durable::error_kind::transient;
  static constexpr durable::redrive_policy redrive = durable::redrive_policy::safe;
};
template <>
struct durable::error_traits<card_declined> {
  static constexpr std::string_view name = "payments.declined";
  static constexpr durable::error_kind kind = durable::error_kind::permanent;
  static constexpr durable::redrive_policy redrive = durable::redrive_policy::never;
};

namespace {

struct never_unlisted {
  static constexpr std::string_view name = "unclassified";
  static constexpr durable::error_kind kind = durable::error_kind::permanent;
  static constexpr durable::redrive_policy redrive = durable::redrive_policy::never;
};

using payment_errors = durable::error_list<payment_timeout, card_declined, durable::default_errors>;

/// Only "timeout" is safe; everything else is never redriven.
durable::recovery_options timeouts_only() {
  durable::recovery_options o;
  o.policies = durable::redrive_policies{redrive_policy::never};
  o.policies->set("timeout", redrive_policy::safe);
  return o;
}

std::vector<std::int64_t> drain(Queue<order>& q) {
  std::vector<std::int64_t> out;
  while (auto c = q.claim(30s)) {
    out.push_back(c->job->n);
    q.ack(*c);
  }
  return out;
}

/// total equals the sum of the other counters.
void check_accounting(const durable::recovery_result& r) {
  CHECK(r.total == r.recovered + r.skipped_not_redrivable + r.skipped_unhealthy +
                       r.skipped_already_queued + r.skipped_missing + r.failed);
}

}  // namespace

TEST_CASE("redrive policies come from the error classification, or are set by hand") {
  const auto p = durable::redrive_policies::from<payment_errors>();
  CHECK(p.of("payments.timeout") == redrive_policy::safe);
  CHECK(p.of("payments.declined") == redrive_policy::never);
  CHECK(p.of("std::runtime_error") == redrive_policy::safe);
  CHECK(p.of("std::invalid_argument") == redrive_policy::never);
  CHECK(p.of("std::logic_error") == redrive_policy::optional);
  CHECK(p.of("unknown") == redrive_policy::optional);  // the unlisted default's own name
  CHECK(p.of("not.a.listed.type") == redrive_policy::optional);
  CHECK(p.fallback() == redrive_policy::optional);

  const auto strict =
      durable::redrive_policies::from<payment_errors::unlisted_as<never_unlisted>>();
  CHECK(strict.of("payments.timeout") == redrive_policy::safe);
  CHECK(strict.of("unclassified") == redrive_policy::never);
  CHECK(strict.of("not.a.listed.type") == redrive_policy::never);

  durable::redrive_policies by_hand{redrive_policy::never};
  by_hand.set("timeout", redrive_policy::safe).set("http.503", redrive_policy::optional);
  CHECK(by_hand.of("timeout") == redrive_policy::safe);
  CHECK(by_hand.of("http.503") == redrive_policy::optional);
  CHECK(by_hand.of("http.400") == redrive_policy::never);
  by_hand.set("timeout", redrive_policy::never);
  CHECK(by_hand.of("timeout") == redrive_policy::never);
}

TEST_CASE(
    "recovery takes safe error types by default, optional ones when asked, never ones never") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  Queue<order> q{path, "orders", quiet_queue()};
  DeadLetterQueue<order> dlq{path, "orders.dlq", quiet_dlq()};
  const std::vector<std::string> types = {"payments.timeout", "payments.declined",
                                          "std::logic_error", "unknown", "some.other.type"};
  for (std::size_t i = 0; i < types.size(); ++i) {
    dlq.add({static_cast<std::int64_t>(i)}, {types[i], "m", ""}, 1, {.queue = "orders"});
  }
  durable::recovery_options options;
  options.policies = durable::redrive_policies::from<payment_errors>();

  SUBCASE("safe only") {
    const auto r = durable::recover(dlq, q, {}, {}, options);
    CHECK(r.healthy);
    CHECK(r.total == 5);
    CHECK(r.recovered == 1);
    CHECK(r.skipped_not_redrivable == 4);
    check_accounting(r);
    CHECK(drain(q) == std::vector<std::int64_t>{0});
  }
  SUBCASE("optional ones too") {
    options.include_optional = true;
    const auto r = durable::recover(dlq, q, {}, {}, options);
    CHECK(r.recovered == 4);
    CHECK(r.skipped_not_redrivable == 1);  // payments.declined: never
    check_accounting(r);
    CHECK(drain(q) == std::vector<std::int64_t>{0, 2, 3, 4});
    CHECK(dlq.size() == 1);
    CHECK(dlq.recent(1).at(0).error_type == "payments.declined");
  }
  SUBCASE("an optional type named by the filter, a never type named in vain") {
    const auto r = durable::recover(
        dlq, q, {.error_types = {"std::logic_error", "payments.declined"}}, {}, options);
    CHECK(r.total == 2);
    CHECK(r.recovered == 1);
    CHECK(r.skipped_not_redrivable == 1);
    CHECK(drain(q) == std::vector<std::int64_t>{2});
  }
  SUBCASE("by default each entry's stored redrive policy decides") {
    const auto r = durable::recover(dlq, q);
    CHECK(r.recovered == 0);  // added without a policy: optional
    dlq.add({9}, {"std::runtime_error", "m", "", redrive_policy::safe}, 1, {.queue = "orders"});
    dlq.add({10}, {"std::runtime_error", "m", "", redrive_policy::never}, 1, {.queue = "orders"});
    CHECK(durable::recover(dlq, q).recovered == 1);
    CHECK(drain(q) == std::vector<std::int64_t>{9});
  }
}

TEST_CASE("an unhealthy check moves nothing, and the result says so") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  Queue<order> q{path, "orders", quiet_queue()};
  DeadLetterQueue<order> dlq{path, "dlq", quiet_dlq()};
  for (std::int64_t i = 0; i < 3; ++i) dlq.add({i}, {"timeout", "m", ""}, 1, {.queue = "orders"});
  int checks = 0;
  durable::recovery_gates gates;
  gates.healthy = [&] {
    ++checks;
    return false;
  };
  auto r = durable::recover(dlq, q, {}, gates, timeouts_only());
  CHECK(checks == 1);
  CHECK_FALSE(r.healthy);
  CHECK(r.total == 3);
  CHECK(r.skipped_unhealthy == 3);
  CHECK(r.recovered == 0);
  check_accounting(r);
  CHECK(q.size() == 0);
  CHECK(dlq.size() == 3);

  gates.healthy = []() -> bool { throw std::runtime_error("health endpoint unreachable"); };
  r = durable::recover(dlq, q, {}, gates, timeouts_only());
  CHECK_FALSE(r.healthy);
  CHECK(q.size() == 0);

  gates.healthy = [] { return true; };
  r = durable::recover(dlq, q, {}, gates, timeouts_only());
  CHECK(r.healthy);
  CHECK(r.recovered == 3);
  CHECK(q.size() == 3);
}

TEST_CASE("already queued: a job with the key in the queue, or a duplicate within the run") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  durable::manual_clock clock;
  Queue<order> q{path, "orders", quiet_queue(&clock)};
  DeadLetterQueue<order> dlq{path, "dlq", quiet_dlq(&clock)};
  q.push({100}, {.key = 1});        // pending
  q.push({300}, {.key = "three"});  // will be claimed
  auto held = q.claim(10s);
  REQUIRE(held);
  CHECK(held->job->n == 100);
  q.ack(*held);
  q.push({101}, {.key = 1});
  held = q.claim(10s);  // claims 300 ("three"); 101 stays pending
  REQUIRE(held);
  CHECK(held->job->n == 300);
  const auto add = [&](std::int64_t n, std::optional<durable::job_key> key) {
    dlq.add({n}, {"timeout", "m", ""}, 1, {.queue = "orders", .key = std::move(key)});
    clock.advance(1ms);
  };
  add(1, durable::job_key{std::int64_t{1}});  // pending in the queue
  add(2, durable::job_key{std::int64_t{2}});
  add(3, durable::job_key{std::int64_t{2}});  // duplicate within the run
  add(4, durable::job_key{"three"});          // claimed in the queue
  add(5, std::nullopt);                       // no key: the key gates do not apply
  const auto r = durable::recover(dlq, q, {}, {}, timeouts_only());
  CHECK(r.total == 5);
  CHECK(r.recovered == 2);
  CHECK(r.skipped_already_queued == 3);
  check_accounting(r);
  REQUIRE(r.recovered_keys.size() == 1);
  CHECK(r.recovered_keys[0] == durable::job_key{std::int64_t{2}});
  CHECK(r.jobs.size() == 2);
  q.ack(*held);
  CHECK(drain(q) == std::vector<std::int64_t>{101, 2, 5});
  CHECK(dlq.size() == 3);  // the skipped entries stay for a later run
}

TEST_CASE("custom gates: already queued, exists, and a gate that throws") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  durable::manual_clock clock;
  Queue<order> q{path, "orders", quiet_queue(&clock)};
  DeadLetterQueue<order> dlq{path, "dlq", quiet_dlq(&clock)};
  for (std::int64_t k = 1; k <= 6; ++k) {
    dlq.add({k}, {"timeout", "m", ""}, 1, {.queue = "orders", .key = k});
    clock.advance(1ms);
  }
  std::vector<durable::job_key> asked;
  durable::recovery_gates gates;
  gates.already_queued = [&](const durable::job_key& k) {
    asked.push_back(k);
    return k == durable::job_key{std::int64_t{2}};
  };
  gates.exists = [](const durable::job_key& k) -> bool {
    if (k == durable::job_key{std::int64_t{5}}) throw std::runtime_error("lookup failed");
    return k != durable::job_key{std::int64_t{3}} && k != durable::job_key{std::int64_t{4}};
  };
  const auto r = durable::recover(dlq, q, {}, gates, timeouts_only());
  CHECK(r.total == 6);
  CHECK(r.recovered == 2);
  CHECK(r.skipped_already_queued == 1);
  CHECK(r.skipped_missing == 2);
  CHECK(r.failed == 1);
  check_accounting(r);
  CHECK(asked.size() == 6);
  CHECK(r.recovered_keys == std::vector<durable::job_key>{std::int64_t{1}, std::int64_t{6}});
  CHECK(drain(q) == std::vector<std::int64_t>{1, 6});
  CHECK(dlq.size() == 4);
}

TEST_CASE("running the same recovery twice recovers each entry once") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  Queue<order> q{path, "orders", quiet_queue()};
  DeadLetterQueue<order> dlq{path, "dlq", quiet_dlq()};
  for (std::int64_t i = 0; i < 1'200; ++i) {  // several pages
    dlq.add({i}, {"timeout", "m", ""}, 1, {.queue = "orders", .key = i});
  }
  const auto first = durable::recover(dlq, q, {}, {}, timeouts_only());
  CHECK(first.recovered == 1'200);
  CHECK(first.recovered_keys.size() == 1'200);
  const auto second = durable::recover(dlq, q, {}, {}, timeouts_only());
  CHECK(second.total == 0);
  CHECK(second.recovered == 0);
  CHECK(q.size() == 1'200);
  std::int64_t expected = 0;
  bool in_order = true;
  while (auto c = q.claim(30s)) {
    in_order = in_order && c->job->n == expected++;
    CHECK(c->attempts == 0);
    q.ack(*c);
  }
  CHECK(in_order);
  CHECK(expected == 1'200);
}

TEST_CASE(
    "recovery selects by window, source queue and type, and entries that do not decode fail") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  durable::manual_clock clock;
  Queue<order> a{path, "a", quiet_queue(&clock)};
  Queue<order> b{path, "b", quiet_queue(&clock)};
  DeadLetterQueue<order> dlq{path, "dlq", quiet_dlq(&clock)};
  const auto t0 = clock.now();
  for (std::int64_t i = 0; i < 10; ++i) {  // one a second, alternating source queues
    dlq.add({i}, {"timeout", "m", ""}, 1, {.queue = i % 2 == 0 ? "a" : "b"});
    clock.advance(1s);
  }
  SUBCASE("the target queue's own entries by default, within the window") {
    const auto r = durable::recover(dlq, a, {.from = t0 + 2s, .to = t0 + 6s}, {}, timeouts_only());
    CHECK(r.total == 3);
    CHECK(drain(a) == std::vector<std::int64_t>{2, 4, 6});
    CHECK(b.size() == 0);
  }
  SUBCASE("another queue's entries when the filter names it") {
    const auto r = durable::recover(dlq, a, {.queue = "b"}, {}, timeouts_only());
    CHECK(r.recovered == 5);
    CHECK(drain(a) == std::vector<std::int64_t>{1, 3, 5, 7, 9});
  }
  SUBCASE("an entry of another job type fails and stays") {
    DeadLetterQueue<other_job> foreign{path, "dlq", quiet_dlq(&clock)};
    foreign.add({"x"}, {"timeout", "m", ""}, 1, {.queue = "a"});
    const auto r = durable::recover(dlq, a, {}, {}, timeouts_only());
    CHECK(r.recovered == 5);
    CHECK(r.failed == 1);
    check_accounting(r);
    CHECK(dlq.count({.queue = "a"}) == 1);
  }
  SUBCASE("bad input") {
    CHECK_THROWS_AS(durable::recover(dlq, a, {.from = t0 + 1s, .to = t0}),
                    durable::invalid_argument_error);
    auto options = timeouts_only();
    options.delay = -1s;
    CHECK_THROWS_AS(durable::recover(dlq, a, {}, {}, options), durable::invalid_argument_error);
    CHECK(a.size() == 0);
  }
  SUBCASE("a delay schedules the recovered jobs") {
    auto options = timeouts_only();
    options.delay = 1min;
    CHECK(durable::recover(dlq, a, {}, {}, options).recovered == 5);
    CHECK(a.stats().scheduled == 5);
  }
}

TEST_CASE("recovery into a queue in another file") {
  temp_dir dir;
  Queue<order> q{dir.db("queue.db"), "orders", quiet_queue()};
  DeadLetterQueue<order> dlq{dir.db("archive.db"), "dlq", quiet_dlq()};
  for (std::int64_t i = 0; i < 3; ++i) {
    q.push({i}, {.key = i});
    auto c = q.claim(10s);
    REQUIRE(c);
    dlq.move_from(q, *c, {"timeout", "m", ""});
  }
  CHECK(q.size() == 0);
  q.push({7}, {.key = std::int64_t{1}});  // key 1 is queued again meanwhile
  const auto r = durable::recover(dlq, q, {}, {}, timeouts_only());
  CHECK(r.recovered == 2);
  CHECK(r.skipped_already_queued == 1);
  CHECK(drain(q) == std::vector<std::int64_t>{7, 0, 2});
}
