// SPDX-License-Identifier: MIT
// The backend's inspection and administration calls that the `durable` tool is built on,
// against real databases (a conformance test: run once per backend): pausing a queue,
// listing queues, jobs and dead-letter queues, one job with its payload and history,
// cancelling, counts by error type and time, recorded job types, dry-run redrive.

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <durable/codecs/bytes_codec.hpp>
#include <durable/dead_letter_queue.hpp>
#include <durable/detail/engine/redrive.hpp>
#include <durable/queue.hpp>

#include "quiet_options.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using durable::DeadLetterQueue;
using durable::Queue;
using durable_test::quiet_dlq;
using durable_test::quiet_queue;
using durable_test::temp_dir;

namespace {

struct task {
  std::int64_t n = 0;
  std::string name;
};

std::int64_t ms(durable::time_point t) { return durable::detail::to_unix_ms(t); }

durable::failure fail(std::string type, durable::redrive_policy policy) {
  return {std::move(type), "it failed", "", policy};
}

}  // namespace

TEST_CASE("a paused queue gives nothing to claim or claim_batch until it is resumed") {
  temp_dir dir;
  Queue<task> q{dir.db("admin.db"), "tasks", quiet_queue()};
  Queue<task> other{q.db(), "other", quiet_queue()};
  q.push({1, "a"});
  q.push({2, "b"});
  other.push({3, "c"});
  auto& storage = q.db().storage();
  REQUIRE(storage.set_paused("tasks", true));
  CHECK_FALSE(q.claim(30s).has_value());
  CHECK(q.claim_batch(10, 30s).empty());
  CHECK(other.claim(30s).has_value());  // only the paused queue stops
  CHECK(q.stats().pending == 2);
  REQUIRE(storage.set_paused("tasks", false));
  CHECK(q.claim_batch(10, 30s).size() == 2);
}

TEST_CASE("an opened queue is known while empty, and pausing an unknown one changes nothing") {
  temp_dir dir;
  Queue<task> q{dir.db("admin.db"), "tasks", quiet_queue()};
  auto& storage = q.db().storage();
  CHECK_FALSE(storage.set_paused("nosuch", true));
  auto queues = storage.list_queues(0);
  REQUIRE(queues.size() == 1);  // "nosuch" was not created
  CHECK(queues.front().name == "tasks");
  CHECK(storage.set_paused("tasks", true));  // empty, but opened: known
  queues = storage.list_queues(0);
  REQUIRE(queues.size() == 1);
  CHECK(queues.front().paused);
  CHECK(queues.front().counts.pending == 0);
}

TEST_CASE("list_queues gives every queue's counts, limits and pause flag") {
  temp_dir dir;
  durable::manual_clock clock;
  auto options = quiet_queue(&clock);
  options.hard_limit = 100;
  options.soft_limit = 50;
  Queue<task> limited{dir.db("admin.db"), "limited", options};
  Queue<task> plain{limited.db(), "plain", quiet_queue(&clock)};
  const auto start = ms(clock.now());
  plain.push({1, "now"});
  clock.advance(1s);
  plain.push({2, "later"}, {.delay = 1h});
  plain.push({3, "claimed"}, {.priority = 9});
  REQUIRE(plain.claim(30s));
  clock.advance(2s);
  const auto queues = limited.db().storage().list_queues(ms(clock.now()));
  REQUIRE(queues.size() == 2);
  CHECK(queues[0].name == "limited");
  CHECK(queues[0].settings.hard_limit == 100);
  CHECK(queues[0].settings.soft_limit == 50);
  CHECK(queues[0].counts.pending == 0);
  CHECK(queues[1].name == "plain");
  CHECK(queues[1].counts.pending == 1);
  CHECK(queues[1].counts.scheduled == 1);
  CHECK(queues[1].counts.claimed == 1);
  CHECK(queues[1].counts.oldest_pending_ms == start);
  CHECK_FALSE(queues[1].paused);
}

TEST_CASE("list_jobs selects by state in claim order, and find_job has payload and history") {
  temp_dir dir;
  durable::manual_clock clock;
  Queue<task> q{dir.db("admin.db"), "tasks", quiet_queue(&clock)};
  const auto a = q.push({1, "a"}, {.key = durable::job_key{"k-1"}}).id;
  const auto b = q.push({2, "b"}, {.priority = 3}).id;
  const auto c = q.push({3, "c"}, {.delay = 1h}).id;
  auto claimed = q.claim(30s);  // b, the highest priority
  REQUIRE(claimed);
  REQUIRE(claimed->id == b);
  q.nack(*claimed, 0ms, {"timeout", "took too long", "", durable::redrive_policy::safe});
  REQUIRE(q.claim(30s));  // b again
  auto& storage = q.db().storage();
  const auto now = ms(clock.now());
  const auto ids = [](const std::vector<durable::storage::job_row>& rows) {
    std::vector<durable::job_id> out;
    for (const auto& r : rows) out.push_back(r.id);
    return out;
  };
  using state = durable::storage::job_state;
  CHECK(ids(storage.list_jobs("tasks", std::nullopt, now, 10)) == std::vector{b, a, c});
  CHECK(ids(storage.list_jobs("tasks", state::pending, now, 10)) == std::vector{a});
  CHECK(ids(storage.list_jobs("tasks", state::scheduled, now, 10)) == std::vector{c});
  CHECK(ids(storage.list_jobs("tasks", state::claimed, now, 10)) == std::vector{b});
  CHECK(ids(storage.list_jobs("tasks", std::nullopt, now, 1)) == std::vector{b});
  CHECK(storage.list_jobs("nosuch", std::nullopt, now, 10).empty());

  const auto job = storage.find_job(b);
  REQUIRE(job);
  CHECK(job->queue == "tasks");
  CHECK(job->leased);
  CHECK(job->claimed_by.has_value());
  CHECK(job->attempts == 1);
  CHECK(job->priority == 3);
  CHECK(job->codec == "pfr");
  CHECK(job->fingerprint == durable::pfr_codec::fingerprint<task>());
  CHECK(durable::pfr_codec::decode<task>(job->payload).name == "b");
  CHECK(job->payload_size == static_cast<std::int64_t>(job->payload.size()));
  REQUIRE(job->history.size() == 1);
  CHECK(job->history.front().error_type == "timeout");
  CHECK(job->history.front().message == "took too long");
  const auto keyed = storage.find_job(a);
  REQUIRE(keyed);
  CHECK(keyed->key == durable::job_key{"k-1"});
  CHECK_FALSE(storage.find_job(999'999).has_value());
}

TEST_CASE("cancel_job deletes a waiting job, refuses a claimed one unless forced") {
  temp_dir dir;
  durable::manual_clock clock;
  Queue<task> q{dir.db("admin.db"), "tasks", quiet_queue(&clock)};
  const auto waiting = q.push({1, "a"}, {.delay = 1h}).id;
  const auto held = q.push({2, "b"}).id;
  auto claimed = q.claim(30s);
  REQUIRE(claimed);
  REQUIRE(claimed->id == held);
  auto& storage = q.db().storage();
  const auto now = ms(clock.now());
  using status = durable::storage::cancel_status;
  auto r = storage.cancel_job(held, now, false);
  CHECK(r.status == status::claimed);
  CHECK(r.queue == "tasks");
  CHECK(storage.find_job(held).has_value());
  r = storage.cancel_job(waiting, now, false);
  CHECK(r.status == status::cancelled);
  CHECK_FALSE(storage.find_job(waiting).has_value());
  CHECK(storage.cancel_job(held, now, true).status == status::cancelled);
  CHECK_THROWS_AS(q.ack(*claimed), durable::lease_lost_error);  // the worker learns at ack
  CHECK(storage.cancel_job(held, now, true).status == status::not_found);
  CHECK(q.empty());
}

TEST_CASE("dead_letter_queues and count_dead_letters_by type, hour and day") {
  temp_dir dir;
  durable::manual_clock clock{durable::time_point{std::chrono::hours{24 * 20000}}};  // midnight
  DeadLetterQueue<task> dlq{dir.db("admin.db"), "failed", quiet_dlq(&clock)};
  DeadLetterQueue<task> other{dlq.db(), "other", quiet_dlq(&clock)};
  const auto day0 = ms(clock.now());
  dlq.add({1, "a"}, fail("timeout", durable::redrive_policy::safe), 3);
  clock.advance(10min);
  dlq.add({2, "b"}, fail("timeout", durable::redrive_policy::safe), 3);
  clock.advance(1h);
  dlq.add({3, "c"}, fail("bad_input", durable::redrive_policy::never), 1);
  clock.advance(24h);
  const auto last =
      dlq.add({4, "d"}, fail("timeout", durable::redrive_policy::safe), 3, {.queue = "tasks"});
  other.add({5, "e"}, fail("x", durable::redrive_policy::optional), 1);
  REQUIRE(dlq.redrive(last).outcome == durable::redrive_outcome::redriven);

  auto& storage = dlq.db().storage();
  const auto dlqs = storage.dead_letter_queues();
  REQUIRE(dlqs.size() == 2);
  CHECK(dlqs[0].name == "failed");
  CHECK(dlqs[0].entries == 3);
  CHECK(dlqs[0].redriven == 1);
  CHECK(dlqs[0].oldest_failed_ms == day0);
  CHECK(dlqs[0].newest_failed_ms == day0 + 70 * 60'000);
  CHECK(dlqs[1].name == "other");
  CHECK(dlqs[1].entries == 1);

  durable::storage::dead_letter_where all;
  all.dlq = "failed";
  all.from_ms = std::numeric_limits<std::int64_t>::min();
  all.to_ms = std::numeric_limits<std::int64_t>::max();
  using grouping = durable::storage::dead_letter_grouping;
  auto by_type = storage.count_dead_letters_by(all, grouping::error_type);
  REQUIRE(by_type.size() == 2);
  CHECK(by_type[0].error_type == "timeout");
  CHECK(by_type[0].count == 2);
  CHECK(by_type[1].error_type == "bad_input");
  CHECK(by_type[1].count == 1);
  auto by_hour = storage.count_dead_letters_by(all, grouping::hour);
  REQUIRE(by_hour.size() == 2);
  CHECK(by_hour[0].bucket_ms == day0);
  CHECK(by_hour[0].count == 2);
  CHECK(by_hour[1].bucket_ms == day0 + 3'600'000);
  CHECK(by_hour[1].count == 1);
  all.include_redriven = true;
  auto by_day = storage.count_dead_letters_by(all, grouping::day);
  REQUIRE(by_day.size() == 2);
  CHECK(by_day[0].count == 3);
  CHECK(by_day[1].bucket_ms == day0 + 86'400'000);
  CHECK(by_day[1].count == 1);
}

TEST_CASE("opening a Queue or DLQ records its pfr job type's description once") {
  temp_dir dir;
  Queue<task> q{dir.db("admin.db"), "tasks", quiet_queue()};
  auto& storage = q.db().storage();
  const auto fingerprint = durable::pfr_codec::fingerprint<task>();
  const auto description_of = [&](std::uint64_t fp) -> std::optional<std::string> {
    for (const auto& t : storage.job_types()) {
      if (t.codec == "pfr" && t.fingerprint == fp) return t.description;
    }
    return std::nullopt;
  };
  CHECK(description_of(fingerprint) == durable::pfr_codec::description<task>());
  DeadLetterQueue<std::vector<std::int32_t>> dlq{q.db(), "failed", quiet_dlq()};
  CHECK(description_of(durable::pfr_codec::fingerprint<std::vector<std::int32_t>>()) ==
        "pfr/1:v(i32)");
  storage.record_job_type("pfr", fingerprint, "pfr/1:changed", 0);  // a second call: kept
  CHECK(description_of(fingerprint) == durable::pfr_codec::description<task>());
  Queue<std::string, durable::bytes_codec> bytes{q.db(), "raw", quiet_queue()};
  const auto types = storage.job_types();
  REQUIRE(types.size() == 2);  // bytes_codec describes nothing
  CHECK(types[0].codec == "pfr");
  CHECK(types[0].fingerprint < types[1].fingerprint);  // ordered by codec, fingerprint
  CHECK(types[0].recorded_at_ms > 0);
}

TEST_CASE("a dry-run redrive reports every outcome and changes nothing") {
  temp_dir dir;
  auto options = quiet_queue();
  options.hard_limit = 1;
  Queue<task> q{dir.db("admin.db"), "tasks", options};
  DeadLetterQueue<task> dlq{q.db(), "failed", quiet_dlq()};
  const auto a =
      dlq.add({1, "a"}, fail("timeout", durable::redrive_policy::safe), 3, {.queue = "tasks"});
  const auto b =
      dlq.add({2, "b"}, fail("bad_input", durable::redrive_policy::never), 1, {.queue = "tasks"});
  const auto c =
      dlq.add({3, "c"}, fail("timeout", durable::redrive_policy::safe), 3, {.queue = "tasks"});
  const std::vector ids{a, b, c};
  durable::detail::redrive_target target;
  target.dry_run = true;
  const auto dry = durable::detail::redrive(dlq.engine(), ids, target);
  REQUIRE(dry.entries.size() == 3);
  CHECK(dry.entries[0].outcome == durable::redrive_outcome::redriven);
  CHECK(dry.entries[1].outcome == durable::redrive_outcome::not_redrivable);
  CHECK(dry.entries[2].outcome == durable::redrive_outcome::queue_full);  // hard limit 1
  CHECK(q.empty());
  CHECK(dlq.size() == 3);
  target.dry_run = false;
  const auto real = durable::detail::redrive(dlq.engine(), ids, target);
  CHECK(real.redriven == 1);
  CHECK(real.entries[2].outcome == durable::redrive_outcome::queue_full);
  CHECK(q.size() == 1);
  CHECK(dlq.size() == 2);
}
