// SPDX-License-Identifier: MIT
// Queue hot paths next to raw SQLite doing the same SQL, with the same PRAGMAs
// (WAL, synchronous=NORMAL, busy_timeout) and the same table, in the same binary.
// Run: build/release/bench/bench_queue --benchmark_repetitions=5
//      --benchmark_report_aggregates_only=true

#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <durable/detail/sqlite/schema.hpp>
#include <durable/queue.hpp>

#include "bench_support.hpp"

using namespace std::chrono_literals;

namespace {

using durable_bench::scratch;

struct job {
  std::int64_t n = 0;
  std::string body;
};

durable::queue_options options() {
  durable::queue_options o;
  o.log = nullptr;
  return o;
}

/// The raw-SQLite baseline: a connection opened and configured as durable does, and the
/// same statements, prepared once.
class raw_queue {
 public:
  explicit raw_queue(const std::string& path) {
    durable_bench::create_schema(path);  // durable's tables, created the same way
    db_ = durable_bench::open_raw(path);
    insert_ = prepare(
        "INSERT INTO durable_jobs (queue, key, priority, run_at, enqueued_at, sequential, "
        "attempts, codec, fingerprint, payload, history) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    // The claim as durable words it: the lease, the lost attempt recorded, the first-run
    // and ready times, and the sequential barrier (an index probe) on each candidate.
    claim_ = prepare(
        "UPDATE durable_jobs SET lease_token = ?1, run_at = ?2, claimed_by = ?3, "
        "attempts = attempts + (lease_token IS NOT NULL), "
        "history = CASE WHEN lease_token IS NULL THEN history ELSE json_insert("
        "coalesce(history, '[]'), '$[#]', json_object('attempt', attempts + 1, 'type', "
        "'lease_expired', 'message', 'the lease ended before the job was acked or nacked', 'at', "
        "?4)) END, first_run_at = coalesce(first_run_at, ?4), ready_at = run_at "
        "WHERE id = (SELECT id FROM durable_jobs AS j WHERE queue = ?5 AND run_at <= ?4 AND "
        "(+j.id <= coalesce((SELECT min(b.id) FROM durable_jobs AS b WHERE b.queue = ?5 AND "
        "b.sequential <> 0), 9223372036854775807) AND (j.sequential = 0 OR (SELECT e.id FROM "
        "durable_jobs AS e NOT INDEXED WHERE e.id < j.id AND e.queue = ?5 ORDER BY e.id DESC "
        "LIMIT 1) IS NULL)) "
        "ORDER BY priority DESC, run_at, id LIMIT 1) "
        "RETURNING id, key, attempts, priority, sequential, enqueued_at, codec, fingerprint, "
        "payload, timeout_ms, first_run_at, ready_at");
    // The same claim without the sequential barrier: what the barrier costs.
    claim_plain_ = prepare(
        "UPDATE durable_jobs SET lease_token = ?1, run_at = ?2, claimed_by = ?3, "
        "attempts = attempts + (lease_token IS NOT NULL), "
        "history = CASE WHEN lease_token IS NULL THEN history ELSE json_insert("
        "coalesce(history, '[]'), '$[#]', json_object('attempt', attempts + 1, 'type', "
        "'lease_expired', 'message', 'the lease ended before the job was acked or nacked', 'at', "
        "?4)) END, first_run_at = coalesce(first_run_at, ?4), ready_at = run_at "
        "WHERE id = (SELECT id FROM durable_jobs WHERE queue = ?5 AND run_at <= ?4 "
        "ORDER BY priority DESC, run_at, id LIMIT 1) "
        "RETURNING id, key, attempts, priority, sequential, enqueued_at, codec, fingerprint, "
        "payload, timeout_ms, first_run_at, ready_at");
    head_ = prepare(
        "SELECT id, sequential FROM durable_jobs AS j WHERE queue = ?1 AND run_at <= ?2 AND "
        "(+j.id <= coalesce((SELECT min(b.id) FROM durable_jobs AS b WHERE b.queue = ?1 AND "
        "b.sequential <> 0), 9223372036854775807) AND (j.sequential = 0 OR (SELECT e.id FROM "
        "durable_jobs AS e NOT INDEXED WHERE e.id < j.id AND e.queue = ?1 ORDER BY e.id DESC "
        "LIMIT 1) IS NULL)) "
        "ORDER BY priority DESC, run_at, id LIMIT ?3");
    claim_id_ = prepare(
        "UPDATE durable_jobs SET lease_token = ?1, run_at = ?2, claimed_by = ?3, "
        "attempts = attempts + (lease_token IS NOT NULL), "
        "history = CASE WHEN lease_token IS NULL THEN history ELSE json_insert("
        "coalesce(history, '[]'), '$[#]', json_object('attempt', attempts + 1, 'type', "
        "'lease_expired', 'message', 'the lease ended before the job was acked or nacked', 'at', "
        "?4)) END, first_run_at = coalesce(first_run_at, ?4), ready_at = run_at WHERE id = ?5 "
        "RETURNING id, key, attempts, priority, sequential, enqueued_at, codec, fingerprint, "
        "payload, timeout_ms, first_run_at, ready_at");
    ack_ = prepare("DELETE FROM durable_jobs WHERE id = ?1 AND lease_token = ?2");
    begin_ = prepare("BEGIN IMMEDIATE");
    commit_ = prepare("COMMIT");
  }
  raw_queue(const raw_queue&) = delete;
  raw_queue& operator=(const raw_queue&) = delete;
  ~raw_queue() {
    for (auto* s : {insert_, claim_, claim_plain_, head_, claim_id_, ack_, begin_, commit_}) {
      sqlite3_finalize(s);
    }
    sqlite3_close_v2(db_);
  }

  void push(const std::string& body) {
    const auto now = now_ms();
    sqlite3_bind_text(insert_, 1, "bench", 5, SQLITE_STATIC);
    sqlite3_bind_null(insert_, 2);
    sqlite3_bind_int64(insert_, 3, 0);
    sqlite3_bind_int64(insert_, 4, now);
    sqlite3_bind_int64(insert_, 5, now);
    sqlite3_bind_int64(insert_, 6, 0);
    sqlite3_bind_int64(insert_, 7, 0);
    sqlite3_bind_text(insert_, 8, "raw", 3, SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 9, 1);
    sqlite3_bind_blob(insert_, 10, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
    sqlite3_bind_null(insert_, 11);
    step_done(insert_);
  }
  void begin() { step_done(begin_); }
  void commit() { step_done(commit_); }

  /// Claims one job (with or without the sequential barrier) and acks it; false when the
  /// queue is empty.
  bool claim_ack(bool barrier = true) {
    auto* claim = barrier ? claim_ : claim_plain_;
    const auto now = now_ms();
    const auto token = ++token_;
    bind_claim(claim, token, now);
    sqlite3_bind_text(claim, 5, "bench", 5, SQLITE_STATIC);
    if (sqlite3_step(claim) != SQLITE_ROW) {
      sqlite3_reset(claim);
      return false;
    }
    const auto id = sqlite3_column_int64(claim, 0);
    benchmark::DoNotOptimize(sqlite3_column_blob(claim, 8));
    sqlite3_reset(claim);
    ack(id, token);
    return true;
  }

  /// Claims up to `max` jobs in one transaction, then acks each; returns how many.
  std::size_t claim_batch_ack(std::int64_t max) {
    const auto now = now_ms();
    std::vector<std::pair<std::int64_t, std::int64_t>> claimed;
    begin();
    sqlite3_bind_text(head_, 1, "bench", 5, SQLITE_STATIC);
    sqlite3_bind_int64(head_, 2, now);
    sqlite3_bind_int64(head_, 3, max);
    std::vector<std::int64_t> ids;
    while (sqlite3_step(head_) == SQLITE_ROW) ids.push_back(sqlite3_column_int64(head_, 0));
    sqlite3_reset(head_);
    for (const auto id : ids) {
      const auto token = ++token_;
      bind_claim(claim_id_, token, now);
      sqlite3_bind_int64(claim_id_, 5, id);
      if (sqlite3_step(claim_id_) == SQLITE_ROW) {
        benchmark::DoNotOptimize(sqlite3_column_blob(claim_id_, 8));
        claimed.emplace_back(id, token);
      }
      sqlite3_reset(claim_id_);
    }
    commit();
    for (const auto& [id, token] : claimed) ack(id, token);
    return claimed.size();
  }

 private:
  static std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  void bind_claim(sqlite3_stmt* s, std::int64_t token, std::int64_t now) {
    sqlite3_bind_int64(s, 1, token);
    sqlite3_bind_int64(s, 2, now + 30000);
    sqlite3_bind_text(s, 3, "bench-claimer", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, now);
  }
  void ack(std::int64_t id, std::int64_t token) {
    sqlite3_bind_int64(ack_, 1, id);
    sqlite3_bind_int64(ack_, 2, token);
    step_done(ack_);
  }
  sqlite3_stmt* prepare(const char* sql) { return durable_bench::prepare(db_, sql); }
  void step_done(sqlite3_stmt* s) {
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db_));
  }

  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* claim_ = nullptr;
  sqlite3_stmt* claim_plain_ = nullptr;
  sqlite3_stmt* head_ = nullptr;
  sqlite3_stmt* claim_id_ = nullptr;
  sqlite3_stmt* ack_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  std::int64_t token_ = 0;
};

std::string body_of(const benchmark::State& state) {
  return std::string(static_cast<std::size_t>(state.range(0)), 'x');
}

constexpr std::int64_t refill = 10000;

// --- push, one transaction each ---------------------------------------------------------

void durable_push(benchmark::State& state) {
  scratch dir;
  durable::Queue<job> q{dir.db(), "bench", options()};
  const job j{1, body_of(state)};
  for (auto _ : state) q.push(j);
  state.SetItemsProcessed(state.iterations());
}

void raw_push(benchmark::State& state) {
  scratch dir;
  raw_queue q{dir.db()};
  const auto body = body_of(state);
  for (auto _ : state) q.push(body);
  state.SetItemsProcessed(state.iterations());
}

// --- push_many, 1,000 per transaction ---------------------------------------------------

void durable_push_many(benchmark::State& state) {
  scratch dir;
  durable::Queue<job> q{dir.db(), "bench", options()};
  const std::vector<job> jobs(1000, job{1, body_of(state)});
  for (auto _ : state) q.push_many(jobs);
  state.SetItemsProcessed(state.iterations() * 1000);
}

void raw_push_many(benchmark::State& state) {
  scratch dir;
  raw_queue q{dir.db()};
  const auto body = body_of(state);
  for (auto _ : state) {
    q.begin();
    for (int i = 0; i < 1000; ++i) q.push(body);
    q.commit();
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}

// --- claim + ack ------------------------------------------------------------------------

void durable_claim_ack(benchmark::State& state) {
  scratch dir;
  durable::Queue<job> q{dir.db(), "bench", options()};
  const std::vector<job> jobs(refill, job{1, body_of(state)});
  for (auto _ : state) {
    auto c = q.claim(30s);
    if (!c) {
      state.PauseTiming();
      q.push_many(jobs);
      state.ResumeTiming();
      c = q.claim(30s);
    }
    q.ack(*c);
  }
  state.SetItemsProcessed(state.iterations());
}

// Arg 1 of the raw side: 1 with the sequential barrier (as durable claims), 0 without.
void raw_claim_ack(benchmark::State& state) {
  scratch dir;
  raw_queue q{dir.db()};
  const auto body = body_of(state);
  const bool barrier = state.range(1) != 0;
  const auto fill = [&] {
    q.begin();
    for (std::int64_t i = 0; i < refill; ++i) q.push(body);
    q.commit();
  };
  for (auto _ : state) {
    if (!q.claim_ack(barrier)) {
      state.PauseTiming();
      fill();
      state.ResumeTiming();
      q.claim_ack(barrier);
    }
  }
  state.SetItemsProcessed(state.iterations());
}

// --- claim_batch(100) + ack -------------------------------------------------------------

void durable_claim_batch_ack(benchmark::State& state) {
  scratch dir;
  durable::Queue<job> q{dir.db(), "bench", options()};
  const std::vector<job> jobs(refill, job{1, body_of(state)});
  for (auto _ : state) {
    auto batch = q.claim_batch(100, 30s);
    if (batch.empty()) {
      state.PauseTiming();
      q.push_many(jobs);
      state.ResumeTiming();
      batch = q.claim_batch(100, 30s);
    }
    for (const auto& c : batch) q.ack(c);
  }
  state.SetItemsProcessed(state.iterations() * 100);
}

void raw_claim_batch_ack(benchmark::State& state) {
  scratch dir;
  raw_queue q{dir.db()};
  const auto body = body_of(state);
  for (auto _ : state) {
    if (q.claim_batch_ack(100) == 0) {
      state.PauseTiming();
      q.begin();
      for (std::int64_t i = 0; i < refill; ++i) q.push(body);
      q.commit();
      state.ResumeTiming();
      q.claim_batch_ack(100);
    }
  }
  state.SetItemsProcessed(state.iterations() * 100);
}

}  // namespace

// Arg: job body size in bytes (64 B and 1 KiB).
BENCHMARK(durable_push)->Arg(64)->Arg(1024);
BENCHMARK(raw_push)->Arg(64)->Arg(1024);
BENCHMARK(durable_push_many)->Arg(64)->Arg(1024);
BENCHMARK(raw_push_many)->Arg(64)->Arg(1024);
BENCHMARK(durable_claim_ack)->Arg(64)->Arg(1024);
BENCHMARK(raw_claim_ack)->Args({64, 1})->Args({1024, 1})->Args({64, 0})->Args({1024, 0});
BENCHMARK(durable_claim_batch_ack)->Arg(64)->Arg(1024);
BENCHMARK(raw_claim_batch_ack)->Arg(64)->Arg(1024);

BENCHMARK_MAIN();
