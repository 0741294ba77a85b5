// SPDX-License-Identifier: MIT
// DeadLetterQueue next to raw SQLite doing the same SQL, with the same PRAGMAs (WAL,
// synchronous=NORMAL, busy_timeout) and the same table and indexes (both created by
// detail::sqlite::ensure_schema), in the same binary:
//   add                       one entry, one transaction
//   window query              ~1,000 entries out of 100,000 and out of 1,000,000
//   count                     a window of ~100,000 entries out of 1,000,000
//   delete_older_than         10 % of 1,000,000 (the file is restored between iterations)
// The 100,000- and 1,000,000-entry files are populated once per process in a temp dir.
// Run: build/dlq-rel/bench/bench_dead_letter_queue --benchmark_repetitions=5
//      --benchmark_report_aggregates_only=true --benchmark_enable_random_interleaving=true
// (interleaving spreads a noisy neighbour over both sides instead of one).

#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <durable/dead_letter_queue.hpp>
#include <durable/detail/sqlite/schema.hpp>

#include "bench_support.hpp"

using namespace std::chrono_literals;

namespace {

using durable_bench::check;
using durable_bench::open_raw;
using durable_bench::scratch;

struct job {
  std::int64_t n = 0;
  std::string body;
};

/// Entries of the populated files fail about one every `spacing_ms`, from `t0_ms`.
constexpr std::int64_t t0_ms = 1'767'225'600'000;
constexpr std::int64_t spacing_ms = 10;
constexpr std::int64_t window_entries = 1'000;

/// Creates durable's schema in `path` (through durable, for both sides) and fills it with
/// `n` entries of DLQ "bench" in one transaction; ends with a checkpoint so the file
/// stands alone.
void populate(const std::string& path, std::int64_t n) {
  durable_bench::create_schema(path);
  sqlite3* db = open_raw(path);
  check(db, sqlite3_exec(db, "PRAGMA cache_size = -524288", nullptr, nullptr, nullptr));
  check(db, sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr));
  sqlite3_stmt* s = nullptr;
  // failed_at follows the insertion order, as in a real DLQ, with up to 1 s of jitter so
  // that (failed_at, id) order differs from id order locally.
  check(db, sqlite3_prepare_v2(
                db,
                "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < ?1) "
                "INSERT INTO durable_dead_letters (dlq, origin, job_id, queue, key, codec, "
                "fingerprint, payload, error_type, message, context, history, attempts, "
                "enqueued_at, failed_at, redriven_at) "
                "SELECT 'bench', 'origin', i, 'jobs', i % 10007, 'pfr', 42, randomblob(24), "
                "'type' || (i % 5), 'HTTP 503 from payments', '', "
                "'[{\"attempt\":1,\"type\":\"timeout\",\"message\":\"slow\",\"at\":0}]', 3, ?2, "
                "?2 + i * ?3 + (i * 7919) % 1000, CASE WHEN i % 20 = 0 THEN ?2 END FROM k",
                -1, &s, nullptr));
  sqlite3_bind_int64(s, 1, n);
  sqlite3_bind_int64(s, 2, t0_ms);
  sqlite3_bind_int64(s, 3, spacing_ms);
  check(db, sqlite3_step(s));
  sqlite3_finalize(s);
  check(db, sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr));
  check(db, sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr));
  sqlite3_close_v2(db);
}

/// The populated files, created on first use and kept for the rest of the process.
class fixtures {
 public:
  static fixtures& get() {
    static fixtures f;
    return f;
  }
  const std::string& file(std::int64_t n) {
    auto it = files_.find(n);
    if (it == files_.end()) {
      const auto path = dir_.file("dlq-" + std::to_string(n) + ".db");
      populate(path, n);
      it = files_.emplace(n, path).first;
    }
    return it->second;
  }
  [[nodiscard]] std::string work_file() const { return dir_.file("work.db"); }

 private:
  scratch dir_;
  std::map<std::int64_t, std::string> files_;
};

durable::dead_letter_options options(const durable::manual_clock* clock = nullptr) {
  durable::dead_letter_options o;
  o.log = nullptr;
  if (clock != nullptr) o.clock = clock->source();
  return o;
}

/// What a raw implementation reads for a summary, as DeadLetterQueue does.
struct raw_summary {
  std::int64_t id = 0;
  std::optional<std::int64_t> job_id;
  std::string queue;
  std::optional<std::int64_t> int_key;
  std::string text_key;
  std::string error_type;
  std::string message;
  std::int64_t attempts = 0;
  std::int64_t enqueued_at = 0;
  std::int64_t failed_at = 0;
  std::optional<std::int64_t> redriven_at;
};

std::string column_text(sqlite3_stmt* s, int i) {
  const auto* p = sqlite3_column_text(s, i);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): SQLite text is UTF-8 bytes
  return p == nullptr ? std::string{}
                      : std::string{reinterpret_cast<const char*>(p),
                                    static_cast<std::size_t>(sqlite3_column_bytes(s, i))};
}

/// The raw baseline: the same statements durable runs, prepared once.
class raw_dlq {
 public:
  explicit raw_dlq(const std::string& path) : db_(open_raw(path)) {
    insert_ = prepare(
        "INSERT INTO durable_dead_letters (dlq, origin, job_id, queue, key, priority, sequential, "
        "codec, fingerprint, payload, error_type, message, context, history, attempts, "
        "enqueued_at, failed_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
        "json_insert(coalesce(?14, '[]'), '$[#]', json_object('attempt', ?15, 'type', ?11, "
        "'message', ?12, 'at', ?17)), ?15, ?16, ?17) "
        "ON CONFLICT (origin, job_id) DO NOTHING RETURNING id");
    window_ = prepare(
        "SELECT id, job_id, queue, key, error_type, message, attempts, enqueued_at, failed_at, "
        "redriven_at FROM durable_dead_letters WHERE dlq = ?1 AND (failed_at, id) > (?3, ?4) "
        "AND failed_at <= ?5 AND redriven_at IS NULL ORDER BY failed_at, id LIMIT ?8");
    count_ = prepare(
        "SELECT count(*) FROM durable_dead_letters WHERE dlq = ?1 AND failed_at >= ?2 AND "
        "failed_at <= ?3 AND redriven_at IS NULL");
    delete_ = prepare("DELETE FROM durable_dead_letters WHERE dlq = ?1 AND failed_at < ?2");
    begin_ = prepare("BEGIN IMMEDIATE");
    commit_ = prepare("COMMIT");
    read_begin_ = prepare("BEGIN DEFERRED");
  }
  raw_dlq(const raw_dlq&) = delete;
  raw_dlq& operator=(const raw_dlq&) = delete;
  ~raw_dlq() {
    for (auto* s : {insert_, window_, count_, delete_, begin_, commit_, read_begin_}) {
      sqlite3_finalize(s);
    }
    sqlite3_close_v2(db_);
  }

  std::int64_t add(const std::string& payload, std::int64_t now) {
    step(begin_);
    sqlite3_bind_text(insert_, 1, "bench", 5, SQLITE_STATIC);
    sqlite3_bind_null(insert_, 2);
    sqlite3_bind_null(insert_, 3);
    sqlite3_bind_text(insert_, 4, "jobs", 4, SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 5, 42);
    sqlite3_bind_int64(insert_, 6, 0);
    sqlite3_bind_int(insert_, 7, 0);
    sqlite3_bind_text(insert_, 8, "pfr", 3, SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 9, 42);
    sqlite3_bind_blob64(insert_, 10, payload.data(), payload.size(), SQLITE_STATIC);
    sqlite3_bind_text(insert_, 11, "http.503", -1, SQLITE_STATIC);
    sqlite3_bind_text(insert_, 12, "HTTP 503 from payments", -1, SQLITE_STATIC);
    sqlite3_bind_text(insert_, 13, "", 0, SQLITE_STATIC);
    sqlite3_bind_null(insert_, 14);
    sqlite3_bind_int64(insert_, 15, 3);
    sqlite3_bind_int64(insert_, 16, now);
    sqlite3_bind_int64(insert_, 17, now);
    std::int64_t id = 0;
    if (sqlite3_step(insert_) == SQLITE_ROW) {
      id = sqlite3_column_int64(insert_, 0);
      check(db_, sqlite3_step(insert_));
    }
    sqlite3_reset(insert_);
    step(commit_);
    return id;
  }

  std::vector<raw_summary> window(std::int64_t from, std::int64_t to, std::int64_t limit) {
    std::vector<raw_summary> out;
    step(read_begin_);
    sqlite3_bind_text(window_, 1, "bench", 5, SQLITE_STATIC);
    sqlite3_bind_int64(window_, 3, from);
    sqlite3_bind_int64(window_, 4, std::numeric_limits<std::int64_t>::min());
    sqlite3_bind_int64(window_, 5, to);
    sqlite3_bind_int64(window_, 8, limit + 1);
    while (sqlite3_step(window_) == SQLITE_ROW) {
      raw_summary e;
      e.id = sqlite3_column_int64(window_, 0);
      if (sqlite3_column_type(window_, 1) != SQLITE_NULL)
        e.job_id = sqlite3_column_int64(window_, 1);
      e.queue = column_text(window_, 2);
      if (sqlite3_column_type(window_, 3) == SQLITE_INTEGER) {
        e.int_key = sqlite3_column_int64(window_, 3);
      } else if (sqlite3_column_type(window_, 3) != SQLITE_NULL) {
        e.text_key = column_text(window_, 3);
      }
      e.error_type = column_text(window_, 4);
      e.message = column_text(window_, 5);
      e.attempts = sqlite3_column_int64(window_, 6);
      e.enqueued_at = sqlite3_column_int64(window_, 7);
      e.failed_at = sqlite3_column_int64(window_, 8);
      if (sqlite3_column_type(window_, 9) != SQLITE_NULL) {
        e.redriven_at = sqlite3_column_int64(window_, 9);
      }
      out.push_back(std::move(e));
    }
    sqlite3_reset(window_);
    step(commit_);
    if (out.size() > static_cast<std::size_t>(limit)) out.resize(static_cast<std::size_t>(limit));
    return out;
  }

  std::int64_t count(std::int64_t from, std::int64_t to) {
    sqlite3_bind_text(count_, 1, "bench", 5, SQLITE_STATIC);
    sqlite3_bind_int64(count_, 2, from);
    sqlite3_bind_int64(count_, 3, to);
    std::int64_t n = 0;
    if (sqlite3_step(count_) == SQLITE_ROW) n = sqlite3_column_int64(count_, 0);
    sqlite3_reset(count_);
    return n;
  }

  std::int64_t delete_before(std::int64_t cutoff) {
    step(begin_);
    sqlite3_bind_text(delete_, 1, "bench", 5, SQLITE_STATIC);
    sqlite3_bind_int64(delete_, 2, cutoff);
    step(delete_);
    const auto n = sqlite3_changes64(db_);
    step(commit_);
    return n;
  }

 private:
  sqlite3_stmt* prepare(const char* sql) { return durable_bench::prepare(db_, sql); }
  void step(sqlite3_stmt* s) {
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db_));
  }

  sqlite3* db_;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* window_ = nullptr;
  sqlite3_stmt* count_ = nullptr;
  sqlite3_stmt* delete_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* read_begin_ = nullptr;
};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// A window holding about `window_entries` entries, moved around a populated file of `n`
/// entries by `i` so the benchmark does not read one cached spot.
std::pair<std::int64_t, std::int64_t> window_at(std::int64_t n, std::int64_t i) {
  const std::int64_t width = window_entries * spacing_ms;
  const std::int64_t slots = n / window_entries - 1;
  const std::int64_t from = t0_ms + ((i * 7) % slots) * width;
  return {from, from + width - 1};
}

// ---------------------------------------------------------------- add

void BM_add_durable(benchmark::State& state) {
  scratch dir;
  durable::DeadLetterQueue<job> dlq{dir.file("add.db"), "bench", options()};
  const job j{42, std::string(64, 'x')};
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        dlq.add(j, {"http.503", "HTTP 503 from payments", ""}, 3, {.queue = "jobs", .key = 42}));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_add_durable);

void BM_add_raw(benchmark::State& state) {
  scratch dir;
  const auto path = dir.file("add.db");
  {
    durable::detail::sqlite::connection c{path, {}};
    durable::detail::sqlite::ensure_schema(c);
  }
  raw_dlq raw{path};
  std::vector<std::byte> encoded;  // the same bytes durable stores
  durable::pfr_codec::encode(job{42, std::string(64, 'x')}, encoded);
  const std::string payload(reinterpret_cast<const char*>(encoded.data()),  // NOLINT
                            encoded.size());
  for (auto _ : state) benchmark::DoNotOptimize(raw.add(payload, now_ms()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_add_raw);

// ---------------------------------------------------------------- window query

void BM_window_durable(benchmark::State& state) {
  const auto n = state.range(0);
  durable::DeadLetterQueue<job> dlq{fixtures::get().file(n), "bench", options()};
  std::int64_t i = 0;
  std::size_t rows = 0;
  for (auto _ : state) {
    const auto [from, to] = window_at(n, i++);
    const auto page = dlq.query(
        {.from = durable::detail::from_unix_ms(from), .to = durable::detail::from_unix_ms(to)},
        {.limit = 2 * window_entries});
    rows += page.entries.size();
    benchmark::DoNotOptimize(page);
  }
  state.counters["rows"] = static_cast<double>(rows) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(rows));
}
BENCHMARK(BM_window_durable)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);

void BM_window_raw(benchmark::State& state) {
  const auto n = state.range(0);
  raw_dlq raw{fixtures::get().file(n)};
  std::int64_t i = 0;
  std::size_t rows = 0;
  for (auto _ : state) {
    const auto [from, to] = window_at(n, i++);
    const auto page = raw.window(from, to, 2 * window_entries);
    rows += page.size();
    benchmark::DoNotOptimize(page);
  }
  state.counters["rows"] = static_cast<double>(rows) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(rows));
}
BENCHMARK(BM_window_raw)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------- count over a window

constexpr std::int64_t count_n = 1'000'000;

std::pair<std::int64_t, std::int64_t> count_window(std::int64_t i) {
  const std::int64_t width = count_n / 10 * spacing_ms;  // ~100,000 entries
  const std::int64_t from = t0_ms + (i % 9) * width;
  return {from, from + width - 1};
}

void BM_count_durable(benchmark::State& state) {
  durable::DeadLetterQueue<job> dlq{fixtures::get().file(count_n), "bench", options()};
  std::int64_t i = 0;
  for (auto _ : state) {
    const auto [from, to] = count_window(i++);
    benchmark::DoNotOptimize(dlq.count(
        {.from = durable::detail::from_unix_ms(from), .to = durable::detail::from_unix_ms(to)}));
  }
}
BENCHMARK(BM_count_durable)->Unit(benchmark::kMicrosecond);

void BM_count_raw(benchmark::State& state) {
  raw_dlq raw{fixtures::get().file(count_n)};
  std::int64_t i = 0;
  for (auto _ : state) {
    const auto [from, to] = count_window(i++);
    benchmark::DoNotOptimize(raw.count(from, to));
  }
}
BENCHMARK(BM_count_raw)->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------- delete_older_than

/// Copies the pristine 1,000,000-entry file over the work file (not timed).
std::string fresh_work_file() {
  auto& f = fixtures::get();
  const auto& pristine = f.file(count_n);
  const auto work = f.work_file();
  std::error_code ec;
  std::filesystem::remove(work + "-wal", ec);
  std::filesystem::remove(work + "-shm", ec);
  std::filesystem::copy_file(pristine, work, std::filesystem::copy_options::overwrite_existing);
  return work;
}

constexpr std::int64_t cutoff_ms = t0_ms + count_n / 10 * spacing_ms;  // 10 % are older

void BM_delete_older_than_durable(benchmark::State& state) {
  durable::manual_clock clock{durable::detail::from_unix_ms(cutoff_ms + 1'000'000)};
  std::int64_t removed = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::optional<durable::DeadLetterQueue<job>> dlq;
    dlq.emplace(fresh_work_file(), "bench", options(&clock));
    state.ResumeTiming();
    removed += dlq->delete_older_than(1'000'000ms);
    state.PauseTiming();
    dlq.reset();
    state.ResumeTiming();
  }
  state.counters["removed"] =
      static_cast<double>(removed) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_delete_older_than_durable)->Unit(benchmark::kMillisecond)->Iterations(1);

void BM_delete_older_than_raw(benchmark::State& state) {
  std::int64_t removed = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::optional<raw_dlq> raw;
    raw.emplace(fresh_work_file());
    state.ResumeTiming();
    removed += raw->delete_before(cutoff_ms);
    state.PauseTiming();
    raw.reset();
    state.ResumeTiming();
  }
  state.counters["removed"] =
      static_cast<double>(removed) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_delete_older_than_raw)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // Populate both files before anything is timed, so the kernel's write-back of a fresh
  // 1,000,000-entry file does not land in whichever benchmark happens to run next.
  for (const std::int64_t n : {std::int64_t{100'000}, count_n}) fixtures::get().file(n);
  ::sync();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
