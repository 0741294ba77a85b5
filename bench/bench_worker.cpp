// SPDX-License-Identifier: MIT
// The Worker end to end next to durable's own claim+ack loop, in the same binary, on the
// same queue and thread counts: how much the Worker (threads, leases kept, context,
// classification, breaker, metrics, hooks) adds to the storage work it drives.
// Each iteration pushes 2,000 jobs (not timed), then times draining them: the Worker
// with a no-op handler (start, process, stop), or N threads looping claim()+ack() until
// the queue is empty. Both wall time and the CPU time of the whole process are reported
// (the work runs on other threads); on a shared, loaded machine the CPU time is the
// steadier measure of the work each side does.
// Run: build/release/bench/bench_worker --benchmark_repetitions=10
//      --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <durable/worker.hpp>

#include "bench_support.hpp"

using namespace std::chrono_literals;

namespace {

using durable_bench::scratch;

struct job {
  std::int64_t n = 0;
  std::string body;
};

constexpr std::int64_t jobs_per_iteration = 2000;

durable::queue_options queue_options() {
  durable::queue_options o;
  o.log = nullptr;
  return o;
}

durable::dead_letter_options dlq_options() {
  durable::dead_letter_options o;
  o.log = nullptr;
  return o;
}

/// The Worker with a no-op handler (it counts, to know when the batch is done), default
/// options but the thread count.
void worker_drain(benchmark::State& state) {
  scratch dir;
  durable::Queue<job> q{dir.db(), "bench", queue_options()};
  durable::DeadLetterQueue<job> dlq{dir.db(), "bench.dlq", dlq_options()};
  std::mutex m;
  std::condition_variable cv;
  std::int64_t done = 0;
  durable::worker_options o;
  o.threads = static_cast<std::size_t>(state.range(0));
  durable::Worker<job> worker{q, dlq,
                              [&](const job&) {
                                std::lock_guard lock{m};
                                if (++done % jobs_per_iteration == 0) cv.notify_all();
                              },
                              o};
  const std::vector<job> jobs(jobs_per_iteration, job{1, std::string(64, 'x')});
  for (auto _ : state) {
    state.PauseTiming();
    q.push_many(jobs);
    std::int64_t target = 0;
    {
      std::lock_guard lock{m};
      target = done + jobs_per_iteration;
    }
    state.ResumeTiming();
    worker.start();
    {
      std::unique_lock lock{m};
      cv.wait(lock, [&] { return done >= target; });
    }
    worker.stop();
  }
  state.SetItemsProcessed(state.iterations() * jobs_per_iteration);
}

/// durable's own loop: N threads claim() and ack() until the queue is empty.
void claim_ack_loop(benchmark::State& state) {
  scratch dir;
  durable::Queue<job> q{dir.db(), "bench", queue_options()};
  const std::vector<job> jobs(jobs_per_iteration, job{1, std::string(64, 'x')});
  const auto threads = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    q.push_many(jobs);
    state.ResumeTiming();
    std::vector<std::thread> running;
    for (std::size_t t = 0; t < threads; ++t) {
      running.emplace_back([&q] {
        while (auto c = q.claim(30s)) {
          benchmark::DoNotOptimize(c->job);
          q.ack(*c);
        }
      });
    }
    for (auto& t : running) t.join();
  }
  state.SetItemsProcessed(state.iterations() * jobs_per_iteration);
}

}  // namespace

// Arg: threads.
BENCHMARK(worker_drain)
    ->Arg(1)
    ->Arg(2)
    ->Arg(4)
    ->MeasureProcessCPUTime()
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(claim_ack_loop)
    ->Arg(1)
    ->Arg(2)
    ->Arg(4)
    ->MeasureProcessCPUTime()
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
