// SPDX-License-Identifier: MIT
// Job types that change shape, against real databases: append-only evolution in pfr_codec
// (trailing fields, nested and inside containers), refused changes naming the first field
// that differs, declared upgrades (chained), claims that leave unknown types pending, the
// worker's report of them, and an old and a new worker in two processes on one queue.

#include <doctest/doctest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <durable/dead_letter_queue.hpp>
#include <durable/detail/sqlite/connection.hpp>
#include <durable/queue.hpp>
#include <durable/recovery.hpp>
#include <durable/upgrade.hpp>
#include <durable/worker.hpp>

#include "quiet_options.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using durable::DeadLetterQueue;
using durable::pfr_codec;
using durable::Queue;
using durable_test::quiet_dlq;
using durable_test::quiet_queue;
using durable_test::temp_dir;

namespace {

// An order job, version 1, and version 2 with two fields appended.
struct order_v1 {
  std::uint64_t id = 0;
  std::string email;
};
struct order_v2 {
  std::uint64_t id = 0;
  std::string email;
  std::string currency = "EUR";
  std::optional<std::int32_t> coupon;
};

// Changes that are not append-only.
struct order_removed {
  std::uint64_t id = 0;
};
struct order_reordered {
  std::string email;
  std::uint64_t id = 0;
};
struct order_retyped {
  std::uint32_t id = 0;
  std::string email;
};

// Nested records that gained fields, directly and inside a vector, an optional and an array.
struct address_v1 {
  std::string street;
};
struct address_v2 {
  std::string street;
  std::string zip = "00000";
};
struct point_v1 {
  std::int32_t x = 0;
};
struct point_v2 {
  std::int32_t x = 0;
  std::int32_t y = -1;
};
struct shipment_v1 {
  std::uint32_t id = 0;
  address_v1 to;
  std::vector<address_v1> stops;
  std::optional<address_v1> billing;
  std::array<point_v1, 2> corners{};
};
struct shipment_v2 {
  std::uint32_t id = 0;
  address_v2 to;
  std::vector<address_v2> stops;
  std::optional<address_v2> billing;
  std::array<point_v2, 2> corners{};
  bool express = true;
};
struct address_retyped {
  std::uint32_t street = 0;
};
struct shipment_bad_nested {
  std::uint32_t id = 0;
  address_retyped to;
};
struct shipment_bad_element {
  std::uint32_t id = 0;
  address_v1 to;
  std::vector<address_retyped> stops;
};

// A charge: v2 appends a note to v1; v3 changes the meaning of the amount (cents) and
// declares an upgrade from v2; v4 appends a currency and declares an upgrade from v3.
struct charge_v1 {
  std::uint64_t id = 0;
  std::int64_t dollars = 0;
};
struct charge_v2 {
  std::uint64_t id = 0;
  std::int64_t dollars = 0;
  std::string note = "none";
};
struct charge_v3 {
  std::uint64_t id = 0;
  std::int64_t cents = 0;
  std::string note;
};
struct charge_v4 {
  std::uint64_t id = 0;
  std::int64_t cents = 0;
  std::string note;
  std::string currency;
};

std::vector<std::byte> encode(const auto& job) {
  std::vector<std::byte> out;
  pfr_codec::encode(job, out);
  return out;
}

template <class T>
std::string incompatibility_of(const std::string& stored) {
  return pfr_codec::incompatibility<T>(stored);
}

}  // namespace

template <>
struct durable::job_version<charge_v3> {
  static constexpr std::uint32_t value = 3;
};
template <>
struct durable::job_version<charge_v4> {
  static constexpr std::uint32_t value = 4;
};
template <>
struct durable::job_upgrades<charge_v3> {
  using from = durable::types<charge_v2>;
  static charge_v3 upgrade(charge_v2 old) { return {old.id, old.dollars * 100, old.note}; }
};
template <>
struct durable::job_upgrades<charge_v4> {
  using from = durable::types<charge_v3>;
  static charge_v4 upgrade(charge_v3 old) { return {old.id, old.cents, old.note, "USD"}; }
};

// ------------------------------------------------------------------------ pfr_codec rules

TEST_CASE("pfr_codec reads an older version: appended fields take their defaults") {
  const auto v1 = pfr_codec::description<order_v1>();
  CHECK(v1 == "pfr/1:{2:u64,s}");
  CHECK(incompatibility_of<order_v2>(v1).empty());
  CHECK(incompatibility_of<order_v1>(v1).empty());
  const auto v2 = pfr_codec::decode<order_v2>(encode(order_v1{7, "a@b"}), v1);
  CHECK(v2.id == 7);
  CHECK(v2.email == "a@b");
  CHECK(v2.currency == "EUR");  // its default member initializer
  CHECK_FALSE(v2.coupon);       // value-initialized
  // Its own description reads as the plain decoder does.
  const order_v2 same{8, "c@d", "CHF", 5};
  const auto back = pfr_codec::decode<order_v2>(encode(same), pfr_codec::description<order_v2>());
  CHECK(back.currency == "CHF");
  CHECK(back.coupon == 5);
  // Malformed bytes still throw.
  CHECK_THROWS_AS(static_cast<void>(pfr_codec::decode<order_v2>(std::vector<std::byte>(3), v1)),
                  durable::decode_error);
}

TEST_CASE("pfr_codec reads older nested records, also in vectors, optionals and arrays") {
  const shipment_v1 old{9, {"Main St"}, {{"A"}, {"B"}}, address_v1{"Bill St"}, {{{1}, {2}}}};
  const auto stored = pfr_codec::description<shipment_v1>();
  CHECK(incompatibility_of<shipment_v2>(stored).empty());
  const auto now = pfr_codec::decode<shipment_v2>(encode(old), stored);
  CHECK(now.id == 9);
  CHECK(now.to.street == "Main St");
  CHECK(now.to.zip == "00000");
  REQUIRE(now.stops.size() == 2);
  CHECK(now.stops[1].street == "B");
  CHECK(now.stops[1].zip == "00000");
  REQUIRE(now.billing);
  CHECK(now.billing->street == "Bill St");
  CHECK(now.billing->zip == "00000");
  CHECK(now.corners[1].x == 2);
  CHECK(now.corners[1].y == -1);
  CHECK(now.express);
  // Every truncation of the old encoding is refused.
  const auto full = encode(old);
  for (std::size_t n = 0; n < full.size(); ++n) {
    const std::vector<std::byte> prefix(full.begin(),
                                        full.begin() + static_cast<std::ptrdiff_t>(n));
    CHECK_THROWS_AS(static_cast<void>(pfr_codec::decode<shipment_v2>(prefix, stored)),
                    durable::decode_error);
  }
}

TEST_CASE("removing, reordering or retyping a field is refused, naming the first difference") {
  const auto v1 = pfr_codec::description<order_v1>();
  const auto removed = incompatibility_of<order_removed>(v1);
  CHECK(removed.find("the job differs: stored 2 fields, this type has 1") != std::string::npos);
  CHECK(removed.find("rows of type pfr/1:{2:u64,s} cannot be read as pfr/1:{1:u64}") !=
        std::string::npos);
  CHECK(incompatibility_of<order_reordered>(v1).find(
            "field 1 differs: stored u64, this type has s") != std::string::npos);
  CHECK(incompatibility_of<order_retyped>(v1).find(
            "field 1 differs: stored u64, this type has u32") != std::string::npos);
  // Reading the newer type's rows as the older one: fields were removed.
  CHECK(incompatibility_of<order_v1>(pfr_codec::description<order_v2>())
            .find("stored 4 fields, this type has 2") != std::string::npos);
  const auto s1 = pfr_codec::description<shipment_v1>();
  CHECK(incompatibility_of<shipment_bad_nested>(s1).find(
            "field 2 > field 1 differs: stored s, this type has u32") != std::string::npos);
  CHECK(incompatibility_of<shipment_bad_element>(s1).find(
            "field 3 > element > field 1 differs: stored s, this type has u32") !=
        std::string::npos);
  // A job_version is a change of meaning: never read as an older version.
  CHECK(incompatibility_of<charge_v3>(pfr_codec::description<charge_v2>())
            .find("the job differs: stored job_version 0, this type has 3") != std::string::npos);
  // decode refuses with the same text.
  try {
    static_cast<void>(pfr_codec::decode<order_retyped>(encode(order_v1{1, "x"}), v1));
    FAIL("a retyped field must be refused");
  } catch (const durable::decode_error& e) {
    CHECK(std::string{e.what()}.find("durable: pfr_codec: rows of type") == 0);
    CHECK(std::string{e.what()}.find("field 1 differs") != std::string::npos);
  }
}

TEST_CASE("a stored description that is not pfr_codec's is a decode_error") {
  for (const std::string bad : {"", "json/1", "pfr/1:", "pfr/1:{2:u64}", "pfr/1:{1:x7}",
                                "pfr/1:v(u8", "pfr/1:{1:u64}junk", "pfr/1:e(u8"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(static_cast<void>(incompatibility_of<order_v1>(bad)), durable::decode_error);
  }
}

// ------------------------------------------------------------------------ queues

TEST_CASE("a newer Queue claims rows of the older version, and the older leaves the newer's") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  Queue<order_v1> old_queue{path, "orders", quiet_queue()};
  Queue<order_v2> new_queue{path, "orders", quiet_queue()};
  old_queue.push({1, "old@x"});
  new_queue.push({2, "new@x", "CHF", 3});

  auto c = old_queue.claim(10s);  // the old reader takes its own row only
  REQUIRE(c);
  CHECK(c->job->id == 1);
  old_queue.nack(*c, 0ms, {"test", "again", ""});
  CHECK(old_queue.stats().pending == 2);

  std::map<std::uint64_t, order_v2> got;
  while (auto n = new_queue.claim(10s)) {
    REQUIRE(n->job);
    got.emplace(n->job->id, *n->job);
    new_queue.ack(*n);
  }
  REQUIRE(got.size() == 2);
  CHECK(got[1].email == "old@x");
  CHECK(got[1].currency == "EUR");
  CHECK(got[2].currency == "CHF");
  CHECK(new_queue.empty());
}

TEST_CASE("claims leave rows of a newer type pending and unreadable() says why") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  Queue<order_v2> new_queue{path, "orders", quiet_queue()};
  for (std::uint64_t i = 0; i < 3; ++i)
    new_queue.push({i, "new", "EUR", std::nullopt}, {.priority = 9});
  new_queue.push({9, "later", "EUR", std::nullopt}, {.delay = 1h});
  Queue<order_v1> old_queue{path, "orders", quiet_queue()};
  old_queue.push({100, "old"});
  const auto batch = old_queue.claim_batch(10, 10s);  // the head among its own types only
  REQUIRE(batch.size() == 1);
  CHECK(batch[0].job->id == 100);
  old_queue.ack(batch[0]);
  CHECK_FALSE(old_queue.claim(10s));
  CHECK(old_queue.stats().pending == 3);
  const auto left = old_queue.unreadable();
  REQUIRE(left.size() == 1);
  CHECK(left[0].count == 3);  // claimable ones; the delayed job is not counted yet
  CHECK(left[0].fingerprint == pfr_codec::fingerprint<order_v2>());
  CHECK(left[0].reason.find("stored 4 fields, this type has 2") != std::string::npos);
  CHECK(new_queue.unreadable().empty());
}

TEST_CASE("types are registered with their description, and rows of an unregistered type wait" *
          doctest::skip(!durable_test::on_sqlite())) {
  temp_dir dir;
  const auto path = dir.db("q.db");
  Queue<order_v1> q{path, "orders", quiet_queue()};
  DeadLetterQueue<order_v2> dlq{path, "orders.dlq", quiet_dlq()};
  {
    durable::detail::sqlite::connection c{path, {}};
    auto types =
        c.query("SELECT codec, fingerprint, description FROM durable_job_types ORDER BY 3");
    REQUIRE(types->step());
    CHECK(types->text(0) == "pfr");
    CHECK(static_cast<std::uint64_t>(types->int64(1)) == pfr_codec::fingerprint<order_v1>());
    CHECK(types->text(2) == "pfr/1:{2:u64,s}");
    REQUIRE(types->step());
    CHECK(types->text(2) == "pfr/1:{4:u64,s,s,o(i32)}");
    CHECK_FALSE(types->step());
    // A row of a type nobody registered (as written before schema version 4).
    c.run(
        "INSERT INTO durable_jobs (queue_id, run_at, enqueued_at, codec, fingerprint, payload) "
        "SELECT id, 0, 0, 'pfr', 12345, x'00' FROM durable_queues WHERE name = 'orders'");
    c.run("UPDATE durable_queues SET jobs = jobs + 1 WHERE name = 'orders'");
  }
  CHECK_FALSE(q.claim(10s));
  const auto left = q.unreadable();
  REQUIRE(left.size() == 1);
  CHECK(left[0].fingerprint == 12345);
  CHECK(left[0].reason.find("no description of its type is registered") != std::string::npos);
  CHECK(q.size() == 1);
}

TEST_CASE("declared upgrades: a reader of v4 claims rows of v3, v2 and v1, upgraded in steps") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  {
    Queue<charge_v1>{path, "charges", quiet_queue()}.push({1, 5});
    Queue<charge_v2>{path, "charges", quiet_queue()}.push({2, 6, "two"});
    Queue<charge_v3>{path, "charges", quiet_queue()}.push({3, 700, "three"});
  }
  Queue<charge_v4> q{path, "charges", quiet_queue()};
  q.push({4, 800, "four", "CHF"});
  std::map<std::uint64_t, charge_v4> got;
  while (auto c = q.claim(10s)) {
    REQUIRE(c->job);
    got.emplace(c->job->id, *c->job);
    q.ack(*c);
  }
  REQUIRE(got.size() == 4);
  CHECK(got[1].cents == 500);  // v1 read as v2 (note "none"), upgraded to v3, then v4
  CHECK(got[1].note == "none");
  CHECK(got[1].currency == "USD");
  CHECK(got[2].cents == 600);
  CHECK(got[2].note == "two");
  CHECK(got[3].cents == 700);
  CHECK(got[3].currency == "USD");
  CHECK(got[4].currency == "CHF");
  // A reader of v3 reads v1 and v2 rows too, but not v4's.
  Queue<charge_v3> v3{path, "charges", quiet_queue()};
  Queue<charge_v4>{path, "charges", quiet_queue()}.push({5, 1, "", ""});
  CHECK_FALSE(v3.claim(10s));
  REQUIRE(v3.unreadable().size() == 1);
}

TEST_CASE("a DeadLetterQueue reads and redrives entries of older and upgradable types") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  DeadLetterQueue<charge_v1> old_dlq{path, "charges.dlq", quiet_dlq()};
  const auto id = old_dlq.add({1, 5}, {"timeout", "late", ""}, 1, {.queue = "charges"});
  DeadLetterQueue<order_v1> other{path, "charges.dlq", quiet_dlq()};
  const auto foreign = other.add({2, "x"}, {"timeout", "late", ""}, 1, {.queue = "charges"});

  DeadLetterQueue<charge_v4> dlq{path, "charges.dlq", quiet_dlq()};
  const auto e = dlq.get(id);
  REQUIRE(e);
  CHECK(e->job.cents == 500);
  CHECK(e->job.currency == "USD");
  try {
    static_cast<void>(dlq.get(foreign));
    FAIL("another type must not decode");
  } catch (const durable::decode_error& err) {
    CHECK(err.row_id() == foreign);
    CHECK(std::string{err.what()}.find("cannot be read as") != std::string::npos);
  }
  Queue<charge_v4> q{path, "charges", quiet_queue()};
  const auto r = dlq.redrive({}, q);
  CHECK(r.redriven == 1);
  CHECK(r.skipped_incompatible == 1);
  CHECK_THROWS_AS(static_cast<void>(dlq.redrive(foreign, q)), durable::decode_error);
  auto c = q.claim(10s);
  REQUIRE(c);
  CHECK(c->job->cents == 500);
}

TEST_CASE("a job of an older version moved to a DLQ in another database stays readable there") {
  temp_dir dir;
  const auto queue_path = dir.db("queue.db");
  const auto archive_path = dir.db("archive.db");
  Queue<order_v1>{queue_path, "orders", quiet_queue()}.push({1, "old@x"});
  Queue<order_v2> q{queue_path, "orders", quiet_queue()};
  DeadLetterQueue<order_v2> archive{archive_path, "orders.dlq", quiet_dlq()};
  auto c = q.claim(10s);
  REQUIRE(c);
  REQUIRE(c->job);
  const auto id = archive.move_from(q, *c, {"timeout", "late", ""});
  // The archive never saw an order_v1 Queue: the move registered the row's type there.
  const auto e = archive.get(id);
  REQUIRE(e);
  CHECK(e->job.email == "old@x");
  CHECK(e->job.currency == "EUR");
  CHECK(e->fingerprint == pfr_codec::fingerprint<order_v1>());
  // Redriven back across databases, it is claimed and read again.
  Queue<order_v2> fresh{dir.db("fresh.db"), "orders", quiet_queue()};
  CHECK(archive.redrive(id, fresh).outcome == durable::redrive_outcome::redriven);
  auto again = fresh.claim(10s);
  REQUIRE(again);
  REQUIRE(again->job);
  CHECK(again->job->email == "old@x");
}

TEST_CASE("a worker logs the jobs it leaves once per interval, with the reason") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  durable::manual_clock clock;
  Queue<order_v1> q{path, "orders", quiet_queue(&clock)};
  DeadLetterQueue<order_v1> dlq{path, "orders.dlq", quiet_dlq(&clock)};
  Queue<order_v2>{path, "orders", quiet_queue(&clock)}.push({1, "new", "EUR", std::nullopt});
  Queue<order_v2>{path, "orders", quiet_queue(&clock)}.push({2, "new", "EUR", std::nullopt});
  std::vector<std::string> lines;
  durable::worker_options o;
  o.clock = clock.source();
  o.unreadable_log_interval = 1min;
  o.log = [&](durable::log_level, std::string_view m) { lines.emplace_back(m); };
  int handled = 0;
  durable::Worker<order_v1> w{q, dlq, [&](const order_v1&) { ++handled; }, o};
  q.push({3, "old"});
  CHECK(w.process_available() == 1);
  CHECK(handled == 1);
  const auto reports = [&] {
    return std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
      return l.find("leaving 2 claimable job(s) this worker cannot decode") != std::string::npos;
    });
  };
  CHECK(reports() == 1);
  // The reason follows the report; the job's own log line may come before or after them.
  CHECK(std::any_of(lines.begin(), lines.end(), [](const std::string& l) {
    return l.find("stored 4 fields, this type has 2") != std::string::npos;
  }));
  CHECK(w.process_available() == 0);
  CHECK(reports() == 1);  // not again within the interval
  clock.advance(1min);
  CHECK(w.process_available() == 0);
  CHECK(reports() == 2);
  CHECK(dlq.size() == 0);  // nothing dead-lettered
  CHECK(q.size() == 2);
}

// ------------------------------------------------------------------------ two processes

namespace {

/// A worker of `Job` in a child process: reports each handled job as "<tag> <id> <currency>"
/// on `out`, runs until `stop` is closed, exits 0 when it dead-lettered nothing.
template <class Job>
[[noreturn]] void run_worker(const std::string& path, char tag, int out, int stop) {
  int code = 0;
  try {
    auto options = quiet_queue();
    options.open.busy_timeout = 2min;
    Queue<Job> q{path, "orders", options};
    DeadLetterQueue<Job> dlq{path, "orders.dlq", quiet_dlq()};
    durable::worker_options o;
    o.log = nullptr;
    o.threads = 2;
    o.max_poll_interval = 20ms;
    durable::Worker<Job> w{
        q, dlq,
        [&](const Job& job) {
          std::string line = std::string(1, tag) + ' ' + std::to_string(job.id);
          if constexpr (std::is_same_v<Job, order_v2>) line += ' ' + job.currency;
          line += '\n';
          if (write(out, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
            _exit(9);
          }
        },
        o};
    w.start();
    char c = 0;
    while (read(stop, &c, 1) > 0) {
    }
    w.stop();
    code = w.stats().dead_lettered == 0 && dlq.size() == 0 ? 0 : 4;
  } catch (...) {
    code = 3;
  }
  _exit(code);
}

}  // namespace

TEST_CASE(
    "rolling deploy: an old and a new worker in two processes each take only what they "
    "can decode, and nothing is dead-lettered") {
  temp_dir dir;
  const auto path = dir.db("deploy.db");
  constexpr std::uint64_t per_type = 150;
  {
    Queue<order_v1> old_producer{path, "orders", quiet_queue()};
    Queue<order_v2> new_producer{path, "orders", quiet_queue()};
    for (std::uint64_t i = 0; i < per_type; ++i) {
      old_producer.push({i, "old"});
      new_producer.push({1000 + i, "new", "CHF", std::nullopt});
    }
  }
  std::array<int, 2> reports{};
  std::array<int, 2> stop{};
  REQUIRE(pipe(reports.data()) == 0);
  REQUIRE(pipe(stop.data()) == 0);
  std::array<pid_t, 2> children{};
  for (std::size_t k = 0; k < 2; ++k) {
    children[k] = fork();
    REQUIRE(children[k] >= 0);
    if (children[k] == 0) {
      close(reports[0]);
      close(stop[1]);
      if (k == 0) run_worker<order_v1>(path, 'O', reports[1], stop[0]);
      run_worker<order_v2>(path, 'N', reports[1], stop[0]);
    }
  }
  close(reports[1]);
  close(stop[0]);
  // Wait for every job to be reported, however long that takes; fail only when nothing at
  // all is reported for two minutes.
  std::map<std::uint64_t, std::vector<std::string>> handled;  // id -> "<tag> <currency>"
  std::string partial;
  std::size_t lines = 0;
  auto last = std::chrono::steady_clock::now();
  while (lines < 2 * per_type) {
    pollfd ready{reports[0], POLLIN, 0};
    (void)poll(&ready, 1, 100);
    std::array<char, 4096> buffer{};
    const auto got = read(reports[0], buffer.data(), buffer.size());
    if (got > 0) {
      last = std::chrono::steady_clock::now();
      partial.append(buffer.data(), static_cast<std::size_t>(got));
      for (auto end = partial.find('\n'); end != std::string::npos; end = partial.find('\n')) {
        std::istringstream line{partial.substr(0, end)};
        partial.erase(0, end + 1);
        char tag = 0;
        std::uint64_t id = 0;
        std::string currency;
        line >> tag >> id >> currency;
        handled[id].push_back(std::string(1, tag) + ' ' + currency);
        ++lines;
      }
    }
    REQUIRE_MESSAGE(got != 0, "both workers ended early");
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() - last < 2min, "no progress for 2 min");
  }
  close(stop[1]);  // both workers stop
  for (const pid_t child : children) {
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);  // 0: nothing dead-lettered
  }
  close(reports[0]);
  REQUIRE(handled.size() == 2 * per_type);
  std::size_t old_took = 0;
  for (const auto& entry : handled) {
    const std::uint64_t id = entry.first;
    const auto& by = entry.second;
    CAPTURE(id);
    REQUIRE(by.size() == 1);  // once each
    if (id >= 1000) {
      CHECK(by[0] == "N CHF");  // only the new worker can decode the new type
    } else if (by[0][0] == 'O') {
      ++old_took;
    } else {
      CHECK(by[0] == "N EUR");  // an old row read by the new worker: the default
    }
  }
  MESSAGE("the old worker took " << old_took << " of " << per_type << " old jobs");
  Queue<order_v2> q{path, "orders", quiet_queue()};
  DeadLetterQueue<order_v2> dlq{path, "orders.dlq", quiet_dlq()};
  CHECK(q.empty());
  CHECK(dlq.size() == 0);
}
