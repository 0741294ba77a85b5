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

#include <algorithm>
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
#include <tuple>
#include <vector>

#include <durable/dead_letter_queue.hpp>
#include <durable/detail/sqlite/schema.hpp>

#include "bench_support.hpp"

using namespace std::chrono_literals;

namespace {

using durable_bench::check;
using durable_bench::column_text;
using durable_bench::open_raw;
using durable_bench::scratch;

struct job {
  std::int64_t n = 0;
  std::string body;
};

using durable_bench::populate_dead_letters;
using durable_bench::spacing_ms;
using durable_bench::t0_ms;

constexpr std::int64_t window_entries = 1'000;

void populate(const std::string& path, std::int64_t n) { populate_dead_letters(path, "bench", n); }

/// The least work a SQLite dead-letter queue must do, the ceiling durable's DLQ is
/// quoted against: one table (id INTEGER PRIMARY KEY, failed_at, error_type, message,
/// payload BLOB) and one index on failed_at; the same WAL and synchronous. No DLQ names,
/// keys, source queues, redrive marks, histories or counters.
class minimal_dlq {
 public:
  explicit minimal_dlq(const std::string& path) : db_(open_raw(path)) {
    check(db_, sqlite3_exec(db_,
                            "CREATE TABLE IF NOT EXISTS dl (id INTEGER PRIMARY KEY, failed_at "
                            "INTEGER NOT NULL, error_type TEXT NOT NULL, message TEXT NOT NULL, "
                            "payload BLOB NOT NULL); "
                            "CREATE INDEX IF NOT EXISTS dl_time ON dl (failed_at)",
                            nullptr, nullptr, nullptr));
    insert_ = prepare(
        "INSERT INTO dl (failed_at, error_type, message, payload) "
        "VALUES (?1, ?2, ?3, ?4)");
    window_ = prepare(
        "SELECT id, failed_at, error_type, message FROM dl WHERE failed_at >= ?1 "
        "AND failed_at <= ?2 ORDER BY failed_at, id LIMIT ?3");
    delete_ = prepare("DELETE FROM dl WHERE failed_at < ?1");
    count_ = prepare("SELECT count(*) FROM dl");
    begin_ = prepare("BEGIN IMMEDIATE");
    commit_ = prepare("COMMIT");
    read_begin_ = prepare("BEGIN DEFERRED");
  }
  minimal_dlq(const minimal_dlq&) = delete;
  minimal_dlq& operator=(const minimal_dlq&) = delete;
  ~minimal_dlq() {
    for (auto* s : {insert_, window_, delete_, count_, begin_, commit_, read_begin_}) {
      sqlite3_finalize(s);
    }
    sqlite3_close_v2(db_);
  }

  /// Fills the table with `n` entries spread as populate_dead_letters spreads them.
  void fill(std::int64_t n) {
    check(db_, sqlite3_exec(db_, "PRAGMA cache_size = -524288", nullptr, nullptr, nullptr));
    sqlite3_stmt* s = prepare(
        "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < ?1) "
        "INSERT INTO dl (failed_at, error_type, message, payload) "
        "SELECT ?2 + i * ?3 + (i * 7919) % 1000, 'type' || (i % 5), 'HTTP 503 from payments', "
        "randomblob(24) FROM k");
    sqlite3_bind_int64(s, 1, n);
    sqlite3_bind_int64(s, 2, t0_ms);
    sqlite3_bind_int64(s, 3, spacing_ms);
    step(begin_);
    check(db_, sqlite3_step(s));
    sqlite3_finalize(s);
    step(commit_);
    check(db_, sqlite3_exec(db_, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr));
  }

  /// Adds `n` entries in one transaction.
  void add(const std::string& payload, std::int64_t now, std::int64_t n) {
    step(begin_);
    for (std::int64_t i = 0; i < n; ++i) {
      sqlite3_bind_int64(insert_, 1, now);
      sqlite3_bind_text(insert_, 2, "http.503", -1, SQLITE_STATIC);
      sqlite3_bind_text(insert_, 3, "HTTP 503 from payments", -1, SQLITE_STATIC);
      sqlite3_bind_blob64(insert_, 4, payload.data(), payload.size(), SQLITE_STATIC);
      step(insert_);
    }
    step(commit_);
  }

  /// Up to `limit` entries of [from, to], as (id, failed_at, error_type, message).
  std::size_t window(std::int64_t from, std::int64_t to, std::int64_t limit) {
    std::size_t rows = 0;
    step(read_begin_);
    sqlite3_bind_int64(window_, 1, from);
    sqlite3_bind_int64(window_, 2, to);
    sqlite3_bind_int64(window_, 3, limit + 1);
    std::vector<std::tuple<std::int64_t, std::int64_t, std::string, std::string>> out;
    while (sqlite3_step(window_) == SQLITE_ROW) {
      out.emplace_back(sqlite3_column_int64(window_, 0), sqlite3_column_int64(window_, 1),
                       column_text(window_, 2), column_text(window_, 3));
      ++rows;
    }
    sqlite3_reset(window_);
    step(commit_);
    benchmark::DoNotOptimize(out);
    return rows;
  }

  std::int64_t count() {
    std::int64_t n = 0;
    if (sqlite3_step(count_) == SQLITE_ROW) n = sqlite3_column_int64(count_, 0);
    sqlite3_reset(count_);
    return n;
  }

  std::int64_t delete_before(std::int64_t cutoff) {
    step(begin_);
    sqlite3_bind_int64(delete_, 1, cutoff);
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
  sqlite3_stmt* delete_ = nullptr;
  sqlite3_stmt* count_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* read_begin_ = nullptr;
};

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
  /// The same `n` entries in the minimal DLQ's table.
  const std::string& minimal_file(std::int64_t n) {
    auto it = minimal_files_.find(n);
    if (it == minimal_files_.end()) {
      const auto path = dir_.file("minimal-" + std::to_string(n) + ".db");
      minimal_dlq{path}.fill(n);
      it = minimal_files_.emplace(n, path).first;
    }
    return it->second;
  }
  [[nodiscard]] std::string work_file() const { return dir_.file("work.db"); }

 private:
  scratch dir_;
  std::map<std::int64_t, std::string> files_;
  std::map<std::int64_t, std::string> minimal_files_;
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

/// The raw baseline: the same statements durable runs, prepared once.
class raw_dlq {
 public:
  explicit raw_dlq(const std::string& path) : db_(open_raw(path)) {
    check(db_, sqlite3_exec(db_,
                            "INSERT OR IGNORE INTO durable_dead_letter_queues (name) "
                            "VALUES ('bench')",
                            nullptr, nullptr, nullptr));
    auto* id = prepare("SELECT id FROM durable_dead_letter_queues WHERE name = 'bench'");
    check(db_, sqlite3_step(id));
    dlq_id_ = sqlite3_column_int64(id, 0);
    sqlite3_finalize(id);
    hwm_ = prepare("SELECT value FROM durable_meta WHERE key = 'dead_letter_id_hwm'");
    max_id_ = prepare("SELECT max(id) FROM durable_dead_letters");
    insert_ = prepare(
        "INSERT INTO durable_dead_letters (id, dlq_id, failed_at, error_type, message, attempts, "
        "enqueued_at, redrive_policy, queue, key, job_id, origin, priority, sequential, "
        "max_attempts, unique_key, codec, fingerprint, context, history, payload) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
        "?19, ?20, ?21) ON CONFLICT (origin, job_id) WHERE origin IS NOT NULL DO NOTHING "
        "RETURNING id");
    counter_ = prepare(
        "UPDATE durable_dead_letter_queues SET entries = entries + ?2, redriven = redriven + ?3 "
        "WHERE id = ?1");
    window_ = prepare(
        "SELECT id, job_id, queue, key, error_type, message, attempts, enqueued_at, failed_at, "
        "redriven_at, redrive_policy FROM durable_dead_letters WHERE dlq_id = ?1 AND "
        "(failed_at, id) > (?3, ?4) AND failed_at <= ?5 AND redriven_at IS NULL "
        "ORDER BY failed_at, id LIMIT ?8");
    count_ = prepare(
        "SELECT count(*), count(redriven_at) FROM durable_dead_letters WHERE dlq_id = ?1 AND "
        "failed_at >= ?2 AND failed_at <= ?3 AND redriven_at IS NULL");
    delete_count_ = prepare(
        "SELECT count(*), count(redriven_at) FROM durable_dead_letters WHERE dlq_id = ?1 AND "
        "failed_at >= ?2 AND failed_at <= ?3");
    delete_ = prepare("DELETE FROM durable_dead_letters WHERE dlq_id = ?1 AND failed_at < ?2");
    begin_ = prepare("BEGIN IMMEDIATE");
    commit_ = prepare("COMMIT");
    read_begin_ = prepare("BEGIN DEFERRED");
  }
  raw_dlq(const raw_dlq&) = delete;
  raw_dlq& operator=(const raw_dlq&) = delete;
  ~raw_dlq() {
    for (auto* s : {hwm_, max_id_, insert_, counter_, window_, count_, delete_count_, delete_,
                    begin_, commit_, read_begin_}) {
      sqlite3_finalize(s);
    }
    sqlite3_close_v2(db_);
  }

  std::int64_t add(const std::string& payload, std::int64_t now) {
    step(begin_);
    const auto next = std::max(scalar(hwm_), scalar(max_id_)) + 1;
    sqlite3_bind_int64(insert_, 1, next);
    sqlite3_bind_int64(insert_, 2, dlq_id_);
    sqlite3_bind_int64(insert_, 3, now);
    sqlite3_bind_text(insert_, 4, "http.503", -1, SQLITE_STATIC);
    sqlite3_bind_text(insert_, 5, "HTTP 503 from payments", -1, SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 6, 3);
    sqlite3_bind_int64(insert_, 7, now);
    sqlite3_bind_text(insert_, 8, "optional", -1, SQLITE_STATIC);
    sqlite3_bind_text(insert_, 9, "jobs", 4, SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 10, 42);
    sqlite3_bind_null(insert_, 11);
    sqlite3_bind_null(insert_, 12);
    sqlite3_bind_int64(insert_, 13, 0);
    sqlite3_bind_int64(insert_, 14, 0);
    sqlite3_bind_int64(insert_, 15, 5);
    sqlite3_bind_int64(insert_, 16, 0);
    sqlite3_bind_text(insert_, 17, "pfr", 3, SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 18, 42);
    sqlite3_bind_text(insert_, 19, "", 0, SQLITE_STATIC);
    sqlite3_bind_null(insert_, 20);
    sqlite3_bind_blob64(insert_, 21, payload.data(), payload.size(), SQLITE_STATIC);
    std::int64_t id = 0;
    if (sqlite3_step(insert_) == SQLITE_ROW) {
      id = sqlite3_column_int64(insert_, 0);
      check(db_, sqlite3_step(insert_));
    }
    sqlite3_reset(insert_);
    add_to_counters(1, 0);
    step(commit_);
    return id;
  }

  std::vector<raw_summary> window(std::int64_t from, std::int64_t to, std::int64_t limit) {
    std::vector<raw_summary> out;
    step(read_begin_);
    sqlite3_bind_int64(window_, 1, dlq_id_);
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
    sqlite3_bind_int64(count_, 1, dlq_id_);
    sqlite3_bind_int64(count_, 2, from);
    sqlite3_bind_int64(count_, 3, to);
    std::int64_t n = 0;
    if (sqlite3_step(count_) == SQLITE_ROW) n = sqlite3_column_int64(count_, 0);
    sqlite3_reset(count_);
    return n;
  }

  std::int64_t delete_before(std::int64_t cutoff) {
    step(begin_);
    sqlite3_bind_int64(delete_count_, 1, dlq_id_);
    sqlite3_bind_int64(delete_count_, 2, std::numeric_limits<std::int64_t>::min());
    sqlite3_bind_int64(delete_count_, 3, cutoff - 1);
    check(db_, sqlite3_step(delete_count_));
    const auto redriven = sqlite3_column_int64(delete_count_, 1);
    sqlite3_reset(delete_count_);
    scalar(max_id_);
    sqlite3_bind_int64(delete_, 1, dlq_id_);
    sqlite3_bind_int64(delete_, 2, cutoff);
    step(delete_);
    const auto n = sqlite3_changes64(db_);
    add_to_counters(-n, -redriven);
    scalar(max_id_);
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
  std::int64_t scalar(sqlite3_stmt* s) {
    std::int64_t v = 0;
    if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return v;
  }
  void add_to_counters(std::int64_t entries, std::int64_t redriven) {
    sqlite3_bind_int64(counter_, 1, dlq_id_);
    sqlite3_bind_int64(counter_, 2, entries);
    sqlite3_bind_int64(counter_, 3, redriven);
    step(counter_);
  }

  sqlite3* db_;
  std::int64_t dlq_id_ = 0;
  sqlite3_stmt* hwm_ = nullptr;
  sqlite3_stmt* max_id_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* counter_ = nullptr;
  sqlite3_stmt* window_ = nullptr;
  sqlite3_stmt* count_ = nullptr;
  sqlite3_stmt* delete_count_ = nullptr;
  sqlite3_stmt* delete_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* read_begin_ = nullptr;
};

using durable_bench::now_ms;

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

void BM_add_minimal(benchmark::State& state) {
  scratch dir;
  minimal_dlq dlq{dir.file("add.db")};
  const std::string payload(24, 'x');
  for (auto _ : state) dlq.add(payload, now_ms(), 1);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_add_minimal);

// ---------------------------------------------------------------- add_many, 1,000 per call

void BM_add_many_durable(benchmark::State& state) {
  scratch dir;
  durable::DeadLetterQueue<job> dlq{dir.file("add.db"), "bench", options()};
  std::vector<durable::add_entry<job>> batch(1000, {job{42, std::string(64, 'x')},
                                                    {"http.503", "HTTP 503 from payments", ""},
                                                    3,
                                                    {.queue = "jobs", .key = 42}});
  for (auto _ : state) benchmark::DoNotOptimize(dlq.add_many(batch));
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_add_many_durable)->Unit(benchmark::kMillisecond);

void BM_add_many_minimal(benchmark::State& state) {
  scratch dir;
  minimal_dlq dlq{dir.file("add.db")};
  const std::string payload(24, 'x');
  for (auto _ : state) dlq.add(payload, now_ms(), 1000);
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_add_many_minimal)->Unit(benchmark::kMillisecond);

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

void BM_window_minimal(benchmark::State& state) {
  const auto n = state.range(0);
  minimal_dlq dlq{fixtures::get().minimal_file(n)};
  std::int64_t i = 0;
  std::size_t rows = 0;
  for (auto _ : state) {
    const auto [from, to] = window_at(n, i++);
    rows += dlq.window(from, to, 2 * window_entries);
  }
  state.counters["rows"] = static_cast<double>(rows) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(rows));
}
BENCHMARK(BM_window_minimal)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------- size (the whole DLQ)

void BM_size_durable(benchmark::State& state) {
  durable::DeadLetterQueue<job> dlq{fixtures::get().file(state.range(0)), "bench", options()};
  for (auto _ : state) benchmark::DoNotOptimize(dlq.size());
}
BENCHMARK(BM_size_durable)->Arg(1'000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);

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

void BM_delete_older_than_minimal(benchmark::State& state) {
  auto& f = fixtures::get();
  const auto work = f.work_file();
  std::int64_t removed = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::error_code ec;
    std::filesystem::remove(work + "-wal", ec);
    std::filesystem::remove(work + "-shm", ec);
    std::filesystem::copy_file(f.minimal_file(count_n), work,
                               std::filesystem::copy_options::overwrite_existing);
    std::optional<minimal_dlq> dlq;
    dlq.emplace(work);
    state.ResumeTiming();
    removed += dlq->delete_before(cutoff_ms);
    state.PauseTiming();
    dlq.reset();
    state.ResumeTiming();
  }
  state.counters["removed"] =
      static_cast<double>(removed) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_delete_older_than_minimal)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // Populate both files before anything is timed, so the kernel's write-back of a fresh
  // 1,000,000-entry file does not land in whichever benchmark happens to run next.
  for (const std::int64_t n : {std::int64_t{1'000}, std::int64_t{100'000}, count_n}) {
    fixtures::get().file(n);
  }
  for (const std::int64_t n : {std::int64_t{100'000}, count_n}) fixtures::get().minimal_file(n);
  ::sync();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
