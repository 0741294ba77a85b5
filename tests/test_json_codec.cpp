// SPDX-License-Identifier: MIT
// json_codec against real databases: round trips, readable payloads, missing fields that
// take defaults and unknown fields that are ignored, bad JSON (decode_error, the row kept),
// jobs JSON cannot hold, fingerprints and upgrades.

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <durable/codecs/json_codec.hpp>
#include <durable/dead_letter_queue.hpp>
#include <durable/detail/sqlite/connection.hpp>
#include <durable/queue.hpp>
#include <durable/upgrade.hpp>

#include "quiet_options.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using durable::json_codec;
using durable_test::quiet_dlq;
using durable_test::quiet_queue;
using durable_test::temp_dir;

namespace tickets {

enum class level : std::uint8_t { low, high };

struct line {
  std::string sku;
  std::int32_t quantity = 1;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(line, sku, quantity)

struct ticket_v1 {
  std::int64_t id = 0;
  std::string title;
  std::vector<line> lines;
  double weight = 0;
  level urgency = level::low;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ticket_v1, id, title, lines, weight, urgency)

// A field added (with a default) and one dropped.
struct ticket_v2 {
  std::int64_t id = 0;
  std::string title;
  std::vector<line> lines;
  std::string owner = "nobody";
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ticket_v2, id, title, lines, owner)

// A renamed field: a new meaning, hence a job_version and an upgrade.
struct ticket_v3 {
  std::int64_t id = 0;
  std::string headline;
  std::string owner;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ticket_v3, id, headline, owner)

}  // namespace tickets

using tickets::ticket_v1;
using tickets::ticket_v2;
using tickets::ticket_v3;

template <>
struct durable::job_version<ticket_v3> {
  static constexpr std::uint32_t value = 1;
};
template <>
struct durable::job_upgrades<ticket_v3> {
  using from = durable::types<ticket_v2>;
  static ticket_v3 upgrade(ticket_v2 old) { return {old.id, old.title, old.owner}; }
};

namespace {

std::vector<std::byte> bytes_of(std::string_view text) {
  std::vector<std::byte> out(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) out[i] = static_cast<std::byte>(text[i]);
  return out;
}

}  // namespace

TEST_CASE("json_codec round-trips a job through a queue and stores readable JSON") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  durable::Queue<ticket_v1, json_codec> q{path, "tickets", quiet_queue()};
  const ticket_v1 job{
      7, "Printer \"on fire\"", {{"ink", 2}, {"paper", 500}}, 1.5, tickets::level::high};
  const auto id = q.push(job).id;
  if (durable_test::on_sqlite()) {
    durable::detail::sqlite::connection c{path, {}};
    auto row = c.query(
        "SELECT codec, CAST(payload AS TEXT), json_extract(CAST(payload AS TEXT), "
        "'$.lines[1].sku') "
        "FROM durable_jobs WHERE id = ?1",
        id);
    REQUIRE(row->step());
    CHECK(row->text(0) == "json");
    CHECK(row->text(1) ==
          R"({"id":7,"lines":[{"quantity":2,"sku":"ink"},{"quantity":500,"sku":"paper"}],)"
          R"("title":"Printer \"on fire\"","urgency":1,"weight":1.5})");
    CHECK(row->text(2) == "paper");
  }
  auto c = q.claim(10s);
  REQUIRE(c);
  REQUIRE(c->job);
  CHECK(c->job->title == job.title);
  REQUIRE(c->job->lines.size() == 2);
  CHECK(c->job->lines[1].quantity == 500);
  CHECK(c->job->weight == 1.5);
  CHECK(c->job->urgency == tickets::level::high);
}

TEST_CASE("json_codec: missing fields take their defaults, unknown fields are ignored") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  durable::Queue<ticket_v1, json_codec> v1{path, "tickets", quiet_queue()};
  durable::Queue<ticket_v2, json_codec> v2{path, "tickets", quiet_queue()};
  v1.push({1, "old", {{"a", 1}}, 2.5, tickets::level::high});
  auto c = v2.claim(10s);  // the newer reader: `owner` missing, weight and urgency unknown
  REQUIRE(c);
  REQUIRE(c->job);
  CHECK(c->job->title == "old");
  CHECK(c->job->owner == "nobody");
  CHECK(c->job->lines.at(0).quantity == 1);
  v2.ack(*c);
  v2.push({2, "new", {}, "ann"});
  auto d = v1.claim(10s);  // the older reader: `owner` unknown, weight and urgency missing
  REQUIRE(d);
  REQUIRE(d->job);
  CHECK(d->job->title == "new");
  CHECK(d->job->weight == 0);
  CHECK(d->job->urgency == tickets::level::low);
  // Reading a JSON document directly: the same rules.
  const auto t = json_codec::decode<ticket_v2>(bytes_of(R"({"id":3,"extra":{"x":[1,2]}})"));
  CHECK(t.id == 3);
  CHECK(t.title.empty());
  CHECK(t.owner == "nobody");
}

TEST_CASE("json_codec: bytes that are not the job's JSON are a decode_error, and the row stays") {
  for (const std::string bad :
       {"", "{", "{\"id\":", "[1,2]", "{\"id\":\"seven\"}",
        "{\"id\":1,\"lines\":[{\"quantity\":\"x\"}]}", "nul", "{\"id\":1}x", "\xff\xfe"}) {
    CAPTURE(bad);
    try {
      static_cast<void>(json_codec::decode<ticket_v1>(bytes_of(bad)));
      FAIL("must throw");
    } catch (const durable::decode_error& e) {
      CHECK(std::string{e.what()}.find("durable: json_codec: ") == 0);
    }
  }
  if (!durable_test::on_sqlite()) return;
  temp_dir dir;
  const auto path = dir.db("q.db");
  durable::Queue<ticket_v1, json_codec> q{path, "tickets", quiet_queue()};
  durable::DeadLetterQueue<ticket_v1, json_codec> dlq{path, "tickets.dlq", quiet_dlq()};
  const auto id = q.push({1, "x", {}, 0, tickets::level::low}).id;
  {
    durable::detail::sqlite::connection c{path, {}};
    c.run("UPDATE durable_jobs SET payload = CAST('{\"id\": oops}' AS BLOB) WHERE id = ?1", id);
  }
  auto c = q.claim(10s);
  REQUIRE(c);
  REQUIRE(c->poison);
  CHECK(std::string{c->poison->what()}.find("parse error") != std::string::npos);
  CHECK(q.size() == 1);  // kept
  const auto entry = dlq.move_from(q, *c, {"durable::decode_error", c->poison->what(), ""});
  CHECK_THROWS_AS(static_cast<void>(dlq.get(entry)), durable::decode_error);
  CHECK_THROWS_AS(static_cast<void>(dlq.redrive(entry, {.force = true})), durable::decode_error);
  CHECK(dlq.size() == 1);  // kept
}

TEST_CASE("json_codec refuses to store what JSON cannot hold, and stores nothing") {
  temp_dir dir;
  durable::Queue<ticket_v1, json_codec> q{dir.db("q.db"), "tickets", quiet_queue()};
  const ticket_v1 nan{1, "t", {}, std::numeric_limits<double>::quiet_NaN(), tickets::level::low};
  CHECK_THROWS_AS(q.push(nan), durable::invalid_argument_error);
  const ticket_v1 latin1{2, "caf\xe9", {}, 0, tickets::level::low};  // not UTF-8
  try {
    q.push(latin1);
    FAIL("must throw");
  } catch (const durable::invalid_argument_error& e) {
    CHECK(std::string{e.what()}.find("valid UTF-8") != std::string::npos);
  }
  CHECK(q.empty());
}

TEST_CASE("json_codec fingerprints: one per job_version, and a declared upgrade reads older rows") {
  static_assert(json_codec::fingerprint<ticket_v1>() == json_codec::fingerprint<ticket_v2>());
  static_assert(json_codec::fingerprint<ticket_v1>() == durable::fnv1a_64("json/1"));
  static_assert(json_codec::fingerprint<ticket_v3>() == durable::fnv1a_64("json/1@1"));
  static_assert(json_codec::fingerprint<ticket_v1>() !=
                durable::pfr_codec::fingerprint<std::int64_t>());
  temp_dir dir;
  const auto path = dir.db("q.db");
  durable::Queue<ticket_v2, json_codec>{path, "tickets", quiet_queue()}.push({1, "t", {}, "ann"});
  durable::Queue<ticket_v3, json_codec> v3{path, "tickets", quiet_queue()};
  v3.push({2, "h", "bob"});
  auto a = v3.claim(10s);
  REQUIRE(a);
  CHECK(a->job->headline == "t");  // upgraded from ticket_v2
  CHECK(a->job->owner == "ann");
  auto b = v3.claim(10s);
  REQUIRE(b);
  CHECK(b->job->headline == "h");
  // The older reader leaves the new version's row alone.
  durable::Queue<ticket_v2, json_codec> v2{path, "tickets", quiet_queue()};
  v3.push({3, "h3", "cy"});
  CHECK_FALSE(v2.claim(10s));
  REQUIRE(v2.unreadable().size() == 1);
  CHECK(v2.unreadable()[0].count == 1);
}
