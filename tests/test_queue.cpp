// SPDX-License-Identifier: MIT
// Queue<Job, Codec> against real database files: ordering, scheduling, dedup, batches,
// leases, persistence, poison rows, capacity, processes and threads, bad input.

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <durable/dead_letter_queue.hpp>
#include <durable/detail/sqlite/backend.hpp>
#include <durable/detail/sqlite/barrier.hpp>
#include <durable/detail/sqlite/schema.hpp>
#include <durable/queue.hpp>

#include "delivery_support.hpp"
#include "quiet_options.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using durable::Queue;
using durable_test::quiet_queue;
using durable_test::temp_dir;

namespace {

struct email {
  std::int64_t n = 0;
  std::string to;
};

struct other_job {
  double x = 0;
};

std::vector<std::int64_t> drain(Queue<email>& q) {
  std::vector<std::int64_t> out;
  while (auto c = q.claim(30s)) {
    out.push_back(c->job->n);
    q.ack(*c);
  }
  return out;
}

}  // namespace

TEST_CASE("jobs come out FIFO within a priority, higher priority first") {
  temp_dir dir;
  Queue<email> q{dir.db("q.db"), "emails", quiet_queue()};
  q.push({1, "a"});
  q.push({2, "b"}, {.priority = 5});
  q.push({3, "c"});
  q.push({4, "d"}, {.priority = 5});
  q.push({5, "e"}, {.priority = -1});
  CHECK(drain(q) == std::vector<std::int64_t>{2, 4, 1, 3, 5});
  CHECK(q.empty());
}

TEST_CASE("a claimed job carries its id, key, attempts, times and the decoded job") {
  temp_dir dir;
  durable::manual_clock clock;
  Queue<email> q{dir.db("q.db"), "emails", quiet_queue(&clock)};
  const auto pushed = q.push({7, "x@example.com"}, {.key = "user-7"});
  CHECK(pushed.created);
  clock.advance(1s);
  auto c = q.claim(10s);
  REQUIRE(c);
  CHECK(c->id == pushed.id);
  CHECK(c->key == durable::job_key{"user-7"});
  CHECK(c->attempts == 0);
  CHECK(c->enqueued_at == clock.now() - 1s);
  CHECK(c->lease_until == clock.now() + 10s);
  REQUIRE(c->job);
  CHECK(c->job->n == 7);
  CHECK(c->job->to == "x@example.com");
  CHECK_FALSE(c->poison);
  CHECK_FALSE(q.claim(10s));  // held under the lease
}

TEST_CASE("scheduled jobs wait for their time") {
  temp_dir dir;
  durable::manual_clock clock;
  Queue<email> q{dir.db("q.db"), "emails", quiet_queue(&clock)};
  q.push({1, ""}, {.delay = 5s});
  q.push({2, ""}, {.run_at = clock.now() + 2s});
  q.push({3, ""});
  CHECK(q.stats().scheduled == 2);
  CHECK(drain(q) == std::vector<std::int64_t>{3});
  clock.advance(2s);
  CHECK(drain(q) == std::vector<std::int64_t>{2});
  clock.advance(2999ms);
  CHECK(drain(q).empty());
  clock.advance(1ms);
  CHECK(drain(q) == std::vector<std::int64_t>{1});
}

TEST_CASE("a unique key deduplicates pending and claimed jobs, not finished ones") {
  temp_dir dir;
  Queue<email> q{dir.db("q.db"), "emails", quiet_queue()};
  const auto first = q.push({1, ""}, {.key = 42, .unique = true});
  const auto again = q.push({2, ""}, {.key = 42, .unique = true});
  CHECK(first.created);
  CHECK_FALSE(again.created);
  CHECK(again.id == first.id);
  CHECK(q.push({3, ""}, {.key = "42", .unique = true}).created);  // a string is another key
  CHECK(q.size() == 2);
  auto c = q.claim(10s);
  REQUIRE(c);
  CHECK(c->job->n == 1);
  CHECK(q.push({4, ""}, {.key = 42, .unique = true}).id == first.id);  // claimed still counts
  q.ack(*c);
  CHECK(q.push({5, ""}, {.key = 42, .unique = true}).created);
  Queue<email> other{dir.db("q.db"), "other", quiet_queue()};
  CHECK(other.push({6, ""}, {.key = 42, .unique = true}).created);  // per queue
}

TEST_CASE("claim_batch returns the parallel head and stops at sequential barriers") {
  temp_dir dir;
  Queue<email> q{dir.db("q.db"), "emails", quiet_queue()};
  for (std::int64_t i = 1; i <= 3; ++i) q.push({i, ""});
  q.push({4, ""}, {.sequential = true});
  q.push({5, ""});
  q.push({6, ""});
  const auto ns = [](const std::vector<durable::claimed_job<email>>& batch) {
    std::vector<std::int64_t> out;
    for (const auto& c : batch) out.push_back(c.job->n);
    return out;
  };
  const auto ack_all = [&](const std::vector<durable::claimed_job<email>>& batch) {
    for (const auto& c : batch) q.ack(c);
  };
  auto b1 = q.claim_batch(10, 10s);
  CHECK(ns(b1) == std::vector<std::int64_t>{1, 2, 3});
  CHECK(q.claim_batch(10, 10s).empty());  // 4 waits for 1-3 to finish, 5 and 6 for 4
  q.ack(b1[0]);
  q.ack(b1[1]);
  CHECK(q.claim_batch(10, 10s).empty());
  q.ack(b1[2]);
  auto b2 = q.claim_batch(10, 10s);
  CHECK(ns(b2) == std::vector<std::int64_t>{4});
  CHECK(b2.front().sequential);
  CHECK_FALSE(q.claim(10s));  // nothing runs beside the sequential job
  ack_all(b2);
  auto b3 = q.claim_batch(1, 10s);
  CHECK(ns(b3) == std::vector<std::int64_t>{5});
  auto b4 = q.claim_batch(10, 10s);
  CHECK(ns(b4) == std::vector<std::int64_t>{6});
  CHECK(q.claim_batch(10, 10s).empty());
  ack_all(b3);
  ack_all(b4);
  CHECK(q.empty());
}

TEST_CASE("a sequential job waits for every older job in any state, and holds every younger") {
  temp_dir dir;
  durable::manual_clock clock;
  Queue<email> q{dir.db("q.db"), "emails", quiet_queue(&clock)};
  Queue<email> other{dir.db("q.db"), "other", quiet_queue(&clock)};
  q.push({1, ""});
  q.push({2, ""}, {.priority = 9, .sequential = true});  // priority does not jump a barrier
  q.push({3, ""}, {.priority = 9});
  q.push({4, ""}, {.sequential = true});
  other.push({100, ""});  // other queues are not held
  auto first = q.claim(10s);
  REQUIRE(first);
  CHECK(first->job->n == 1);
  CHECK_FALSE(q.claim(10s));
  // A retry backoff is not finished: the barrier still waits.
  q.nack(*first, 1min, {"test.retry", "later", ""});
  CHECK_FALSE(q.claim(10s));
  REQUIRE(other.claim(10s));
  clock.advance(1min);
  first = q.claim(10s);
  REQUIRE(first);
  CHECK(first->job->n == 1);
  // An expired lease is not finished either; the job is claimed again, not the barrier.
  clock.advance(11s);
  first = q.claim(10s);
  REQUIRE(first);
  CHECK(first->job->n == 1);
  CHECK(first->attempts == 2);
  q.ack(*first);
  CHECK(drain(q) == std::vector<std::int64_t>{2, 3, 4});
  // A scheduled older job holds a barrier until it has run.
  q.push({5, ""}, {.delay = 1h});
  q.push({6, ""}, {.sequential = true});
  q.push({7, ""});
  CHECK(drain(q).empty());
  clock.advance(1h);
  CHECK(drain(q) == std::vector<std::int64_t>{5, 6, 7});
}

TEST_CASE("the sequential barrier keeps claims on the claim index, without a sort" *
          doctest::skip(!durable_test::on_sqlite())) {
  namespace sql = durable::detail::sqlite;
  temp_dir dir;
  sql::connection c{dir.db("q.db"), {}};
  sql::ensure_schema(c);
  // The candidate selections of claim.hpp's statements, built with the same fragment.
  const std::string candidates[] = {
      "SELECT id FROM durable_jobs AS j WHERE queue_id = ?5 AND run_at <= ?4 "
      "AND " DURABLE_DETAIL_SEQUENTIAL_BARRIER("j",
                                               "?5") " ORDER BY priority DESC, run_at, id LIMIT 1",
      "SELECT id, sequential FROM durable_jobs AS j WHERE queue_id = ?1 AND run_at <= ?2 "
      "AND " DURABLE_DETAIL_SEQUENTIAL_BARRIER(
          "j", "?1") " ORDER BY priority DESC, run_at, id LIMIT ?3"};
  const auto check_plans = [&] {
    for (const auto& candidate : candidates) {
      auto q = c.query("EXPLAIN QUERY PLAN " + candidate);
      std::string plan;
      while (q->step()) plan += std::string{q->text(3)} + "\n";
      INFO(plan);
      CHECK(plan.find("SEARCH j USING INDEX durable_jobs_claim (queue_id=?)") != std::string::npos);
      CHECK(plan.find("durable_jobs_barrier (queue_id=?)") != std::string::npos);
      CHECK(plan.find("SEARCH e USING INTEGER PRIMARY KEY (rowid<?)") != std::string::npos);
      CHECK(plan.find("TEMP B-TREE") == std::string::npos);
      CHECK(plan.find("SCAN") == std::string::npos);
    }
  };
  check_plans();
  {
    sql::write_transaction tx{c};
    c.exec(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
        "INSERT INTO durable_jobs (queue_id, priority, run_at, enqueued_at, sequential, codec, "
        "fingerprint, payload) SELECT 1 + i % 3, i % 2, i, i, i % 500 = 0, 'pfr', 1, x'00' "
        "FROM n");
    tx.commit();
  }
  c.exec("ANALYZE");
  check_plans();
}

TEST_CASE("status tells pending, scheduled, claimed, dead-lettered and not found") {
  temp_dir dir;
  durable::manual_clock clock;
  Queue<email> q{dir.db("q.db"), "emails", quiet_queue(&clock)};
  Queue<email> other{dir.db("q.db"), "other", quiet_queue(&clock)};
  const auto a = q.push({1, ""}).id;
  const auto b = q.push({2, ""}, {.delay = 5s}).id;
  auto s = q.status(a);
  CHECK(s.state == durable::job_state::pending);
  CHECK(s.run_at == clock.now());
  CHECK(s.attempts == 0);
  s = q.status(b);
  CHECK(s.state == durable::job_state::scheduled);
  CHECK(s.run_at == clock.now() + 5s);
  auto c = q.claim(10s);
  REQUIRE(c);
  s = q.status(a);
  CHECK(s.state == durable::job_state::claimed);
  CHECK(s.lease_until == clock.now() + 10s);
  CHECK_FALSE(s.run_at);
  q.nack(*c, 1s, {"test.retry", "again", ""});
  s = q.status(a);
  CHECK(s.state == durable::job_state::scheduled);
  CHECK(s.attempts == 1);
  clock.advance(5s);
  CHECK(q.status(a).state == durable::job_state::pending);
  c = q.claim(10s);
  REQUIRE(c);
  q.ack(*c);
  CHECK(q.status(a).state == durable::job_state::not_found);
  CHECK(q.status(123456).state == durable::job_state::not_found);
  CHECK(other.status(b).state == durable::job_state::not_found);  // another queue's job
  CHECK(to_string(durable::job_state::dead_lettered) == "dead_lettered");
}

TEST_CASE("a claimed job carries its first run, ready time and timeout") {
  temp_dir dir;
  durable::manual_clock clock;
  Queue<email> q{dir.db("q.db"), "emails", quiet_queue(&clock)};
  const auto t0 = clock.now();
  q.push({1, ""}, {.delay = 2s, .timeout = 1500ms});
  q.push({2, ""}, {.delay = 3s});
  clock.advance(3s);
  auto c = q.claim(10s);
  REQUIRE(c);
  CHECK(c->job->n == 1);
  CHECK(c->ready_at == t0 + 2s);
  CHECK(c->first_run_at == t0 + 3s);
  CHECK(c->timeout == 1500ms);
  q.nack(*c, 4s, {"test.retry", "again", ""});
  auto plain = q.claim(10s);
  REQUIRE(plain);
  CHECK(plain->job->n == 2);
  CHECK_FALSE(plain->timeout);
  q.ack(*plain);
  clock.advance(5s);
  c = q.claim(10s);
  REQUIRE(c);
  CHECK(c->ready_at == t0 + 7s);      // the end of its retry backoff
  CHECK(c->first_run_at == t0 + 3s);  // kept from the first claim
  clock.advance(11s);                 // the lease expires
  c = q.claim(10s);
  REQUIRE(c);
  CHECK(c->ready_at == t0 + 18s);  // the end of the expired lease
  CHECK_THROWS_AS(q.push({3, ""}, {.timeout = 0ms}), durable::invalid_argument_error);
}

TEST_CASE("an expired lease makes the job claimable again and counts the attempt") {
  temp_dir dir;
  durable::manual_clock clock;
  auto options = quiet_queue(&clock);
  options.max_attempts = 2;
  Queue<email> q{dir.db("q.db"), "emails", options};
  q.push({1, ""});
  auto first = q.claim(10s);
  REQUIRE(first);
  clock.advance(9999ms);
  CHECK_FALSE(q.claim(10s));
  clock.advance(1ms);
  auto second = q.claim(10s);
  REQUIRE(second);
  CHECK(second->id == first->id);
  CHECK(second->attempts == 1);
  CHECK_FALSE(second->exhausted);
  SUBCASE("the first claimer's lease is lost: ack, nack and extend change nothing") {
    CHECK_THROWS_AS(q.ack(*first), durable::lease_lost_error);
    CHECK_THROWS_AS(q.nack(*first, 0ms, {"t", "m", ""}), durable::lease_lost_error);
    CHECK_THROWS_AS(q.extend_lease(*first, 10s), durable::lease_lost_error);
    try {
      q.ack(*first);
    } catch (const durable::lease_lost_error& e) {
      CHECK(e.job_id() == first->id);
      CHECK(e.queue() == "emails");
      CHECK(std::string{e.what()}.find("nothing was changed") != std::string::npos);
    }
    CHECK(q.stats().claimed == 1);
    q.ack(*second);
    CHECK(q.empty());
  }
  SUBCASE("expiry alone exhausts the attempts: the job is surfaced, flagged, with history") {
    clock.advance(10s);
    auto third = q.claim(10s);
    REQUIRE(third);
    CHECK(third->attempts == 2);
    CHECK(third->exhausted);
    const auto h = q.history(third->id);
    REQUIRE(h.size() == 2);
    CHECK(h[0].attempt == 1);
    CHECK(h[0].error_type == "lease_expired");
    CHECK(h[1].attempt == 2);
  }
}

TEST_CASE("extend_lease keeps a long job held") {
  temp_dir dir;
  durable::manual_clock clock;
  Queue<email> q{dir.db("q.db"), "emails", quiet_queue(&clock)};
  q.push({1, ""});
  auto c = q.claim(10s);
  REQUIRE(c);
  clock.advance(8s);
  CHECK(q.extend_lease(*c, 10s) == clock.now() + 10s);
  clock.advance(8s);
  CHECK_FALSE(q.claim(10s));
  q.ack(*c);
  CHECK(q.empty());
}

TEST_CASE("nack returns the job with a delay, one more attempt and the error in its history") {
  temp_dir dir;
  durable::manual_clock clock;
  Queue<email> q{dir.db("q.db"), "emails", quiet_queue(&clock)};
  q.push({1, ""});
  auto c = q.claim(10s);
  REQUIRE(c);
  q.nack(*c, 5s, {"timeout", "upstream took 30 s", "ctx"});
  CHECK_FALSE(q.claim(10s));
  CHECK(q.stats().scheduled == 1);
  clock.advance(5s);
  auto again = q.claim(10s);
  REQUIRE(again);
  CHECK(again->attempts == 1);
  q.nack(*again, 0ms, {"http_503", "service \"unavailable\"\n", ""});
  const auto h = q.history(c->id);
  REQUIRE(h.size() == 2);
  CHECK(h[0].error_type == "timeout");
  CHECK(h[0].message == "upstream took 30 s");
  CHECK(h[0].at == clock.now() - 5s);
  CHECK(h[1].error_type == "http_503");
  CHECK(h[1].message == "service \"unavailable\"\n");
  CHECK_THROWS_AS(q.nack(*again, 0ms, {"x", "y", ""}), durable::lease_lost_error);
}

TEST_CASE("jobs persist across close and reopen, claims included") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  durable::manual_clock clock;
  durable::claimed_job<email> held;
  {
    Queue<email> q{path, "emails", quiet_queue(&clock)};
    for (std::int64_t i = 1; i <= 3; ++i) q.push({i, "p"});
    held = *q.claim(10s);
  }
  Queue<email> q{path, "emails", quiet_queue(&clock)};
  const auto s = q.stats();
  CHECK(s.pending == 2);
  CHECK(s.claimed == 1);
  q.ack(held);  // the token survives the reopen
  CHECK(drain(q) == std::vector<std::int64_t>{2, 3});
}

TEST_CASE("jobs claimed by a dead process come back at once with release_dead_claims") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  {
    Queue<email> q{path, "emails", quiet_queue()};
    q.push({1, ""});
    q.push({2, ""});
  }
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    Queue<email> q{path, "emails", quiet_queue()};
    _exit(q.claim(1h) ? 0 : 1);  // dies holding a one-hour lease
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WEXITSTATUS(status) == 0);
  {
    Queue<email> q{path, "emails", quiet_queue()};
    CHECK(q.stats().claimed == 1);
  }
  auto options = quiet_queue();
  options.release_dead_claims = true;
  Queue<email> q{path, "emails", options};
  CHECK(q.stats().claimed == 0);
  auto c = q.claim(10s);
  REQUIRE(c);
  CHECK(c->job->n == 1);
  CHECK(c->attempts == 1);
  CHECK(q.history(c->id).at(0).error_type == "claimer_died");
  auto mine = q.claim(10s);  // a live claimer (this process) is left alone on reopen
  REQUIRE(mine);
  Queue<email> reopened{path, "emails", options};
  CHECK(reopened.stats().claimed == 2);
}

TEST_CASE("jobs claimed by a killed process that is not reaped yet (a zombie) come back at once") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  {
    Queue<email> q{path, "emails", quiet_queue()};
    q.push({1, ""});
  }
  std::array<int, 2> ready{};
  REQUIRE(pipe(ready.data()) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    Queue<email> q{path, "emails", quiet_queue()};
    const char claimed = q.claim(1h) ? 'y' : 'n';
    (void)write(ready[1], &claimed, 1);
    for (;;) pause();  // holds the claim until killed
  }
  close(ready[1]);
  char claimed = 0;
  REQUIRE(read(ready[0], &claimed, 1) == 1);
  close(ready[0]);
  REQUIRE(claimed == 'y');
  REQUIRE(kill(child, SIGKILL) == 0);
  siginfo_t info{};  // wait until the child is a zombie, without reaping it
  REQUIRE(waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT) == 0);
  {
    auto options = quiet_queue();
    options.release_dead_claims = true;
    Queue<email> q{path, "emails", options};
    CHECK(q.stats().claimed == 0);
    auto c = q.claim(10s);
    REQUIRE(c);
    CHECK(c->job->n == 1);
    CHECK(q.history(c->id).at(0).error_type == "claimer_died");
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
}

TEST_CASE("a claim from one queue cannot be finished through another queue of the same file") {
  // ack through queue qa of a job claimed from qb (same file) is lease_lost_error and
  // changes nothing; so are nack, extend_lease and a move to a DLQ.
  temp_dir dir;
  const auto path = dir.db("q.db");
  Queue<email> qa{path, "qa", quiet_queue()};
  Queue<email> qb{path, "qb", quiet_queue()};
  durable::DeadLetterQueue<email> dlq{path, "dead", durable_test::quiet_dlq()};
  qb.push({1, "b"});
  auto c = qb.claim(1min);
  REQUIRE(c);
  CHECK_THROWS_AS(qa.ack(*c), durable::lease_lost_error);
  CHECK_THROWS_AS(qa.ack(c->id, c->token), durable::lease_lost_error);
  CHECK_THROWS_AS(qa.nack(*c, 0ms, {"t", "m", ""}), durable::lease_lost_error);
  CHECK_THROWS_AS((void)qa.extend_lease(*c, 1h), durable::lease_lost_error);
  CHECK_THROWS_AS(dlq.move_from(qa, *c, {"t", "m", ""}), durable::lease_lost_error);
  CHECK(qb.size() == 1);
  CHECK(qb.stats().claimed == 1);
  CHECK(qb.history(c->id).empty());
  CHECK(qa.empty());
  CHECK(dlq.size() == 0);
  qb.ack(*c);  // the claim still holds through its own queue
  CHECK(qb.empty());
}

TEST_CASE("durations up to milliseconds::max() saturate at max_time instead of wrapping") {
  temp_dir dir;
  durable::manual_clock clock;
  Queue<email> q{dir.db("q.db"), "long", quiet_queue(&clock)};
  constexpr auto forever = std::chrono::milliseconds::max();
  q.push({1, ""});
  auto c = q.claim(forever);
  REQUIRE(c);
  CHECK(c->lease_until == durable::max_time);
  CHECK(c->lease_until > clock.now());
  clock.advance(std::chrono::hours{24 * 365 * 200});  // 200 years later the lease still holds
  CHECK_FALSE(q.claim(1s));
  CHECK(q.extend_lease(*c, forever) == durable::max_time);
  CHECK_FALSE(q.claim(1s));
  q.nack(*c, forever, {"t", "m", ""});
  CHECK_FALSE(q.claim(1s));
  q.push({2, ""}, {.delay = forever});
  CHECK_FALSE(q.claim(1s));
  const auto s = q.stats();
  CHECK(s.scheduled == 2);
  CHECK(s.pending == 0);
  CHECK(s.claimed == 0);
  clock.set(durable::max_time);  // at the end of time both come due, and nothing earlier
  CHECK(q.claim(1s));
  CHECK(q.claim(1s));
}

TEST_CASE("a claim that finds nothing runs once: a second run could claim a job no one is handed" *
          doctest::skip(!durable_test::on_sqlite())) {
  // Stepping a statement that is done runs it again from the start: a claim stepped on
  // after it found nothing could claim a job another process pushed meanwhile, and hand
  // it to no one (seen with 16 processes on one file).
  temp_dir dir;
  Queue<email> q{dir.db("q.db"), "emails", quiet_queue()};
  q.push({1, "later"}, {.delay = 1h});  // the queue exists, and holds nothing claimable
  CHECK_FALSE(q.claim(1min));
  // In one process every claim runs on the one writer connection (group commit): its
  // cached statements tell how often they ran: the search for the head once, the update
  // of a found job never.
  auto& backend = dynamic_cast<durable::detail::sqlite::sqlite_backend&>(q.db().storage());
  int searches = 0;
  int updates = 0;
  backend.write([&](durable::detail::sqlite::write_context& ctx) {
    for (auto* s = sqlite3_next_stmt(ctx.db.handle(), nullptr); s != nullptr;
         s = sqlite3_next_stmt(ctx.db.handle(), s)) {
      const std::string_view sql{sqlite3_sql(s)};
      const int runs = sqlite3_stmt_status(s, SQLITE_STMTSTATUS_RUN, 0);
      if (sql.starts_with("SELECT id, sequential FROM durable_jobs AS j")) searches += runs;
      if (sql.starts_with("UPDATE durable_jobs SET lease_token")) updates += runs;
    }
  });
  CHECK(searches == 1);
  CHECK(updates == 0);
}

TEST_CASE("a row written by another job type is not claimed: it stays pending and is counted") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  {
    Queue<other_job> writer{path, "mixed", quiet_queue()};
    writer.push({3.5});
  }
  Queue<email> q{path, "mixed", quiet_queue()};
  q.push({1, "mine"});
  const auto c = q.claim(10s);
  REQUIRE(c);
  CHECK(c->job->n == 1);  // only its own type
  q.ack(*c);
  CHECK_FALSE(q.claim(10s));
  CHECK(q.size() == 1);  // the other job is left untouched
  CHECK(q.stats().pending == 1);
  const auto left = q.unreadable();
  REQUIRE(left.size() == 1);
  CHECK(left[0].codec == "pfr");
  CHECK(left[0].fingerprint == durable::pfr_codec::fingerprint<other_job>());
  CHECK(left[0].count == 1);
  CHECK(left[0].reason.find("the job > field 1") == std::string::npos);
  CHECK(left[0].reason.find("field 1 differs: stored f64, this type has i64") != std::string::npos);
  Queue<other_job> reader{path, "mixed", quiet_queue()};  // its own reader gets it
  const auto theirs = reader.claim(10s);
  REQUIRE(theirs);
  CHECK(theirs->job->x == 3.5);
  CHECK(q.unreadable().empty());
}

TEST_CASE("a corrupt blob with the right fingerprint is a poison job carrying the decode error" *
          doctest::skip(!durable_test::on_sqlite())) {
  temp_dir dir;
  const auto path = dir.db("q.db");
  Queue<email> q{path, "emails", quiet_queue()};
  const auto id = q.push({1, "hello"}).id;
  {
    durable::detail::sqlite::connection raw{path, {}};
    raw.run("UPDATE durable_jobs SET payload = x'ffffffff' WHERE id = ?1", id);
  }
  auto c = q.claim(10s);
  REQUIRE(c);
  CHECK_FALSE(c->job);
  REQUIRE(c->poison);
  CHECK(c->poison->row_id() == id);
  CHECK(c->poison->found_fingerprint() == c->poison->expected_fingerprint());
}

TEST_CASE("the soft limit warns once per crossing, the hard limit refuses") {
  temp_dir dir;
  std::vector<std::string> lines;
  auto options = quiet_queue();
  options.log = [&](durable::log_level level, std::string_view m) {
    CHECK(level == durable::log_level::warning);
    lines.emplace_back(m);
  };
  options.soft_limit = 10;
  Queue<email> q{dir.db("q.db"), "emails", options};
  for (std::int64_t i = 0; i < 7; ++i) q.push({i, ""});
  CHECK(lines.empty());
  q.push({7, ""});  // 8 of 10: 80 %
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("over 80 %") != std::string::npos);
  q.push({8, ""});
  CHECK(lines.size() == 1);
  q.push({9, ""});  // 10 of 10
  REQUIRE(lines.size() == 2);
  CHECK(lines[1].find("over 100 %") != std::string::npos);
  for (std::int64_t i = 0; i < 5; ++i) q.push({i, ""});  // soft: never rejects
  CHECK(q.size() == 15);
  CHECK(lines.size() == 2);
  drain(q);
  q.push({0, ""});
  for (std::int64_t i = 0; i < 7; ++i) q.push({i, ""});  // crossing 80 % again warns again
  CHECK(lines.size() == 3);

  auto hard = quiet_queue();
  hard.hard_limit = 3;
  Queue<email> h{dir.db("h.db"), "emails", hard};
  h.push_many(std::vector<email>{{1, ""}, {2, ""}});
  h.push({3, ""});
  try {
    h.push({4, ""});
    FAIL("a push past the hard limit must throw");
  } catch (const durable::queue_full_error& e) {
    CHECK(e.limit() == 3);
    CHECK(e.queue() == "emails");
  }
  CHECK_THROWS_AS(h.push_many(std::vector<email>{{5, ""}}), durable::queue_full_error);
  CHECK(h.size() == 3);
  drain(h);
  h.push({1, ""});
  try {  // 1 of 3 held: the message must not say the queue is at its limit
    h.push_many(std::vector<email>{{2, ""}, {3, ""}, {4, ""}});
    FAIL("a push_many past the hard limit must throw");
  } catch (const durable::queue_full_error& e) {
    CHECK(std::string{e.what()}.find("has no room for this push under its hard limit of 3 jobs; "
                                     "nothing was pushed") != std::string::npos);
  }
  CHECK(h.size() == 1);
}

TEST_CASE("the hard limit is stored with the queue: every object and process on it honours it") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  auto limited = quiet_queue();
  limited.hard_limit = 2;
  Queue<email> setter{path, "emails", limited};
  Queue<email> other{durable::database{path}, "emails", quiet_queue()};  // no limit given
  other.push({1, ""});
  other.push({2, ""});
  CHECK_THROWS_AS(other.push({3, ""}), durable::queue_full_error);
  CHECK(setter.size() == 2);
  Queue<email> unlimited{path, "other", quiet_queue()};  // another queue of the file: no limit
  for (std::int64_t i = 0; i < 5; ++i) unlimited.push({i, ""});
  CHECK(unlimited.size() == 5);
}

TEST_CASE("each job keeps the max attempts it was pushed with") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  durable::manual_clock clock;
  auto three = quiet_queue(&clock);
  three.max_attempts = 3;
  {
    Queue<email> q{path, "emails", three};
    q.push({1, ""});
    q.push({2, ""}, {.max_attempts = 1});
  }
  auto seven = quiet_queue(&clock);
  seven.max_attempts = 7;
  Queue<email> q{path, "emails", seven};
  q.push({3, ""});
  std::vector<std::pair<std::int64_t, std::int64_t>> seen;  // (job, max_attempts)
  while (auto c = q.claim(30s)) {
    seen.emplace_back(c->job->n, c->max_attempts);
    CHECK_FALSE(c->exhausted);
    q.ack(*c);
  }
  CHECK(seen == std::vector<std::pair<std::int64_t, std::int64_t>>{{1, 3}, {2, 1}, {3, 7}});

  q.push({4, ""}, {.max_attempts = 1});
  REQUIRE(q.claim(1s));
  clock.advance(2s);  // the only attempt ends by lease expiry
  const auto again = q.claim(30s);
  REQUIRE(again);
  CHECK(again->attempts == 1);
  CHECK(again->exhausted);
  CHECK_THROWS_AS(q.push({5, ""}, {.max_attempts = 0}), durable::invalid_argument_error);
  auto zero = quiet_queue();
  zero.max_attempts = 0;
  CHECK_THROWS_AS((Queue<email>{path, "emails", zero}), durable::invalid_argument_error);
}

TEST_CASE("a PostgreSQL target without the PostgreSQL backend is a clear error, no file made" *
          doctest::skip(!durable_test::on_sqlite())) {
  temp_dir dir;
  // A program without <durable/postgres.hpp>, even when this test binary has it.
  const auto factory = std::exchange(durable::detail::postgres_factory(), nullptr);
  const std::filesystem::path cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  try {
    Queue<email> q{"postgresql://user:secret@localhost/jobs", "emails", quiet_queue()};
    FAIL("a PostgreSQL target must need <durable/postgres.hpp>");
  } catch (const durable::invalid_argument_error& e) {
    CHECK(e.argument() == "target");
    CHECK(std::string{e.what()}.find("durable/postgres.hpp") != std::string::npos);
    CHECK(std::string{e.what()}.find("secret") == std::string::npos);
  }
  CHECK(std::filesystem::is_empty(dir.path()));
  std::filesystem::current_path(cwd);
  durable::detail::postgres_factory() = factory;
}

TEST_CASE("Queue objects of one process on one database share one connection") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  durable::database db{path};
  Queue<email> a{db, "a", quiet_queue()};
  Queue<email> b{path, "b", quiet_queue()};  // opened by path: the same database
  Queue<other_job> c{path, "c", quiet_queue()};
  CHECK(a.db() == b.db());
  CHECK(b.db() == c.db());
  CHECK(&a.db().storage() == &c.db().storage());
  a.push({1, ""});
  b.push({2, ""});
  c.push({3.5});
  CHECK(a.size() == 1);
  CHECK(b.size() == 1);
  CHECK(c.claim(10s)->job->x == 3.5);
}

TEST_CASE("a push wakes waiters of that queue on every object of the process") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  Queue<email> waiter{path, "emails", quiet_queue()};
  Queue<email> pusher{path, "emails", quiet_queue()};
  const auto seen = waiter.push_sequence();
  CHECK_FALSE(waiter.claim(10s));  // remembers "empty"
  std::thread push{[&] { pusher.push({1, ""}); }};
  CHECK(waiter.wait_for_push(seen, 2min));
  push.join();
  CHECK(waiter.claim(10s));  // the empty snapshot was invalidated by the other object's push
}

TEST_CASE("push_many stores all or nothing") {
  temp_dir dir;
  Queue<email> q{dir.db("q.db"), "emails", quiet_queue()};
  std::vector<email> jobs;
  for (std::int64_t i = 0; i < 1000; ++i) jobs.push_back({i, "bulk"});
  const auto ids = q.push_many(jobs);
  REQUIRE(ids.size() == 1000);
  CHECK(std::is_sorted(ids.begin(), ids.end(),
                       [](const auto& a, const auto& b) { return a.id < b.id; }));
  CHECK(q.size() == 1000);
  std::vector<std::pair<email, durable::push_options>> keyed{
      {{1, ""}, {.key = 1}}, {{2, ""}, {.key = 2}}, {{3, ""}, {.unique = true}}};
  CHECK_THROWS_AS(q.push_many(keyed), durable::invalid_argument_error);
  CHECK(q.size() == 1000);
  CHECK_THROWS_AS(q.push_many(jobs, {.key = 5}), durable::invalid_argument_error);
}

TEST_CASE("push_many stores every field of every job of a long batch, in order") {
  // Runs of plain jobs are inserted many rows per statement: each row must get its own
  // values, and a unique job or a scheduled one in between must not disturb the order.
  temp_dir dir;
  Queue<email> q{dir.db("q.db"), "emails", quiet_queue()};
  constexpr std::int64_t n = 150;
  std::vector<std::pair<email, durable::push_options>> jobs;
  for (std::int64_t i = 0; i < n; ++i) {
    durable::push_options o;
    if (i % 2 == 0) o.key = i;
    if (i % 2 == 1) o.key = "k" + std::to_string(i);
    o.unique = i == 70;
    o.priority = static_cast<int>(i % 3);
    o.max_attempts = i + 1;
    if (i % 7 == 0) o.timeout = std::chrono::milliseconds{1000 + i};
    jobs.emplace_back(email{i, "to-" + std::to_string(i)}, o);
  }
  const auto pushed = q.push_many(jobs);
  REQUIRE(pushed.size() == static_cast<std::size_t>(n));
  CHECK(std::adjacent_find(pushed.begin(), pushed.end(), [](const auto& a, const auto& b) {
          return a.id >= b.id;
        }) == pushed.end());
  CHECK(q.size() == n);
  std::vector<std::int64_t> order;
  while (auto c = q.claim(1min)) {
    REQUIRE(c->job);
    const auto i = c->job->n;
    INFO("job " << i);
    CHECK(c->job->to == "to-" + std::to_string(i));
    CHECK(c->id == pushed[static_cast<std::size_t>(i)].id);
    CHECK(c->key == jobs[static_cast<std::size_t>(i)].second.key);
    CHECK(c->priority == i % 3);
    CHECK(c->max_attempts == i + 1);
    CHECK(c->timeout == jobs[static_cast<std::size_t>(i)].second.timeout);
    order.push_back(i);
    q.ack(*c);
  }
  REQUIRE(order.size() == static_cast<std::size_t>(n));
  // Priority 2 first, then 1, then 0; in push order within a priority.
  CHECK(std::is_sorted(order.begin(), order.end(), [](std::int64_t a, std::int64_t b) {
    return std::pair{-(a % 3), a} < std::pair{-(b % 3), b};
  }));
}

TEST_CASE("bad input is refused with the argument named") {
  temp_dir dir;
  const auto path = dir.db("q.db");
  for (const std::string name : {"", "has space", "quote'", "x\"; DROP TABLE durable_jobs;--"}) {
    try {
      Queue<email> q{path, name, quiet_queue()};
      FAIL("must refuse the queue name");
    } catch (const durable::invalid_argument_error& e) {
      CHECK(e.argument() == "queue_name");
    }
  }
  Queue<email> q{path, "emails", quiet_queue()};
  q.push({1, ""});
  for (const auto lease : {0ms, -5ms}) {
    try {
      (void)q.claim(lease);
      FAIL("must refuse the lease");
    } catch (const durable::invalid_argument_error& e) {
      CHECK(e.argument() == "lease");
    }
  }
  CHECK_THROWS_AS((void)q.claim_batch(0, 1s), durable::invalid_argument_error);
  CHECK_THROWS_AS(q.push({2, ""}, {.unique = true}), durable::invalid_argument_error);
  CHECK_THROWS_AS(q.push({2, ""}, {.delay = -1s}), durable::invalid_argument_error);
  CHECK(q.size() == 1);
}

TEST_CASE("a 16 MiB job round-trips") {
  temp_dir dir;
  Queue<email> q{dir.db("q.db"), "big", quiet_queue()};
  std::string big(16u << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
  q.push({1, big});
  auto c = q.claim(10s);
  REQUIRE(c);
  CHECK(c->job->to == big);
  q.ack(*c);
}

TEST_CASE("stats count pending, scheduled and claimed jobs and the oldest wait") {
  temp_dir dir;
  durable::manual_clock clock;
  Queue<email> q{dir.db("q.db"), "emails", quiet_queue(&clock)};
  q.push({1, ""});
  q.push({2, ""});
  q.push({3, ""}, {.delay = 1min});
  clock.advance(3s);
  auto c = q.claim(10s);
  const auto s = q.stats();
  CHECK(s.pending == 1);
  CHECK(s.scheduled == 1);
  CHECK(s.claimed == 1);
  CHECK(s.oldest_pending_age == 3s);
  CHECK_FALSE(s.capacity_percent);  // no soft limit
  CHECK(q.size() == 3);
  CHECK_FALSE(q.empty());
  auto limited = quiet_queue(&clock);
  limited.soft_limit = 8;
  Queue<email> capped{dir.db("q.db"), "emails", limited};
  REQUIRE(capped.stats().capacity_percent);
  CHECK(*capped.stats().capacity_percent == doctest::Approx(37.5));
}

TEST_CASE("wait_for_push wakes on a push through the same object") {
  temp_dir dir;
  Queue<email> q{dir.db("q.db"), "emails", quiet_queue()};
  const auto seen = q.push_sequence();
  CHECK_FALSE(q.wait_for_push(seen, 1ms));
  std::thread producer{[&] { q.push({1, ""}); }};
  CHECK(q.wait_for_push(seen, 2min));  // returns at the push; long only for slow machines
  producer.join();
}

TEST_CASE("two processes pushing and claiming 10,000 jobs each deliver every job once") {
  temp_dir dir;
  durable_test::check_delivered_once<email>(dir, dir.db("q.db"), 2, 10000);
}

TEST_CASE("8 threads claiming and acking never get the same job twice") {
  temp_dir dir;
  Queue<email> q{dir.db("q.db"), "emails", quiet_queue()};
  constexpr std::int64_t jobs = 4000;
  std::vector<email> batch;
  for (std::int64_t i = 0; i < jobs; ++i) batch.push_back({i, ""});
  q.push_many(batch);
  std::mutex m;
  std::vector<std::int64_t> got;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      std::vector<std::int64_t> mine;
      while (auto c = q.claim(5min)) {
        mine.push_back(c->job->n);
        q.ack(*c);
      }
      std::lock_guard lock{m};
      got.insert(got.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  std::sort(got.begin(), got.end());
  CHECK(got.size() == static_cast<std::size_t>(jobs));
  CHECK(std::adjacent_find(got.begin(), got.end()) == got.end());
  CHECK(q.empty());
}
