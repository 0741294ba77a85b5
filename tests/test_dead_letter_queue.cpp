// SPDX-License-Identifier: MIT
// DeadLetterQueue<Job, Codec> against real database files: add, get, recent, count,
// window queries with keyset pagination (checked against a brute-force scan of 100,000
// entries), retention, purge, the query plans, moves from a Queue in the same file and in
// another file (with a failure injected between the two steps), redrive, and bad input.

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <durable/dead_letter_queue.hpp>
#include <durable/detail/sqlite/dead_letter_move.hpp>
#include <durable/detail/sqlite/dead_letter_query.hpp>
#include <durable/detail/sqlite/redrive.hpp>
#include <durable/detail/sqlite/schema.hpp>
#include <durable/recovery.hpp>

#include "quiet_options.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using durable::DeadLetterQueue;
using durable::Queue;
using durable_test::quiet_dlq;
using durable_test::quiet_queue;
using durable_test::temp_dir;
namespace sql = durable::detail::sqlite;

namespace {

struct email {
  std::int64_t n = 0;
  std::string to;
};

struct other_job {
  double x = 0;
};

/// pfr_codec (same name and fingerprints), except that it refuses to decode an email to
/// "poison": bytes of the reader's own codec and type that do not decode.
struct picky_codec : durable::pfr_codec {
  template <class Job>
  static Job decode(std::span<const std::byte> bytes) {
    Job job = durable::pfr_codec::decode<Job>(bytes);
    if constexpr (std::is_same_v<Job, email>) {
      if (job.to == "poison") throw durable::decode_error("durable: test: a poison email");
    }
    return job;
  }
};

std::int64_t ms(durable::time_point t) { return durable::detail::to_unix_ms(t); }

std::vector<durable::dead_letter_id> ids_of(const std::vector<durable::dead_letter_summary>& v) {
  std::vector<durable::dead_letter_id> out;
  out.reserve(v.size());
  for (const auto& e : v) out.push_back(e.id);
  return out;
}

/// Every page of a query, concatenated; checks that no page is larger than asked.
std::vector<durable::dead_letter_id> all_pages(DeadLetterQueue<email>& dlq,
                                               const durable::dead_letter_filter& f,
                                               durable::sort_order order, std::int64_t limit,
                                               int* pages = nullptr) {
  std::vector<durable::dead_letter_id> out;
  durable::page_request page{.order = order, .limit = limit};
  int n = 0;
  for (;;) {
    auto p = dlq.query(f, page);
    REQUIRE(p.entries.size() <= static_cast<std::size_t>(limit));
    ++n;
    for (const auto& e : p.entries) out.push_back(e.id);
    if (!p.next) break;
    REQUIRE(p.entries.size() == static_cast<std::size_t>(limit));
    CHECK(p.next->id == p.entries.back().id);
    page.after = p.next;
  }
  if (pages != nullptr) *pages = n;
  return out;
}

std::int64_t count_table(const std::string& path, const char* table) {
  sql::connection c{path, {}};
  auto q = c.query(std::string{"SELECT count(*) FROM "} + table);
  REQUIRE(q->step());
  return q->int64(0);
}

}  // namespace

// ---------------------------------------------------------------- opening, add, get

TEST_CASE("a DLQ name with odd characters is refused before the file is touched" *
          doctest::skip(!durable_test::on_sqlite())) {
  temp_dir dir;
  const std::vector<std::string> bad_names = {"", "dead letters",
                                              "x'; DROP TABLE durable_dead_letters; --",
                                              std::string(129, 'd'), std::string("nul\0", 4)};
  for (const auto& bad : bad_names) {
    try {
      DeadLetterQueue<email> dlq{dir.db("d.db"), bad, quiet_dlq()};
      FAIL("must refuse " << bad);
    } catch (const durable::invalid_argument_error& e) {
      CHECK(e.argument() == "dlq_name");
      CHECK(std::string{e.what()}.find("[A-Za-z0-9_.:/-]") != std::string::npos);
    }
  }
  CHECK_FALSE(std::filesystem::exists(dir.db("d.db")));
  CHECK_NOTHROW(DeadLetterQueue<email>{dir.db("d.db"), "tenant-1/emails.dlq", quiet_dlq()});
}

TEST_CASE("add stores the job with its error, key, times and history, and get returns it all") {
  temp_dir dir;
  durable::manual_clock clock;
  DeadLetterQueue<email> dlq{dir.db("d.db"), "emails.dlq", quiet_dlq(&clock)};
  CHECK(dlq.name() == "emails.dlq");
  CHECK(dlq.path() == dir.db("d.db"));
  const auto enqueued = clock.now() - 1h;
  const auto id =
      dlq.add({7, "x@example.com"}, {"smtp.rejected", "550 no such user", "at send()"}, 3,
              {.queue = "emails",
               .key = "user-7",
               .enqueued_at = enqueued,
               .priority = 4,
               .sequential = true});
  CHECK(id > 0);
  const auto e = dlq.get(id);
  REQUIRE(e);
  CHECK(e->id == id);
  CHECK_FALSE(e->original_id);
  CHECK(e->origin.empty());
  CHECK(e->queue == "emails");
  CHECK(e->key == durable::job_key{"user-7"});
  CHECK(e->error_type == "smtp.rejected");
  CHECK(e->message == "550 no such user");
  CHECK(e->context == "at send()");
  CHECK(e->attempts == 3);
  CHECK(e->enqueued_at == enqueued);
  CHECK(e->failed_at == clock.now());
  CHECK_FALSE(e->redriven_at);
  CHECK(e->priority == 4);
  CHECK(e->sequential);
  CHECK(e->codec == "pfr");
  CHECK(e->fingerprint == durable::pfr_codec::fingerprint<email>());
  CHECK(e->job.n == 7);
  CHECK(e->job.to == "x@example.com");
  REQUIRE(e->history.size() == 1);
  CHECK(e->history[0].attempt == 3);
  CHECK(e->history[0].error_type == "smtp.rejected");
  CHECK(e->history[0].message == "550 no such user");
  CHECK(e->history[0].at == clock.now());
  CHECK(dlq.history(id).size() == 1);

  const auto s = dlq.summary(id);
  REQUIRE(s);
  CHECK(s->error_type == "smtp.rejected");
  CHECK(s->key == durable::job_key{"user-7"});
  CHECK(dlq.size() == 1);

  SUBCASE("defaults: no key, no queue, enqueued now, integer keys stay integers") {
    const auto plain = dlq.add({1, ""}, {"t", "m", ""}, 0);
    const auto p = dlq.get(plain);
    REQUIRE(p);
    CHECK(p->queue.empty());
    CHECK_FALSE(p->key);
    CHECK(p->enqueued_at == clock.now());
    const auto keyed = dlq.add({2, ""}, {"t", "m", ""}, 1, {.key = 42});
    CHECK(dlq.get(keyed)->key == durable::job_key{std::int64_t{42}});
  }
}

TEST_CASE("add_many stores every field of every entry of a long batch") {
  // Runs of entries are inserted many rows per statement: each row must get its own values.
  temp_dir dir;
  DeadLetterQueue<email> dlq{dir.db("d.db"), "emails.dlq", quiet_dlq()};
  constexpr std::int64_t n = 100;
  std::vector<durable::add_entry<email>> entries;
  for (std::int64_t i = 0; i < n; ++i) {
    durable::add_options o;
    o.queue = i % 3 == 0 ? "" : "emails-" + std::to_string(i % 3);
    if (i % 2 == 0) o.key = i;
    if (i % 4 == 1) o.key = "k" + std::to_string(i);
    o.priority = static_cast<int>(i % 5);
    o.sequential = i % 6 == 0;
    o.max_attempts = i + 1;
    entries.push_back(
        {email{i, "to-" + std::to_string(i)},
         {"type-" + std::to_string(i % 4), "message " + std::to_string(i),
          "context " + std::to_string(i),
          i % 2 == 0 ? durable::redrive_policy::optional : durable::redrive_policy::never},
         i % 9,
         o});
  }
  const auto ids = dlq.add_many(entries);
  REQUIRE(ids.size() == static_cast<std::size_t>(n));
  CHECK(dlq.size() == n);
  for (std::int64_t i = 0; i < n; ++i) {
    INFO("entry " << i);
    const auto& in = entries[static_cast<std::size_t>(i)];
    const auto e = dlq.get(ids[static_cast<std::size_t>(i)]);
    REQUIRE(e);
    CHECK(e->job.n == i);
    CHECK(e->job.to == in.job.to);
    CHECK(e->queue == in.options.queue);
    CHECK(e->key == in.options.key);
    CHECK(e->error_type == in.error.error_type);
    CHECK(e->message == in.error.message);
    CHECK(e->context == in.error.context);
    CHECK(e->redrive == in.error.redrive);
    CHECK(e->attempts == in.attempts);
    CHECK(e->priority == in.options.priority);
    CHECK(e->sequential == in.options.sequential);
  }
}

TEST_CASE("an unknown id is an empty result, not an error") {
  temp_dir dir;
  DeadLetterQueue<email> dlq{dir.db("d.db"), "dlq", quiet_dlq()};
  CHECK_FALSE(dlq.get(12345));
  CHECK_FALSE(dlq.summary(12345));
  CHECK(dlq.history(12345).empty());
  CHECK(dlq.redrive(12345).outcome == durable::redrive_outcome::gone);
  // An entry of another DLQ in the same file is not this DLQ's.
  DeadLetterQueue<email> other{dir.db("d.db"), "other", quiet_dlq()};
  const auto id = other.add({1, ""}, {"t", "m", ""}, 1);
  CHECK_FALSE(dlq.get(id));
  CHECK(dlq.redrive(id).outcome == durable::redrive_outcome::gone);
  CHECK(other.get(id));
}

TEST_CASE("add refuses bad input and stores nothing") {
  temp_dir dir;
  DeadLetterQueue<email> dlq{dir.db("d.db"), "dlq", quiet_dlq()};
  const auto argument_of = [&](auto&& call) -> std::string {
    try {
      call();
    } catch (const durable::invalid_argument_error& e) {
      return e.argument();
    }
    return "no error";
  };
  CHECK(argument_of([&] { dlq.add({}, {"", "m", ""}, 1); }) == "failure::error_type");
  CHECK(argument_of([&] { dlq.add({}, {"t", "m", ""}, -1); }) == "attempts");
  CHECK(argument_of([&] {
          dlq.add({}, {"t", "m", ""}, 1, {.queue = "bad name"});
        }) == "add_options::queue");
  CHECK(dlq.count({.include_redriven = true}) == 0);
}

TEST_CASE(
    "a blob written by another job type is a decode_error naming the row, and the entry stays" *
    doctest::skip(!durable_test::on_sqlite())) {
  temp_dir dir;
  const auto path = dir.db("d.db");
  DeadLetterQueue<other_job> writer{path, "dlq", quiet_dlq()};
  const auto id = writer.add({2.5}, {"t", "m", ""}, 1, {.queue = "q"});
  DeadLetterQueue<email> dlq{path, "dlq", quiet_dlq()};
  try {
    static_cast<void>(dlq.get(id));
    FAIL("decoding another type must throw");
  } catch (const durable::decode_error& e) {
    CHECK(e.row_id() == id);
    CHECK(e.queue() == "dlq");
    CHECK(e.expected_codec() == "pfr");
    CHECK(e.found_codec() == "pfr");
    CHECK(e.expected_fingerprint() == durable::pfr_codec::fingerprint<email>());
    CHECK(e.found_fingerprint() == durable::pfr_codec::fingerprint<other_job>());
    const std::string what = e.what();
    CHECK(what.find("entry " + std::to_string(id)) != std::string::npos);
    CHECK(what.find(path) != std::string::npos);
    CHECK(what.find("kept") != std::string::npos);
  }
  CHECK(dlq.size() == 1);
  CHECK(dlq.summary(id));
  CHECK(dlq.recent().size() == 1);
  CHECK(writer.get(id)->job.x == 2.5);
  // Redrive refuses it too, and leaves it.
  CHECK_THROWS_AS(static_cast<void>(dlq.redrive(id)), durable::decode_error);
  const auto r = dlq.redrive({});
  CHECK(r.redriven == 0);
  CHECK(r.skipped_incompatible == 1);
  CHECK(dlq.size() == 1);
  CHECK(count_table(path, "durable_jobs") == 0);

  SUBCASE("garbled bytes with the right fingerprint are a decode_error too") {
    const auto good = dlq.add({1, "a"}, {"t", "m", ""}, 1);
    {
      sql::connection c{path, {}};
      c.run("UPDATE durable_dead_letters SET payload = x'ffffffff' WHERE id = ?1", good);
    }
    try {
      static_cast<void>(dlq.get(good));
      FAIL("garbled bytes must throw");
    } catch (const durable::decode_error& e) {
      CHECK(e.row_id() == good);
      CHECK(e.found_fingerprint() == e.expected_fingerprint());
    }
    CHECK(dlq.summary(good));
  }
}

// ---------------------------------------------------------------- recent, count, windows

TEST_CASE("recent lists the newest entries first and leaves out redriven ones") {
  temp_dir dir;
  durable::manual_clock clock;
  DeadLetterQueue<email> dlq{dir.db("d.db"), "dlq", quiet_dlq(&clock)};
  std::vector<durable::dead_letter_id> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(dlq.add({i, ""}, {"t" + std::to_string(i), "m", ""}, 1, {.queue = "q"}));
    clock.advance(1s);
  }
  const auto r = dlq.recent(3);
  CHECK(ids_of(r) == std::vector<durable::dead_letter_id>{ids[4], ids[3], ids[2]});
  CHECK(r[0].error_type == "t4");
  CHECK(r[0].failed_at == clock.now() - 1s);
  REQUIRE(dlq.redrive(ids[4]).outcome == durable::redrive_outcome::redriven);
  CHECK(ids_of(dlq.recent(2)) == std::vector<durable::dead_letter_id>{ids[3], ids[2]});
  CHECK(dlq.recent(100).size() == 4);
  CHECK_THROWS_AS(static_cast<void>(dlq.recent(0)), durable::invalid_argument_error);
}

TEST_CASE("a window includes both bounds, and from > to is an error") {
  temp_dir dir;
  durable::manual_clock clock;
  DeadLetterQueue<email> dlq{dir.db("d.db"), "dlq", quiet_dlq(&clock)};
  const auto t0 = clock.now();
  std::vector<durable::dead_letter_id> ids;
  for (int i = 0; i < 5; ++i) {  // at t0, t0+10ms, ..., t0+40ms
    ids.push_back(dlq.add({i, ""}, {"t", "m", ""}, 1));
    clock.advance(10ms);
  }
  const auto window = [&](auto from, auto to) {
    return ids_of(dlq.query({.from = from, .to = to}).entries);
  };
  CHECK(window(t0 + 10ms, t0 + 30ms) ==
        std::vector<durable::dead_letter_id>{ids[1], ids[2], ids[3]});
  CHECK(window(t0 + 11ms, t0 + 29ms) == std::vector<durable::dead_letter_id>{ids[2]});
  CHECK(window(t0 + 20ms, t0 + 20ms) == std::vector<durable::dead_letter_id>{ids[2]});
  CHECK(dlq.count({.from = t0 + 10ms, .to = t0 + 30ms}) == 3);
  CHECK(dlq.count({.from = t0 + 10ms}) == 4);
  CHECK(dlq.count({.to = t0 + 10ms}) == 2);
  // Sub-millisecond bounds: inclusive at the stored millisecond precision, so a bound
  // inside a millisecond includes the entries that failed in that millisecond.
  CHECK(window(t0 + 10ms - 1us, t0 + 10ms + 1us) == std::vector<durable::dead_letter_id>{ids[1]});
  CHECK(window(t0 + 10ms + 1us, t0 + 10ms + 2us) == std::vector<durable::dead_letter_id>{ids[1]});
  CHECK(window(t0 + 10ms + 1us, t0 + 20ms - 1us) == std::vector<durable::dead_letter_id>{ids[1]});
  CHECK(window(t0 + 11ms, t0 + 20ms - 1us).empty());

  try {
    static_cast<void>(dlq.query({.from = t0 + 1ms, .to = t0}));
    FAIL("from > to must throw");
  } catch (const durable::invalid_argument_error& e) {
    CHECK(e.argument() == "filter");
    CHECK(std::string{e.what()}.find("from <= to") != std::string::npos);
    // Both bounds as they were given, so the message never reads "from X is after to X".
    CHECK(std::string{e.what()}.find("from 2026-01-01T00:00:00.001Z is after to "
                                     "2026-01-01T00:00:00.000Z") != std::string::npos);
  }
  try {
    static_cast<void>(dlq.count({.from = t0 + 2us, .to = t0 + 1us}));
    FAIL("from > to within one millisecond must throw");
  } catch (const durable::invalid_argument_error& e) {
    CHECK(std::string{e.what()}.find("from 2026-01-01T00:00:00.000002000Z is after to "
                                     "2026-01-01T00:00:00.000001000Z") != std::string::npos);
  }
  const durable::dead_letter_filter backwards{.from = t0 + 1s, .to = t0};
  CHECK_THROWS_AS(static_cast<void>(dlq.count(backwards)), durable::invalid_argument_error);
  CHECK_THROWS_AS(dlq.purge(backwards), durable::invalid_argument_error);
  CHECK_THROWS_AS(dlq.redrive(backwards), durable::invalid_argument_error);
  CHECK_THROWS_AS(static_cast<void>(dlq.query({}, {.limit = 0})), durable::invalid_argument_error);
  CHECK(dlq.size() == 5);
}

TEST_CASE("a window bounded by the earliest and latest time points selects every entry") {
  temp_dir dir;
  durable::manual_clock clock;
  DeadLetterQueue<email> dlq{dir.db("d.db"), "dlq", quiet_dlq(&clock)};
  static_cast<void>(dlq.add({1, ""}, {"t", "m", ""}, 1));
  clock.set(durable::min_time);
  static_cast<void>(dlq.add({2, ""}, {"t", "m", ""}, 1));
  clock.set(durable::max_time);
  static_cast<void>(dlq.add({3, ""}, {"t", "m", ""}, 1));
  const auto earliest = durable::time_point::min();
  const auto latest = durable::time_point::max();
  CHECK(dlq.count({.from = earliest}) == 3);
  CHECK(dlq.count({.from = earliest, .to = latest}) == 3);
  CHECK(dlq.count({.to = latest}) == 3);
  CHECK(dlq.count({.from = durable::min_time, .to = durable::min_time}) == 1);
  CHECK(dlq.query({.from = earliest}).entries.size() == 3);
  try {
    static_cast<void>(dlq.count({.from = latest, .to = earliest}));
    FAIL("from > to must throw");
  } catch (const durable::invalid_argument_error& e) {
    CHECK(std::string{e.what()}.find("from 2262-04-11T23:47:16.854775807Z is after to "
                                     "1677-09-21T00:12:43.145224192Z") != std::string::npos);
  }
  CHECK(dlq.purge({.from = earliest, .to = latest}) == 3);
  CHECK(dlq.size() == 0);
}

TEST_CASE("ordering and keyset pagination hold across equal failed_at values") {
  temp_dir dir;
  durable::manual_clock clock;
  DeadLetterQueue<email> dlq{dir.db("d.db"), "dlq", quiet_dlq(&clock)};
  std::vector<durable::dead_letter_id> expected;  // (failed_at, id) ascending
  for (int group = 0; group < 4; ++group) {
    for (int i = 0; i < 7; ++i) {
      expected.push_back(dlq.add({i, ""}, {i % 2 == 0 ? "even" : "odd", "m", ""}, 1,
                                 {.key = std::int64_t{i % 3}}));
    }
    clock.advance(1ms);
  }
  auto reversed = expected;
  std::reverse(reversed.begin(), reversed.end());
  for (const std::int64_t limit : {1, 3, 7, 10, 28, 100}) {
    CAPTURE(limit);
    int pages = 0;
    CHECK(all_pages(dlq, {}, durable::sort_order::oldest_first, limit, &pages) == expected);
    CHECK(pages == static_cast<int>((28 + limit - 1) / limit));
    CHECK(all_pages(dlq, {}, durable::sort_order::newest_first, limit) == reversed);
    // Several types or keys: one ordered index read per value, merged.
    CHECK(all_pages(dlq, {.error_types = {"odd", "even"}}, durable::sort_order::oldest_first,
                    limit) == expected);
    CHECK(all_pages(dlq, {.keys = {std::int64_t{2}, std::int64_t{0}, std::int64_t{1}}},
                    durable::sort_order::newest_first, limit) == reversed);
  }
  // A cursor from a page is stable: resuming later gives the same next page.
  auto first = dlq.query({}, {.limit = 5});
  REQUIRE(first.next);
  const auto again = dlq.query({}, {.limit = 5, .after = first.next});
  CHECK(ids_of(again.entries) ==
        std::vector<durable::dead_letter_id>(expected.begin() + 5, expected.begin() + 10));
  // An empty result has no next page.
  const auto none = dlq.query({.error_types = {"no such type"}});
  CHECK(none.entries.empty());
  CHECK_FALSE(none.next);
}

namespace {

struct row {
  durable::dead_letter_id id = 0;
  std::int64_t failed_at = 0;
  std::string type;
  std::optional<durable::job_key> key;
  std::string queue;
  bool redriven = false;
};

bool matches(const row& r, const durable::dead_letter_filter& f) {
  if (f.from && r.failed_at < ms(*f.from)) return false;
  if (f.to && r.failed_at > ms(*f.to)) return false;
  if (!f.error_types.empty() &&
      std::find(f.error_types.begin(), f.error_types.end(), r.type) == f.error_types.end()) {
    return false;
  }
  if (!f.keys.empty() &&
      (!r.key || std::find(f.keys.begin(), f.keys.end(), *r.key) == f.keys.end())) {
    return false;
  }
  if (f.queue && r.queue != *f.queue) return false;
  return f.include_redriven || !r.redriven;
}

/// The ids of `rows` (sorted by (failed_at, id)) that match `f`, in `order`.
std::vector<durable::dead_letter_id> brute_force(const std::vector<row>& rows,
                                                 const durable::dead_letter_filter& f,
                                                 durable::sort_order order) {
  std::vector<durable::dead_letter_id> out;
  for (const auto& r : rows) {
    if (matches(r, f)) out.push_back(r.id);
  }
  if (order == durable::sort_order::newest_first) std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("window queries over 100,000 entries agree with a brute-force scan" *
          doctest::skip(!durable_test::on_sqlite())) {
  temp_dir dir;
  const auto path = dir.db("d.db");
  durable::manual_clock clock;
  DeadLetterQueue<email> dlq{path, "big", quiet_dlq(&clock)};
  const std::vector<std::string> types = {"timeout", "http.503", "http.400",
                                          "decode",  "db.busy",  "unknown"};
  const std::int64_t t0 = ms(clock.now());
  std::vector<row> rows;
  rows.reserve(100'000);
  {
    // One transaction, through the SQL layer, to keep the setup fast.
    std::mt19937_64 rng{20260101};
    auto& backend = dynamic_cast<durable::detail::sqlite::sqlite_backend&>(dlq.db().storage());
    backend.write([&](sql::write_context& ctx) {
      ctx.db.exec("PRAGMA cache_size = -262144");  // no spilling to the WAL mid-transaction
      std::vector<std::byte> payload;
      durable::pfr_codec::encode(email{1, "x"}, payload);
      for (int i = 0; i < 100'000; ++i) {
        row r;
        r.failed_at = t0 + static_cast<std::int64_t>(rng() % 20'000);  // ~5 entries per ms
        r.type = types[rng() % types.size()];
        const auto k = rng() % 10;
        if (k < 6) {
          r.key = durable::job_key{static_cast<std::int64_t>(rng() % 500)};
        } else if (k < 9) {
          std::string key = "k\"";             // a quote: JSON escaping
          key += std::to_string(rng() % 100);  // (not "k" + ...: GCC bug 105651 at -O3)
          r.key = durable::job_key{std::move(key)};
        }
        r.queue = std::string(1, rng() % 4 == 0 ? 'b' : 'a');  // (GCC 105329 at -O3)
        r.redriven = rng() % 10 == 0;
        durable::storage::new_dead_letter d;
        d.dlq = "big";
        d.queue = r.queue;
        d.key = r.key ? &*r.key : nullptr;
        d.codec = "pfr";
        d.fingerprint = durable::pfr_codec::fingerprint<email>();
        d.payload = payload;
        d.failure = {r.type, "failed", "", durable::redrive_policy::safe, r.failed_at};
        d.attempts = 1;
        d.enqueued_at_ms = t0;
        const auto [id, added] = sql::insert_dead_letters(ctx, {&d, 1}).at(0);
        REQUIRE(added);
        r.id = id;
        if (r.redriven) {
          sql::mark_redriven(ctx, ctx.existing_id(sql::name_kind::dead_letter_queue, "big").value(),
                             r.id, t0 + 30'000);
        }
        rows.push_back(std::move(r));
      }
    });
  }
  {
    std::vector<std::pair<std::int64_t, std::size_t>> order;  // (failed_at, index = id order)
    order.reserve(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) order.emplace_back(rows[i].failed_at, i);
    std::sort(order.begin(), order.end());
    std::vector<row> sorted;
    sorted.reserve(rows.size());
    for (const auto& [at, i] : order) sorted.push_back(std::move(rows[i]));
    rows = std::move(sorted);
  }
  const auto at = [&](std::int64_t offset) { return durable::detail::from_unix_ms(t0 + offset); };
  using durable::job_key;
  const std::vector<durable::dead_letter_filter> filters = {
      {.from = at(5'000), .to = at(6'000)},
      {.from = at(1'000), .to = at(9'000), .error_types = {"http.503", "timeout"}},
      {.error_types = {"decode"}},
      {.keys = {job_key{std::int64_t{5}}, job_key{std::int64_t{17}}, job_key{"k\"3"},
                job_key{"k\"42"}, job_key{"17"}}},
      {.from = at(2'000),
       .to = at(18'000),
       .error_types = {"http.400", "db.busy"},
       .keys = {job_key{std::int64_t{1}}, job_key{std::int64_t{2}}, job_key{"k\"7"}}},
      {.from = at(10'000), .to = at(10'999), .queue = "b", .include_redriven = true},
      {.to = at(500), .include_redriven = true},
      {.include_redriven = true},  // all 100,000
  };
  for (std::size_t i = 0; i < filters.size(); ++i) {
    CAPTURE(i);
    const auto& f = filters[i];
    const auto expected = brute_force(rows, f, durable::sort_order::oldest_first);
    CHECK(dlq.count(f) == static_cast<std::int64_t>(expected.size()));
    const std::int64_t limit = i + 1 == filters.size() ? 5'000 : 997;
    CHECK(all_pages(dlq, f, durable::sort_order::oldest_first, limit) == expected);
    if (i + 1 < filters.size()) {
      CHECK(all_pages(dlq, f, durable::sort_order::newest_first, limit) ==
            brute_force(rows, f, durable::sort_order::newest_first));
    }
  }
  CHECK(brute_force(rows, filters.back(), durable::sort_order::oldest_first).size() == 100'000);
  CHECK(dlq.size() == static_cast<std::int64_t>(std::count_if(
                          rows.begin(), rows.end(), [](const row& r) { return !r.redriven; })));

  // purge removes exactly the matching entries.
  const durable::dead_letter_filter purged{
      .from = at(3'000), .to = at(4'000), .error_types = {"timeout"}};
  const auto expected_purged = brute_force(rows, purged, durable::sort_order::oldest_first);
  CHECK(dlq.purge(purged) == static_cast<std::int64_t>(expected_purged.size()));
  CHECK(dlq.count(purged) == 0);
  std::erase_if(rows, [&](const row& r) { return matches(r, purged); });
  CHECK(dlq.count({.include_redriven = true}) == static_cast<std::int64_t>(rows.size()));

  // delete_older_than removes what failed before now - age, redriven or not.
  clock.set(at(20'000));
  const durable::dead_letter_filter old_ones{.to = at(1'999), .include_redriven = true};
  const auto expected_old = brute_force(rows, old_ones, durable::sort_order::oldest_first);
  CHECK_FALSE(expected_old.empty());
  CHECK(dlq.delete_older_than(18'000ms) == static_cast<std::int64_t>(expected_old.size()));
  std::erase_if(rows, [&](const row& r) { return matches(r, old_ones); });
  CHECK(dlq.count(old_ones) == 0);
  CHECK(all_pages(dlq, {.include_redriven = true}, durable::sort_order::oldest_first, 10'000) ==
        brute_force(rows, {.include_redriven = true}, durable::sort_order::oldest_first));
}

TEST_CASE("filters by source queue, redriven state and mixed key types") {
  temp_dir dir;
  durable::manual_clock clock;
  DeadLetterQueue<email> dlq{dir.db("d.db"), "dlq", quiet_dlq(&clock)};
  const auto a = dlq.add({1, ""}, {"t", "m", ""}, 1, {.queue = "a", .key = 1});
  const auto b = dlq.add({2, ""}, {"t", "m", ""}, 1, {.queue = "b", .key = "1"});
  const auto c = dlq.add({3, ""}, {"u", "m", ""}, 1, {.queue = "a"});
  CHECK(ids_of(dlq.query({.queue = "a"}).entries) == std::vector<durable::dead_letter_id>{a, c});
  CHECK(ids_of(dlq.query({.keys = {durable::job_key{"1"}}}).entries) ==
        std::vector<durable::dead_letter_id>{b});
  CHECK(ids_of(dlq.query({.keys = {durable::job_key{std::int64_t{1}}}}).entries) ==
        std::vector<durable::dead_letter_id>{a});
  CHECK(dlq.count({.error_types = {"u", "t", "t"}}) == 3);  // duplicates are harmless
  CHECK(ids_of(dlq.query({.error_types = {"u", "t", "t"}}).entries).size() == 3);
  REQUIRE(dlq.redrive(a).outcome == durable::redrive_outcome::redriven);
  CHECK(dlq.count({.queue = "a"}) == 1);
  CHECK(dlq.count({.queue = "a", .include_redriven = true}) == 2);
  const auto redriven = dlq.query({.queue = "a", .include_redriven = true}).entries;
  REQUIRE(redriven.size() == 2);
  CHECK(redriven[0].redriven_at == clock.now());
  CHECK_FALSE(redriven[1].redriven_at);
  SUBCASE("purge leaves redriven entries unless asked") {
    CHECK(dlq.purge({.queue = "a"}) == 1);
    CHECK(dlq.count({.include_redriven = true}) == 2);
    CHECK(dlq.purge({.include_redriven = true}) == 2);
    CHECK(dlq.count({.include_redriven = true}) == 0);
  }
}

TEST_CASE("delete_older_than keeps entries exactly age old and refuses a negative age" *
          doctest::skip(!durable_test::on_sqlite())) {
  temp_dir dir;
  durable::manual_clock clock;
  DeadLetterQueue<email> dlq{dir.db("d.db"), "dlq", quiet_dlq(&clock)};
  DeadLetterQueue<email> other{dir.db("d.db"), "other", quiet_dlq(&clock)};
  dlq.add({1, ""}, {"t", "m", ""}, 1);
  other.add({1, ""}, {"t", "m", ""}, 1);
  clock.advance(1s);
  dlq.add({2, ""}, {"t", "m", ""}, 1);
  clock.advance(1s);
  CHECK(dlq.delete_older_than(2s) == 0);  // failed_at == now - 2s stays
  CHECK(dlq.delete_older_than(1999ms) == 1);
  CHECK(dlq.size() == 1);
  CHECK(other.size() == 1);  // another DLQ in the file is untouched
  CHECK(dlq.delete_older_than(0ms) == 1);
  CHECK_THROWS_AS(dlq.delete_older_than(-1ms), durable::invalid_argument_error);
}

// ---------------------------------------------------------------- query plans

namespace {

std::vector<std::string> plan(sql::connection& c, const std::string& statement) {
  auto q = c.query("EXPLAIN QUERY PLAN " + statement);
  std::vector<std::string> lines;
  while (q->step()) lines.emplace_back(q->text(3));
  return lines;
}

void check_plan(sql::connection& c, const std::string& statement, const std::string& index,
                const std::string& constraint) {
  CAPTURE(statement);
  const auto lines = plan(c, statement);
  std::string all;
  for (const auto& l : lines) all += l + "\n";
  CAPTURE(all);
  bool searched = false;
  for (const auto& l : lines) {
    CHECK(l.rfind("SCAN durable_dead_letters", 0) == std::string::npos);
    CHECK(l.find("TEMP B-TREE") == std::string::npos);
    if (l.rfind("SEARCH durable_dead_letters USING ", 0) == 0 &&
        l.find("INDEX " + index + " (") != std::string::npos &&
        l.find(constraint) != std::string::npos) {
      searched = true;
    }
  }
  CHECK(searched);
}

std::string index_name(sql::dead_letter_index index) {
  switch (index) {
    case sql::dead_letter_index::time: return "durable_dead_letters_time";
    case sql::dead_letter_index::type: return "durable_dead_letters_type";
    case sql::dead_letter_index::key: return "durable_dead_letters_key";
  }
  return "";
}

std::string equality(sql::dead_letter_index index) {
  switch (index) {
    case sql::dead_letter_index::time: return "(dlq_id=? AND failed_at";
    case sql::dead_letter_index::type: return "(dlq_id=? AND error_type=? AND failed_at";
    case sql::dead_letter_index::key: return "(dlq_id=? AND key=? AND failed_at";
  }
  return "";
}

/// Every ordered-page variant walks its index in order.
void check_page_plans(sql::connection& c) {
  using sql::dead_letter_index;
  for (const auto index :
       {dead_letter_index::time, dead_letter_index::type, dead_letter_index::key}) {
    for (int v = 0; v < 16; ++v) {
      const bool desc = (v & 8) != 0;
      const bool resid = (v & 4) != 0;
      if (resid && index != dead_letter_index::key) continue;
      check_plan(c, sql::page_sql(index, desc, resid, (v & 2) != 0, (v & 1) != 0),
                 index_name(index), equality(index));
    }
  }
}

/// Every count, delete and selection variant is a range scan of the right index.
void check_filter_plans(sql::connection& c) {
  using sql::dead_letter_index;
  for (const auto action :
       {sql::filter_action::count, sql::filter_action::remove, sql::filter_action::select}) {
    for (int v = 0; v < 16; ++v) {
      const bool types = (v & 8) != 0;
      const bool keys = (v & 4) != 0;
      const auto index = keys    ? dead_letter_index::key
                         : types ? dead_letter_index::type
                                 : dead_letter_index::time;
      check_plan(c, sql::filter_sql(action, types, keys, (v & 2) != 0, (v & 1) != 0),
                 index_name(index), equality(index) + ">? AND failed_at<?)");
    }
  }
  check_plan(c, std::string{sql::delete_failed_before_sql}, "durable_dead_letters_time",
             "(dlq_id=? AND failed_at<?)");
}

}  // namespace

TEST_CASE("every dead-letter statement is an index range scan, without a temp b-tree" *
          doctest::skip(!durable_test::on_sqlite())) {
  temp_dir dir;
  sql::connection c{dir.db("d.db"), {}};
  sql::ensure_schema(c);
  SUBCASE("on a fresh file") {
    check_page_plans(c);
    check_filter_plans(c);
  }
  SUBCASE("after ANALYZE of a populated file") {
    {
      sql::write_transaction tx{c};
      c.exec(
          "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
          "INSERT INTO durable_dead_letters (dlq_id, origin, job_id, queue, key, codec, "
          "fingerprint, payload, error_type, message, attempts, enqueued_at, failed_at) "
          "SELECT i % 3, 'o', i, 'q', CASE WHEN i % 4 = 0 THEN NULL ELSE i % 700 END, "
          "'pfr', 1, x'00', 't' || (i % 5), 'm', 1, 0, i * 7 FROM n");
      tx.commit();
    }
    c.exec("ANALYZE");
    check_page_plans(c);
    check_filter_plans(c);
  }
}

// ---------------------------------------------------------------- moves from a Queue

TEST_CASE("move_from, same file: the job leaves the queue and enters the DLQ in one step") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  durable::manual_clock clock;
  Queue<email> q{path, "emails", quiet_queue(&clock)};
  DeadLetterQueue<email> dlq{path, "emails.dlq", quiet_dlq(&clock)};
  const auto enqueued = clock.now();
  const auto pushed = q.push({7, "x@example.com"}, {.key = "user-7", .priority = 3});
  auto c1 = q.claim(30s);
  REQUIRE(c1);
  clock.advance(1s);
  q.nack(*c1, 0ms, {"timeout", "no answer in 5 s", ""});
  clock.advance(1s);
  auto c2 = q.claim(30s);
  REQUIRE(c2);
  clock.advance(1s);
  q.nack(*c2, 0ms, {"http.503", "service unavailable", ""});
  clock.advance(1s);
  auto c3 = q.claim(30s);
  REQUIRE(c3);
  CHECK(c3->attempts == 2);
  clock.advance(1s);
  const auto id = dlq.move_from(q, *c3, {"http.400", "bad request", "nested: parse error"});
  CHECK(q.size() == 0);
  CHECK(dlq.size() == 1);
  const auto e = dlq.get(id);
  REQUIRE(e);
  CHECK(e->original_id == pushed.id);
  CHECK(e->queue == "emails");
  CHECK(e->key == durable::job_key{"user-7"});
  CHECK(e->attempts == 3);
  CHECK(e->priority == 3);
  CHECK(e->enqueued_at == enqueued);
  CHECK(e->failed_at == clock.now());
  CHECK(e->error_type == "http.400");
  CHECK(e->context == "nested: parse error");
  CHECK(e->job.n == 7);
  CHECK_FALSE(e->origin.empty());
  REQUIRE(e->history.size() == 3);  // timeout, then 503, then 400
  CHECK(e->history[0].error_type == "timeout");
  CHECK(e->history[0].attempt == 1);
  CHECK(e->history[1].error_type == "http.503");
  CHECK(e->history[1].attempt == 2);
  CHECK(e->history[2].error_type == "http.400");
  CHECK(e->history[2].attempt == 3);
  CHECK(e->history[2].at == clock.now());
  const auto status = q.status(pushed.id);
  CHECK(status.state == durable::job_state::dead_lettered);
  CHECK(status.dead_letter == id);
  CHECK(status.dead_letter_queue == "emails.dlq");
  CHECK(status.attempts == 3);
  CHECK(dlq.find(q, pushed.id) == id);
  // The claim is spent: a second move or an ack is a lost lease.
  CHECK_THROWS_AS(dlq.move_from(q, *c3, {"x", "y", ""}), durable::lease_lost_error);
  CHECK_THROWS_AS(q.ack(*c3), durable::lease_lost_error);
  CHECK(dlq.size() == 1);
}

TEST_CASE("move_from with a lost lease changes nothing") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  durable::manual_clock clock;
  Queue<email> q{path, "emails", quiet_queue(&clock)};
  DeadLetterQueue<email> dlq{path, "dlq", quiet_dlq(&clock)};
  q.push({1, ""});
  auto first = q.claim(10s);
  REQUIRE(first);
  clock.advance(11s);
  auto second = q.claim(10s);  // the lease expired: rescued by another claimer
  REQUIRE(second);
  try {
    dlq.move_from(q, *first, {"t", "m", ""});
    FAIL("a lost lease must throw");
  } catch (const durable::lease_lost_error& e) {
    CHECK(e.job_id() == first->id);
    CHECK(e.queue() == "emails");
  }
  CHECK(dlq.count({.include_redriven = true}) == 0);
  CHECK(q.stats().claimed == 1);
  CHECK_THROWS_AS(dlq.move_from(q, *second, {"", "m", ""}), durable::invalid_argument_error);
  CHECK(q.stats().claimed == 1);
  dlq.move_from(q, *second, {"t", "m", ""});
  CHECK(q.size() == 0);
  CHECK(dlq.size() == 1);
}

TEST_CASE("a poison job moves with its raw bytes, get reports it, and the entry stays") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  Queue<email, picky_codec> q{path, "mixed", quiet_queue()};
  DeadLetterQueue<email, picky_codec> dlq{path, "dlq", quiet_dlq()};
  q.push({1, "poison"}, {.key = 9});
  auto c = q.claim(10s);
  REQUIRE(c);
  REQUIRE(c->poison);
  CHECK_FALSE(c->job);
  const auto id = dlq.move_from(q, *c, {"durable::decode_error", c->poison->what(), ""});
  CHECK(q.size() == 0);
  CHECK_THROWS_AS(static_cast<void>(dlq.get(id)), durable::decode_error);
  const auto s = dlq.summary(id);
  REQUIRE(s);
  CHECK(s->key == durable::job_key{std::int64_t{9}});
  DeadLetterQueue<email> reader{path, "dlq", quiet_dlq()};
  CHECK(reader.get(id)->job.to == "poison");  // the bytes are intact

  // Its bytes carry the right codec and fingerprint but do not decode: redrive by id refuses
  // it, a redrive of every entry skips it, and recovery counts it as failed; it stays.
  try {
    static_cast<void>(dlq.redrive(id, {.force = true}));
    FAIL("redriving bytes that do not decode must throw");
  } catch (const durable::decode_error& e) {
    CHECK(e.row_id() == id);
    CHECK(std::string{e.what()}.find("a poison email") != std::string::npos);
    CHECK(std::string{e.what()}.find("not redriven") != std::string::npos);
  }
  const auto all = dlq.redrive({}, {.force = true});
  CHECK(all.redriven == 0);
  CHECK(all.skipped_incompatible == 1);
  REQUIRE(all.entries.size() == 1);
  CHECK(all.entries[0].outcome == durable::redrive_outcome::incompatible);
  const auto recovered = durable::recover(dlq, q, {.error_types = {"durable::decode_error"}});
  CHECK(recovered.total == 1);
  CHECK(recovered.recovered == 0);
  CHECK(recovered.failed == 1);
  CHECK(dlq.size() == 1);
  CHECK(q.empty());
}

TEST_CASE("move_from, DLQ in another file: ordered and idempotent across a failure between steps" *
          doctest::skip(!durable_test::on_sqlite())) {
  temp_dir dir;
  const auto queue_path = dir.db("queue.db");
  const auto dlq_path = dir.db("archive.db");
  durable::manual_clock clock;
  Queue<email> q{queue_path, "emails", quiet_queue(&clock)};
  DeadLetterQueue<email> dlq{dlq_path, "emails.dlq", quiet_dlq(&clock)};
  const auto pushed = q.push({5, "a@b"}, {.key = 5});
  auto c = q.claim(10s);
  REQUIRE(c);
  q.nack(*c, 0ms, {"timeout", "first", ""});
  c = q.claim(10s);
  REQUIRE(c);

  SUBCASE("a plain move") {
    const auto id = dlq.move_from(q, *c, {"http.400", "bad", ""});
    CHECK(q.size() == 0);
    const auto e = dlq.get(id);
    REQUIRE(e);
    CHECK(e->original_id == pushed.id);
    sql::connection qc{queue_path, {}};
    CHECK(e->origin == sql::database_id(qc));
    CHECK(e->attempts == 2);
    REQUIRE(e->history.size() == 2);
    CHECK(e->history[0].error_type == "timeout");
    CHECK(e->history[1].error_type == "http.400");
    CHECK(count_table(dlq_path, "durable_jobs") == 0);
    // The queue's file does not hold the entry; the DLQ finds it by the job it holds.
    CHECK(q.status(pushed.id).state == durable::job_state::not_found);
    CHECK(dlq.find(q, pushed.id) == id);
    CHECK_FALSE(dlq.find(q, pushed.id + 1));
  }

  SUBCASE("the delete from the queue fails after the insert into the DLQ") {
    {
      sql::connection qc{queue_path, {}};
      qc.exec(
          "CREATE TRIGGER durable_test_crash BEFORE DELETE ON durable_jobs "
          "BEGIN SELECT RAISE(ABORT, 'injected failure between the two steps'); END");
    }
    try {
      dlq.move_from(q, *c, {"http.400", "bad", ""});
      FAIL("the injected failure must surface");
    } catch (const durable::sqlite_error& e) {
      CHECK(std::string{e.what()}.find("injected failure") != std::string::npos);
      CHECK(e.path() == queue_path);
    }
    // Step one happened, step two did not: the job is in both, still under its lease.
    CHECK(dlq.size() == 1);
    CHECK(q.size() == 1);
    CHECK(q.stats().claimed == 1);
    {
      sql::connection qc{queue_path, {}};
      qc.exec("DROP TRIGGER durable_test_crash");
    }
    durable::dead_letter_id first_id = dlq.recent(1).at(0).id;
    SUBCASE("the same claimer retries") {
      CHECK(dlq.move_from(q, *c, {"http.400", "bad", ""}) == first_id);
    }
    SUBCASE("the lease ends, another claimer gets the job and dead-letters it") {
      clock.advance(11s);
      auto again = q.claim(10s);
      REQUIRE(again);
      CHECK(again->id == c->id);
      CHECK(dlq.move_from(q, *again, {"http.400", "bad again", ""}) == first_id);
    }
    CHECK(dlq.count({.include_redriven = true}) == 1);
    CHECK(q.size() == 0);
    CHECK(dlq.get(first_id)->message == "bad");  // the first insert is the entry
  }

  SUBCASE("a lost lease moves nothing") {
    clock.advance(11s);
    auto rescued = q.claim(10s);
    REQUIRE(rescued);
    CHECK_THROWS_AS(dlq.move_from(q, *c, {"t", "m", ""}), durable::lease_lost_error);
    CHECK(dlq.count({.include_redriven = true}) == 0);
    CHECK(q.size() == 1);
  }
}

// ---------------------------------------------------------------- redrive

TEST_CASE("retry puts the job back once, restarting attempts and keeping its history") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  durable::manual_clock clock;
  Queue<email> q{path, "emails", quiet_queue(&clock)};
  DeadLetterQueue<email> dlq{path, "dlq", quiet_dlq(&clock)};
  const auto enqueued = clock.now();
  q.push({3, "c@d"}, {.key = "user-3", .priority = 2, .sequential = true});
  auto c = q.claim(10s);
  REQUIRE(c);
  q.nack(*c, 0ms, {"timeout", "slow", ""});
  c = q.claim(10s);
  REQUIRE(c);
  const auto id = dlq.move_from(q, *c, {"http.503", "down", ""});
  clock.advance(1min);

  const auto job = dlq.redrive(id).job;
  REQUIRE(job != 0);
  CHECK(job != c->id);  // a new job
  CHECK(dlq.get(id)->redriven_at == clock.now());
  CHECK(dlq.size() == 0);
  CHECK(dlq.count({.include_redriven = true}) == 1);
  CHECK(dlq.redrive(id).outcome ==
        durable::redrive_outcome::gone);  // the second redrive enqueues nothing
  CHECK(dlq.redrive({}).redriven == 0);
  CHECK(q.size() == 1);

  auto back = q.claim(10s);
  REQUIRE(back);
  CHECK(back->id == job);
  CHECK(back->attempts == 0);
  CHECK(back->key == durable::job_key{"user-3"});
  CHECK(back->priority == 2);
  CHECK(back->sequential);
  CHECK(back->enqueued_at == enqueued);
  REQUIRE(back->job);
  CHECK(back->job->n == 3);
  const auto h = q.history(back->id);
  REQUIRE(h.size() == 2);
  CHECK(h[0].error_type == "timeout");
  CHECK(h[1].error_type == "http.503");
}

TEST_CASE("redrive goes through the push path: the hard limit and unique keys hold") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  auto limited = quiet_queue();
  limited.hard_limit = 3;
  Queue<email> q{path, "emails", limited};
  DeadLetterQueue<email> dlq{path, "dlq", quiet_dlq()};
  q.push({1, "queued"}, {.key = "k1", .unique = true});
  const auto same_key =
      dlq.add({2, ""}, {"t", "m", ""}, 1, {.queue = "emails", .key = "k1", .unique = true});
  const auto same_key_not_unique =
      dlq.add({3, ""}, {"t", "m", ""}, 1, {.queue = "emails", .key = "k1"});
  std::vector<durable::dead_letter_id> more;
  for (std::int64_t i = 4; i < 8; ++i) {
    more.push_back(dlq.add({i, ""}, {"t", "m", ""}, 1, {.queue = "emails"}));
  }
  const auto r = dlq.redrive({});
  CHECK(r.skipped_already_queued == 1);  // unique key k1 is queued
  CHECK(r.redriven == 2);                // the non-unique one and one more fill the limit
  CHECK(r.skipped_queue_full == 3);
  CHECK(q.size() == 3);
  REQUIRE(r.entries.size() == 6);
  CHECK(r.entries[0].id == same_key);
  CHECK(r.entries[0].outcome == durable::redrive_outcome::already_queued);
  CHECK(r.entries[0].job != 0);  // the queued job with that key
  CHECK(r.entries[1].id == same_key_not_unique);
  CHECK(r.entries[1].outcome == durable::redrive_outcome::redriven);
  CHECK(r.entries[3].outcome == durable::redrive_outcome::queue_full);
  CHECK(dlq.size() == 4);  // what did not move stays, and moves later
  while (auto c = q.claim(30s)) q.ack(*c);
  const auto later = dlq.redrive({});
  CHECK(later.redriven == 3);
  CHECK(later.skipped_queue_full == 1);
}

TEST_CASE("redrive applies each entry's stored redrive policy, and force overrides never") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  Queue<email> q{path, "emails", quiet_queue()};
  DeadLetterQueue<email> dlq{path, "dlq", quiet_dlq()};
  using durable::redrive_policy;
  const auto safe = dlq.add({1, ""}, {"t", "m", "", redrive_policy::safe}, 1, {.queue = "emails"});
  const auto optional =
      dlq.add({2, ""}, {"t", "m", "", redrive_policy::optional}, 1, {.queue = "emails"});
  const auto never =
      dlq.add({3, ""}, {"bad", "m", "", redrive_policy::never}, 1, {.queue = "emails"});
  CHECK(dlq.summary(safe)->redrive == redrive_policy::safe);
  CHECK(dlq.summary(never)->redrive == redrive_policy::never);
  CHECK(dlq.redrive(never).outcome == durable::redrive_outcome::not_redrivable);
  const auto seen = q.push_sequence();
  const auto r = dlq.redrive({});
  CHECK(q.push_sequence() != seen);  // a redrive to the entries' own queue wakes its waiters
  CHECK(r.redriven == 2);
  CHECK(r.skipped_not_redrivable == 1);
  CHECK(dlq.size() == 1);
  CHECK(dlq.get(optional)->redriven_at);
  CHECK(dlq.redrive(never, {.force = true}).outcome == durable::redrive_outcome::redriven);
  CHECK(dlq.size() == 0);
  CHECK(q.size() == 3);
}

TEST_CASE("a queue and a DLQ opened on one file with different options still move in one step") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  Queue<email> q{path, "emails", quiet_queue()};
  auto other_options = quiet_dlq();
  other_options.open.busy_timeout = 1234ms;  // another handle, the same file
  DeadLetterQueue<email> dlq{path, "dlq", other_options};
  CHECK_FALSE(q.db() == dlq.db());
  q.push({1, ""});
  auto c = q.claim(10s);
  REQUIRE(c);
  const auto id = dlq.move_from(q, *c, {"t", "m", ""});
  CHECK(q.size() == 0);
  CHECK(dlq.get(id)->original_id == c->id);
  CHECK(dlq.redrive(id, q).outcome == durable::redrive_outcome::redriven);
  CHECK(q.size() == 1);
}

TEST_CASE("move_from stores the failure's redrive policy with the entry") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  Queue<email> q{path, "emails", quiet_queue()};
  DeadLetterQueue<email> dlq{path, "dlq", quiet_dlq()};
  q.push({1, ""});
  auto c = q.claim(10s);
  REQUIRE(c);
  dlq.move_from(q, *c, {"bad", "m", "", durable::redrive_policy::never});
  const auto e = dlq.recent(1);
  REQUIRE(e.size() == 1);
  CHECK(e[0].redrive == durable::redrive_policy::never);
  CHECK(dlq.redrive({}).skipped_not_redrivable == 1);
}

TEST_CASE("redrive of a filter, run twice, enqueues each job once") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  durable::manual_clock clock;
  Queue<email> q{path, "emails", quiet_queue(&clock)};
  DeadLetterQueue<email> dlq{path, "dlq", quiet_dlq(&clock)};
  std::vector<std::int64_t> timeouts;
  for (std::int64_t i = 0; i < 2'500; ++i) {  // more than one batch
    const bool timeout = i % 2 == 0;
    dlq.add({i, ""}, {timeout ? "timeout" : "http.400", "m", ""}, 1, {.queue = "emails"});
    if (timeout) timeouts.push_back(i);
    clock.advance(1ms);
  }
  const durable::dead_letter_filter f{.error_types = {"timeout"}};
  const auto first = dlq.redrive(f);
  CHECK(first.redriven == 1'250);
  CHECK(first.jobs.size() == 1'250);
  const auto second = dlq.redrive(f);
  CHECK(second.redriven == 0);
  CHECK(second.jobs.empty());
  CHECK(q.size() == 1'250);
  CHECK(dlq.size() == 1'250);       // the http.400 ones remain
  std::vector<std::int64_t> order;  // oldest failure first
  while (auto c = q.claim(10s)) {
    order.push_back(c->job->n);
    q.ack(*c);
  }
  CHECK(order == timeouts);
}

TEST_CASE("redrive targets: another queue, no queue to go back to, a Queue in another file" *
          doctest::skip(!durable_test::on_sqlite())) {
  temp_dir dir;
  const auto path = dir.db("q.db");
  durable::manual_clock clock;
  DeadLetterQueue<email> dlq{path, "dlq", quiet_dlq(&clock)};
  const auto with_queue = dlq.add({1, ""}, {"t", "m", ""}, 1, {.queue = "emails"});
  const auto without = dlq.add({2, ""}, {"t", "m", ""}, 1);

  SUBCASE("an entry without a queue needs a target") {
    try {
      static_cast<void>(dlq.redrive(without));
      FAIL("no target must throw");
    } catch (const durable::invalid_argument_error& e) {
      CHECK(e.argument() == "target");
      CHECK(std::string{e.what()}.find("entry " + std::to_string(without)) != std::string::npos);
    }
    const auto r = dlq.redrive({});
    CHECK(r.redriven == 1);
    CHECK(r.skipped_no_target == 1);
    CHECK(dlq.size() == 1);
    Queue<email> manual{path, "manual", quiet_queue(&clock)};
    CHECK(dlq.redrive(without, manual).outcome == durable::redrive_outcome::redriven);
    CHECK(manual.size() == 1);
  }
  SUBCASE("another queue of the file and a delay") {
    Queue<email> replay{path, "replay", quiet_queue(&clock)};
    const auto r = dlq.redrive({}, replay, {.delay = 5s});
    CHECK(r.redriven == 2);
    CHECK(replay.stats().scheduled == 2);
    CHECK_FALSE(replay.claim(10s));
    clock.advance(5s);
    CHECK(replay.claim(10s));
    CHECK_THROWS_AS(dlq.redrive({}, {.delay = -1ms}), durable::invalid_argument_error);
  }
  SUBCASE("a Queue object in another file") {
    Queue<email> remote{dir.db("remote.db"), "remote", quiet_queue(&clock)};
    const auto seq = remote.push_sequence();
    const auto job = dlq.redrive(with_queue, remote).job;
    REQUIRE(job != 0);
    CHECK(dlq.redrive(with_queue, remote).outcome == durable::redrive_outcome::gone);
    CHECK(dlq.redrive({}, remote).redriven == 1);
    CHECK(dlq.redrive({}, remote).redriven == 0);
    CHECK(remote.size() == 2);
    CHECK(remote.push_sequence() != seq);  // waiters on the Queue object are woken
    CHECK(count_table(path, "durable_jobs") == 0);
  }
}

TEST_CASE("entries moved from another file go back only through the Queue object") {
  temp_dir dir;
  const auto queue_path = dir.db("queue.db");
  Queue<email> q{queue_path, "emails", quiet_queue()};
  DeadLetterQueue<email> dlq{dir.db("archive.db"), "dlq", quiet_dlq()};
  q.push({1, ""});
  auto c = q.claim(10s);
  REQUIRE(c);
  const auto id = dlq.move_from(q, *c, {"t", "m", ""});
  CHECK_THROWS_AS(static_cast<void>(dlq.redrive(id)), durable::invalid_argument_error);
  CHECK(dlq.redrive({}).skipped_no_target == 1);
  const auto job = dlq.redrive(id, q).job;
  REQUIRE(job != 0);
  auto back = q.claim(10s);
  REQUIRE(back);
  CHECK(back->id == job);
  CHECK(back->attempts == 0);
}

TEST_CASE("a redrive into a Queue in the same file wakes its waiters") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  Queue<email> q{path, "emails", quiet_queue()};
  DeadLetterQueue<email> dlq{path, "dlq", quiet_dlq()};
  const auto id = dlq.add({1, ""}, {"t", "m", ""}, 1, {.queue = "emails"});
  const auto seen = q.push_sequence();
  CHECK_FALSE(q.claim(10s));  // remembers "empty"
  std::thread redriver{[&] {
    std::this_thread::sleep_for(20ms);
    CHECK(dlq.redrive(id, q).outcome == durable::redrive_outcome::redriven);
  }};
  CHECK(q.wait_for_push(seen, 2min));  // returns at the redrive; long only for slow machines
  redriver.join();
  CHECK(q.claim(10s));
}

TEST_CASE("one DeadLetterQueue is usable from many threads") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  Queue<email> q{path, "emails", quiet_queue()};
  DeadLetterQueue<email> dlq{path, "dlq", quiet_dlq()};
  for (std::int64_t i = 0; i < 200; ++i) q.push({i, ""});
  std::atomic<int> moved{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      while (auto c = q.claim(30s)) {
        dlq.move_from(q, *c, {"t", "m", ""});
        ++moved;
        static_cast<void>(dlq.recent(5));
        static_cast<void>(dlq.size());
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(moved == 200);
  CHECK(dlq.size() == 200);
  CHECK(q.size() == 0);
}

// ---------------------------------------------------------------- damaged rows, NUL bytes

TEST_CASE("a row with a damaged history does not block its queue, the damage is kept and shown" *
          doctest::skip(!durable_test::on_sqlite())) {
  temp_dir dir;
  durable::manual_clock clock;
  const auto path = dir.db("q.db");
  Queue<email> q{path, "emails", quiet_queue(&clock)};
  DeadLetterQueue<email> dlq{path, "dead", quiet_dlq(&clock)};
  DeadLetterQueue<email> far{dir.db("far.db"), "far", quiet_dlq(&clock)};
  for (std::int64_t n = 1; n <= 4; ++n) q.push({n, ""});
  for (int i = 0; i < 4; ++i) REQUIRE(q.claim(1s));  // every lease ends before it is finished
  const std::string damaged[] = {"not json", "{\"attempt\": 1}", "[1, 2", "7"};
  {
    sql::connection raw{path, {}};
    for (std::int64_t id = 1; id <= 4; ++id) {
      raw.run("UPDATE durable_jobs SET history = ?1 WHERE id = ?2",
              damaged[static_cast<std::size_t>(id - 1)], id);
    }
  }
  clock.advance(2s);
  const auto expect_damage = [&](const std::vector<durable::attempt_record>& h, std::int64_t id) {
    REQUIRE(h.size() >= 2);
    CHECK(h.front().error_type == durable::damaged_history_error);
    CHECK(h.front().message.find(damaged[static_cast<std::size_t>(id - 1)]) != std::string::npos);
    CHECK(h.at(1).error_type == durable::lease_expired_error);
  };
  // Each claim of an expired lease appends to the damaged history: all four are served.
  auto c1 = q.claim(1min);
  auto c2 = q.claim(1min);
  auto c3 = q.claim(1min);
  auto c4 = q.claim(1min);
  REQUIRE((c1 && c2 && c3 && c4));
  CHECK(c1->job->n == 1);
  CHECK(c4->job->n == 4);
  expect_damage(q.history(c1->id), 1);
  q.nack(*c1, 0ms, {"test.again", "again", ""});  // nack appends too
  const auto h1 = q.history(c1->id);
  REQUIRE(h1.size() == 3);
  CHECK(h1.back().error_type == "test.again");
  q.ack(*c2);
  const auto same_file = dlq.move_from(q, *c3, {"test.dead", "dead", ""});
  expect_damage(dlq.history(same_file), 3);
  const auto other_file = far.move_from(q, *c4, {"test.dead", "dead", ""});
  expect_damage(far.history(other_file), 4);
  CHECK(dlq.get(same_file)->job.n == 3);
  auto again = q.claim(1min);
  REQUIRE(again);
  CHECK(again->id == c1->id);
  q.ack(*again);
  CHECK(q.empty());
}

TEST_CASE("a dead letter whose history is damaged is read and redriven with the damage kept" *
          doctest::skip(!durable_test::on_sqlite())) {
  temp_dir dir;
  const auto path = dir.db("q.db");
  Queue<email> q{path, "emails", quiet_queue()};
  DeadLetterQueue<email> dlq{path, "dead", quiet_dlq()};
  q.push({1, ""});
  auto c = q.claim(1min);
  REQUIRE(c);
  q.nack(*c, 0ms, {"test.first", "first", ""});
  c = q.claim(1min);
  REQUIRE(c);
  const auto id = dlq.move_from(q, *c, {"test.dead", "dead", ""});
  {
    sql::connection raw{path, {}};
    REQUIRE(raw.run("UPDATE durable_dead_letters SET history = 'not json' WHERE id = ?1", id) == 1);
  }
  const auto h = dlq.history(id);
  REQUIRE(h.size() == 2);
  CHECK(h.front().error_type == durable::damaged_history_error);
  CHECK(h.front().message.find("not json") != std::string::npos);
  CHECK(h.back().error_type == "test.dead");
  REQUIRE(dlq.redrive(id).outcome == durable::redrive_outcome::redriven);
  const auto again = q.claim(1min);
  REQUIRE(again);
  const auto redriven = q.history(again->id);
  REQUIRE(redriven.size() == 2);
  CHECK(redriven.front().error_type == durable::damaged_history_error);
  CHECK(redriven.front().message.find("not json") != std::string::npos);
  CHECK(redriven.back().error_type == "test.dead");
}

TEST_CASE("keys and messages keep NUL bytes, an error type with one is refused") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  Queue<email> q{path, "emails", quiet_queue()};
  DeadLetterQueue<email> dlq{path, "dead", quiet_dlq()};
  const durable::job_key ab{std::string{"a\0b", 3}};
  const durable::job_key ac{std::string{"a\0c", 3}};
  const durable::job_key a{std::string{"a"}};
  const std::string message{"before\0after", 12};
  if (!durable_test::on_sqlite()) {
    // PostgreSQL text holds no NUL: such a key is refused and nothing is stored.
    CHECK_THROWS_AS(q.push({1, ""}, {.key = ab, .unique = true}), durable::invalid_argument_error);
    CHECK(q.size() == 0);
    return;
  }
  // Keys: distinct after the NUL, and distinct from their prefix.
  CHECK(q.push({1, ""}, {.key = ab, .unique = true}).created);
  CHECK(q.push({2, ""}, {.key = ac, .unique = true}).created);
  CHECK(q.push({3, ""}, {.key = a, .unique = true}).created);
  CHECK_FALSE(q.push({4, ""}, {.key = ab, .unique = true}).created);
  CHECK(q.contains(ab));
  CHECK_FALSE(q.contains(durable::job_key{std::string{"a\0d", 3}}));
  // Messages: every byte, in the history and in the DLQ.
  auto c = q.claim(1min);
  REQUIRE(c);
  REQUIRE(c->key == ab);
  q.nack(*c, 0ms, {"test.nul", message, ""});
  const auto history = q.history(c->id);
  REQUIRE(history.size() == 1);
  CHECK(history[0].message == message);
  for (int i = 0; i < 3; ++i) {
    auto d = q.claim(1min);
    REQUIRE(d);
    dlq.move_from(q, *d, {"test.dead", message, ""});
  }
  const auto entries = dlq.recent(10);
  REQUIRE(entries.size() == 3);
  for (const auto& e : entries) {
    CHECK(e.message == message);
    CHECK(dlq.history(e.id).back().message == message);
  }
  // Queries, redrive and purge by key find exactly the entry with that key.
  CHECK(dlq.count({.keys = {ab}}) == 1);
  CHECK(dlq.count({.keys = {ac}}) == 1);
  CHECK(dlq.count({.keys = {ab, ac}}) == 1 + 1);
  CHECK(dlq.count({.error_types = {"test.dead"}, .keys = {ab}}) == 1);
  CHECK(dlq.query({.keys = {ab}}).entries.size() == 1);
  const auto redriven = dlq.redrive({.keys = {ab}});
  CHECK(redriven.redriven == 1);
  CHECK(q.contains(ab));
  CHECK(dlq.purge({.keys = {ac}}) == 1);
  CHECK(dlq.size() == 1);
  CHECK(dlq.recent(1).at(0).key == a);
  // An error type is a name: a NUL in it is refused, and nothing changes.
  auto e = q.claim(1min);
  REQUIRE(e);
  const auto attempts_before = q.history(e->id).size();
  const durable::failure nul_type{std::string{"test\0type", 9}, "m", ""};
  CHECK_THROWS_AS(q.nack(*e, 0ms, nul_type), durable::invalid_argument_error);
  CHECK_THROWS_AS(dlq.move_from(q, *e, nul_type), durable::invalid_argument_error);
  CHECK_THROWS_AS(dlq.add({9, ""}, nul_type, 1), durable::invalid_argument_error);
  CHECK_THROWS_AS((void)dlq.count({.error_types = {std::string{"x\0y", 3}}}),
                  durable::invalid_argument_error);
  CHECK(q.history(e->id).size() == attempts_before);
  CHECK(dlq.size() == 1);
}

TEST_CASE("with log_events the DLQ logs each add, move and retention run (off by default)") {
  temp_dir dir;
  durable::manual_clock clock;
  std::vector<std::pair<std::string, std::string>> events;  // name, message
  std::mutex m;
  auto options = quiet_dlq(&clock);
  options.log = [&](const durable::log_event& e) {
    std::lock_guard lock{m};
    events.emplace_back(e.name, e.message);
  };
  Queue<email> q{dir.db("q.db"), "emails", quiet_queue(&clock)};
  {
    DeadLetterQueue<email> quiet{dir.db("q.db"), "emails.dlq", options};
    quiet.add({1, ""}, {"http.400", "bad", ""}, 1);
    CHECK(quiet.delete_older_than(1h) == 0);
    CHECK(events.empty());
  }
  options.log_events = true;
  DeadLetterQueue<email> dlq{dir.db("q.db"), "emails.dlq", options};
  q.push({2, ""});
  auto c = q.claim(10s);
  REQUIRE(c);
  q.nack(*c, 0ms, {"timeout", "first", ""});
  c = q.claim(10s);
  REQUIRE(c);
  const auto entry = dlq.move_from(q, *c, {"http.503", "down", ""});
  dlq.add({3, ""}, {"manual", "by hand", ""}, 1);
  clock.advance(48h);
  CHECK(dlq.delete_older_than(24h) == 3);
  REQUIRE(events.size() == 3);
  CHECK(events[0].first == "dlq.moved");
  CHECK(events[0].second ==
        "job " + std::to_string(c->id) +
            R"( of queue "emails" moved to dead-letter queue "emails.dlq" after )"
            "2 attempts: http.503");
  CHECK(events[1].first == "dlq.added");
  CHECK(
      events[1].second.find("added to dead-letter queue \"emails.dlq\" after 1 attempt: manual") !=
      std::string::npos);
  CHECK(events[2].first == "dlq.retention");
  CHECK(events[2].second == R"(dead-letter queue "emails.dlq": removed 3 entries older than 24h)");
  CHECK(entry > 0);
}

TEST_CASE("a job's timeout is kept through a move to a DLQ and a redrive, in one file or two") {
  temp_dir dir;
  durable::manual_clock clock;
  Queue<email> q{dir.db("q.db"), "emails", quiet_queue(&clock)};
  DeadLetterQueue<email> same{dir.db("q.db"), "emails.dlq", quiet_dlq(&clock)};
  DeadLetterQueue<email> other{dir.db("other.db"), "emails.dlq", quiet_dlq(&clock)};
  for (auto* dlq : {&same, &other}) {
    const std::string where = dlq == &same ? "same file" : "another file";
    INFO(where);
    q.push({1, ""}, {.timeout = 1500ms});
    q.push({2, ""});
    auto timed = q.claim(30s);
    auto plain = q.claim(30s);
    REQUIRE(timed);
    REQUIRE(plain);
    CHECK(timed->timeout == 1500ms);
    const auto timed_entry = dlq->move_from(q, *timed, {"t", "m", ""});
    const auto plain_entry = dlq->move_from(q, *plain, {"t", "m", ""});
    CHECK(q.size() == 0);
    REQUIRE(dlq->redrive(timed_entry, q).outcome == durable::redrive_outcome::redriven);
    REQUIRE(dlq->redrive(plain_entry, q).outcome == durable::redrive_outcome::redriven);
    auto again = q.claim(30s);
    REQUIRE(again);
    CHECK(again->job->n == 1);
    CHECK(again->timeout == 1500ms);
    auto plain_again = q.claim(30s);
    REQUIRE(plain_again);
    CHECK(plain_again->job->n == 2);
    CHECK_FALSE(plain_again->timeout);
    q.ack(*again);
    q.ack(*plain_again);
  }
  // Back into its own queue by the entry alone (same file): the timeout comes back too.
  q.push({3, ""}, {.timeout = 700ms});
  auto c = q.claim(30s);
  REQUIRE(c);
  const auto entry = same.move_from(q, *c, {"t", "m", ""});
  REQUIRE(same.redrive(entry).outcome == durable::redrive_outcome::redriven);
  c = q.claim(30s);
  REQUIRE(c);
  CHECK(c->timeout == 700ms);
}
