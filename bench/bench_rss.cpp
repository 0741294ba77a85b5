// SPDX-License-Identifier: MIT
// Memory over a long cycle: pushes N jobs (push_many, 1,000 per call), then claims and
// acks them all (claim + ack, 4 threads), printing VmHWM (peak resident set) and VmRSS at
// the start, after the pushes and at the end. A flat VmHWM means no per-job growth.
// Run: build/release/bench/bench_rss [jobs=1000000]

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <durable/queue.hpp>

#include "bench_support.hpp"

using namespace std::chrono_literals;

namespace {

struct job {
  std::int64_t n = 0;
  std::string body;
};

void report(const char* when) {
  std::printf("%-12s VmHWM %7lld KiB   VmRSS %7lld KiB\n", when,
              static_cast<long long>(durable_bench::proc_status_kib("VmHWM")),
              static_cast<long long>(durable_bench::proc_status_kib("VmRSS")));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const std::span<char*> args{argv, static_cast<std::size_t>(argc)};
  std::int64_t n = 1'000'000;
  const std::string_view given = args.size() == 2 ? args[1] : "";
  if (args.size() > 2 ||
      (!given.empty() && (std::from_chars(given.data(), given.data() + given.size(), n).ptr !=
                              given.data() + given.size() ||
                          n <= 0))) {
    std::fprintf(stderr, "usage: %s [JOBS]   (a positive number, default 1000000)\n", args[0]);
    return 2;
  }
  durable_bench::scratch dir;
  durable::queue_options o;
  o.log = nullptr;
  durable::Queue<job> q{dir.db(), "rss", o};
  report("start");
  const std::vector<job> jobs(1000, job{1, std::string(64, 'x')});
  for (std::int64_t done = 0; done < n; done += 1000) q.push_many(jobs);
  report("pushed");
  std::atomic<std::int64_t> acked{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      while (auto c = q.claim(60s)) {
        q.ack(*c);
        ++acked;
      }
    });
  }
  for (auto& t : threads) t.join();
  report("acked");
  std::printf("jobs %lld, acked %lld, left %lld\n", static_cast<long long>(n),
              static_cast<long long>(acked.load()), static_cast<long long>(q.size()));
  return acked.load() == n ? 0 : 1;
}
