// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <durable/circuit_breaker.hpp>

namespace {

using namespace std::chrono_literals;
using durable::breaker_state;
using transition = std::pair<breaker_state, breaker_state>;

/// Records every hook call.
struct recorder {
  std::mutex mutex;
  std::vector<transition> calls;
  durable::breaker_hook hook() {
    return [this](breaker_state from, breaker_state to) {
      const std::lock_guard lock(mutex);
      calls.emplace_back(from, to);
    };
  }
};

TEST_CASE("closed -> open after N consecutive transient failures") {
  durable::manual_clock clock;
  recorder seen;
  durable::circuit_breaker breaker({.failure_threshold = 3, .on_change = seen.hook()},
                                   clock.source());
  CHECK(breaker.state() == breaker_state::closed);
  CHECK(breaker.allow());

  breaker.record_failure();
  breaker.record_failure();
  breaker.record_success();  // resets the count
  breaker.record_failure();
  breaker.record_failure();
  CHECK(breaker.state() == breaker_state::closed);
  breaker.record_failure(durable::error_kind::permanent);  // never counts
  CHECK(breaker.state() == breaker_state::closed);
  breaker.record_failure();
  CHECK(breaker.state() == breaker_state::open);
  CHECK_FALSE(breaker.allow());
  CHECK(seen.calls == std::vector<transition>{{breaker_state::closed, breaker_state::open}});
}

TEST_CASE("open stays open until the cooldown has passed, then half-opens") {
  durable::manual_clock clock;
  recorder seen;
  durable::circuit_breaker breaker(
      {.failure_threshold = 1, .cooldown = 10s, .on_change = seen.hook()}, clock.source());
  breaker.record_failure();
  REQUIRE(breaker.state() == breaker_state::open);

  clock.advance(9'999ms);
  CHECK_FALSE(breaker.allow());
  breaker.record_failure();  // outcomes while open are ignored: no new cooldown
  breaker.record_success();
  CHECK(breaker.state() == breaker_state::open);
  clock.advance(1ms);
  CHECK(breaker.state() == breaker_state::open);  // moves only on allow()
  CHECK(breaker.allow());
  CHECK(breaker.state() == breaker_state::half_open);
  CHECK(seen.calls == std::vector<transition>{{breaker_state::closed, breaker_state::open},
                                              {breaker_state::open, breaker_state::half_open}});
}

TEST_CASE("half-open lets at most K probes through at once") {
  durable::manual_clock clock;
  durable::circuit_breaker breaker({.failure_threshold = 1, .cooldown = 1s, .half_open_probes = 2},
                                   clock.source());
  breaker.record_failure();
  clock.advance(1s);
  CHECK(breaker.allow());
  CHECK(breaker.allow());
  CHECK_FALSE(breaker.allow());
  CHECK(breaker.state() == breaker_state::half_open);

  breaker.release();  // one probe found nothing to do
  CHECK(breaker.allow());
  CHECK_FALSE(breaker.allow());
  breaker.record_failure(durable::error_kind::permanent);  // no verdict: frees a slot
  CHECK(breaker.state() == breaker_state::half_open);
  CHECK(breaker.allow());
  CHECK_FALSE(breaker.allow());
}

TEST_CASE("a probe success closes the breaker") {
  durable::manual_clock clock;
  recorder seen;
  durable::circuit_breaker breaker(
      {.failure_threshold = 2, .cooldown = 1s, .on_change = seen.hook()}, clock.source());
  breaker.record_failure();
  breaker.record_failure();
  clock.advance(1s);
  REQUIRE(breaker.allow());
  breaker.record_success();
  CHECK(breaker.state() == breaker_state::closed);
  CHECK(breaker.allow());
  // Counting starts afresh: one failure is not enough.
  breaker.record_failure();
  CHECK(breaker.state() == breaker_state::closed);
  CHECK(seen.calls == std::vector<transition>{{breaker_state::closed, breaker_state::open},
                                              {breaker_state::open, breaker_state::half_open},
                                              {breaker_state::half_open, breaker_state::closed}});
}

TEST_CASE("a probe failure reopens the breaker for another cooldown") {
  durable::manual_clock clock;
  recorder seen;
  durable::circuit_breaker breaker(
      {.failure_threshold = 1, .cooldown = 5s, .on_change = seen.hook()}, clock.source());
  breaker.record_failure();
  clock.advance(5s);
  REQUIRE(breaker.allow());
  clock.advance(2s);
  breaker.record_failure();
  CHECK(breaker.state() == breaker_state::open);
  clock.advance(4'999ms);  // the new cooldown runs from the probe failure
  CHECK_FALSE(breaker.allow());
  clock.advance(1ms);
  CHECK(breaker.allow());
  CHECK(seen.calls == std::vector<transition>{{breaker_state::closed, breaker_state::open},
                                              {breaker_state::open, breaker_state::half_open},
                                              {breaker_state::half_open, breaker_state::open},
                                              {breaker_state::open, breaker_state::half_open}});
}

TEST_CASE("failure-rate mode opens over a sliding window, after the minimum samples") {
  durable::manual_clock clock;
  durable::circuit_breaker breaker({.failure_threshold = 0,  // consecutive trigger off
                                    .window_size = 10,
                                    .failure_rate = 0.5,
                                    .minimum_samples = 6},
                                   clock.source());
  // 3 failures out of 5: above the rate, but too few samples.
  for (int i = 0; i < 3; ++i) breaker.record_failure();
  breaker.record_success();
  breaker.record_success();
  CHECK(breaker.state() == breaker_state::closed);
  // 3 out of 6: the rate is reached.
  breaker.record_success();
  CHECK(breaker.state() == breaker_state::closed);  // a success never opens it
  breaker.record_failure();                         // 4 of 7
  CHECK(breaker.state() == breaker_state::open);
}

TEST_CASE("failure-rate mode forgets outcomes that leave the window") {
  durable::manual_clock clock;
  durable::circuit_breaker breaker(
      {.failure_threshold = 0, .window_size = 4, .failure_rate = 0.75, .minimum_samples = 4},
      clock.source());
  breaker.record_failure();
  breaker.record_failure();
  for (int i = 0; i < 4; ++i) breaker.record_success();  // the failures slide out
  breaker.record_failure();
  breaker.record_failure();  // window: S S F F -> 0.5
  CHECK(breaker.state() == breaker_state::closed);
  breaker.record_failure();  // window: S F F F -> 0.75
  CHECK(breaker.state() == breaker_state::open);
}

TEST_CASE("the hook may call back into the breaker") {
  durable::manual_clock clock;
  std::vector<transition> calls;
  durable::circuit_breaker* self = nullptr;
  std::vector<breaker_state> seen_states;
  durable::circuit_breaker breaker({.failure_threshold = 1,
                                    .cooldown = 0ms,
                                    .on_change =
                                        [&](breaker_state from, breaker_state to) {
                                          calls.emplace_back(from, to);
                                          seen_states.push_back(self->state());
                                          if (to == breaker_state::open) {
                                            static_cast<void>(self->allow());  // half-opens
                                          }
                                        }},
                                   clock.source());
  self = &breaker;
  breaker.record_failure();
  CHECK(calls == std::vector<transition>{{breaker_state::closed, breaker_state::open},
                                         {breaker_state::open, breaker_state::half_open}});
  CHECK(seen_states.front() != breaker_state::closed);
  CHECK(breaker.state() == breaker_state::half_open);
}

TEST_CASE("a throwing hook does not break the breaker") {
  durable::manual_clock clock;
  int calls = 0;
  durable::circuit_breaker breaker({.failure_threshold = 1,
                                    .cooldown = 1s,
                                    .on_change =
                                        [&](breaker_state, breaker_state) {
                                          ++calls;
                                          throw std::runtime_error("hook failed");
                                        }},
                                   clock.source());
  CHECK_NOTHROW(breaker.record_failure());
  clock.advance(1s);
  CHECK(breaker.allow());
  CHECK(calls == 2);
}

TEST_CASE("invalid options are rejected") {
  const auto rejects = [](durable::breaker_options o) {
    CHECK_THROWS_AS(durable::circuit_breaker{std::move(o)}, durable::invalid_argument_error);
  };
  rejects({.failure_threshold = -1});
  rejects({.window_size = -1});
  rejects({.window_size = 10, .failure_rate = 0.0});
  rejects({.window_size = 10, .failure_rate = 1.5});
  rejects({.window_size = 10, .minimum_samples = 11});
  rejects({.window_size = 10, .minimum_samples = 0});
  rejects({.cooldown = -1ms});
  rejects({.half_open_probes = 0});
  CHECK_NOTHROW(durable::circuit_breaker{});
  CHECK(durable::to_string(breaker_state::half_open) == "half_open");
}

TEST_CASE("many threads share one breaker") {
  durable::manual_clock clock;
  std::mutex mutex;
  std::vector<transition> calls;
  durable::circuit_breaker breaker({.failure_threshold = 3,
                                    .window_size = 20,
                                    .failure_rate = 0.6,
                                    .minimum_samples = 10,
                                    .cooldown = 5ms,
                                    .half_open_probes = 2,
                                    .on_change =
                                        [&](breaker_state from, breaker_state to) {
                                          const std::lock_guard lock(mutex);
                                          calls.emplace_back(from, to);
                                        }},
                                   clock.source());
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        if (breaker.allow()) {
          ++allowed;
          switch ((i + t) % 5) {
            case 0: breaker.record_success(); break;
            case 1: breaker.release(); break;
            case 2: breaker.record_failure(durable::error_kind::permanent); break;
            default: breaker.record_failure(); break;
          }
        }
        if (i % 7 == 0) clock.advance(1ms);
        static_cast<void>(breaker.state());
      }
    });
  }
  for (auto& thread : threads) thread.join();

  CHECK(allowed.load() > 0);
  // Hook calls form one unbroken chain of transitions, starting from closed.
  const std::lock_guard lock(mutex);
  REQUIRE_FALSE(calls.empty());
  CHECK(calls.front().first == breaker_state::closed);
  for (std::size_t i = 1; i < calls.size(); ++i) {
    CHECK(calls[i].first == calls[i - 1].second);
  }
  CHECK(calls.back().second == breaker.state());
}

}  // namespace
