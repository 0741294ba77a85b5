// SPDX-License-Identifier: MIT
// Schema migrations on files written the way earlier releases wrote them: the tables made
// by the v1 (and v2) migration steps of this build, filled with raw INSERTs in those
// releases' layout, then opened by the current build, which migrates them in place.

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <durable/database.hpp>
#include <durable/detail/sqlite/schema.hpp>

#include "support.hpp"

using durable_test::temp_dir;
namespace sql = durable::detail::sqlite;
namespace storage = durable::storage;

namespace {

/// Fills a file at schema v1 or v2 as those releases did; returns its database id.
std::string write_old_file(const std::string& path, std::int64_t version) {
  sql::connection c{path, {}};
  sql::migrate(c, std::span{sql::migrations}.first(static_cast<std::size_t>(version)));
  REQUIRE(sql::stored_schema_version(c) == version);
  const auto id = sql::database_id(c);
  sql::write_transaction tx{c};
  c.exec(R"sql(
    INSERT INTO durable_jobs (queue, key, priority, run_at, enqueued_at, attempts, codec,
        fingerprint, payload, history)
      VALUES ('mail', 'k1', 0, 1000, 1000, 1, 'bytes', 7, x'01',
              '[{"attempt":1,"type":"timeout","message":"slow","at":900}]'),
             ('mail', NULL, 5, 2000, 2000, 0, 'bytes', 7, x'02', NULL),
             ('other', 7, 0, 1500, 1500, 0, 'bytes', 7, x'03', NULL),
             ('mail', NULL, 0, 3000, 3000, 0, 'bytes', 7, x'04', NULL);
    DELETE FROM durable_jobs WHERE id = 4;
    INSERT INTO durable_dead_letters (dlq, origin, job_id, queue, key, codec, fingerprint,
        payload, error_type, message, context, history, attempts, enqueued_at, failed_at,
        redriven_at)
      VALUES ('dead', NULL, NULL, 'mail', NULL, 'bytes', 7, x'0a', 'manual', 'by hand', '',
              '[{"attempt":1,"type":"manual","message":"by hand","at":300}]', 1, 300, 300, NULL),
             ('dead', 'elsewhere', 77, 'remote', NULL, 'bytes', 7, x'0b', 'x', 'y', '',
              '[{"attempt":3,"type":"x","message":"y","at":400}]', 3, 400, 400, 450);
  )sql");
  // A job moved from this file: origin is the file's own id, the final failure last.
  c.run(
      "INSERT INTO durable_dead_letters (dlq, origin, job_id, queue, key, codec, fingerprint, "
      "payload, error_type, message, context, history, attempts, enqueued_at, failed_at) "
      "VALUES ('dead', ?1, 10, 'mail', 'k9', 'bytes', 7, x'09', 'http.503', 'down', 'ctx', "
      "'[{\"attempt\":1,\"type\":\"timeout\",\"message\":\"slow\",\"at\":100},"
      "{\"attempt\":2,\"type\":\"http.503\",\"message\":\"down\",\"at\":200}]', 2, 50, 200)",
      id);
  if (version >= 2) {
    c.exec(
        "INSERT INTO durable_queues (name, hard_limit, soft_limit) VALUES ('mail', 10, 8);"
        "UPDATE durable_jobs SET max_attempts = 3, unique_key = 1 WHERE key = 'k1';"
        "UPDATE durable_dead_letters SET redrive_policy = 'safe' WHERE job_id = 10;");
  }
  tx.commit();
  return id;
}

storage::dead_letter_where whole(std::string_view dlq, bool include_redriven) {
  storage::dead_letter_where w;
  w.dlq = dlq;
  w.from_ms = sql::min_ms;
  w.to_ms = sql::max_ms;
  w.include_redriven = include_redriven;
  return w;
}

void check_migrated(const std::string& path, const std::string& database_id,
                    std::int64_t from_version) {
  durable::database db{path};
  auto& s = db.storage();
  {
    sql::connection c{path, {}};
    CHECK(sql::stored_schema_version(c) == sql::migrations.back().version);
    auto check = c.query("PRAGMA integrity_check");
    REQUIRE(check->step());
    CHECK(check->text(0) == "ok");
  }
  CHECK(s.database_id() == database_id);

  // Jobs: counts from the new counters, the claim order and histories kept.
  CHECK(s.size("mail") == 2);
  CHECK(s.size("other") == 1);
  const auto counts = s.count_jobs("mail", 10'000);
  CHECK(counts.pending == 2);
  CHECK(counts.oldest_pending_ms == 1000);
  CHECK(s.has_key("mail", durable::job_key{"k1"}));
  CHECK(s.has_key("other", durable::job_key{std::int64_t{7}}));
  const auto history = s.job_history("mail", 1);
  REQUIRE(history.size() == 1);
  CHECK(history[0].error_type == "timeout");
  storage::claim_request r;
  r.queue = "mail";
  r.now_ms = 10'000;
  r.lease_until_ms = 40'000;
  r.token = 99;
  r.claimer = "test";
  const auto claimed = s.claim(r);
  REQUIRE(claimed.size() == 1);
  CHECK(claimed[0].id == 2);  // priority 5 first
  if (from_version >= 2) {
    CHECK(s.queue_configuration("mail").hard_limit == 10);
    CHECK(s.queue_configuration("mail").soft_limit == 8);
    CHECK(claimed[0].max_attempts == 5);
  }

  // Ids are never reused: job 4 was deleted as the newest row before the migration.
  const std::vector<std::byte> payload{std::byte{5}};
  storage::new_job job;
  job.queue = "mail";
  job.run_at_ms = job.enqueued_at_ms = 5000;
  job.codec = "bytes";
  job.payload = payload;
  const auto pushed = s.push({&job, 1}, storage::push_mode::each);
  CHECK(pushed[0].id == 5);
  CHECK(s.size("mail") == 3);

  // Dead letters: counters, origins, and histories with the final failure once.
  CHECK(s.count_dead_letters(whole("dead", false)) == 2);
  CHECK(s.count_dead_letters(whole("dead", true)) == 3);
  const auto moved = s.dead_letter("dead", 3);
  REQUIRE(moved);
  CHECK(moved->origin == database_id);
  REQUIRE(moved->history.size() == 2);
  CHECK(moved->history[0].error_type == "timeout");
  CHECK(moved->history[1].error_type == "http.503");
  CHECK(moved->history[1].attempt == 2);
  if (from_version >= 2) CHECK(moved->summary.redrive == durable::redrive_policy::safe);
  const auto manual = s.dead_letter("dead", 1);
  REQUIRE(manual);
  CHECK(manual->origin.empty());
  REQUIRE(manual->history.size() == 1);
  CHECK(manual->history[0].error_type == "manual");
  const auto remote = s.dead_letter("dead", 2);
  REQUIRE(remote);
  CHECK(remote->origin == "elsewhere");
  CHECK(remote->summary.redriven_at.has_value());

  // A repeated move from the other file is still recognised (the partial unique index).
  storage::new_dead_letter again;
  again.dlq = "dead";
  again.origin = "elsewhere";
  again.original_id = 77;
  again.queue = "remote";
  again.codec = "bytes";
  again.payload = payload;
  again.failure.error_type = "x";
  again.failure.failed_at_ms = 500;
  const auto added = s.add_dead_letters({&again, 1});
  CHECK(added[0] == std::pair<durable::dead_letter_id, bool>{2, false});

  // The moved entry goes back to its queue with its whole history.
  const std::vector<durable::dead_letter_id> ids{3};
  storage::redrive_request rr;
  rr.dlq = "dead";
  rr.ids = ids;
  rr.now_ms = rr.run_at_ms = 6000;
  const auto redriven = s.redrive(rr);
  REQUIRE(redriven.size() == 1);
  CHECK(redriven[0].status == storage::redrive_status::redriven);
  CHECK(s.job_history("mail", redriven[0].job).size() == 2);
  CHECK(s.count_dead_letters(whole("dead", false)) == 1);

  // Job types (v4, v5): none recorded yet; a typed claim takes only its own type's rows.
  CHECK(s.job_types().empty());
  s.record_job_type("bytes", 7, "seven", 7000);
  s.record_job_type("bytes", 7, "other description", 8000);  // recorded already: no change
  const auto types = s.job_types();
  REQUIRE(types.size() == 1);
  CHECK(types[0].description == "seven");
  CHECK(types[0].recorded_at_ms == 7000);
  r.queue = "other";
  r.codec = "bytes";
  const std::vector<std::uint64_t> eight{8};
  r.fingerprints = eight;
  CHECK(s.claim(r).empty());
  const std::vector<std::uint64_t> seven{7};
  r.fingerprints = seven;
  const auto typed = s.claim(r);
  REQUIRE(typed.size() == 1);
  CHECK(typed[0].id == 3);
}

}  // namespace

TEST_CASE("a file written by the previous release (schema v2) is migrated in place") {
  temp_dir dir;
  const auto path = dir.file("v2.db");
  const auto id = write_old_file(path, 2);
  check_migrated(path, id, 2);
}

TEST_CASE("a schema v1 file is migrated through v2 in place") {
  temp_dir dir;
  const auto path = dir.file("v1.db");
  const auto id = write_old_file(path, 1);
  check_migrated(path, id, 1);
}

TEST_CASE("a schema v3 file gets the Worker's step: timeouts, run times, barriers, status") {
  temp_dir dir;
  const auto path = dir.file("v3.db");
  {
    sql::connection c{path, {}};
    sql::migrate(c, std::span{sql::migrations}.first(3));
    REQUIRE(sql::stored_schema_version(c) == 3);
    sql::write_transaction tx{c};
    c.exec(R"sql(
      INSERT INTO durable_queues (id, name, jobs) VALUES (1, 'mail', 3);
      INSERT INTO durable_jobs (id, queue_id, run_at, enqueued_at, sequential, codec,
          fingerprint, payload)
        VALUES (1, 1, 1000, 1000, 0, 'bytes', 7, x'01'),
               (2, 1, 1000, 1000, 1, 'bytes', 7, x'02'),
               (3, 1, 1000, 1000, 0, 'bytes', 7, x'03');
      INSERT INTO durable_dead_letter_queues (id, name, entries) VALUES (1, 'dead', 1);
      INSERT INTO durable_dead_letters (id, dlq_id, failed_at, error_type, message, attempts,
          enqueued_at, queue, job_id, origin, codec, fingerprint, payload)
        VALUES (1, 1, 900, 'x', 'y', 2, 500, 'mail', 9, NULL, 'bytes', 7, x'09');
    )sql");
    tx.commit();
  }
  durable::database db{path};
  auto& s = db.storage();
  {
    sql::connection c{path, {}};
    CHECK(sql::stored_schema_version(c) == sql::migrations.back().version);
  }
  // The job moved before the step is found through the new index.
  const auto moved = s.job_status("mail", 9, 10'000);
  CHECK(moved.state == durable::job_state::dead_lettered);
  CHECK(moved.dlq == "dead");
  CHECK(moved.entry == 1);
  // Old jobs have no timeout; the sequential job 2 waits for job 1, and job 3 for it.
  storage::claim_request r;
  r.queue = "mail";
  r.now_ms = 10'000;
  r.lease_until_ms = 40'000;
  r.token = 1;
  r.claimer = "test";
  const auto first = s.claim(r);
  REQUIRE(first.size() == 1);
  CHECK(first[0].id == 1);
  CHECK_FALSE(first[0].timeout_ms);
  CHECK(first[0].first_run_at_ms == 10'000);
  CHECK(first[0].ready_at_ms == 1000);
  r.token = 2;
  CHECK(s.claim(r).empty());
  CHECK(s.ack({"mail", 1, 1}));
  const auto barrier = s.claim(r);
  REQUIRE(barrier.size() == 1);
  CHECK(barrier[0].id == 2);
}
