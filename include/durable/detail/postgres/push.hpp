// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Push: the paths every job enters a queue by (push, push_many, redrive), with the queue's
/// hard limit and unique keys, and the queue settings they read them from. Part of the
/// PostgreSQL layer.
///
/// Two paths. The fast one is one statement in its own transaction: it inserts every job
/// of a batch unless the queue has a hard limit, and is taken when no job asks for a
/// unique key. The locked one runs in the caller's transaction and takes, in one global
/// order (hard-limited queues by name, then unique keys by hash), the locks that make its
/// checks exact while other sessions push: the queue's row in durable_queues (FOR UPDATE),
/// and a transaction-level advisory lock per unique key. Each check then runs in a later
/// statement, whose snapshot sees everything committed before the lock was granted. Both
/// paths add what they inserted to the queues' job counters (counters.hpp) in the same
/// transaction: the fast one in its statement, the locked one last, by count().
///
/// A sequential job always takes the locked path, which then also locks durable_jobs IN
/// SHARE ROW EXCLUSIVE MODE before it inserts: it waits for every transaction writing
/// jobs to end and holds off new writers until it commits. So every job with a lower id
/// committed before the sequential job, and every job with a higher id commits after it:
/// ids follow commit order around sequential jobs, which the barrier of the claim
/// statements (claim.hpp) relies on. Identity values alone do not (a session may draw a
/// lower id and commit later). The lock costs the pushes of sequential jobs only, and
/// holds every queue's writers for that one short transaction.

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "durable/detail/fnv1a.hpp"
#include "durable/detail/postgres/connection.hpp"
#include "durable/detail/postgres/counters.hpp"
#include "durable/detail/postgres/values.hpp"
#include "durable/exceptions.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::postgres {

/// Longest text key PostgreSQL stores, in bytes. A key is a column of btree indexes (the
/// queue's and the DLQ's, with the queue or DLQ name and three more columns), and a btree
/// row holds at most 2704 bytes: a longer key could be pushed but its job never moved to a
/// dead-letter queue. 2048 leaves room for the longest names.
inline constexpr std::size_t max_text_key_bytes = 2048;

/// Throws invalid_argument_error unless a text key can be stored (valid UTF-8, no NUL, at
/// most max_text_key_bytes).
inline void check_key(const job_key* key) {
  if (key == nullptr) return;
  const auto* text = std::get_if<std::string>(key);
  if (text == nullptr) return;
  if (text->size() > max_text_key_bytes) {
    throw invalid_argument_error(
        "key",
        fmt::format("durable: invalid argument: the text key {:?}... is {} bytes long; "
                    "PostgreSQL keys hold at most {} bytes (they are indexed); use a "
                    "shorter key or a hash of it; nothing was stored",
                    std::string_view{*text}.substr(0, 64), text->size(), max_text_key_bytes));
  }
  if (is_storable_text(*text)) return;
  throw invalid_argument_error(
      "key", fmt::format("durable: invalid argument: the text key {:?} cannot be stored in "
                         "PostgreSQL: it must be valid UTF-8 without NUL bytes; nothing was "
                         "stored",
                         std::string_view{*text}.substr(0, 64)));
}

/// Stores `settings` for `queue`.
inline void configure_queue(connection& c, std::string_view queue,
                            const storage::queue_settings& settings) {
  c.query(
      "INSERT INTO durable_queues (name, hard_limit, soft_limit) VALUES ($1, $2, $3) "
      "ON CONFLICT (name) DO UPDATE SET hard_limit = EXCLUDED.hard_limit, "
      "soft_limit = EXCLUDED.soft_limit",
      queue, settings.hard_limit, settings.soft_limit);
}

/// The stored settings of `queue`.
[[nodiscard]] inline storage::queue_settings queue_settings(connection& c, std::string_view queue) {
  const auto r =
      c.query("SELECT hard_limit, soft_limit FROM durable_queues WHERE name = $1", queue);
  storage::queue_settings s;
  if (r.rows() == 1) {
    if (!r.is_null(0, 0)) s.hard_limit = r.int64(0, 0);
    if (!r.is_null(0, 1)) s.soft_limit = r.int64(0, 1);
  }
  return s;
}

/// The id of a job in `queue` with `key` (pending or claimed), if there is one.
[[nodiscard]] inline std::optional<job_id> find_by_key(connection& c, std::string_view queue,
                                                       const job_key& key) {
  const auto r = std::holds_alternative<std::int64_t>(key)
                     ? c.query(
                           "SELECT id FROM durable_jobs WHERE queue = $1 AND key_int = $2 "
                           "LIMIT 1",
                           queue, std::get<std::int64_t>(key))
                     : c.query(
                           "SELECT id FROM durable_jobs WHERE queue = $1 AND key_text = $2 "
                           "LIMIT 1",
                           queue, std::get<std::string>(key));
  if (r.rows() == 0) return std::nullopt;
  return r.int64(0, 0);
}

/// The columns every insert into durable_jobs writes, in this order.
inline constexpr std::string_view job_columns =
    "queue, key_int, key_text, priority, run_at, enqueued_at, sequential, attempts, codec, "
    "fingerprint, payload, history, max_attempts, unique_key, timeout_ms";

/// Adds `job`'s values ($n .. $n+14, in job_columns order) to `p`; `unique` is stored as given.
inline void add_job(params& p, const storage::new_job& job, bool unique) {
  p.add(job.queue);
  p.add_key(job.key);
  add_all(p, job.priority, job.run_at_ms, job.enqueued_at_ms, job.sequential, job.attempts,
          job.codec, job.fingerprint, job.payload);
  if (job.history_json.empty()) {
    p.add_null(oid::text);
  } else {
    p.add(job.history_json);
  }
  add_all(p, job.max_attempts, unique, job.timeout_ms);
}

/// Inserts `job` as it is; returns its id. For the locked path.
inline job_id insert_job(connection& c, const storage::new_job& job) {
  static const std::string sql = fmt::format(
      "INSERT INTO durable_jobs ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
      "$12::jsonb, $13, $14, $15) RETURNING id",
      job_columns);
  params p;
  add_job(p, job, job.unique && job.key != nullptr);
  return c.run(sql, p).int64(0, 0);
}

/// `insert_sql` (an INSERT INTO durable_jobs without RETURNING) as one statement that
/// also counts what it inserted and returns the new ids.
[[nodiscard]] inline std::string counted_job_insert(std::string_view insert_sql) {
  return fmt::format("WITH i AS ({} RETURNING id, queue), k AS ({}) SELECT id FROM i", insert_sql,
                     add_job_counts_sql("SELECT queue, count(*) FROM i GROUP BY queue"));
}

/// The fast path's statement for one job: its values as $1..$15 in job_columns order;
/// inserts nothing when the queue has a hard limit.
[[nodiscard]] inline const std::string& insert_one_sql() {
  static const std::string sql = counted_job_insert(fmt::format(
      "INSERT INTO durable_jobs ({}) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
      "$12::jsonb, $13, $14, $15 WHERE NOT EXISTS (SELECT 1 FROM durable_queues WHERE name = $1 "
      "AND hard_limit IS NOT NULL)",
      job_columns));
  return sql;
}

/// The fast path's statement for a batch: $1 the queue, $2..$14 one array per column
/// (key_int, key_text, priority, run_at, enqueued_at, sequential, attempts, codec,
/// fingerprint, payload, history, max_attempts, timeout_ms); inserts nothing when the
/// queue has a hard limit.
[[nodiscard]] inline const std::string& insert_many_sql() {
  static const std::string sql = counted_job_insert(fmt::format(
      "INSERT INTO durable_jobs ({}) SELECT $1, k_int, k_text, prio, run_at, enq, seq, att, codec, "
      "fp, payload, hist::jsonb, max_att, false, timeout FROM unnest($2::int8[], $3::text[], "
      "$4::int8[], $5::int8[], $6::int8[], $7::bool[], $8::int8[], $9::text[], $10::int8[], "
      "$11::bytea[], $12::text[], $13::int8[], $14::int8[]) AS t(k_int, k_text, prio, run_at, "
      "enq, seq, att, codec, fp, payload, hist, max_att, timeout) WHERE NOT EXISTS (SELECT 1 FROM "
      "durable_queues WHERE name = $1 "
      "AND hard_limit IS NOT NULL)",
      job_columns));
  return sql;
}

/// The fast path: inserts `jobs` (all of one queue, none unique) in one statement unless
/// the queue has a hard limit. Returns their ids in order, or nothing (and stores nothing)
/// when the queue has a hard limit.
[[nodiscard]] inline std::optional<std::vector<job_id>> insert_unlimited(
    connection& c, std::span<const storage::new_job> jobs) {
  const auto& one = insert_one_sql();
  const auto& many = insert_many_sql();
  std::vector<job_id> ids;
  ids.reserve(jobs.size());
  if (jobs.size() == 1) {
    params p;
    add_job(p, jobs.front(), false);
    const auto r = c.run(one, p);
    if (r.rows() == 0) return std::nullopt;
    ids.push_back(r.int64(0, 0));
    return ids;
  }
  params p;
  p.add(jobs.front().queue);
  const auto n = jobs.size();
  const auto ints = [&](auto field) {
    p.add_array(oid::int8_array, oid::int8, n, [&](std::size_t i, std::string& out) {
      const std::optional<std::int64_t> v = field(jobs[i]);
      if (v) put_int8(out, *v);
      return v.has_value();
    });
  };
  const auto texts = [&](auto field) {
    p.add_array(oid::text_array, oid::text, n, [&](std::size_t i, std::string& out) {
      const std::optional<std::string_view> v = field(jobs[i]);
      if (v) out.append(*v);
      return v.has_value();
    });
  };
  using job = storage::new_job;
  ints([](const job& j) -> std::optional<std::int64_t> {
    if (j.key == nullptr || !std::holds_alternative<std::int64_t>(*j.key)) return std::nullopt;
    return std::get<std::int64_t>(*j.key);
  });
  texts([](const job& j) -> std::optional<std::string_view> {
    if (j.key == nullptr || !std::holds_alternative<std::string>(*j.key)) return std::nullopt;
    return std::get<std::string>(*j.key);
  });
  ints([](const job& j) -> std::optional<std::int64_t> { return j.priority; });
  ints([](const job& j) -> std::optional<std::int64_t> { return j.run_at_ms; });
  ints([](const job& j) -> std::optional<std::int64_t> { return j.enqueued_at_ms; });
  p.add_array(oid::bool_array, oid::boolean, n, [&](std::size_t i, std::string& out) {
    out += jobs[i].sequential ? '\1' : '\0';
    return true;
  });
  ints([](const job& j) -> std::optional<std::int64_t> { return j.attempts; });
  texts([](const job& j) -> std::optional<std::string_view> { return j.codec; });
  ints([](const job& j) -> std::optional<std::int64_t> {
    return static_cast<std::int64_t>(j.fingerprint);
  });
  p.add_array(oid::bytea_array, oid::bytea, n, [&](std::size_t i, std::string& out) {
    const auto b = jobs[i].payload;
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): bytes into a byte string
    out.append(reinterpret_cast<const char*>(b.data()), b.size());
    return true;
  });
  texts([](const job& j) -> std::optional<std::string_view> {
    if (j.history_json.empty()) return std::nullopt;
    return j.history_json;
  });
  ints([](const job& j) -> std::optional<std::int64_t> { return j.max_attempts; });
  ints([](const job& j) { return j.timeout_ms; });
  const auto r = c.run(many, p);
  if (r.rows() == 0) return std::nullopt;
  for (int i = 0; i < r.rows(); ++i) ids.push_back(r.int64(i, 0));
  // Identity values are drawn in insertion order, which is the order of the arrays.
  std::sort(ids.begin(), ids.end());
  return ids;
}

/// The advisory lock id of unique key `key` of `queue`.
[[nodiscard]] inline std::int64_t key_lock(std::string_view queue, const job_key& key) {
  fnv1a_64_hasher h;
  h.put("durable.key");
  h.put(queue);
  if (const auto* i = std::get_if<std::int64_t>(&key)) {
    h.put(std::string_view{"\0i", 2});
    h.put_number(static_cast<std::uint64_t>(*i));
    h.put(*i < 0 ? "-" : "+");
  } else {
    h.put(std::string_view{"\0s", 2});
    h.put(std::get<std::string>(key));
  }
  return static_cast<std::int64_t>(h.value());
}

/// The locked path: pushes jobs one by one through the limits of their queues, in the
/// caller's transaction. A unique key already queued gives `duplicate`, a queue at its hard
/// limit gives `full`. Call lock() first with every job the transaction will push.
class push_path {
 public:
  explicit push_path(connection& c) : c_(c) {}

  /// Takes the locks pushing `jobs` needs, in the global order (see the file comment).
  void lock(std::span<const storage::new_job> jobs) {
    std::vector<std::string_view> queues;
    std::vector<std::int64_t> keys;
    for (const auto& job : jobs) {
      queues.push_back(job.queue);
      if (job.unique && job.key != nullptr) keys.push_back(key_lock(job.queue, *job.key));
    }
    std::sort(queues.begin(), queues.end());
    queues.erase(std::unique(queues.begin(), queues.end()), queues.end());
    for (const auto queue : queues) limit_of(queue);
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    if (!keys.empty()) {
      params p;
      p.add_array(oid::int8_array, oid::int8, keys.size(), [&](std::size_t i, std::string& out) {
        put_int8(out, keys[i]);
        return true;
      });
      c_.run("SELECT pg_advisory_xact_lock(k) FROM unnest($1::int8[]) WITH ORDINALITY AS u(k, n)",
             p);
    }
    // Last: a transaction holding this waits for nothing but counters (see the file comment).
    if (std::any_of(jobs.begin(), jobs.end(), [](const auto& j) { return j.sequential; })) {
      c_.query("LOCK TABLE durable_jobs IN SHARE ROW EXCLUSIVE MODE");
    }
  }

  storage::pushed push(const storage::new_job& job) {
    if (job.unique && job.key != nullptr) {
      if (auto existing = find_by_key(c_, job.queue, *job.key)) {
        return {*existing, storage::push_status::duplicate};
      }
    }
    auto& limit = limit_of(job.queue);
    if (limit.hard && limit.size >= *limit.hard) return {0, storage::push_status::full};
    const auto id = insert_job(c_, job);
    if (limit.hard) ++limit.size;
    add_change(added_, job.queue, 1);
    return {id, storage::push_status::created};
  }

  /// Adds the pushed jobs to the queues' counters: the transaction's last job change.
  void count() {
    add_jobs(c_, added_);
    added_.clear();
  }

 private:
  struct queue_limit {
    std::string queue;
    std::optional<std::int64_t> hard;
    std::int64_t size = 0;
  };

  queue_limit& limit_of(std::string_view queue) {
    for (auto& l : limits_) {
      if (l.queue == queue) return l;
    }
    const auto r = c_.query(
        "SELECT hard_limit FROM durable_queues WHERE name = $1 AND hard_limit IS NOT NULL "
        "FOR UPDATE",
        queue);
    queue_limit l{std::string{queue}, std::nullopt, 0};
    if (r.rows() == 1) {
      l.hard = r.int64(0, 0);
      l.size = count_all(c_, queue);  // a later statement: sees what the lock waited for
    }
    limits_.push_back(std::move(l));
    return limits_.back();
  }

  connection& c_;
  std::vector<queue_limit> limits_;
  count_changes added_;
};

}  // namespace durable::inline v0::detail::postgres
