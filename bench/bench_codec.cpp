// SPDX-License-Identifier: MIT
// json_codec next to pfr_codec: encode, decode, and a push and a claim + ack through a Queue,
// for a job of 64 B and of 1 KiB (its pfr_codec encoding), next to a raw baseline (copying
// the bytes) in the same binary.
// Run: build/release/bench/bench_codec --benchmark_repetitions=5
//      --benchmark_report_aggregates_only=true

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <durable/codecs/json_codec.hpp>
#include <durable/codecs/pfr_codec.hpp>
#include <durable/queue.hpp>

#include "bench_support.hpp"

using namespace std::chrono_literals;

namespace bench {

/// A job with the usual mix of fields; `note` pads it to the size under test.
struct order {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  double amount = 0;
  std::string currency;
  std::vector<std::string> tags;
  std::int32_t priority = 0;
  bool express = false;
  std::string note;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(order, id, user_id, amount, currency, tags,
                                                priority, express, note)

}  // namespace bench

namespace {

using bench::order;
using durable::json_codec;
using durable::pfr_codec;
using durable_bench::scratch;

/// An order whose pfr_codec encoding is `state.range(0)` bytes.
order order_of(const benchmark::State& state) {
  order o{123456789, 42, 99.95, "EUR", {"gift", "priority"}, 3, true, ""};
  std::vector<std::byte> bytes;
  pfr_codec::encode(o, bytes);
  o.note.assign(static_cast<std::size_t>(state.range(0)) - bytes.size(), 'n');
  return o;
}

durable::queue_options options() {
  durable::queue_options o;
  o.log = nullptr;
  return o;
}

template <class Codec>
void encode(benchmark::State& state) {
  const order o = order_of(state);
  std::vector<std::byte> out;
  for (auto _ : state) {
    Codec::encode(o, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["bytes"] = static_cast<double>(out.size());
}

template <class Codec>
void decode(benchmark::State& state) {
  std::vector<std::byte> in;
  Codec::encode(order_of(state), in);
  for (auto _ : state) {
    auto o = Codec::template decode<order>(in);
    benchmark::DoNotOptimize(o.note.data());
  }
}

/// The least work either needs: copying the encoded bytes.
void raw_copy(benchmark::State& state) {
  std::vector<std::byte> in;
  pfr_codec::encode(order_of(state), in);
  std::vector<std::byte> out;
  for (auto _ : state) {
    out.resize(in.size());
    std::memcpy(out.data(), in.data(), in.size());
    benchmark::DoNotOptimize(out.data());
  }
}

template <class Codec>
void push(benchmark::State& state) {
  scratch dir;
  durable::Queue<order, Codec> q{dir.db(), "bench", options()};
  const order o = order_of(state);
  for (auto _ : state) q.push(o);
  state.SetItemsProcessed(state.iterations());
}

template <class Codec>
void claim_ack(benchmark::State& state) {
  scratch dir;
  durable::Queue<order, Codec> q{dir.db(), "bench", options()};
  const std::vector<order> jobs(10000, order_of(state));
  for (auto _ : state) {
    auto c = q.claim(30s);
    if (!c) {
      state.PauseTiming();
      q.push_many(jobs);
      state.ResumeTiming();
      c = q.claim(30s);
    }
    benchmark::DoNotOptimize(c->job->note.data());
    q.ack(*c);
  }
  state.SetItemsProcessed(state.iterations());
}

void pfr_encode(benchmark::State& s) { encode<pfr_codec>(s); }
void json_encode(benchmark::State& s) { encode<json_codec>(s); }
void pfr_decode(benchmark::State& s) { decode<pfr_codec>(s); }
void json_decode(benchmark::State& s) { decode<json_codec>(s); }
void pfr_push(benchmark::State& s) { push<pfr_codec>(s); }
void json_push(benchmark::State& s) { push<json_codec>(s); }
void pfr_claim_ack(benchmark::State& s) { claim_ack<pfr_codec>(s); }
void json_claim_ack(benchmark::State& s) { claim_ack<json_codec>(s); }

}  // namespace

// Arg: the job's pfr_codec encoding in bytes (64 B and 1 KiB).
BENCHMARK(raw_copy)->Arg(64)->Arg(1024);
BENCHMARK(pfr_encode)->Arg(64)->Arg(1024);
BENCHMARK(json_encode)->Arg(64)->Arg(1024);
BENCHMARK(pfr_decode)->Arg(64)->Arg(1024);
BENCHMARK(json_decode)->Arg(64)->Arg(1024);
BENCHMARK(pfr_push)->Arg(64)->Arg(1024);
BENCHMARK(json_push)->Arg(64)->Arg(1024);
BENCHMARK(pfr_claim_ack)->Arg(64)->Arg(1024);
BENCHMARK(json_claim_ack)->Arg(64)->Arg(1024);

BENCHMARK_MAIN();
