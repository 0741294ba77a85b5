// SPDX-License-Identifier: MIT
// Queue hot paths next to two raw-SQLite baselines in the same binary, with the same
// PRAGMAs (WAL, the same synchronous, busy_timeout):
//   raw_*      durable's own SQL on durable's tables: isolates the C++ layer;
//   minimal_*  the least work any SQLite queue must do (bench_support.hpp, minimal_queue):
//              the ceiling each operation is quoted against; its `/1` variants also keep
//              a counter row in each transaction, as durable does for O(1) bookkeeping.
// Also: N producer / consumer threads on one Queue (group commit), at NORMAL and FULL;
// stats(), size() and a push under a hard limit at 1,000 and 1,000,000 pending jobs.
// Run: scripts/bench.sh, or
//   build/release/bench/bench_queue --benchmark_repetitions=5
//     --benchmark_report_aggregates_only=true --benchmark_enable_random_interleaving=true

#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <durable/detail/sqlite/barrier.hpp>
#include <durable/detail/sqlite/schema.hpp>
#include <durable/detail/sqlite/values.hpp>
#include <durable/queue.hpp>

#include "bench_support.hpp"

using namespace std::chrono_literals;

namespace {

using durable_bench::minimal_queue;
using durable_bench::now_ms;
using durable_bench::scratch;
using durability = durable::durability_mode;

struct job {
  std::int64_t n = 0;
  std::string body;
};

durable::queue_options options(durability d = durability::normal) {
  durable::queue_options o;
  o.log = nullptr;
  o.open.durability = d;
  return o;
}

durability durability_of(const benchmark::State& state) {
  return state.range(1) == 0 ? durability::normal : durability::full;
}

/// The same-SQL baseline: a connection opened and configured as durable does, and the
/// statements durable runs for each operation (the rows, 32 per INSERT in a batch; the
/// queue's counter; the id high-water mark checks; the claim's head, update and read),
/// prepared once. Isolates durable's C++ layer.
class raw_queue {
  static constexpr int rows_per_insert = 32;  // as detail/sqlite/push.hpp
  static constexpr int columns = 15;

 public:
  explicit raw_queue(const std::string& path) {
    durable_bench::create_schema(path);  // durable's tables, created the same way
    db_ = durable_bench::open_raw(path);
    auto* catalog = prepare("INSERT INTO durable_queues (name) VALUES ('bench') RETURNING id");
    durable_bench::check(db_, sqlite3_step(catalog));
    queue_id_ = sqlite3_column_int64(catalog, 0);
    sqlite3_finalize(catalog);
    queue_row_ = prepare("SELECT hard_limit, jobs FROM durable_queues WHERE id = ?1");
    hwm_ = prepare("SELECT value FROM durable_meta WHERE key = 'job_id_hwm'");
    max_id_ = prepare("SELECT max(id) FROM durable_jobs");
    insert_ = prepare(
        "INSERT INTO durable_jobs (id, queue_id, priority, run_at, attempts, max_attempts, "
        "sequential, unique_key, enqueued_at, key, codec, fingerprint, history, payload, "
        "timeout_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)");
    insert_many_ = prepare(("INSERT INTO durable_jobs (id, queue_id, priority, run_at, attempts, "
                            "max_attempts, sequential, unique_key, enqueued_at, key, codec, "
                            "fingerprint, history, payload, timeout_ms) VALUES " +
                            durable::detail::sqlite::value_rows(rows_per_insert, columns))
                               .c_str());
    counter_ = prepare("UPDATE durable_queues SET jobs = jobs + ?2 WHERE id = ?1");
    const char* set =
        "SET lease_token = ?1, run_at = ?2, claimed_by = ?3, "
        "attempts = attempts + (lease_token IS NOT NULL), "
        "history = CASE WHEN lease_token IS NULL THEN history ELSE json_insert("
        "coalesce(history, '[]'), '$[#]', json_object('attempt', attempts + 1, 'type', "
        "'lease_expired', 'message', 'the lease ended before the job was acked or nacked', 'at', "
        "?4)) END, first_run_at = coalesce(first_run_at, ?4), ready_at = run_at ";
    // The claim as durable words it: the head (with the sequential barrier, barrier.hpp, on
    // each candidate; and once without, to show what the barrier costs), then the update
    // of that job and the read of its row.
    const std::string head =
        "SELECT id, sequential FROM durable_jobs AS j WHERE queue_id = ?1 AND run_at <= ?2";
    const char* barrier = " AND " DURABLE_DETAIL_SEQUENTIAL_BARRIER("j", "?1");
    head_ = prepare((head + barrier + " ORDER BY priority DESC, run_at, id LIMIT ?3").c_str());
    head_plain_ = prepare((head + " ORDER BY priority DESC, run_at, id LIMIT ?3").c_str());
    claim_id_ = prepare((std::string{"UPDATE durable_jobs "} + set + "WHERE id = ?5").c_str());
    claimed_ = prepare(
        "SELECT id, key, attempts, max_attempts, priority, sequential, enqueued_at, codec, "
        "fingerprint, payload, timeout_ms, first_run_at, ready_at FROM durable_jobs WHERE id = ?1");
    ack_ = prepare("DELETE FROM durable_jobs WHERE id = ?1 AND lease_token = ?2 AND queue_id = ?3");
    begin_ = prepare("BEGIN IMMEDIATE");
    commit_ = prepare("COMMIT");
  }
  raw_queue(const raw_queue&) = delete;
  raw_queue& operator=(const raw_queue&) = delete;
  ~raw_queue() {
    for (auto* s : {queue_row_, hwm_, max_id_, insert_, insert_many_, counter_, head_, head_plain_,
                    claim_id_, claimed_, ack_, begin_, commit_}) {
      sqlite3_finalize(s);
    }
    sqlite3_close_v2(db_);
  }

  /// `n` jobs in one transaction (as durable: runs of rows_per_insert by one statement).
  void push(const std::string& body, std::int64_t n = 1) {
    begin();
    sqlite3_bind_int64(queue_row_, 1, queue_id_);
    scalar(queue_row_);
    auto next = std::max(scalar(hwm_), scalar(max_id_)) + 1;
    const auto now = now_ms();
    for (std::int64_t done = 0; done < n;) {
      const bool many = n - done >= rows_per_insert;
      auto* s = many ? insert_many_ : insert_;
      for (int row = 0; row < (many ? rows_per_insert : 1); ++row) {
        bind_job(s, row * columns, next++, now, body);
      }
      step_done(s);
      done += many ? rows_per_insert : 1;
    }
    count(n);
    commit();
  }
  void begin() { step_done(begin_); }
  void commit() { step_done(commit_); }

  /// Claims one job (one transaction; with or without the sequential barrier) and acks it
  /// (another); false when the queue is empty.
  bool claim_ack(bool barrier = true) {
    const auto token = ++token_;
    begin();
    const auto ids = claim(barrier ? head_ : head_plain_, 1, token);
    commit();
    if (ids.empty()) return false;
    ack(ids.front(), token);
    return true;
  }

  /// Claims up to `max` jobs in one transaction, then acks each; returns how many.
  std::size_t claim_batch_ack(std::int64_t max) {
    const auto token = ++token_;
    begin();
    const auto ids = claim(head_, max, token);
    commit();
    for (const auto id : ids) ack(id, token);
    return ids.size();
  }

 private:
  // Binds one job as parameters first + 1 .. first + columns of `s`.
  void bind_job(sqlite3_stmt* s, int first, std::int64_t id, std::int64_t now,
                const std::string& body) const {
    sqlite3_bind_int64(s, first + 1, id);
    sqlite3_bind_int64(s, first + 2, queue_id_);
    sqlite3_bind_int64(s, first + 3, 0);
    sqlite3_bind_int64(s, first + 4, now);
    sqlite3_bind_int64(s, first + 5, 0);
    sqlite3_bind_int64(s, first + 6, 5);
    sqlite3_bind_int64(s, first + 7, 0);
    sqlite3_bind_int64(s, first + 8, 0);
    sqlite3_bind_int64(s, first + 9, now);
    sqlite3_bind_null(s, first + 10);
    sqlite3_bind_text(s, first + 11, "raw", 3, SQLITE_STATIC);
    sqlite3_bind_int64(s, first + 12, 1);
    sqlite3_bind_null(s, first + 13);
    sqlite3_bind_blob(s, first + 14, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
    sqlite3_bind_null(s, first + 15);
  }
  // Claims the head (up to `max` jobs) with `head`, inside the caller's transaction.
  std::vector<std::int64_t> claim(sqlite3_stmt* head, std::int64_t max, std::int64_t token) {
    const auto now = now_ms();
    sqlite3_bind_int64(head, 1, queue_id_);
    sqlite3_bind_int64(head, 2, now);
    sqlite3_bind_int64(head, 3, max);
    std::vector<std::int64_t> ids;
    while (sqlite3_step(head) == SQLITE_ROW) ids.push_back(sqlite3_column_int64(head, 0));
    sqlite3_reset(head);
    for (const auto id : ids) {
      sqlite3_bind_int64(claim_id_, 1, token);
      sqlite3_bind_int64(claim_id_, 2, now + 30000);
      sqlite3_bind_text(claim_id_, 3, "bench-claimer", -1, SQLITE_STATIC);
      sqlite3_bind_int64(claim_id_, 4, now);
      sqlite3_bind_int64(claim_id_, 5, id);
      step_done(claim_id_);
      sqlite3_bind_int64(claimed_, 1, id);
      if (sqlite3_step(claimed_) == SQLITE_ROW) {
        benchmark::DoNotOptimize(sqlite3_column_blob(claimed_, 9));
      }
      sqlite3_reset(claimed_);
    }
    return ids;
  }
  void ack(std::int64_t id, std::int64_t token) {
    begin();
    const auto before = scalar(max_id_);
    sqlite3_bind_int64(ack_, 1, id);
    sqlite3_bind_int64(ack_, 2, token);
    sqlite3_bind_int64(ack_, 3, queue_id_);
    step_done(ack_);
    count(-1);
    if (scalar(max_id_) < before) scalar(hwm_);  // durable then checks the mark
    commit();
  }
  void count(std::int64_t delta) {
    sqlite3_bind_int64(counter_, 1, queue_id_);
    sqlite3_bind_int64(counter_, 2, delta);
    step_done(counter_);
  }
  std::int64_t scalar(sqlite3_stmt* s) {
    std::int64_t v = 0;
    if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return v;
  }
  sqlite3_stmt* prepare(const char* sql) { return durable_bench::prepare(db_, sql); }
  void step_done(sqlite3_stmt* s) {
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db_));
  }

  sqlite3* db_ = nullptr;
  std::int64_t queue_id_ = 0;
  sqlite3_stmt* queue_row_ = nullptr;
  sqlite3_stmt* hwm_ = nullptr;
  sqlite3_stmt* max_id_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* counter_ = nullptr;
  sqlite3_stmt* insert_many_ = nullptr;
  sqlite3_stmt* head_ = nullptr;
  sqlite3_stmt* head_plain_ = nullptr;
  sqlite3_stmt* claim_id_ = nullptr;
  sqlite3_stmt* claimed_ = nullptr;
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
  for (auto _ : state) q.push(body, 1000);
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

void raw_claim_ack(benchmark::State& state) {
  scratch dir;
  raw_queue q{dir.db()};
  const auto body = body_of(state);
  const bool barrier = state.range(1) != 0;
  const auto fill = [&] { q.push(body, refill); };
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
      q.push(body, refill);
      state.ResumeTiming();
      q.claim_batch_ack(100);
    }
  }
  state.SetItemsProcessed(state.iterations() * 100);
}

// --- the minimal raw queue: the ceiling ------------------------------------------------

// Args: {job size, 1: keep a counter row as durable does (minimal_queue's `counted`), 0: not}.
bool counted(const benchmark::State& state) { return state.range(1) != 0; }

void minimal_push(benchmark::State& state) {
  scratch dir;
  minimal_queue q{dir.db(), durable::durability_mode::normal, counted(state)};
  const auto body = body_of(state);
  for (auto _ : state) q.push(body);
  state.SetItemsProcessed(state.iterations());
}

void minimal_push_many(benchmark::State& state) {
  scratch dir;
  minimal_queue q{dir.db(), durable::durability_mode::normal, counted(state)};
  const auto body = body_of(state);
  for (auto _ : state) q.push_many(body, 1000);
  state.SetItemsProcessed(state.iterations() * 1000);
}

void minimal_claim_ack(benchmark::State& state) {
  scratch dir;
  minimal_queue q{dir.db(), durable::durability_mode::normal, counted(state)};
  const auto body = body_of(state);
  for (auto _ : state) {
    if (!q.claim_ack()) {
      state.PauseTiming();
      q.push_many(body, refill);
      state.ResumeTiming();
      q.claim_ack();
    }
  }
  state.SetItemsProcessed(state.iterations());
}

// --- threads: N producers / consumers on one Queue, one commit per call ----------------
// Args: {job size, durability (0 NORMAL, 1 FULL)}. The raw ceiling is the minimal queue
// on one connection (SQLite commits one transaction at a time per file).

std::unique_ptr<scratch> shared_dir;                // NOLINT: set by thread 0 before the loop
std::unique_ptr<durable::Queue<job>> shared_queue;  // NOLINT

/// Transactions the shared queue's writer has run (group commit merges calls into them).
std::uint64_t commits() {
  return dynamic_cast<durable::detail::sqlite::sqlite_backend&>(shared_queue->db().storage())
      .writer()
      .transactions();
}

/// Reports calls per transaction over the run (thread 0, after the others finished).
void report_merging(benchmark::State& state, std::uint64_t before, int calls_per_item = 1) {
  const auto transactions = static_cast<double>(commits() - before);
  state.counters["calls_per_commit"] =
      static_cast<double>(state.iterations() * state.threads() * calls_per_item) / transactions;
}

void durable_push_threads(benchmark::State& state) {
  if (state.thread_index() == 0) {
    shared_dir = std::make_unique<scratch>();
    shared_queue = std::make_unique<durable::Queue<job>>(shared_dir->db(), "bench",
                                                         options(durability_of(state)));
  }
  const job j{1, body_of(state)};
  const auto commits_before = state.thread_index() == 0 ? commits() : 0;
  for (auto _ : state) shared_queue->push(j);
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    report_merging(state, commits_before);
    shared_queue.reset();
    shared_dir.reset();
  }
}

void minimal_push_sync(benchmark::State& state) {
  scratch dir;
  minimal_queue q{dir.db(), durability_of(state)};
  const auto body = body_of(state);
  for (auto _ : state) q.push(body);
  state.SetItemsProcessed(state.iterations());
}

constexpr std::int64_t normal_consumer_iterations = 1000;
constexpr std::int64_t full_consumer_iterations = 100;

void durable_claim_ack_threads(benchmark::State& state) {
  if (state.thread_index() == 0) {
    shared_dir = std::make_unique<scratch>();
    shared_queue = std::make_unique<durable::Queue<job>>(shared_dir->db(), "bench",
                                                         options(durability_of(state)));
    const std::vector<job> jobs(static_cast<std::size_t>(state.max_iterations),
                                job{1, body_of(state)});
    for (int i = 0; i < state.threads(); ++i) shared_queue->push_many(jobs);
  }
  const auto commits_before = state.thread_index() == 0 ? commits() : 0;
  for (auto _ : state) {
    auto c = shared_queue->claim(30s);
    if (!c) throw std::runtime_error("durable_claim_ack_threads: the queue ran dry");
    shared_queue->ack(*c);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    report_merging(state, commits_before, 2);
    shared_queue.reset();
    shared_dir.reset();
  }
}

void minimal_claim_ack_sync(benchmark::State& state) {
  scratch dir;
  minimal_queue q{dir.db(), durability_of(state)};
  const auto body = body_of(state);
  q.push_many(body, state.max_iterations);
  for (auto _ : state) {
    if (!q.claim_ack()) throw std::runtime_error("minimal_claim_ack_sync: the queue ran dry");
  }
  state.SetItemsProcessed(state.iterations());
}

// --- bookkeeping at 1,000 and 1,000,000 pending jobs -----------------------------------

/// Files holding `n` pending 64-byte jobs in queue "bench", pushed through durable
/// (push_many, 10,000 per transaction) once per process.
const std::string& pending_file(std::int64_t n) {
  static scratch dir;
  static std::map<std::int64_t, std::string> files;
  auto it = files.find(n);
  if (it == files.end()) {
    const auto path = dir.file("pending-" + std::to_string(n) + ".db");
    durable::Queue<job> q{path, "bench", options()};
    const std::vector<job> jobs(10'000, job{1, std::string(64, 'x')});
    for (std::int64_t done = 0; done < n; done += 10'000) {
      q.push_many(std::span{jobs}.first(
          static_cast<std::size_t>(std::min<std::int64_t>(10'000, n - done))));
    }
    it = files.emplace(n, path).first;
  }
  return it->second;
}

void durable_stats(benchmark::State& state) {
  durable::Queue<job> q{pending_file(state.range(0)), "bench", options()};
  for (auto _ : state) benchmark::DoNotOptimize(q.stats());
}

void durable_size(benchmark::State& state) {
  durable::Queue<job> q{pending_file(state.range(0)), "bench", options()};
  for (auto _ : state) benchmark::DoNotOptimize(q.size());
}

void durable_push_hard_limit(benchmark::State& state) {
  auto o = options();
  o.hard_limit = 100'000'000;
  durable::Queue<job> q{pending_file(state.range(0)), "bench", o};
  const job j{1, std::string(64, 'x')};
  for (auto _ : state) q.push(j);
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

// Arg: job body size in bytes (64 B and 1 KiB).
BENCHMARK(durable_push)->Arg(64)->Arg(1024);
BENCHMARK(raw_push)->Arg(64)->Arg(1024);
BENCHMARK(durable_push_many)->Arg(64)->Arg(1024);
BENCHMARK(raw_push_many)->Arg(64)->Arg(1024);
BENCHMARK(durable_claim_ack)->Arg(64)->Arg(1024);
// Args: {job size, barrier}: durable's claim, and once without the sequential barrier.
BENCHMARK(raw_claim_ack)->Args({64, 1})->Args({1024, 1})->Args({64, 0})->Args({1024, 0});
BENCHMARK(durable_claim_batch_ack)->Arg(64)->Arg(1024);
BENCHMARK(raw_claim_batch_ack)->Arg(64)->Arg(1024);
BENCHMARK(minimal_push)->ArgsProduct({{64, 1024}, {0, 1}});
BENCHMARK(minimal_push_many)->ArgsProduct({{64, 1024}, {0, 1}});
BENCHMARK(minimal_claim_ack)->ArgsProduct({{64, 1024}, {0, 1}});

// Args: {job size, durability}; threads against the one-connection ceiling: 1, 2, 4, 8
// for 64 B jobs (the plot), 1 and 8 for 1 KiB. Consumers at FULL take 100 iterations per
// thread (two fsyncs each), at NORMAL 1,000.
BENCHMARK(durable_push_threads)->ArgsProduct({{64}, {0, 1}})->ThreadRange(1, 8)->UseRealTime();
BENCHMARK(durable_push_threads)
    ->ArgsProduct({{1024}, {0, 1}})
    ->Threads(1)
    ->Threads(8)
    ->UseRealTime();
BENCHMARK(minimal_push_sync)->ArgsProduct({{64, 1024}, {0, 1}})->UseRealTime();
BENCHMARK(durable_claim_ack_threads)
    ->ArgsProduct({{64}, {0}})
    ->ThreadRange(1, 8)
    ->Iterations(normal_consumer_iterations)
    ->UseRealTime();
BENCHMARK(durable_claim_ack_threads)
    ->ArgsProduct({{64}, {1}})
    ->ThreadRange(1, 8)
    ->Iterations(full_consumer_iterations)
    ->UseRealTime();
BENCHMARK(durable_claim_ack_threads)
    ->ArgsProduct({{1024}, {0}})
    ->Threads(1)
    ->Threads(8)
    ->Iterations(normal_consumer_iterations)
    ->UseRealTime();
BENCHMARK(minimal_claim_ack_sync)
    ->ArgsProduct({{64, 1024}, {0}})
    ->Iterations(normal_consumer_iterations)
    ->UseRealTime();
BENCHMARK(minimal_claim_ack_sync)
    ->ArgsProduct({{64}, {1}})
    ->Iterations(full_consumer_iterations)
    ->UseRealTime();

// Arg: pending jobs in the queue.
BENCHMARK(durable_stats)->Arg(1'000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);
BENCHMARK(durable_size)->Arg(1'000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);
BENCHMARK(durable_push_hard_limit)->Arg(1'000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
