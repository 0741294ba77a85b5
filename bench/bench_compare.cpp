// SPDX-License-Identifier: MIT
// One fixed workload, for comparing durable with other queues (bench/persist_queue.py runs
// persist-queue on the same workload): T threads push J jobs of S bytes, one commit per
// push; then T threads claim + ack them all, one commit per call. Prints one JSON line.
// Run: build/release/bench/bench_compare --jobs 5000 --size 64 --threads 8 --durability full

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <durable/queue.hpp>

#include "bench_support.hpp"

using namespace std::chrono_literals;

namespace {

struct job {
  std::string body;
};

template <class F>
double seconds(F&& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t jobs = 5000;
  std::size_t size = 64;
  int threads = 8;
  auto durability = durable::durability_mode::full;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--jobs") {
      jobs = std::stoll(value);
    } else if (flag == "--size") {
      size = std::stoul(value);
    } else if (flag == "--threads") {
      threads = std::stoi(value);
    } else if (flag == "--durability") {
      durability =
          value == "normal" ? durable::durability_mode::normal : durable::durability_mode::full;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--jobs N] [--size B] [--threads T] [--durability full|normal]\n",
                   argv[0]);
      return 2;
    }
  }
  durable_bench::scratch dir;
  durable::queue_options o;
  o.log = nullptr;
  o.open.durability = durability;
  durable::Queue<job> q{dir.db(), "compare", o};
  const job j{std::string(size, 'x')};
  std::atomic<std::int64_t> next{0};
  const auto run = [&](auto&& body) {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(body);
    for (auto& t : pool) t.join();
  };
  const double push_s = seconds([&] {
    run([&] {
      while (next++ < jobs) q.push(j);
    });
  });
  std::atomic<std::int64_t> acked{0};
  const double claim_s = seconds([&] {
    run([&] {
      while (auto c = q.claim(60s)) {
        q.ack(*c);
        ++acked;
      }
    });
  });
  std::printf(
      "{\"jobs\": %lld, \"size\": %zu, \"threads\": %d, \"durability\": \"%s\", "
      "\"push_per_s\": %.1f, \"claim_ack_per_s\": %.1f}\n",
      static_cast<long long>(jobs), size, threads,
      durability == durable::durability_mode::full ? "full" : "normal",
      static_cast<double>(jobs) / push_s, static_cast<double>(acked.load()) / claim_s);
  return acked.load() == jobs ? 0 : 1;
}
