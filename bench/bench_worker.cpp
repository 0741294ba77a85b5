// SPDX-License-Identifier: MIT
// The Worker: jobs per second with an empty DLQ and with a large one (the periodic DLQ
// summary must not read the whole DLQ), and with 1, 2, 4, 8 handler threads on one Queue.
// The large DLQ holds $DURABLE_BENCH_WORKER_DLQ entries (default 1,000,000; scripts/bench.sh
// sets 10,000,000), populated once per process in a temp dir, in the queue's own file.
// Run: build/release/bench/bench_worker --benchmark_repetitions=5
//      --benchmark_report_aggregates_only=true --benchmark_enable_random_interleaving=true

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <durable/worker.hpp>

#include "bench_support.hpp"

using namespace std::chrono_literals;

namespace {

struct job {
  std::int64_t n = 0;
  std::string body;
};

std::int64_t big_dlq_entries() {
  const char* env = std::getenv("DURABLE_BENCH_WORKER_DLQ");
  return env != nullptr && *env != '\0' ? std::stoll(env) : 1'000'000;
}

/// A file whose DLQ "dead" holds `entries` entries (none for 0), made once per process.
const std::string& worker_file(std::int64_t entries) {
  static durable_bench::scratch dir;
  static std::map<std::int64_t, std::string> files;
  auto it = files.find(entries);
  if (it == files.end()) {
    const auto path = dir.file("worker-" + std::to_string(entries) + ".db");
    if (entries > 0) {
      durable_bench::populate_dead_letters(path, "dead", entries);
    } else {
      durable_bench::create_schema(path);
    }
    it = files.emplace(entries, path).first;
  }
  return it->second;
}

durable::queue_options queue_options() {
  durable::queue_options o;
  o.log = nullptr;
  return o;
}

durable::dead_letter_options dlq_options() {
  durable::dead_letter_options o;
  o.log = nullptr;
  o.retention.reset();  // the populated entries are old; keep them
  return o;
}

durable::worker_options worker_options(std::size_t threads) {
  durable::worker_options o;
  o.threads = threads;
  o.log = nullptr;  // the summary is still read every dlq_summary_every (1,000) jobs
  o.breaker.reset();
  return o;
}

constexpr std::int64_t jobs_per_iteration = 4'000;

void push_jobs(durable::Queue<job>& q) {
  static const std::vector<job> jobs(jobs_per_iteration, job{1, std::string(64, 'x')});
  q.push_many(jobs);
}

// Arg: DLQ entries (0 or the large DLQ). One thread, process_available().
void worker_dlq(benchmark::State& state) {
  const auto& path = worker_file(state.range(0) == 0 ? 0 : big_dlq_entries());
  durable::Queue<job> q{path, "jobs", queue_options()};
  durable::DeadLetterQueue<job> dlq{path, "dead", dlq_options()};
  durable::Worker<job> worker{q, dlq, [](const job&) {}, worker_options(1)};
  std::int64_t done = 0;
  for (auto _ : state) {
    state.PauseTiming();
    push_jobs(q);
    state.ResumeTiming();
    done += worker.process_available();
  }
  state.counters["dlq_entries"] = static_cast<double>(dlq.size());
  state.SetItemsProcessed(done);
}

// Threads: Worker handler threads, started per iteration on a filled queue.
void worker_threads(benchmark::State& state) {
  const auto& path = worker_file(0);
  durable::Queue<job> q{path, "threads", queue_options()};
  durable::DeadLetterQueue<job> dlq{path, "dead", dlq_options()};
  durable::Worker<job> worker{q, dlq, [](const job&) {},
                              worker_options(static_cast<std::size_t>(state.range(0)))};
  std::int64_t done = 0;
  for (auto _ : state) {
    state.PauseTiming();
    push_jobs(q);
    const auto before = worker.stats().processed;
    state.ResumeTiming();
    worker.start();
    while (worker.stats().processed - before < jobs_per_iteration) {
      std::this_thread::sleep_for(200us);
    }
    worker.stop();
    done += jobs_per_iteration;
  }
  state.SetItemsProcessed(done);
}

}  // namespace

BENCHMARK(worker_dlq)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(worker_threads)
    ->RangeMultiplier(2)
    ->Range(1, 8)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  worker_file(0);
  worker_file(big_dlq_entries());  // populated before anything is timed
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
