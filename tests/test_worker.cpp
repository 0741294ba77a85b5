// SPDX-License-Identifier: MIT
// Worker against real files: retry schedule, permanent errors, exhaustion, poison jobs,
// circuit breaker, DLQ retention and monitoring, lease keeping, stop, threads.

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <durable/codecs/bytes_codec.hpp>
#include <durable/worker.hpp>

#include "quiet_options.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using durable_test::temp_dir;

namespace {

struct order {
  std::int64_t id = 0;
  std::string item;
};

struct timeout_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct bad_order : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace

template <>
struct durable::error_traits<timeout_error> {
  static constexpr std::string_view name = "test.timeout";
  static constexpr durable::error_kind kind = durable::error_kind::transient;
  static constexpr durable::redrive_policy redrive = durable::redrive_policy::safe;
};
template <>
struct durable::error_traits<bad_order> {
  static constexpr std::string_view name = "test.bad_order";
  static constexpr durable::error_kind kind = durable::error_kind::permanent;
  static constexpr durable::redrive_policy redrive = durable::redrive_policy::never;
};

struct flaky_network : std::runtime_error {
  using std::runtime_error::runtime_error;
};
template <>
struct durable::error_traits<flaky_network> {
  static constexpr std::string_view name = "test.flaky_network";
  static constexpr durable::error_kind kind = durable::error_kind::transient;
  static constexpr durable::redrive_policy redrive = durable::redrive_policy::safe;
  static constexpr durable::retry_override retry{.max_attempts = 6, .base_delay = 10ms};
};

namespace {

using test_errors =
    durable::error_list<timeout_error, bad_order, flaky_network, durable::default_errors>;

/// A queue, a DLQ in the same file, a manual clock and captured log lines.
struct fixture {
  temp_dir dir;
  durable::manual_clock clock;
  std::mutex log_mutex;
  std::vector<std::string> lines;
  durable::Queue<order> queue{dir.db("jobs.db"), "orders", queue_options()};
  durable::DeadLetterQueue<order> dlq{dir.db("jobs.db"), "orders.dlq", dlq_options()};

  durable::log_sink sink() {
    return [this](durable::log_level, std::string_view m) {
      std::lock_guard lock{log_mutex};
      lines.emplace_back(m);
    };
  }
  durable::queue_options queue_options() {
    auto o = durable_test::quiet_queue(&clock);
    o.max_attempts = 4;
    return o;
  }
  durable::dead_letter_options dlq_options() { return durable_test::quiet_dlq(&clock); }
  durable::worker_options worker_options() {
    durable::worker_options o;
    o.clock = clock.source();
    o.log = sink();
    o.seed = 42;
    o.retry = {
        .base_delay = 1s, .max_delay = 1min, .multiplier = 2, .jitter = durable::jitter_mode::none};
    o.breaker.reset();
    return o;
  }
  bool logged(std::string_view needle) {
    std::lock_guard lock{log_mutex};
    for (const auto& l : lines) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }
};

using worker = durable::Worker<order, durable::pfr_codec, test_errors>;

}  // namespace

TEST_CASE("a transient failure is retried on the backoff schedule, persisted, then succeeds") {
  fixture f;
  int calls = 0;
  std::vector<std::chrono::milliseconds> delays;
  auto options = f.worker_options();
  options.on_retry = [&](const durable::job_event& e, const durable::classification& c,
                         std::chrono::milliseconds d) {
    CHECK(e.attempt == static_cast<std::int64_t>(delays.size()) + 1);
    CHECK(c.name == "test.timeout");
    delays.push_back(d);
  };
  int succeeded = 0;
  options.on_success = [&](const durable::job_event& e) {
    CHECK(e.attempt == 3);
    ++succeeded;
  };
  worker w{f.queue, f.dlq,
           [&](const order&) {
             if (++calls < 3) throw timeout_error("upstream timed out");
           },
           options};
  f.queue.push({1, "book"});
  CHECK(w.process_available() == 1);
  CHECK(delays == std::vector<std::chrono::milliseconds>{1s});
  f.clock.advance(999ms);
  CHECK(w.process_available() == 0);  // not yet due
  f.clock.advance(1ms);
  CHECK(w.process_available() == 1);
  CHECK(delays == std::vector<std::chrono::milliseconds>{1s, 2s});
  f.clock.advance(2s);
  CHECK(w.process_available() == 1);
  CHECK(calls == 3);
  CHECK(succeeded == 1);
  CHECK(f.queue.empty());
  CHECK(f.dlq.size() == 0);
  const auto s = w.stats();
  CHECK(s.processed == 3);
  CHECK(s.retried == 2);
  CHECK(s.succeeded == 1);
  CHECK(s.dead_lettered == 0);
}

TEST_CASE("a retry survives a restart: the backoff is in the database") {
  fixture f;
  f.queue.push({1, "book"});
  {
    worker w{f.queue, f.dlq, [](const order&) { throw timeout_error("down"); }, f.worker_options()};
    CHECK(w.process_available() == 1);
  }
  durable::Queue<order> reopened{f.dir.db("jobs.db"), "orders", f.queue_options()};
  CHECK(reopened.stats().scheduled == 1);
  f.clock.advance(1s);
  auto c = reopened.claim(10s);
  REQUIRE(c);
  CHECK(c->attempts == 1);
}

TEST_CASE("a permanent failure is dead-lettered at once with its message and nested context") {
  fixture f;
  int dead = 0;
  auto options = f.worker_options();
  options.on_dead_letter = [&](const durable::job_event& e, const durable::classification& c) {
    CHECK(e.attempt == 1);
    CHECK(c.kind == durable::error_kind::permanent);
    ++dead;
  };
  worker w{f.queue, f.dlq,
           [](const order& o) {
             try {
               throw std::invalid_argument("sku missing");
             } catch (...) {
               std::throw_with_nested(bad_order("order " + std::to_string(o.id) + " rejected"));
             }
           },
           options};
  f.queue.push({7, "ghost"}, {.key = "customer-3"});
  CHECK(w.process_available() == 1);
  CHECK(dead == 1);
  CHECK(f.queue.empty());
  const auto recent = f.dlq.recent(10);
  REQUIRE(recent.size() == 1);
  CHECK(recent[0].error_type == "test.bad_order");
  CHECK(recent[0].message == "order 7 rejected");
  CHECK(recent[0].attempts == 1);
  CHECK(recent[0].key == durable::job_key{"customer-3"});
  const auto entry = f.dlq.get(recent[0].id);
  REQUIRE(entry);
  CHECK(entry->job.item == "ghost");
  CHECK(entry->context.find("sku missing") != std::string::npos);
  CHECK(w.stats().dead_lettered == 1);
  CHECK(f.logged("dead-lettered"));
}

TEST_CASE("exhausted attempts dead-letter the job with the story of every attempt") {
  fixture f;
  int calls = 0;
  worker w{f.queue, f.dlq,
           [&](const order&) {
             ++calls;
             if (calls == 1) throw timeout_error("timeout after 30 s");
             if (calls == 2) throw std::runtime_error("HTTP 503");
             throw timeout_error("timeout again");
           },
           f.worker_options()};
  f.queue.push({1, "book"});
  for (int i = 0; i < 10 && !f.queue.empty(); ++i) {
    w.process_available();
    f.clock.advance(1min);
  }
  CHECK(calls == 4);
  CHECK(f.queue.empty());
  const auto recent = f.dlq.recent(1);
  REQUIRE(recent.size() == 1);
  CHECK(recent[0].attempts == 4);
  const auto history = f.dlq.history(recent[0].id);
  REQUIRE(history.size() == 4);
  CHECK(history[0].error_type == "test.timeout");
  CHECK(history[1].error_type == "std::runtime_error");
  CHECK(history[1].message == "HTTP 503");
  CHECK(history[3].message == "timeout again");
}

TEST_CASE("a handler throwing a non-std exception is classified by the default and retried") {
  fixture f;
  durable::classification seen;
  auto options = f.worker_options();
  options.on_retry = [&](const durable::job_event&, const durable::classification& c,
                         std::chrono::milliseconds) { seen = c; };
  worker w{f.queue, f.dlq, [](const order&) { throw 42; }, options};
  f.queue.push({1, "x"});
  CHECK(w.process_available() == 1);
  CHECK(seen.name == "unknown");
  CHECK(seen.kind == durable::error_kind::transient);
  CHECK(f.queue.stats().scheduled == 1);
}

TEST_CASE("a job of another type stays pending; one whose leases ran out is dead-lettered") {
  fixture f;
  int calls = 0;
  worker w{f.queue, f.dlq, [&](const order&) { ++calls; }, f.worker_options()};
  {
    durable::Queue<std::string, durable::bytes_codec> other{f.dir.db("jobs.db"), "orders",
                                                            f.queue_options()};
    other.push("not an order");
  }
  CHECK(w.process_available() == 0);  // not claimed: left for a worker of its type
  CHECK(calls == 0);
  CHECK(f.dlq.size() == 0);
  REQUIRE(f.queue.unreadable().size() == 1);
  CHECK(f.queue.unreadable()[0].codec == "bytes");

  f.queue.push({2, "slow"}, {.max_attempts = 2});
  for (int i = 0; i < 2; ++i) {  // two claims whose leases expire (crashed workers)
    REQUIRE(f.queue.claim(1s));
    f.clock.advance(2s);
  }
  CHECK(w.process_available() == 1);
  CHECK(calls == 0);
  const auto recent = f.dlq.recent(1);
  REQUIRE(recent.size() == 1);
  CHECK(recent[0].error_type == "durable::attempts_exhausted");
  CHECK(f.queue.size() == 1);  // the other type's job
}

TEST_CASE("the circuit breaker opens on transient failures and claims nothing while open") {
  fixture f;
  std::vector<std::pair<durable::breaker_state, durable::breaker_state>> changes;
  auto options = f.worker_options();
  options.retry.base_delay = 0ms;
  options.breaker = durable::breaker_options{.failure_threshold = 2, .cooldown = 10s};
  options.breaker->on_change = [&](durable::breaker_state from, durable::breaker_state to) {
    changes.emplace_back(from, to);
  };
  bool down = true;
  worker w{f.queue, f.dlq,
           [&](const order&) {
             if (down) throw timeout_error("service down");
           },
           options};
  for (std::int64_t i = 1; i <= 5; ++i) f.queue.push({i, ""});
  CHECK(w.process_available() == 2);  // two failures open the breaker
  CHECK(w.stats().breaker == durable::breaker_state::open);
  CHECK(w.process_available() == 0);  // open: nothing is claimed
  CHECK(f.queue.stats().pending == 5);
  CHECK(f.queue.stats().claimed == 0);
  f.clock.advance(10s);
  down = false;
  CHECK(w.process_available() == 5);  // the probe succeeds, the breaker closes
  CHECK(w.stats().breaker == durable::breaker_state::closed);
  CHECK(f.queue.empty());
  using s = durable::breaker_state;
  CHECK(changes == std::vector<std::pair<s, s>>{
                       {s::closed, s::open}, {s::open, s::half_open}, {s::half_open, s::closed}});
  CHECK(f.logged("circuit breaker"));
}

TEST_CASE("start deletes DLQ entries past the retention and logs a summary of the rest") {
  fixture f;
  f.dlq.add({1, "old"}, {"test.timeout", "ancient failure", ""}, 1);
  f.clock.advance(std::chrono::hours{24 * 40});
  f.dlq.add({2, "new"}, {"test.bad_order", std::string(200, 'm'), ""}, 1, {.key = 99});
  auto options = f.worker_options();
  worker w{f.queue, f.dlq, [](const order&) {}, options};
  w.start();
  CHECK(w.stop());
  CHECK(f.dlq.size() == 1);
  CHECK(f.logged("removed 1 entry older than the retention"));
  CHECK(f.logged("holds 1 entry"));
  CHECK(f.logged("key=99 test.bad_order: " + std::string(77, 'm') + "..."));
  CHECK_FALSE(f.logged("ancient failure"));
}

TEST_CASE("the DLQ summary is logged every N processed jobs") {
  fixture f;
  f.dlq.add({1, "x"}, {"test.timeout", "boom", ""}, 1);
  auto options = f.worker_options();
  options.dlq_summary_every = 3;
  worker w{f.queue, f.dlq, [](const order&) {}, options};
  for (std::int64_t i = 0; i < 3; ++i) f.queue.push({i, ""});
  CHECK_FALSE(f.logged("holds 1 entry"));
  w.process_available();
  CHECK(f.logged("holds 1 entry"));
}

TEST_CASE("threads wake at once for a local push and process every job once") {
  fixture f;
  std::mutex m;
  std::vector<std::int64_t> seen;
  auto options = f.worker_options();
  options.threads = 4;
  options.clock = nullptr;            // real time for threads
  options.min_poll_interval = 10min;  // idle threads get work only by being woken
  options.max_poll_interval = 10min;
  worker w{f.queue, f.dlq,
           [&](const order& o) {
             std::lock_guard lock{m};
             seen.push_back(o.id);
           },
           options};
  w.start();
  std::this_thread::sleep_for(50ms);  // most threads go idle first; correct either way
  for (std::int64_t i = 0; i < 200; ++i) f.queue.push({i, ""});
  const auto deadline = std::chrono::steady_clock::now() + 2min;
  while (w.stats().processed < 200 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  CHECK(w.stop());
  std::sort(seen.begin(), seen.end());
  CHECK(seen.size() == 200);
  CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end());
  CHECK(w.stats().succeeded == 200);
}

TEST_CASE("a long handler keeps its lease, stop waits for it or leaves it claimed") {
  temp_dir dir;
  durable::manual_clock clock;  // a lease ends only when the test moves this clock
  const auto qo = durable_test::quiet_queue(&clock);
  durable::Queue<order> queue{dir.db("jobs.db"), "orders", qo};
  durable::DeadLetterQueue<order> dlq{dir.db("jobs.db"), "dlq", durable_test::quiet_dlq(&clock)};
  durable::worker_options options;
  options.log = nullptr;
  options.clock = clock.source();
  options.lease = 1s;
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<bool> started{false};
  durable::Worker<order> w{queue, dlq,
                           [&](const order&) {
                             started = true;
                             released.wait();
                           },
                           options};
  queue.push({1, "slow"});
  w.start();
  while (!started) std::this_thread::sleep_for(1ms);
  // Two and a half leases, half a lease at a time, each step once the keeper has extended
  // the lease past it (`ahead` sees that: still claimed 900 ms later). Slow is not wrong.
  durable::manual_clock ahead;
  durable::Queue<order> observer{dir.db("jobs.db"), "orders", durable_test::quiet_queue(&ahead)};
  const auto extended = [&] {
    const auto deadline = std::chrono::steady_clock::now() + 2min;
    while (observer.stats().claimed != 1) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(1ms);
    }
    return true;
  };
  for (int step = 0; step < 5; ++step) {
    clock.advance(500ms);
    ahead.set(clock.now() + 900ms);
    if (!extended()) {  // not REQUIRE: the handler must still be released below
      FAIL_CHECK("the keeper did not extend the lease at step " << step);
      break;
    }
  }
  durable::Queue<order> rival{dir.db("jobs.db"), "orders", qo};
  CHECK_FALSE(rival.claim(10s));
  CHECK(w.stats().in_flight == 1);
  CHECK_FALSE(w.stop(50ms));  // still running: stop returns, the job stays claimed
  CHECK(queue.stats().claimed == 1);
  release.set_value();
  while (w.stats().in_flight != 0) std::this_thread::sleep_for(1ms);
  CHECK(queue.empty());  // it finished within its lease and was acked
  CHECK(w.stats().succeeded == 1);
  w.start();  // a worker can start again after a stop that timed out
  queue.push({2, "again"});
  const auto deadline = std::chrono::steady_clock::now() + 2min;
  while (w.stats().succeeded < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  CHECK(w.stats().succeeded == 2);
  CHECK(w.stop());
}

TEST_CASE("bad worker options are refused") {
  fixture f;
  auto options = f.worker_options();
  options.threads = 0;
  CHECK_THROWS_AS((worker{f.queue, f.dlq, [](const order&) {}, options}),
                  durable::invalid_argument_error);
  options = f.worker_options();
  options.retry.multiplier = 0.5;
  CHECK_THROWS_AS((worker{f.queue, f.dlq, [](const order&) {}, options}),
                  durable::invalid_argument_error);
  CHECK_THROWS_AS((worker{f.queue, f.dlq, nullptr, f.worker_options()}),
                  durable::invalid_argument_error);
}

TEST_CASE("batch mode claims parallel runs, a sequential job alone, and finishes each job") {
  fixture f;
  std::vector<std::int64_t> order_seen;
  auto options = f.worker_options();
  options.batch_size = 10;
  worker w{f.queue, f.dlq,
           [&](const order& o) {
             order_seen.push_back(o.id);
             if (o.id == 2) throw bad_order("bad");
           },
           options};
  for (std::int64_t i = 1; i <= 3; ++i) f.queue.push({i, ""});
  f.queue.push({4, ""}, {.sequential = true});
  f.queue.push({5, ""});
  CHECK(w.process_available() == 5);
  CHECK(order_seen == std::vector<std::int64_t>{1, 2, 3, 4, 5});
  CHECK(f.queue.empty());
  CHECK(f.dlq.size() == 1);
  CHECK(w.stats().succeeded == 4);
}

TEST_CASE("an error's own retry override gives it more attempts than the worker default") {
  fixture f;
  int calls = 0;
  std::vector<std::chrono::milliseconds> delays;
  auto options = f.worker_options();  // default: 4 attempts, 1 s base
  options.on_retry = [&](const durable::job_event&, const durable::classification&,
                         std::chrono::milliseconds d) { delays.push_back(d); };
  worker w{f.queue, f.dlq,
           [&](const order&) {
             ++calls;
             throw flaky_network("connection reset");
           },
           options};
  f.queue.push({1, ""});
  for (int i = 0; i < 10 && !f.queue.empty(); ++i) {
    w.process_available();
    f.clock.advance(1s);
  }
  CHECK(calls == 6);
  CHECK(delays.front() == 10ms);
  REQUIRE(f.dlq.recent(1).size() == 1);
  CHECK(f.dlq.recent(1)[0].attempts == 6);
  CHECK(f.dlq.recent(1)[0].error_type == "test.flaky_network");
}
