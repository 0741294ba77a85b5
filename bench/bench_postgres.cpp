// SPDX-License-Identifier: MIT
// The PostgreSQL backend's hot paths next to raw libpq, in the same binary, on the same
// server: push, push_many x1000, claim + ack, and a DLQ window query of ~1,000 of
// 1,000,000 entries. Two raw baselines (see `statements`): "same" runs durable's own
// statements (the SQL text durable prepares, the same binary parameters), "minimal" the
// least a queue needs on durable's table. The paired_* cases run all sides interleaved.
// Then what only a server gives: consumers in 1, 2, 4 and 8 processes on one queue, and
// the latency from a push in one process to the handler start of an idle Worker in
// another (LISTEN/NOTIFY), median and p99.
//
// Needs a server: $DURABLE_BENCH_POSTGRES (or $DURABLE_TEST_POSTGRES), a libpq connection
// string; every benchmark works in a fresh schema of it. A throwaway server with the
// default, durable settings (fsync on), pinned to core 1 and the benchmark to core 0 (see
// "durable and raw interleaved" below):
//   taskset -c 1 scripts/postgres.sh start /tmp/durable-bench bench
//   source /tmp/durable-bench/env
//   taskset -c 0 build/release/bench/bench_postgres --benchmark_filter=paired_
//     --benchmark_repetitions=5 --benchmark_report_aggregates_only=true   (one line)
//   scripts/postgres.sh stop /tmp/durable-bench
// The scale-out cases need every core: run them on a server started without taskset.

#include <benchmark/benchmark.h>
#include <libpq-fe.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <durable/dead_letter_queue.hpp>
#include <durable/postgres.hpp>
#include <durable/queue.hpp>
#include <durable/worker.hpp>

using namespace std::chrono_literals;
namespace pg = durable::detail::postgres;

namespace {

struct job {
  std::int64_t n = 0;
  std::string body;
};

durable::queue_options quiet() {
  durable::queue_options o;
  o.log = nullptr;
  return o;
}

std::string server() {
  for (const char* name : {"DURABLE_BENCH_POSTGRES", "DURABLE_TEST_POSTGRES"}) {
    if (const char* v = std::getenv(name); v != nullptr && *v != '\0') return v;
  }
  throw std::runtime_error(
      "bench_postgres needs a server: set DURABLE_BENCH_POSTGRES to a libpq connection string "
      "(scripts/postgres.sh start DIR bench starts one)");
}

/// A plain connection: the raw baseline's, and the fixtures'.
class raw_pg {
 public:
  explicit raw_pg(const std::string& conninfo) : c_(PQconnectdb(conninfo.c_str())) {
    if (PQstatus(c_) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(c_));
    PQsetNoticeProcessor(
        c_, [](void*, const char*) {}, nullptr);
  }
  raw_pg(const raw_pg&) = delete;
  raw_pg& operator=(const raw_pg&) = delete;
  ~raw_pg() { PQfinish(c_); }

  void exec(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    const auto status = PQresultStatus(r);
    const std::string message = PQresultErrorMessage(r);
    PQclear(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) throw std::runtime_error(message);
  }
  void prepare(const char* name, const std::string& sql, const std::vector<Oid>& types) {
    PGresult* r = PQprepare(c_, name, sql.c_str(), static_cast<int>(types.size()), types.data());
    check(r);
    PQclear(r);
  }
  /// Runs prepared `name` with binary parameters; binary results. The caller clears.
  PGresult* run(const char* name, const std::vector<const char*>& values,
                const std::vector<int>& lengths) {
    const std::vector<int> formats(values.size(), 1);
    PGresult* r = PQexecPrepared(c_, name, static_cast<int>(values.size()), values.data(),
                                 lengths.data(), formats.data(), 1);
    check(r);
    return r;
  }

 private:
  void check(PGresult* r) {
    const auto status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      const std::string message = PQresultErrorMessage(r);
      PQclear(r);
      throw std::runtime_error(message);
    }
  }
  PGconn* c_;
};

/// A fresh schema for one benchmark; dropped at the end.
class schema {
 public:
  schema() {
    static int n = 0;
    name_ = "durable_bench_" + std::to_string(getpid()) + "_" + std::to_string(++n);
    raw_pg{server()}.exec("DROP SCHEMA IF EXISTS " + name_ + " CASCADE; CREATE SCHEMA " + name_);
    target_ = server() + " options=-csearch_path=" + name_;
    // durable's tables, created by durable.
    static_cast<void>(durable::make_postgres_backend(target_, {}));
  }
  schema(const schema&) = delete;
  schema& operator=(const schema&) = delete;
  ~schema() {
    try {
      raw_pg{server()}.exec("DROP SCHEMA IF EXISTS " + name_ + " CASCADE");
    } catch (const std::exception&) {
    }
  }
  [[nodiscard]] const std::string& target() const { return target_; }

 private:
  std::string name_;
  std::string target_;
};

// Binary parameter encoding, as little as the statements need.
std::string be64(std::int64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xFF);
    v >>= 8;
  }
  return out;
}
std::string be32(std::uint32_t v) {
  std::string out(4, '\0');
  for (int i = 3; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xFFU);
    v >>= 8U;
  }
  return out;
}
std::int64_t read64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8U) | static_cast<unsigned char>(p[i]);
  return static_cast<std::int64_t>(v);
}
/// A one-dimensional array of `n` copies of `element` (or of NULLs).
std::string array_of(Oid element, std::size_t n, const std::string* value) {
  std::string out = be32(1) + be32(value == nullptr ? 1 : 0) + be32(element) +
                    be32(static_cast<std::uint32_t>(n)) + be32(1);
  for (std::size_t i = 0; i < n; ++i) {
    out += value == nullptr ? be32(0xFFFFFFFFU) : be32(static_cast<std::uint32_t>(value->size()));
    if (value != nullptr) out += *value;
  }
  return out;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace oid = pg::oid;

/// The statements a raw baseline runs on durable's tables: prepared once, binary
/// parameters, one round trip per call, as durable runs its own.
enum class statements {
  /// durable's own: the SQL text it prepares (push.hpp, claim.hpp, finish.hpp) with the
  /// same parameters. durable/same is what durable's C++ layer costs.
  same,
  /// The least a queue needs: an INSERT ... RETURNING id, durable's claim without the job
  /// types, a plain DELETE. No counters (durable's push and ack also add to a counter row
  /// of the queue, counters.hpp) and no hard-limit check: durable/minimal includes them.
  minimal,
};

/// The columns the minimal INSERTs write: durable's but timeout_ms (the Worker's).
constexpr std::string_view minimal_columns =
    "queue, key_int, key_text, priority, run_at, enqueued_at, sequential, attempts, codec, "
    "fingerprint, payload, history, max_attempts, unique_key";

/// A raw baseline of the queue. Both kinds of statements take durable's parameters (what
/// Queue<job> sends): the minimal INSERTs all but the last (timeout_ms), the minimal claim
/// all but the job types.
class raw_queue {
 public:
  raw_queue(const std::string& target, statements kind)
      : c_(target), same_(kind == statements::same) {
    std::vector<Oid> one{oid::text,  oid::int8,    oid::text, oid::int8,    oid::int8,
                         oid::int8,  oid::boolean, oid::int8, oid::text,    oid::int8,
                         oid::bytea, oid::text,    oid::int8, oid::boolean, oid::int8};
    std::vector<Oid> many{oid::text,       oid::int8_array, oid::text_array,  oid::int8_array,
                          oid::int8_array, oid::int8_array, oid::bool_array,  oid::int8_array,
                          oid::text_array, oid::int8_array, oid::bytea_array, oid::text_array,
                          oid::int8_array, oid::int8_array};
    std::vector<Oid> claim{oid::int8, oid::int8, oid::text,      oid::int8,
                           oid::text, oid::text, oid::int8_array};
    const std::vector<Oid> ack{oid::int8, oid::int8, oid::text};
    if (same_) {
      c_.prepare("one", pg::insert_one_sql(), one);
      c_.prepare("many", pg::insert_many_sql(), many);
      c_.prepare("claim", pg::claim_next_typed_sql, claim);
      c_.prepare("ack", pg::delete_claimed_sql(), ack);
      return;
    }
    const std::string columns{minimal_columns};
    one.pop_back();
    many.pop_back();
    claim.resize(5);
    c_.prepare("one",
               "INSERT INTO durable_jobs (" + columns +
                   ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13, "
                   "$14) RETURNING id",
               one);
    c_.prepare("many",
               "INSERT INTO durable_jobs (" + columns +
                   ") SELECT $1, k_int, k_text, prio, run_at, enq, seq, att, codec, fp, payload, "
                   "hist::jsonb, max_att, false FROM unnest($2::int8[], $3::text[], $4::int8[], "
                   "$5::int8[], $6::int8[], $7::bool[], $8::int8[], $9::text[], $10::int8[], "
                   "$11::bytea[], $12::text[], $13::int8[]) AS t(k_int, k_text, prio, run_at, "
                   "enq, seq, att, codec, fp, payload, hist, max_att) RETURNING id",
               many);
    c_.prepare("claim", pg::claim_next_sql, claim);
    c_.prepare("ack", "DELETE FROM durable_jobs WHERE id = $1 AND lease_token = $2 AND queue = $3",
               ack);
  }

  void push(const std::string& body) {
    const auto now = be64(now_ms());
    PQclear(run("one",
                {queue_.data(), nullptr, nullptr, zero_.data(), now.data(), now.data(), no_.data(),
                 zero_.data(), codec_.data(), fingerprint_.data(), body.data(), nullptr,
                 five_.data(), no_.data(), nullptr},
                {size(queue_), 0, 0, 8, 8, 8, 1, 8, size(codec_), 8, size(body), 0, 8, 1, 0}, 14));
  }

  void push_many(const std::string& body, std::size_t n) {
    const auto now = be64(now_ms());
    const std::array arrays{array_of(oid::int8, n, nullptr),       array_of(oid::text, n, nullptr),
                            array_of(oid::int8, n, &zero_),        array_of(oid::int8, n, &now),
                            array_of(oid::int8, n, &now),          array_of(oid::boolean, n, &no_),
                            array_of(oid::int8, n, &zero_),        array_of(oid::text, n, &codec_),
                            array_of(oid::int8, n, &fingerprint_), array_of(oid::bytea, n, &body),
                            array_of(oid::text, n, nullptr),       array_of(oid::int8, n, &five_),
                            array_of(oid::int8, n, nullptr)};
    std::vector<const char*> v{queue_.data()};
    std::vector<int> l{size(queue_)};
    for (const auto& a : arrays) {
      v.push_back(a.data());
      l.push_back(size(a));
    }
    PGresult* r = run("many", std::move(v), std::move(l), 13);
    benchmark::DoNotOptimize(PQntuples(r));
    PQclear(r);
  }

  /// Claims one job and acks it; false when the queue is empty.
  bool claim_ack() {
    const auto now = now_ms();
    const auto token = be64(++token_);
    const auto until = be64(now + 30000);
    const auto at = be64(now);
    PGresult* r =
        run("claim",
            {token.data(), until.data(), claimer_.data(), at.data(), queue_.data(), codec_.data(),
             fingerprints_.data()},
            {8, 8, size(claimer_), 8, size(queue_), size(codec_), size(fingerprints_)}, 5);
    if (PQntuples(r) == 0) {
      PQclear(r);
      return false;
    }
    const auto id = be64(read64(PQgetvalue(r, 0, 0)));
    benchmark::DoNotOptimize(PQgetvalue(r, 0, 10));  // the payload
    PQclear(r);
    PQclear(run("ack", {id.data(), token.data(), queue_.data()}, {8, 8, size(queue_)}, 3));
    return true;
  }

 private:
  static int size(const std::string& s) { return static_cast<int>(s.size()); }

  /// Runs `name` with parameters `v` (lengths `l`); a minimal statement with the first
  /// `minimal` of them.
  PGresult* run(const char* name, std::vector<const char*> v, std::vector<int> l,
                std::size_t minimal) {
    if (!same_) {
      v.resize(minimal);
      l.resize(minimal);
    }
    return c_.run(name, v, l);
  }

  raw_pg c_;
  bool same_;
  const std::string queue_ = "bench";
  std::int64_t token_ = 0;
  const std::string zero_ = be64(0);
  const std::string five_ = be64(5);  // queue_options::max_attempts
  const std::string no_ = std::string(1, '\0');
  const std::string codec_{durable::pfr_codec::name};
  const std::string fingerprint_ =
      be64(static_cast<std::int64_t>(durable::pfr_codec::fingerprint<job>()));
  const std::string fingerprints_ = array_of(oid::int8, 1, &fingerprint_);
  const std::string claimer_ = durable::detail::self_identity();
};

std::string body_of(const benchmark::State& state) {
  return std::string(static_cast<std::size_t>(state.range(0)), 'x');
}

// --- push, one transaction each ---------------------------------------------------------

void durable_push(benchmark::State& state) {
  schema s;
  durable::Queue<job> q{s.target(), "bench", quiet()};
  const job j{1, body_of(state)};
  for (auto _ : state) q.push(j);
  state.SetItemsProcessed(state.iterations());
}

void raw_push(benchmark::State& state, statements kind) {
  schema s;
  raw_queue q{s.target(), kind};
  const auto body = body_of(state);
  for (auto _ : state) q.push(body);
  state.SetItemsProcessed(state.iterations());
}

// --- push_many, 1,000 per statement and transaction -------------------------------------

void durable_push_many(benchmark::State& state) {
  schema s;
  durable::Queue<job> q{s.target(), "bench", quiet()};
  const std::vector<job> jobs(1000, job{1, body_of(state)});
  for (auto _ : state) q.push_many(jobs);
  state.SetItemsProcessed(state.iterations() * 1000);
}

void raw_push_many(benchmark::State& state, statements kind) {
  schema s;
  raw_queue q{s.target(), kind};
  const auto body = body_of(state);
  for (auto _ : state) q.push_many(body, 1000);
  state.SetItemsProcessed(state.iterations() * 1000);
}

// --- claim + ack ------------------------------------------------------------------------

constexpr std::int64_t refill = 10000;

void durable_claim_ack(benchmark::State& state) {
  schema s;
  durable::Queue<job> q{s.target(), "bench", quiet()};
  const std::vector<job> jobs(1000, job{1, body_of(state)});
  const auto fill = [&] {
    for (std::int64_t i = 0; i < refill; i += 1000) q.push_many(jobs);
  };
  for (auto _ : state) {
    auto c = q.claim(30s);
    if (!c) {
      state.PauseTiming();
      fill();
      state.ResumeTiming();
      c = q.claim(30s);
    }
    q.ack(*c);
  }
  state.SetItemsProcessed(state.iterations());
}

void raw_claim_ack(benchmark::State& state, statements kind) {
  schema s;
  raw_queue q{s.target(), kind};
  const auto body = body_of(state);
  const auto fill = [&] {
    for (std::int64_t i = 0; i < refill; i += 1000) q.push_many(body, 1000);
  };
  for (auto _ : state) {
    if (!q.claim_ack()) {
      state.PauseTiming();
      fill();
      state.ResumeTiming();
      q.claim_ack();
    }
  }
  state.SetItemsProcessed(state.iterations());
}

// --- DLQ window of ~1,000 of 1,000,000 entries --------------------------------------------

constexpr std::int64_t dlq_entries = 1'000'000;
constexpr std::int64_t window_entries = 1'000;

/// 1,000,000 entries failing one per ms from t = 0, made once and shared by both sides.
const schema& dlq_fixture() {
  static const schema s;
  static const bool filled = [] {
    raw_pg c{s.target()};
    c.exec(
        "INSERT INTO durable_dead_letters (dlq, origin, job_id, queue, key_int, codec, "
        "fingerprint, payload, error_type, message, attempts, enqueued_at, failed_at) "
        "SELECT 'bench', 'o', i, 'q', i % 5000, 'pfr', 1, '\\x0102030405060708', "
        "'t' || (i % 7), 'the downstream service timed out', 3, i - 1000, i "
        "FROM generate_series(1, " +
        std::to_string(dlq_entries) + ") AS i");
    c.exec("VACUUM ANALYZE durable_dead_letters");
    return true;
  }();
  static_cast<void>(filled);
  return s;
}

/// A window of about window_entries entries, moved around so that the cache is not always hot.
std::pair<std::int64_t, std::int64_t> window_at(std::int64_t i) {
  const std::int64_t slots = dlq_entries / window_entries - 1;
  const std::int64_t from = 1 + ((i * 7919) % slots) * window_entries;
  return {from, from + window_entries - 1};
}

/// durable's query of the window [from, to].
durable::dead_letter_page durable_window(durable::DeadLetterQueue<job>& dlq, std::int64_t from,
                                         std::int64_t to) {
  durable::dead_letter_filter f;
  f.from = durable::detail::from_unix_ms(from);
  f.to = durable::detail::from_unix_ms(to);
  return dlq.query(f, {.limit = 2 * window_entries});
}

void durable_dlq_window(benchmark::State& state) {
  durable::DeadLetterQueue<job> dlq{dlq_fixture().target(), "bench", {.log = nullptr}};
  std::int64_t i = 0;
  std::size_t rows = 0;
  for (auto _ : state) {
    const auto [from, to] = window_at(i++);
    const auto page = durable_window(dlq, from, to);
    rows += page.entries.size();
    benchmark::DoNotOptimize(page);
  }
  state.counters["rows"] = static_cast<double>(rows) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(rows));
}

/// A row of the raw window: what a summary holds, read from the binary columns.
struct raw_summary {
  std::int64_t id;
  std::int64_t job_id;
  std::string queue;
  std::int64_t key;
  std::string error_type;
  std::string message;
  std::int64_t attempts;
  std::int64_t enqueued_at;
  std::int64_t failed_at;
  std::string policy;
};

/// The raw baseline of the DLQ window: durable's page statement (dead_letter_query.hpp)
/// with the same parameters, each row read as a summary. A read keeps no counters, so it
/// is also the minimal statement.
class raw_dlq {
 public:
  explicit raw_dlq(const std::string& target) : c_(target) {
    c_.prepare("page", pg::page_sql(pg::dead_letter_index::time, false, false, false, false),
               {oid::text, oid::text, oid::int8, oid::int8, oid::int8, oid::text_array, oid::text,
                oid::int8});
  }

  /// The entries that failed in [from, to], oldest first, as durable_window() asks.
  std::vector<raw_summary> window(std::int64_t from, std::int64_t to) {
    const auto after = be64(from);
    const auto bound = be64(to);
    PGresult* r = c_.run("page",
                         {"bench", nullptr, after.data(), low_.data(), bound.data(), nullptr,
                          nullptr, limit_.data()},
                         {5, 0, 8, 8, 8, 0, 0, 8});
    std::vector<raw_summary> page;
    page.reserve(static_cast<std::size_t>(PQntuples(r)));
    for (int row = 0; row < PQntuples(r); ++row) {
      const auto text = [&](int col) {
        return std::string{PQgetvalue(r, row, col),
                           static_cast<std::size_t>(PQgetlength(r, row, col))};
      };
      page.push_back({read64(PQgetvalue(r, row, 0)), read64(PQgetvalue(r, row, 1)), text(2),
                      read64(PQgetvalue(r, row, 3)), text(5), text(6),
                      read64(PQgetvalue(r, row, 7)), read64(PQgetvalue(r, row, 8)),
                      read64(PQgetvalue(r, row, 9)), text(11)});
    }
    PQclear(r);
    return page;
  }

 private:
  raw_pg c_;
  const std::string low_ = be64(std::numeric_limits<std::int64_t>::min());
  const std::string limit_ = be64(2 * window_entries + 1);
};

void raw_dlq_window(benchmark::State& state) {
  raw_dlq raw{dlq_fixture().target()};
  std::int64_t i = 0;
  std::size_t rows = 0;
  for (auto _ : state) {
    const auto [from, to] = window_at(i++);
    const auto page = raw.window(from, to);
    rows += page.size();
    benchmark::DoNotOptimize(page);
  }
  state.counters["rows"] = static_cast<double>(rows) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(rows));
}

// --- durable and raw interleaved -------------------------------------------------------
// On a shared machine the load changes faster than a benchmark runs, so separate runs of
// durable and a baseline can see different loads. These run one durable call and one call
// of each baseline per iteration, in every order in turn, time each, and report the median
// of each side and durable's throughput relative to each baseline (its median / durable's;
// 1 = the same): durable_vs_same and durable_vs_minimal. Each side has its own server
// process; on a machine with few cores, where the scheduler puts it against the client
// can change a side's median by 2x from one run to the next: pin the server and the
// benchmark to different cores for stable ratios (docs/postgres.md, Benchmarks).

/// Per-call times of durable and its baselines; publishes the counters.
class paired {
 public:
  /// `baselines`: the names of the baselines, in the order run() takes their calls.
  explicit paired(std::vector<std::string> baselines)
      : names_(std::move(baselines)), times_(names_.size() + 1), order_(names_.size() + 1) {
    std::iota(order_.begin(), order_.end(), std::size_t{0});
  }

  /// Times durable's call and each baseline's once, in the next of all their orders, so
  /// that each side runs in each place, and after each other side, equally often.
  template <class... Calls>
  void run(Calls&&... calls) {
    const std::array<std::function<void()>, sizeof...(Calls)> all{
        std::function<void()>{std::forward<Calls>(calls)}...};
    for (const auto side : order_) {
      const auto start = std::chrono::steady_clock::now();
      all.at(side)();
      times_.at(side).push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
              .count());
    }
    std::next_permutation(order_.begin(), order_.end());  // after the last, the first again
  }
  void publish(benchmark::State& state) {
    const auto median = [](std::vector<double>& v) {
      std::sort(v.begin(), v.end());
      return v.empty() ? 0.0 : v[v.size() / 2];
    };
    const double d = median(times_[0]);
    state.counters["durable_us"] = d;
    for (std::size_t b = 0; b < names_.size(); ++b) {
      const double r = median(times_[b + 1]);
      state.counters[names_[b] + "_us"] = r;
      state.counters["durable_vs_" + names_[b]] = d > 0 ? r / d : 0;
    }
  }

 private:
  std::vector<std::string> names_;
  std::vector<std::vector<double>> times_;  // durable's, then each baseline's
  std::vector<std::size_t> order_;          // the order of the next run()
};

/// A durable queue and the raw baselines, each in a schema of its own: each pushes to the
/// right end of its own indexes. (In one table, the queue whose name sorts first was the
/// slowest: where a queue's jobs sit in the index led by the queue name changes the cost.)
struct contenders {
  schema durable_schema;
  schema same_schema;
  schema minimal_schema;
  durable::Queue<job> durable{durable_schema.target(), "bench", quiet()};
  raw_queue same{same_schema.target(), statements::same};
  raw_queue minimal{minimal_schema.target(), statements::minimal};
  paired times{{"same", "minimal"}};
};

void paired_push(benchmark::State& state) {
  contenders c;
  const job j{1, body_of(state)};
  for (auto _ : state) {
    c.times.run([&] { c.durable.push(j); }, [&] { c.same.push(j.body); },
                [&] { c.minimal.push(j.body); });
  }
  c.times.publish(state);
}

void paired_push_many(benchmark::State& state) {
  contenders c;
  const std::vector<job> jobs(1000, job{1, body_of(state)});
  for (auto _ : state) {
    c.times.run([&] { c.durable.push_many(jobs); }, [&] { c.same.push_many(jobs[0].body, 1000); },
                [&] { c.minimal.push_many(jobs[0].body, 1000); });
  }
  c.times.publish(state);
}

void paired_claim_ack(benchmark::State& state) {
  contenders c;
  const std::vector<job> jobs(1000, job{1, body_of(state)});
  std::int64_t left = 0;
  for (auto _ : state) {
    if (left == 0) {
      state.PauseTiming();
      for (std::int64_t k = 0; k < refill; k += 1000) {
        c.durable.push_many(jobs);
        c.same.push_many(jobs[0].body, 1000);
        c.minimal.push_many(jobs[0].body, 1000);
      }
      left = refill;
      state.ResumeTiming();
    }
    const auto claim_ack = [](raw_queue& q) {
      if (!q.claim_ack()) throw std::runtime_error("a raw baseline claimed nothing");
    };
    c.times.run([&] { c.durable.ack(*c.durable.claim(30s)); }, [&] { claim_ack(c.same); },
                [&] { claim_ack(c.minimal); });
    --left;
  }
  c.times.publish(state);
}

void paired_dlq_window(benchmark::State& state) {
  durable::DeadLetterQueue<job> dlq{dlq_fixture().target(), "bench", {.log = nullptr}};
  raw_dlq raw{dlq_fixture().target()};
  paired p{{"same"}};
  std::int64_t i = 0;
  for (auto _ : state) {
    const auto [from, to] = window_at(i++);
    p.run([&, from = from, to = to] { benchmark::DoNotOptimize(durable_window(dlq, from, to)); },
          [&, from = from, to = to] { benchmark::DoNotOptimize(raw.window(from, to)); });
  }
  p.publish(state);
}

// --- scale-out: consumers in 1, 2, 4, 8 processes -----------------------------------------

/// Jobs per run; $DURABLE_BENCH_SCALE_JOBS overrides.
std::int64_t scale_jobs() {
  if (const char* v = std::getenv("DURABLE_BENCH_SCALE_JOBS")) return std::atoll(v);
  return 8000;
}

void durable_consumers(benchmark::State& state) {
  const auto processes = static_cast<int>(state.range(0));
  const auto jobs = scale_jobs();
  std::int64_t consumed = 0;
  for (auto _ : state) {
    schema s;
    {
      durable::Queue<job> q{s.target(), "scale", quiet()};
      const std::vector<job> batch(1000, job{1, std::string(64, 'x')});
      for (std::int64_t i = 0; i < jobs; i += 1000) q.push_many(batch);
    }
    std::array<int, 2> go{};
    if (pipe(go.data()) != 0) throw std::runtime_error("pipe");
    std::vector<pid_t> children;
    for (int p = 0; p < processes; ++p) {
      const pid_t child = fork();
      if (child == 0) {
        close(go[1]);
        int code = 0;
        try {
          durable::Queue<job> q{s.target(), "scale", quiet()};  // connected before the start
          char start = 0;
          if (read(go[0], &start, 1) != 0) code = 2;  // EOF: go
          while (auto c = q.claim(60s)) q.ack(*c);
        } catch (...) {
          code = 1;
        }
        _exit(code);
      }
      children.push_back(child);
    }
    close(go[0]);
    std::this_thread::sleep_for(200ms);  // connections made; not timed
    const auto start = std::chrono::steady_clock::now();
    close(go[1]);  // EOF starts every child at once
    for (const pid_t child : children) {
      int status = 0;
      waitpid(child, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) state.SkipWithError("a consumer failed");
    }
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    state.SetIterationTime(took.count());
    consumed += jobs;
  }
  state.SetItemsProcessed(consumed);
}

// --- push -> handler start across processes (LISTEN/NOTIFY) -------------------------------

void durable_wake_latency(benchmark::State& state) {
  constexpr int samples = 200;
  for (auto _ : state) {
    schema s;
    durable::Queue<job> queue{s.target(), "wake", quiet()};
    durable::DeadLetterQueue<job> dlq{s.target(), "wake.dlq", {.log = nullptr}};
    std::array<int, 2> to_child{};
    std::array<int, 2> to_parent{};
    if (pipe(to_child.data()) != 0 || pipe(to_parent.data()) != 0) throw std::runtime_error("pipe");
    const pid_t child = fork();  // before the Worker's threads
    if (child == 0) {
      close(to_child[1]);
      close(to_parent[0]);
      int code = 0;
      try {
        durable::Queue<job> q{s.target(), "wake", quiet()};
        std::mt19937 rng{1};
        char ready = 0;
        for (int i = 0; i < samples; ++i) {
          if (read(to_child[0], &ready, 1) != 1) break;  // the Worker is idle again
          std::this_thread::sleep_for(std::chrono::microseconds{2000 + rng() % 3000});
          const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
          q.push({stamp, ""});
        }
      } catch (...) {
        code = 1;
      }
      _exit(code);
    }
    close(to_child[0]);
    close(to_parent[1]);
    std::vector<double> latencies;
    std::atomic<int> handled{0};
    durable::worker_options o;
    o.log = nullptr;
    o.min_poll_interval = 10min;  // only a notification wakes it
    o.max_poll_interval = 10min;
    durable::Worker<job> w{queue, dlq,
                           [&](const job& j) {
                             const auto now =
                                 std::chrono::steady_clock::now().time_since_epoch().count();
                             latencies.push_back(static_cast<double>(now - j.n) / 1e3);  // µs
                             ++handled;
                           },
                           o};
    w.start();
    std::this_thread::sleep_for(100ms);  // idle, LISTENing
    for (int i = 0; i < samples; ++i) {
      const int before = handled;
      if (write(to_child[1], "x", 1) != 1) break;
      while (handled == before) std::this_thread::sleep_for(std::chrono::microseconds{200});
    }
    w.stop();
    close(to_child[1]);
    int status = 0;
    waitpid(child, &status, 0);
    close(to_parent[0]);
    std::sort(latencies.begin(), latencies.end());
    state.counters["median_us"] = latencies[latencies.size() / 2];
    state.counters["p99_us"] = latencies[latencies.size() * 99 / 100];
  }
}

}  // namespace

// Wall-clock time: most of a call's time is the server's, not this process's CPU time.
// Arg: job body size in bytes.
BENCHMARK(durable_push)->Arg(64)->Arg(1024)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(raw_push, same, statements::same)
    ->Arg(64)
    ->Arg(1024)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(raw_push, minimal, statements::minimal)
    ->Arg(64)
    ->Arg(1024)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(durable_push_many)->Arg(64)->Arg(1024)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(raw_push_many, same, statements::same)
    ->Arg(64)
    ->Arg(1024)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(raw_push_many, minimal, statements::minimal)
    ->Arg(64)
    ->Arg(1024)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(durable_claim_ack)->Arg(64)->Arg(1024)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(raw_claim_ack, same, statements::same)
    ->Arg(64)
    ->Arg(1024)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(raw_claim_ack, minimal, statements::minimal)
    ->Arg(64)
    ->Arg(1024)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(durable_dlq_window)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(raw_dlq_window)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(paired_push)->Arg(64)->Arg(1024)->UseRealTime()->Unit(benchmark::kMicrosecond);
// At ~10 ms a call, 2 s per run gives medians of ~60 calls per side.
BENCHMARK(paired_push_many)
    ->Arg(64)
    ->Arg(1024)
    ->MinTime(2)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(paired_claim_ack)->Arg(64)->Arg(1024)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(paired_dlq_window)->UseRealTime()->Unit(benchmark::kMicrosecond);
// Arg: consumer processes.
BENCHMARK(durable_consumers)
    ->Arg(1)
    ->Arg(2)
    ->Arg(4)
    ->Arg(8)
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(durable_wake_latency)->Iterations(1)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
