// SPDX-License-Identifier: MIT
// A service in miniature: a producer pushes payment jobs, a worker charges them against
// a downstream service that has an outage. Transient failures are retried with backoff
// and a circuit breaker; permanent ones go to the dead-letter queue at once; jobs that
// exhaust their retries during the outage are dead-lettered too. Once the service is
// back, a recovery over the outage window puts the redrivable ones back, and the worker
// finishes them. The worker runs as a service would: Worker::run() blocks main until
// the story is over, or until Ctrl-C / SIGTERM (stop_signals) makes it drain and stop.
// At the end it prints the worker's metrics as a Prometheus endpoint would serve them.
// Everything lives in one SQLite file; kill it at any point and rerun: nothing committed
// is lost.
//
//   demo                        the story in a SQLite file under the temp directory
//   demo --postgres <conninfo>  the same story in a PostgreSQL database (a libpq connection
//                               string, e.g. "host=/tmp/pg dbname=postgres"); its queue and
//                               DLQ get names of their own per run, so reruns start afresh
//   demo --no-recovery          stops after the outage and leaves the dead-letter queue as
//                               it is, for the `durable` tool (README, "Operating durable")

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>

#include <durable/durable.hpp>

using namespace std::chrono_literals;

struct charge {
  std::int64_t order_id = 0;
  std::string customer;
  std::int64_t cents = 0;
};

// The downstream service's errors, classified next to their types.
struct service_unavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct card_declined : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <>
struct durable::error_traits<service_unavailable> {
  static constexpr std::string_view name = "payments.unavailable";
  static constexpr durable::error_kind kind = durable::error_kind::transient;
  static constexpr durable::redrive_policy redrive = durable::redrive_policy::safe;
};
template <>
struct durable::error_traits<card_declined> {
  static constexpr std::string_view name = "payments.card_declined";
  static constexpr durable::error_kind kind = durable::error_kind::permanent;
  static constexpr durable::redrive_policy redrive = durable::redrive_policy::never;
};

using payment_errors =
    durable::error_list<service_unavailable, card_declined, durable::default_errors>;

namespace {

/// The downstream payment service: down for a while, and it declines some cards.
class payment_service {
 public:
  void set_down(bool down) { down_ = down; }
  void charge(const ::charge& c) {
    std::this_thread::sleep_for(2ms);  // a network round trip
    if (down_) throw service_unavailable("payment service returned HTTP 503");
    if (c.customer == "mallory") throw card_declined("card of mallory was declined");
    ++charged_;
  }
  [[nodiscard]] int charged() const { return charged_; }

 private:
  std::atomic<bool> down_{false};
  std::atomic<int> charged_{0};
};

using payment_worker = durable::Worker<charge, durable::pfr_codec, payment_errors>;

/// Waits until the queue is empty and nothing runs; false if `stop` came first.
bool wait_until_idle(durable::Queue<charge>& queue, payment_worker& worker,
                     const std::stop_token& stop) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline &&
         (!queue.empty() || worker.stats().in_flight > 0)) {
    if (stop.stop_requested()) return false;
    std::this_thread::sleep_for(20ms);
  }
  return !stop.stop_requested();
}

/// Where the demo keeps its queue: a fresh SQLite file, or a PostgreSQL database.
struct storage_choice {
  std::string db;
  std::string queue = "payments";
  std::string dlq = "payments.dlq";
  bool recovery = true;  ///< false: stop after the outage (--no-recovery)
};

/// Reads the command line (two optional flags, parsed by hand); empty on bad usage.
std::optional<storage_choice> choose_storage(int argc, char** argv) {
  std::span<char*> args{argv, static_cast<std::size_t>(argc)};
  args = args.subspan(1);
  storage_choice choice;
  if (!args.empty() && std::string_view{args[0]} == "--no-recovery") {
    choice.recovery = false;
    args = args.subspan(1);
  }
  if (args.size() == 2 && std::string_view{args[0]} == "--postgres") {
#ifdef DURABLE_DEMO_POSTGRES
    choice.db = args[1];
    const auto run = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    choice.queue = fmt::format("demo.{}.payments", run);
    choice.dlq = choice.queue + ".dlq";
    return choice;
#else
    std::fputs("demo: built without PostgreSQL (configure with -DDURABLE_POSTGRES=ON)\n", stderr);
    return std::nullopt;
#endif
  }
  if (!args.empty()) {
    std::fputs("usage: demo [--no-recovery] [--postgres <libpq connection string>]\n", stderr);
    return std::nullopt;
  }
  const auto dir = std::filesystem::temp_directory_path() / "durable-demo";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  choice.db = (dir / "payments.db").string();
  return choice;
}

void tell_story(durable::Queue<charge>& queue, durable::DeadLetterQueue<charge>& dlq,
                payment_worker& worker, payment_service& service, std::atomic<int>& retries,
                bool with_recovery, const std::stop_token& stop);

}  // namespace

int main(int argc, char** argv) {
  durable::stop_signals signals;  // first: Ctrl-C and SIGTERM now drain the worker instead
  const auto choice = choose_storage(argc, argv);
  if (!choice) return 2;
  const durable::database db{choice->db};
  fmt::print("durable demo: queue \"{}\" and dead-letter queue \"{}\" in {}\n\n", choice->queue,
             choice->dlq, db.target());

  durable::queue_options queue_options;
  queue_options.log = nullptr;
  queue_options.max_attempts = 2;  // stored with each job
  durable::dead_letter_options dlq_options;
  dlq_options.log = nullptr;
  durable::Queue<charge> queue{db, choice->queue, queue_options};
  durable::DeadLetterQueue<charge> dlq{db, choice->dlq, dlq_options};

  payment_service service;
  durable::worker_options options;
  options.threads = 2;
  options.lease = 5s;
  options.retry = {
      .base_delay = 50ms, .max_delay = 1s, .multiplier = 2, .jitter = durable::jitter_mode::equal};
  options.breaker = durable::breaker_options{.failure_threshold = 12, .cooldown = 300ms};
  options.breaker->on_change = [](durable::breaker_state from, durable::breaker_state to) {
    fmt::print("  circuit breaker: {} -> {}\n", to_string(from), to_string(to));
  };
  options.log = nullptr;  // the demo prints its own story
  std::atomic<int> retries{0};
  options.on_retry = [&](const durable::job_event&, const durable::classification&,
                         std::chrono::milliseconds) { ++retries; };
  options.on_dead_letter = [](const durable::job_event& e, const durable::classification& c) {
    fmt::print("  dead-lettered job {} after attempt {}: {} ({})\n", e.id, e.attempt, c.name,
               c.message);
  };
  payment_worker worker{queue, dlq, [&](const charge& c) { service.charge(c); }, options};

  // The producer's story on its own thread; main runs the worker until the story ends.
  std::jthread story{[&](std::stop_token) {
    tell_story(queue, dlq, worker, service, retries, choice->recovery, signals.token());
    worker.request_stop();
  }};
  const bool drained = worker.run(signals.token(), 10s);
  story.join();
  if (signals.received() != 0) {
    fmt::print(
        "\nStopped by signal {}: the worker drained {}; whatever was not done stays in "
        "the queue for the next run.\n",
        signals.received(), drained ? "cleanly" : "as far as it could");
  }

  const auto s = worker.stats();
  fmt::print("\n4. Done: {} of 60 orders charged; {} left in the DLQ for a human: ",
             service.charged(), dlq.size());
  for (const auto& e : dlq.recent(10)) {
    fmt::print("{} ({}) ", e.key ? std::get<std::string>(*e.key) : "?", e.error_type);
  }
  fmt::print("\n   worker: {} processed, {} succeeded, {} retried, {} dead-lettered.\n",
             s.processed, s.succeeded, s.retried, s.dead_lettered);
  fmt::print(
      "\n5. The worker's metrics, as a GET /metrics endpoint of yours would serve them:\n\n{}",
      worker.metrics().prometheus());
  if (signals.received() != 0) return 128 + signals.received();  // as a shell reports it
  return service.charged() + static_cast<int>(dlq.size()) == 60 ? 0 : 1;
}

namespace {

void tell_story(durable::Queue<charge>& queue, durable::DeadLetterQueue<charge>& dlq,
                payment_worker& worker, payment_service& service, std::atomic<int>& retries,
                bool with_recovery, const std::stop_token& stop) {
  fmt::print("1. The producer pushes 60 charges; the payment service goes down after 20.\n");
  auto outage_start = std::chrono::system_clock::now();
  for (std::int64_t i = 1; i <= 60; ++i) {
    if (i == 21) {
      service.set_down(true);
      outage_start = std::chrono::system_clock::now();
      fmt::print("  -- outage begins --\n");
    }
    const std::string customer = i % 15 == 0 ? "mallory" : fmt::format("customer-{}", i);
    queue.push({i, customer, 100 * i}, {.key = fmt::format("order-{}", i)});
    std::this_thread::sleep_for(10ms);
    if (stop.stop_requested()) return;
  }
  std::this_thread::sleep_for(800ms);
  service.set_down(false);
  const auto outage_end = std::chrono::system_clock::now();
  fmt::print("  -- outage ends after {} --\n",
             std::chrono::duration_cast<std::chrono::milliseconds>(outage_end - outage_start));
  fmt::print("  (retries wait with backoff; while the breaker is open nothing is claimed)\n");
  if (!wait_until_idle(queue, worker, stop)) return;

  const auto s = worker.stats();
  fmt::print("\n2. After the outage: {} charged, {} retries, {} dead-lettered.\n",
             service.charged(), retries.load(), s.dead_lettered);
  std::map<std::string, std::int64_t> by_type;
  for (const auto& e : dlq.query({}, {.limit = 1000}).entries) ++by_type[e.error_type];
  for (const auto& [type, n] : by_type) fmt::print("  DLQ: {} x {}\n", n, type);

  if (!with_recovery) {
    fmt::print("\nStopped before recovery; look around with: durable stats {}\n",
               queue.engine().target());
    return;
  }

  fmt::print("\n3. Recovery over the outage window (redrive-safe errors only, service healthy):\n");
  durable::recovery_gates gates;
  gates.healthy = [] { return true; };  // e.g. ping the payment service
  durable::dead_letter_filter window;
  window.from = outage_start;
  window.to = std::chrono::system_clock::now();
  durable::recovery_options recovery;
  recovery.policies = durable::redrive_policies::from<payment_errors>();
  const auto r = durable::recover(dlq, queue, window, gates, recovery);
  fmt::print(
      "  {} entries in the window: {} recovered, {} not redrivable (never), {} already "
      "queued, {} failed\n",
      r.total, r.recovered, r.skipped_not_redrivable, r.skipped_already_queued, r.failed);
  const auto again = durable::recover(dlq, queue, window, gates, recovery);
  fmt::print("  running the same recovery again recovers {} (each entry moves once)\n",
             again.recovered);
  wait_until_idle(queue, worker, stop);
}

}  // namespace
