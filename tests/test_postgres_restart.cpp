// SPDX-License-Identifier: MIT
// The PostgreSQL server restarted (`pg_ctl restart -m fast`) in the middle of a run: a call
// in flight fails with connection_error, the next call reconnects, an idle Worker's
// LISTEN connection comes back, and nothing committed is lost, while two other processes
// push, claim and ack throughout.
//
// It needs the server's pg_ctl and data directory: $DURABLE_TEST_PG_CTL and
// $DURABLE_TEST_PGDATA (scripts/test.sh sets both for the server it starts). Without them
// the test fails, like every PostgreSQL test without a server: CI never skips it. Against a
// server of your own that you cannot restart, exclude it: ctest -E postgres/restart.
// It restarts the server under every other test, so CTest runs it alone (RUN_SERIAL).

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <set>
#include <string>
#include <thread>

#include <durable/dead_letter_queue.hpp>
#include <durable/postgres.hpp>
#include <durable/queue.hpp>
#include <durable/worker.hpp>

#include "churn_support.hpp"
#include "postgres_support.hpp"
#include "quiet_options.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using durable::Queue;
using durable_test::raw_connection;
using durable_test::temp_dir;

namespace {

struct note {
  std::int64_t n = 0;
};

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

/// Waits, up to `limit`, until `done()`; true if it became so.
template <class Done>
bool wait_until(Done&& done, std::chrono::seconds limit = 120s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

}  // namespace

TEST_CASE(
    "restart: calls in flight fail with connection_error, the next ones reconnect, nothing "
    "committed is lost") {
  const auto pg_ctl = env("DURABLE_TEST_PG_CTL");
  const auto pgdata = env("DURABLE_TEST_PGDATA");
  REQUIRE_MESSAGE((!pg_ctl.empty() && !pgdata.empty()),
                  "set DURABLE_TEST_PG_CTL and DURABLE_TEST_PGDATA for the server of "
                  "DURABLE_TEST_POSTGRES (scripts/test.sh does), or exclude this test");
  temp_dir dir;
  const auto t = durable_test::postgres_target(dir.path().filename().string() + "_db");
  { Queue<durable_test::churn_job> create{t, "churn", durable_test::quiet_queue()}; }

  // Two processes churning the "churn" queue throughout; forked before any thread starts.
  durable_test::churners children{t, "churn", 2, 20261125};
  children.spawn();
  auto stopped = children.wait_for(&durable_test::reports::successes, 50, 120s);
  REQUIRE_MESSAGE(stopped.empty(), stopped);

  // An idle Worker: it polls every 10 minutes, so only a notification can wake it.
  Queue<note> woken{t, "woken", durable_test::quiet_queue()};
  durable::DeadLetterQueue<note> dlq{t, "woken.dlq", durable_test::quiet_dlq()};
  std::atomic<std::int64_t> handled{0};
  durable::worker_options wo;
  wo.log = nullptr;
  wo.min_poll_interval = 10min;
  wo.max_poll_interval = 10min;
  durable::Worker<note> worker{woken, dlq, [&](const note&) { ++handled; }, wo};
  worker.start();
  // Another session of this process pushes (its notifications are not the Worker's own).
  Queue<note> pusher{durable::database{durable::make_postgres_backend(t, {})}, "woken",
                     durable_test::quiet_queue()};
  pusher.push({1});
  REQUIRE(wait_until([&] { return handled == 1; }));

  // A call held in flight: a push waiting for a lock another session holds.
  auto held_options = durable_test::quiet_queue();
  held_options.hard_limit = 100;
  held_options.open.busy_timeout = 10min;
  Queue<note> held{t, "held", held_options};
  held.push({0});
  raw_connection holder{t};
  holder.query("BEGIN; SELECT * FROM durable_queues WHERE name = 'held' FOR UPDATE");
  auto in_flight = std::async(std::launch::async, [&] { held.push({1}); });
  raw_connection observer{durable_test::postgres_server()};
  REQUIRE(wait_until([&] {
    return observer.value(
               "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
               "AND query LIKE '%durable_queues%FOR UPDATE%' AND backend_type = "
               "'client backend' AND application_name = 'durable'") != "0";
  }));
  const auto before = children.seen.successes;

  const auto command = "'" + pg_ctl + "' restart -D '" + pgdata + "' -m fast -w -t 120 >/dev/null";
  REQUIRE(std::system(command.c_str()) == 0);

  try {
    in_flight.get();
    FAIL("the call in flight must fail");
  } catch (const durable::connection_error& e) {
    CHECK(std::string{e.what()}.starts_with("durable: postgres: pushing failed on"));
    CHECK(e.target() == t);
  }
  held.push({2});  // the next call reconnects
  CHECK(held.size() == 2);

  // The children reconnect and go on.
  stopped = children.wait_for(&durable_test::reports::successes, before + 50, 120s);
  REQUIRE_MESSAGE(stopped.empty(), stopped);

  // The Worker's LISTEN connection is back: a push wakes it again.
  pusher.push({2});
  CHECK(wait_until([&] { return handled == 2; }));
  CHECK(worker.stop());

  REQUIRE(children.kill_all());
  const auto& seen = children.seen;
  std::set<std::int64_t> stored;
  raw_connection raw{t};
  for (const auto& row : raw.query("SELECT id FROM durable_jobs WHERE queue = 'churn'")) {
    stored.insert(std::stoll(row.at(0)));
  }
  const auto found = durable_test::check_reports(seen, stored);
  CHECK(found.lost == 0);
  CHECK(found.resurrected == 0);
  CHECK(found.wrong_payload == 0);
  CHECK(seen.pushed_twice == 0);
  MESSAGE(seen.lines << " operations around the restart, " << seen.connection_errors
                     << " of them failed with connection_error; pushed " << seen.pushed.size()
                     << ", acked " << seen.acked.size() << ", stored " << stored.size());
}
