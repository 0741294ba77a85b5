// SPDX-License-Identifier: MIT
// Worker against real files: retry schedule, permanent errors, exhaustion, poison jobs,
// circuit breaker, DLQ retention and monitoring, lease keeping, stop, threads, handler
// context and stop tokens, timeouts, batch handlers, sequential barriers under threads,
// metrics and JSON log lines.

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <sstream>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <durable/codecs/bytes_codec.hpp>
#include <durable/worker.hpp>

#include "db_state.hpp"
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

TEST_CASE("a job of another type stays pending, and one whose leases ran out is dead-lettered") {
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

namespace {

/// A codec whose decode throws a std exception for byte 1 and a non-std one for byte 2.
struct throwing_codec {
  static constexpr std::string_view name = "test.throwing";
  template <class Job>
  static constexpr std::uint64_t fingerprint() noexcept {
    return 7;
  }
  template <class Job>
  static void encode(const Job& job, std::vector<std::byte>& out) {
    out.assign(1, static_cast<std::byte>(job.mode));
  }
  template <class Job>
  static Job decode(std::span<const std::byte> bytes) {
    const auto mode = bytes.empty() ? 0 : static_cast<int>(bytes.front());
    if (mode == 1) throw std::runtime_error("decoder failed");
    if (mode == 2) throw 42;  // NOLINT(hicpp-exception-baseclass): the point of the test
    return Job{mode};
  }
};

struct coded {
  int mode = 0;
};

}  // namespace

TEST_CASE("whatever a codec throws makes a poison job: dead-lettered once, never escaping") {
  fixture f;
  durable::Queue<coded, throwing_codec> queue{f.dir.db("jobs.db"), "coded", f.queue_options()};
  durable::DeadLetterQueue<coded, throwing_codec> dlq{f.dir.db("jobs.db"), "coded.dlq",
                                                      f.dlq_options()};
  queue.push({1});
  queue.push({2});
  queue.push({0});
  int calls = 0;
  durable::Worker<coded, throwing_codec> w{queue, dlq, [&](const coded&) { ++calls; },
                                           f.worker_options()};
  CHECK(w.process_available() == 3);
  CHECK(calls == 1);
  CHECK(w.stats().dead_lettered == 2);
  CHECK(queue.empty());
  const auto dead = dlq.recent(10);
  REQUIRE(dead.size() == 2);
  for (const auto& e : dead) {
    CHECK(e.error_type == "durable::decode_error");
    CHECK(e.attempts == 1);
    // the claimer's advice ("left in the queue ... dead-letter or ack it") is not stored
    CHECK(e.message.find("left in the queue") == std::string::npos);
  }
  CHECK(dead[1].message.ends_with("job type: decoder failed"));
  CHECK(dead[0].message.ends_with("job type: the codec threw a non-standard exception"));
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

TEST_CASE("a clock that throws is logged; the worker goes on and its job comes back") {
  fixture f;
  std::atomic<bool> throwing{false};
  std::atomic<int> handled{0};
  auto options = f.worker_options();
  options.clock = [&throwing, source = f.clock.source()] {
    if (throwing.load()) throw 7;  // not a std::exception
    return source();
  };
  options.breaker = durable::breaker_options{};  // reads the clock before every claim
  options.min_poll_interval = 1ms;
  options.max_poll_interval = 5ms;
  const auto until = [](auto done) {  // observed progress; the bound only ends a failure
    const auto deadline = std::chrono::steady_clock::now() + 2min;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    return done();
  };
  worker w{f.queue, f.dlq, [&](const order&) { ++handled; }, options};
  w.start();
  throwing = true;
  CHECK(until([&] {
    return f.logged(
        R"(a worker thread of the worker on queue "orders" caught a non-standard exception)");
  }));
  options.breaker.reset();
  throwing = false;
  CHECK(w.stop());

  // Without a breaker the clock is first read when the claimed job starts.
  worker w2{f.queue, f.dlq, [&](const order&) { ++handled; }, options};
  w2.start();
  throwing = true;
  f.queue.push({1, ""});
  CHECK(until([&] { return f.logged("could not be finished: a non-standard exception"); }));
  throwing = false;
  f.clock.advance(options.lease + 1s);  // the job comes back when its lease ends
  CHECK(until([&] { return handled.load() == 1; }));
  CHECK(w2.stop());
  CHECK(handled == 1);
  CHECK(f.queue.size() == 0);
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
  CHECK_THROWS_AS((worker{f.queue, f.dlq, worker::handler_type{}, f.worker_options()}),
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

// ---------------------------------------------------------------- context, stop, timeouts

namespace {

/// Polls `done` until it holds; false after two minutes (a loaded machine is slow, not wrong).
template <class Predicate>
bool eventually(Predicate done) {
  const auto deadline = std::chrono::steady_clock::now() + 2min;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

/// Blocks until `stop` is requested or `release` is set; true if stopped.
bool wait_for_stop(const std::stop_token& stop, std::atomic<bool>& release) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock{m};
  while (!stop.stop_requested() && !release) cv.wait_for(lock, stop, 1ms, [] { return false; });
  return stop.stop_requested();
}

}  // namespace

TEST_CASE("durations past the steady clock's range wait instead of ending at once") {
  // A thousand years in milliseconds overflows the steady clock's nanoseconds: such waits
  // used to end at once (stop returned false at once, wait_for_push timed out at once, the
  // keeper extended leases in a busy loop).
  constexpr std::chrono::milliseconds forever = std::chrono::hours{24 * 365 * 1000};
  using steady = std::chrono::steady_clock;
  CHECK(durable::detail::steady_after(std::chrono::milliseconds::max()) ==
        steady::time_point::max());
  CHECK(durable::detail::steady_after(forever) > steady::now() + std::chrono::hours{24 * 365});
  temp_dir dir;
  durable::Queue<order> queue{dir.db("jobs.db"), "orders", durable_test::quiet_queue()};
  durable::DeadLetterQueue<order> dlq{dir.db("jobs.db"), "dlq", durable_test::quiet_dlq()};

  const auto seen = queue.push_sequence();
  std::jthread pusher{[&] {
    std::this_thread::sleep_for(50ms);  // only makes the old bug show; any order passes
    queue.push({1, "first"});
  }};
  CHECK(queue.wait_for_push(seen, forever));  // woken by the push, not timed out
  pusher.join();

  durable::worker_options options;
  options.log = nullptr;
  options.threads = 2;  // one runs the job, one idles on an endless poll
  options.lease = forever;
  options.min_poll_interval = std::chrono::milliseconds::max();
  options.max_poll_interval = std::chrono::milliseconds::max();
  std::atomic<bool> started{false};
  durable::Worker<order> w{queue, dlq,
                           [&](const order&, durable::job_context& context) {
                             started = true;
                             while (!context.stop.stop_requested()) {
                               std::this_thread::sleep_for(1ms);
                             }
                             std::this_thread::sleep_for(50ms);  // still running at stop()
                           },
                           options};
  w.start();
  REQUIRE(eventually([&] { return started.load(); }));
  if (durable_test::on_sqlite()) {
    // The lease's first extension is a third of a thousand years away: nothing writes.
    durable_test::raw_db raw{dir.file("jobs.db")};
    const auto before = raw.rows("PRAGMA data_version");
    std::this_thread::sleep_for(100ms);
    CHECK(raw.rows("PRAGMA data_version") == before);
  }
  CHECK(w.stop(forever));  // waits for the handler (and wakes the idle thread)
  CHECK(queue.empty());
  CHECK(w.stats().succeeded == 1);
}

TEST_CASE("a handler's context carries the job's id, key, attempts, times, queue and deadline") {
  fixture f;
  auto options = f.worker_options();
  options.timeout = 90s;
  std::vector<durable::job_context> seen;
  durable::Worker<order, durable::pfr_codec, test_errors> w{
      f.queue, f.dlq,
      [&](const order&, durable::job_context& ctx) {
        seen.push_back(ctx);
        f.clock.advance(250ms);
        if (ctx.attempt == 1) throw timeout_error("slow");
      },
      options};
  const auto enqueued = f.clock.now();
  const auto id = f.queue.push({1, "book"}, {.key = "customer-1", .max_attempts = 3}).id;
  f.clock.advance(1s);
  const auto first_run = f.clock.now();
  CHECK(w.process_available() == 1);
  f.clock.advance(1s);  // the backoff
  CHECK(w.process_available() == 1);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].id == id);
  CHECK(seen[0].key == durable::job_key{"customer-1"});
  CHECK(seen[0].attempt == 1);
  CHECK(seen[1].attempt == 2);
  CHECK(seen[0].max_attempts == 3);
  CHECK(seen[0].enqueued_at == enqueued);
  CHECK(seen[0].first_run_at == first_run);
  CHECK(seen[1].first_run_at == first_run);  // kept across attempts
  CHECK(seen[0].queue == "orders");
  CHECK(seen[0].deadline == first_run + 90s);
  CHECK(seen[1].deadline == first_run + 1s + 250ms + 90s);
  CHECK_FALSE(seen[0].stop.stop_requested());
  CHECK(f.queue.empty());
}

TEST_CASE("a job's stop token fires when the worker stops: the job finishes and is acked") {
  fixture f;
  auto options = f.worker_options();
  options.threads = 2;
  std::atomic<int> started{0};
  std::atomic<int> stopped{0};
  std::atomic<bool> never{false};
  worker w{f.queue, f.dlq,
           [&](const order&, durable::job_context& ctx) {
             ++started;
             if (wait_for_stop(ctx.stop, never)) ++stopped;
           },
           options};
  f.queue.push({1, ""});
  f.queue.push({2, ""});
  f.queue.push({3, ""});
  w.start();
  REQUIRE(eventually([&] { return started == 2; }));
  CHECK(w.stop(2min));
  CHECK(stopped == 2);
  CHECK(w.stats().succeeded == 2);
  CHECK(f.queue.size() == 1);  // the third was never claimed
  CHECK(f.queue.stats().pending == 1);
}

TEST_CASE("a job's stop token fires when its lease is lost to another claimer") {
  fixture f;
  auto options = f.worker_options();
  options.lease = 1s;  // extended every ~333 ms of real time to 1 s past the manual clock
  std::atomic<bool> started{false};
  std::atomic<bool> stopped{false};
  std::atomic<bool> release{false};
  worker w{f.queue, f.dlq,
           [&](const order&, durable::job_context& ctx) {
             started = true;
             stopped = wait_for_stop(ctx.stop, release);
           },
           options};
  const auto id = f.queue.push({1, ""}).id;
  w.start();
  REQUIRE(eventually([&] { return started.load(); }));
  durable::Queue<order> rival{f.dir.db("jobs.db"), "orders", f.queue_options()};
  std::optional<durable::claimed_job<order>> taken;
  const bool rival_took_it = eventually([&] {  // until the rival claims between extensions
    f.clock.advance(2s);
    taken = rival.claim(1h);
    return taken.has_value();
  });
  if (!rival_took_it) release = true;
  REQUIRE(rival_took_it);
  CHECK(taken->id == id);
  CHECK(eventually([&] { return stopped.load(); }));
  release = true;
  CHECK(w.stop(2min));
  CHECK(w.stats().succeeded == 0);  // its ack was refused: the rival holds the job
  CHECK(f.logged("lease"));
  const auto status = f.queue.status(id);
  CHECK(status.state == durable::job_state::claimed);
  CHECK(status.lease_until == taken->lease_until);
}

TEST_CASE(
    "past its timeout a job's stop token fires, past the grace the attempt fails as a timeout") {
  fixture f;
  auto options = f.worker_options();
  options.timeout = 1h;  // the job's own timeout overrides it
  options.timeout_grace = 2s;
  std::vector<durable::classification> retries;
  std::mutex m;
  options.on_retry = [&](const durable::job_event&, const durable::classification& c,
                         std::chrono::milliseconds) {
    std::lock_guard lock{m};
    retries.push_back(c);
  };
  std::atomic<bool> started{false};
  std::atomic<bool> saw_stop{false};
  std::atomic<bool> release{false};
  std::atomic<int> second_attempts{0};
  worker w{f.queue, f.dlq,
           [&](const order&, durable::job_context& ctx) {
             if (ctx.attempt > 1) {
               ++second_attempts;
               return;
             }
             started = true;
             saw_stop = wait_for_stop(ctx.stop, release);
             while (!release) std::this_thread::sleep_for(1ms);  // a hung handler
           },
           options};
  // A failed REQUIRE must not leave the hung handler for ~Worker to wait on forever.
  struct release_on_exit {
    std::atomic<bool>& release;
    ~release_on_exit() { release = true; }
  } const guard{release};
  const auto id = f.queue.push({1, ""}, {.timeout = 5s}).id;
  w.start();
  REQUIRE(eventually([&] { return started.load(); }));
  f.clock.advance(4999ms);
  CHECK(f.queue.status(id).state == durable::job_state::claimed);
  f.clock.advance(1ms);  // the deadline: the stop token fires, the attempt still runs
  const bool fired = eventually([&] { return saw_stop.load(); });
  CHECK(fired);
  CHECK(w.stats().timed_out == 0);
  f.clock.advance(2s);  // the grace: recorded as failed, retried after the backoff (1 s)
  const bool timed_out = eventually([&] { return w.stats().timed_out == 1; });
  CHECK(timed_out);
  CHECK(eventually([&] { return w.stats().retried == 1; }));
  CHECK(eventually([&] {  // the hook runs after the retry is stored and counted
    std::lock_guard lock{m};
    return !retries.empty();
  }));
  auto status = f.queue.status(id);
  CHECK(status.state == durable::job_state::scheduled);  // released: no longer held
  CHECK(status.attempts == 1);
  const auto history = f.queue.history(id);
  REQUIRE(history.size() == 1);
  CHECK(history[0].error_type == "durable::timeout");
  {
    std::lock_guard lock{m};
    REQUIRE(retries.size() == 1);
    CHECK(retries[0].name == durable::timed_out_error);
    CHECK(retries[0].kind == durable::error_kind::transient);
  }
  CHECK(w.stats().in_flight == 1);  // the hung handler's thread is still busy
  release = true;                   // it returns: its result is discarded
  CHECK(eventually([&] { return w.stats().in_flight == 0; }));
  CHECK(w.stats().succeeded == 0);
  f.clock.advance(1s);  // the backoff ends: attempt 2 runs and succeeds
  CHECK(eventually([&] { return w.stats().succeeded == 1; }));
  CHECK(w.stop(2min));
  CHECK(second_attempts == 1);
  CHECK(f.queue.empty());
  CHECK(f.logged("ran past its timeout of 5000ms"));
  CHECK(f.logged("returned after its attempt was recorded as timed out"));
  const auto m_metrics = w.metrics().of_queue("orders");
  CHECK(m_metrics.timed_out == 1);
  CHECK(m_metrics.retried.at("durable::timeout") == 1);
}

TEST_CASE("a timed-out job with no attempts left is dead-lettered as durable::timeout") {
  fixture f;
  auto options = f.worker_options();
  options.timeout = 1s;
  options.timeout_grace = 0ms;
  std::atomic<bool> started{false};
  std::atomic<bool> release{false};
  worker w{f.queue, f.dlq,
           [&](const order&, durable::job_context& ctx) {
             started = true;
             wait_for_stop(ctx.stop, release);
             while (!release) std::this_thread::sleep_for(1ms);
           },
           options};
  f.queue.push({1, ""}, {.max_attempts = 1});
  w.start();
  REQUIRE(eventually([&] { return started.load(); }));
  f.clock.advance(1s);
  const bool dead = eventually([&] { return w.stats().dead_lettered == 1; });
  release = true;
  CHECK(dead);
  CHECK(w.stop(2min));
  const auto recent = f.dlq.recent(1);
  REQUIRE(recent.size() == 1);
  CHECK(recent[0].error_type == "durable::timeout");
  CHECK(recent[0].redrive == durable::redrive_policy::safe);
  CHECK(f.queue.empty());
}

// ---------------------------------------------------------------- batches

TEST_CASE("fail() with a null exception_ptr fails the job instead of acking it") {
  fixture f;
  // std::current_exception() outside a catch block is null: the job must not be acked
  worker w{f.queue, f.dlq,
           [](const order&, durable::job_context& c) { c.fail(std::current_exception()); },
           f.worker_options()};
  const auto id = f.queue.push({1, "a"}).id;
  CHECK(w.process_available() == 1);
  CHECK(w.stats().succeeded == 0);
  CHECK(w.stats().retried == 1);
  const auto history = f.queue.history(id);
  REQUIRE(history.size() == 1);
  CHECK(history[0].error_type == "unknown");
  CHECK(history[0].message == "no exception (empty std::exception_ptr)");

  auto options = f.worker_options();
  options.batch_size = 2;
  worker batch{f.queue, f.dlq,
               [](std::span<const order> jobs, std::span<durable::job_context> contexts) {
                 for (std::size_t i = 0; i < jobs.size(); ++i) {
                   if (jobs[i].item == "null") contexts[i].fail(std::exception_ptr{});
                 }
               },
               options};
  const auto null = f.queue.push({2, "null"}).id;
  f.queue.push({3, "ok"});
  CHECK(batch.process_available() == 2);
  CHECK(batch.stats().succeeded == 1);
  CHECK(batch.stats().retried == 1);
  CHECK(f.queue.status(null).state == durable::job_state::scheduled);
}

namespace {

/// A classifier that fails: what it throws must not escape the worker.
struct throwing_classifier {
  static durable::classification classify(const std::exception_ptr&) { throw 5; }
};

}  // namespace

TEST_CASE("a classifier throwing for a failed batch stays inside the worker; the jobs come back") {
  fixture f;
  auto options = f.worker_options();
  options.batch_size = 2;
  durable::Worker<order, durable::pfr_codec, throwing_classifier> w{
      f.queue, f.dlq,
      [](std::span<const order>, std::span<durable::job_context>) {
        throw std::runtime_error("down");
      },
      options};
  const auto a = f.queue.push({1, "a"}).id;
  const auto b = f.queue.push({2, "b"}).id;
  CHECK(w.process_available() == 2);  // it used to end in std::terminate
  CHECK(f.logged("could not be finished: a non-standard exception"));
  CHECK(f.queue.status(a).state == durable::job_state::claimed);
  f.clock.advance(options.lease + 1ms);  // nothing lost: back by lease expiry
  CHECK(f.queue.status(a).state == durable::job_state::pending);
  CHECK(f.queue.status(b).state == durable::job_state::pending);
}

TEST_CASE("a batch handler gets the claimed batch and fails jobs one by one") {
  fixture f;
  auto options = f.worker_options();
  options.batch_size = 10;
  std::vector<std::size_t> sizes;
  durable::Worker<order, durable::pfr_codec, test_errors> w{
      f.queue, f.dlq,
      [&](std::span<const order> jobs, std::span<durable::job_context> contexts) {
        sizes.push_back(jobs.size());
        REQUIRE(jobs.size() == contexts.size());
        for (std::size_t i = 0; i < jobs.size(); ++i) {
          CHECK(contexts[i].queue == "orders");
          if (jobs[i].item == "bad") contexts[i].fail(bad_order("no such item"));
          if (jobs[i].item == "slow") contexts[i].fail(timeout_error("upstream timed out"));
        }
      },
      options};
  const auto good = f.queue.push({1, "ok"}).id;
  const auto bad = f.queue.push({2, "bad"}).id;
  const auto slow = f.queue.push({3, "slow"}).id;
  f.queue.push({4, "ok"});
  CHECK(w.process_available() == 4);
  CHECK(sizes == std::vector<std::size_t>{4});
  CHECK(f.queue.status(good).state == durable::job_state::not_found);
  const auto dead = f.queue.status(bad);
  CHECK(dead.state == durable::job_state::dead_lettered);
  CHECK(f.dlq.get(*dead.dead_letter)->error_type == "test.bad_order");
  CHECK(f.queue.status(slow).state == durable::job_state::scheduled);
  const auto s = w.stats();
  CHECK(s.succeeded == 2);
  CHECK(s.dead_lettered == 1);
  CHECK(s.retried == 1);

  f.clock.advance(1s);  // the slow one again: this time the handler throws for the batch
  durable::Worker<order, durable::pfr_codec, test_errors> thrower{
      f.queue, f.dlq,
      [&](std::span<const order>, std::span<durable::job_context>) {
        throw timeout_error("batch upstream down");
      },
      options};
  f.queue.push({5, "ok"});
  CHECK(thrower.process_available() == 2);
  CHECK(thrower.stats().retried == 2);
  CHECK(f.queue.stats().scheduled == 2);
}

TEST_CASE("parallel_batches runs the jobs of one claimed batch on all the worker's threads") {
  fixture f;
  auto options = f.worker_options();
  options.clock = nullptr;
  options.threads = 4;
  options.batch_size = 4;
  options.parallel_batches = true;
  std::mutex m;
  std::condition_variable cv;
  int running = 0;
  int most = 0;
  worker w{f.queue, f.dlq,
           [&](const order&) {
             std::unique_lock lock{m};
             most = std::max(most, ++running);
             cv.notify_all();
             // Until all four run at once (or long enough to say they never will).
             cv.wait_for(lock, 2min, [&] { return most == 4; });
             --running;
           },
           options};
  for (std::int64_t i = 0; i < 4; ++i) f.queue.push({i, ""});
  w.start();
  CHECK(eventually([&] { return w.stats().succeeded == 4; }));
  CHECK(w.stop(2min));
  CHECK(most == 4);
  CHECK(f.queue.empty());
  options.batch_size = 1;
  options.parallel_batches = true;
  CHECK_NOTHROW((worker{f.queue, f.dlq, [](const order&) {}, options}));
  CHECK_THROWS_AS((worker{f.queue, f.dlq,
                          [](std::span<const order>, std::span<durable::job_context>) {}, options}),
                  durable::invalid_argument_error);
}

// ---------------------------------------------------------------- barriers under threads

TEST_CASE("a sequential job runs alone: 4 threads never overlap it with older or younger jobs") {
  fixture f;
  auto options = f.worker_options();
  options.clock = nullptr;
  options.threads = 4;
  std::mutex m;
  std::set<std::int64_t> running;
  std::set<std::int64_t> finished;
  std::set<std::int64_t> sequential;
  std::int64_t violations = 0;
  std::int64_t overlapped = 0;  // parallel jobs seen running together: the test can see overlap
  worker w{f.queue, f.dlq,
           [&](const order& o) {
             {
               std::lock_guard lock{m};
               const bool is_sequential = sequential.contains(o.id);
               for (std::int64_t older = 0; older < o.id; ++older) {
                 const bool done = finished.contains(older);
                 if (!done && (is_sequential || sequential.contains(older))) ++violations;
               }
               if (is_sequential && !running.empty()) ++violations;
               if (!running.empty()) ++overlapped;
               running.insert(o.id);
             }
             std::this_thread::sleep_for(2ms);  // widens the windows a barrier must close
             std::lock_guard lock{m};
             running.erase(o.id);
             finished.insert(o.id);
           },
           options};
  constexpr std::int64_t jobs = 60;
  for (std::int64_t i = 0; i < jobs; ++i) {
    const bool is_sequential = i % 12 == 11;
    if (is_sequential) sequential.insert(i);
    f.queue.push({i, ""}, {.sequential = is_sequential});
  }
  w.start();
  CHECK(eventually([&] { return w.stats().succeeded == jobs; }));
  CHECK(w.stop(2min));
  CHECK(violations == 0);
  CHECK(overlapped > 0);
  CHECK(f.queue.empty());
}

// ---------------------------------------------------------------- metrics and logs

namespace {

/// Prometheus text parsed back: "name{labels}" -> value; HELP and TYPE lines by name.
struct exposition {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;

  explicit exposition(const std::string& text) {
    std::istringstream in{text};
    std::string line;
    while (std::getline(in, line)) {
      REQUIRE_FALSE(line.empty());
      if (line.rfind("# TYPE ", 0) == 0) {
        std::istringstream t{line.substr(7)};
        std::string name;
        std::string type;
        t >> name >> type;
        types[name] = type;
        continue;
      }
      if (line.rfind("# HELP ", 0) == 0) continue;
      const auto space = line.rfind(' ');
      REQUIRE(space != std::string::npos);
      samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
  }
  double at(const std::string& series) const {
    const auto it = samples.find(series);
    if (it == samples.end()) FAIL("no sample " << series);
    return it->second;
  }
};

}  // namespace

TEST_CASE("metrics count outcomes per queue and error type, and the Prometheus text parses back") {
  fixture f;
  auto options = f.worker_options();
  std::vector<durable::job_event> successes;
  options.on_success = [&](const durable::job_event& e) { successes.push_back(e); };
  durable::Worker<order, durable::pfr_codec, test_errors> w{
      f.queue, f.dlq,
      [&](const order& o) {
        f.clock.advance(std::chrono::milliseconds{o.id * 100});  // run time: id * 100 ms
        if (o.item == "bad") throw bad_order("bad");
        if (o.item == "slow") throw timeout_error("slow");
      },
      options};
  f.queue.push({1, "ok"});
  f.queue.push({2, "bad"});
  f.queue.push({3, "slow"});
  f.queue.push({4, "ok"}, {.delay = 1s});
  f.clock.advance(3s);  // waits: 3 s for jobs 1-3, then 2 s (+ run times) for job 4
  CHECK(w.process_available() == 4);
  REQUIRE(successes.size() == 2);
  CHECK(successes[0].run_time == 100ms);
  CHECK(successes[0].wait_time == 3s);
  CHECK(successes[1].run_time == 400ms);
  CHECK(successes[1].wait_time == 2s + 600ms);

  const exposition e{w.metrics().prometheus()};
  CHECK(e.types.at("durable_jobs_processed_total") == "counter");
  CHECK(e.types.at("durable_job_run_seconds") == "histogram");
  CHECK(e.at(R"(durable_jobs_processed_total{queue="orders"})") == 4);
  CHECK(e.at(R"(durable_jobs_succeeded_total{queue="orders"})") == 2);
  CHECK(e.at(R"(durable_jobs_retried_total{queue="orders",error_type="test.timeout"})") == 1);
  CHECK(e.at(R"(durable_jobs_dead_lettered_total{queue="orders",error_type="test.bad_order"})") ==
        1);
  CHECK(e.at(R"(durable_jobs_timed_out_total{queue="orders"})") == 0);
  CHECK(e.at(R"(durable_job_run_seconds_count{queue="orders"})") == 4);
  CHECK(e.at(R"(durable_job_run_seconds_sum{queue="orders"})") == doctest::Approx(1.0));
  CHECK(e.at(R"(durable_job_run_seconds_bucket{queue="orders",le="0.1"})") == 1);
  CHECK(e.at(R"(durable_job_run_seconds_bucket{queue="orders",le="0.25"})") == 2);
  CHECK(e.at(R"(durable_job_run_seconds_bucket{queue="orders",le="0.5"})") == 4);
  CHECK(e.at(R"(durable_job_run_seconds_bucket{queue="orders",le="+Inf"})") == 4);
  CHECK(e.at(R"(durable_job_wait_seconds_bucket{queue="orders",le="2.5"})") == 0);
  CHECK(e.at(R"(durable_job_wait_seconds_bucket{queue="orders",le="5"})") == 4);
  CHECK(e.at(R"(durable_job_wait_seconds_count{queue="orders"})") == 4);

  // One registry shared by two workers renders both queues; label values are escaped.
  auto shared = std::make_shared<durable::metrics>();
  shared->record_finish("odd \"queue\"\\name", durable::job_outcome::succeeded, {});
  options.metrics = shared;
  worker other{f.queue, f.dlq, [](const order&) {}, options};
  f.queue.push({5, "ok"});
  CHECK(other.process_available() == 1);
  const exposition both{shared->prometheus()};
  CHECK(both.at(R"(durable_jobs_succeeded_total{queue="orders"})") == 1);
  CHECK(both.at(R"(durable_jobs_succeeded_total{queue="odd \"queue\"\\name"})") == 1);
  CHECK_THROWS_AS(durable::metrics(std::vector<double>{1, 0.5}), durable::invalid_argument_error);
}

TEST_CASE("a long message is cut for the log between UTF-8 characters, never inside one") {
  fixture f;
  std::FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  auto options = f.worker_options();
  options.log = durable::json_lines_sink(file, durable::log_level::debug);
  std::string message = "ab";  // then 2-byte characters: byte 77 starts one
  for (int i = 0; i < 60; ++i) message += "\u00e9";
  worker w{f.queue, f.dlq, [&](const order&) { throw bad_order(message); }, options};
  f.queue.push({1, "bad"});
  CHECK(w.process_available() == 1);
  w.maintain();  // the DLQ summary cuts the message too
  std::rewind(file);
  std::vector<std::string> messages;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), file) != nullptr) {
    // nlohmann::json refuses invalid UTF-8
    CHECK_NOTHROW(messages.push_back(nlohmann::json::parse(buffer.data())["message"]));
  }
  std::fclose(file);
  REQUIRE(messages.size() == 3);  // dead-lettered, summary, summary entry
  const std::string cut = message.substr(0, 76) + "...";
  CHECK(messages[0].ends_with(": " + cut));
  CHECK(messages[2].ends_with(": " + cut));
}

TEST_CASE("json_lines_sink writes bytes that are not UTF-8 as U+FFFD: every line parses") {
  fixture f;
  std::FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  auto options = f.worker_options();
  options.log = durable::json_lines_sink(file);
  worker w{f.queue, f.dlq, [&](const order&) { throw bad_order("raw \xff\xc3 bytes \u00e9"); },
           options};
  f.queue.push({1, "bad"});
  CHECK(w.process_available() == 1);
  std::rewind(file);
  std::array<char, 4096> buffer{};
  REQUIRE(std::fgets(buffer.data(), static_cast<int>(buffer.size()), file) != nullptr);
  std::fclose(file);
  nlohmann::json line;
  REQUIRE_NOTHROW(line = nlohmann::json::parse(buffer.data()));  // refuses invalid UTF-8
  CHECK(line["message"].get<std::string>().ends_with(": raw \ufffd\ufffd bytes \u00e9"));
  // SQLite keeps the message as it was thrown; PostgreSQL text holds UTF-8 only
  CHECK(
      f.dlq.recent(1).at(0).message ==
      (durable_test::on_sqlite() ? "raw \xff\xc3 bytes \u00e9" : "raw \ufffd\ufffd bytes \u00e9"));
}

TEST_CASE("json_lines_sink writes one object per event with stable fields") {
  fixture f;
  std::FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  auto options = f.worker_options();
  options.log = durable::json_lines_sink(file, durable::log_level::debug);
  durable::Worker<order, durable::pfr_codec, test_errors> w{
      f.queue, f.dlq,
      [&](const order& o) {
        f.clock.advance(50ms);
        if (o.item == "slow") throw timeout_error("upstream \"slow\"\nsecond line");
        if (o.item == "bad") throw bad_order("bad");
      },
      options};
  const auto ok = f.queue.push({1, "ok"}).id;
  const auto slow = f.queue.push({2, "slow"}).id;
  const auto bad = f.queue.push({3, "bad"}, {.key = "k"}).id;
  CHECK(w.process_available() == 3);
  std::rewind(file);
  std::vector<nlohmann::json> lines;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), file) != nullptr) {
    lines.push_back(nlohmann::json::parse(buffer.data()));
  }
  std::fclose(file);
  REQUIRE(lines.size() == 3);
  const auto& success = lines[0];
  CHECK(success["event"] == "job.succeeded");
  CHECK(success["level"] == "debug");
  CHECK(success["queue"] == "orders");
  CHECK(success["job"] == ok);
  CHECK(success["attempt"] == 1);
  CHECK(success["run_time_ms"] == 50.0);
  CHECK(success["wait_time_ms"] == 0.0);
  CHECK(success["time"] == "2026-01-01T00:00:00.050Z");
  const auto& retry = lines[1];
  CHECK(retry["event"] == "job.retried");
  CHECK(retry["level"] == "info");
  CHECK(retry["job"] == slow);
  CHECK(retry["error_type"] == "test.timeout");
  CHECK(retry["delay_ms"] == 1000.0);
  CHECK(retry["message"].get<std::string>().find("upstream \"slow\"\nsecond line") !=
        std::string::npos);
  const auto& dead = lines[2];
  CHECK(dead["event"] == "job.dead_lettered");
  CHECK(dead["level"] == "warning");
  CHECK(dead["job"] == bad);
  CHECK(dead["dead_letter_queue"] == "orders.dlq");
  CHECK(dead["error_type"] == "test.bad_order");
  CHECK_FALSE(dead.contains("delay_ms"));
  // A text sink gets the same events as lines; the default stderr sink skips debug ones.
  CHECK(durable::stderr_sink().min_level() == durable::log_level::info);
  CHECK_FALSE(durable::stderr_sink().enabled(durable::log_level::debug));
  CHECK_FALSE(durable::log_sink{nullptr});
}
