// SPDX-License-Identifier: MIT
// The Worker: jobs per second with an empty DLQ and with a large one (the periodic DLQ
// summary must not read the whole DLQ), and with 1, 2, 4, 8 handler threads on one Queue.
//
// And the Worker end to end next to durable's own claim+ack loop, in the same binary, on the
// same queue and thread counts: how much the Worker (threads, leases kept, context,
// classification, breaker, metrics, hooks) adds to the storage work it drives
// (worker_drain, claim_ack_loop). Each iteration pushes 2,000 jobs (not timed), then times
// draining them: the Worker with a no-op handler and default options (start, process,
// stop), or N threads looping claim()+ack() until the queue is empty. Both wall time and
// the CPU time of the whole process are reported (the work runs on other threads); on a
// shared, loaded machine the CPU time is the steadier measure of the work each side does.
//
// The large DLQ holds $DURABLE_BENCH_WORKER_DLQ entries (default 1,000,000; scripts/bench.sh
// sets 10,000,000), populated once per process in a temp dir, in the queue's own file.
// Run: build/release/bench/bench_worker --benchmark_repetitions=5
//      --benchmark_report_aggregates_only=true --benchmark_enable_random_interleaving=true

#include <benchmark/benchmark.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
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

constexpr std::int64_t drain_jobs = 2000;

/// The Worker with a no-op handler (it counts, to know when the batch is done), default
/// options but the thread count.
void worker_drain(benchmark::State& state) {
  durable_bench::scratch dir;
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
                                if (++done % drain_jobs == 0) cv.notify_all();
                              },
                              o};
  const std::vector<job> jobs(drain_jobs, job{1, std::string(64, 'x')});
  for (auto _ : state) {
    state.PauseTiming();
    q.push_many(jobs);
    std::int64_t target = 0;
    {
      std::lock_guard lock{m};
      target = done + drain_jobs;
    }
    state.ResumeTiming();
    worker.start();
    {
      std::unique_lock lock{m};
      cv.wait(lock, [&] { return done >= target; });
    }
    worker.stop();
  }
  state.SetItemsProcessed(state.iterations() * drain_jobs);
}

/// durable's own loop: N threads claim() and ack() until the queue is empty.
void claim_ack_loop(benchmark::State& state) {
  durable_bench::scratch dir;
  durable::Queue<job> q{dir.db(), "bench", queue_options()};
  const std::vector<job> jobs(drain_jobs, job{1, std::string(64, 'x')});
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
  state.SetItemsProcessed(state.iterations() * drain_jobs);
}

}  // namespace

BENCHMARK(worker_dlq)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(worker_threads)
    ->RangeMultiplier(2)
    ->Range(1, 8)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

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

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  worker_file(0);
  worker_file(big_dlq_entries());  // populated before anything is timed
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
