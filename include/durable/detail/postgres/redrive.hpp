// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Redrive: putting dead-lettered jobs back on a queue of the same database through the
/// locked push path (hard limit, unique keys) and marking the entries, in one transaction.
/// The entries are read FOR UPDATE first, so two redrives of one entry, from any host,
/// take turns and the second finds it redriven: each entry is redriven once. Part of the
/// PostgreSQL layer.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "durable/detail/postgres/connection.hpp"
#include "durable/detail/postgres/counters.hpp"
#include "durable/detail/postgres/push.hpp"
#include "durable/detail/postgres/values.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::postgres {

/// Adds `ids` to `p` as one int8[] parameter.
inline void add_id_array(params& p, std::span<const dead_letter_id> ids) {
  p.add_array(oid::int8_array, oid::int8, ids.size(), [&](std::size_t i, std::string& out) {
    put_int8(out, ids[i]);
    return true;
  });
}

/// Marks entries `ids` of `dlq` redriven at `at_ms`; returns how many were not marked yet.
inline std::int64_t mark_redriven(connection& c, std::string_view dlq,
                                  std::span<const dead_letter_id> ids, std::int64_t at_ms) {
  params p;
  add_id_array(p, ids);
  add_all(p, dlq, at_ms);
  static const std::string sql =
      "WITH u AS (UPDATE durable_dead_letters SET redriven_at = $3 "
      "WHERE id = ANY($1) AND dlq = $2 AND redriven_at IS NULL RETURNING dlq), k AS (" +
      add_dead_letter_counts_sql("SELECT dlq, 0::int8, count(*) FROM u GROUP BY dlq") +
      ") SELECT count(*) FROM u";
  return c.run(sql, p).int64(0, 0);
}

/// An entry as a redrive reads it.
struct redrive_entry {
  std::optional<std::string> origin;
  std::string queue;
  std::optional<job_key> key;
  int priority = 0;
  bool sequential = false;
  std::string codec;
  std::uint64_t fingerprint = 0;
  std::vector<std::byte> payload;
  std::string history;
  std::int64_t enqueued_at_ms = 0;
  bool unique = false;
  std::int64_t max_attempts = 0;
  redrive_policy policy = redrive_policy::optional;
  std::optional<std::int64_t> timeout_ms;
};

/// Reads and locks the entries `ids` of `dlq` that are not redriven yet, by id.
[[nodiscard]] inline std::map<dead_letter_id, redrive_entry> lock_entries(
    connection& c, std::string_view dlq, std::span<const dead_letter_id> ids) {
  params p;
  add_id_array(p, ids);
  p.add(dlq);
  const auto r = c.run(
      "SELECT id, origin, queue, key_int, key_text, priority, sequential, codec, fingerprint, "
      "payload, history::text, enqueued_at, unique_key, max_attempts, redrive_policy, timeout_ms "
      "FROM durable_dead_letters WHERE id = ANY($1) AND dlq = $2 AND redriven_at IS NULL "
      "ORDER BY id FOR UPDATE",
      p);
  std::map<dead_letter_id, redrive_entry> out;
  for (int i = 0; i < r.rows(); ++i) {
    redrive_entry e;
    if (!r.is_null(i, 1)) e.origin = std::string{r.text(i, 1)};
    e.queue = std::string{r.text(i, 2)};
    e.key = r.key(i, 3);
    e.priority = static_cast<int>(r.int64(i, 5));
    e.sequential = r.boolean(i, 6);
    e.codec = std::string{r.text(i, 7)};
    e.fingerprint = static_cast<std::uint64_t>(r.int64(i, 8));
    e.payload = r.owned_bytes(i, 9);
    e.history = r.text_or_empty(i, 10);
    e.enqueued_at_ms = r.int64(i, 11);
    e.unique = r.boolean(i, 12);
    e.max_attempts = r.int64(i, 13);
    e.policy = r.policy(i, 14);
    e.timeout_ms = r.optional_int64(i, 15);
    out.emplace(r.int64(i, 0), std::move(e));
  }
  return out;
}

/// The queue entry `e` may be redriven into, or none, with the reason in `o.status`
/// (not_redrivable, no_target).
[[nodiscard]] inline std::optional<std::string_view> redrive_queue_of(
    const redrive_entry& e, const storage::redrive_request& r, std::string_view database_id,
    storage::redriven_entry& o) {
  if (!r.force && e.policy == redrive_policy::never) {
    o.status = storage::redrive_status::not_redrivable;
    return std::nullopt;
  }
  if (r.queue) return *r.queue;
  const bool foreign = e.origin && *e.origin != database_id;
  if (foreign || e.queue.empty()) {
    o.status = storage::redrive_status::no_target;
    return std::nullopt;
  }
  return e.queue;
}

/// Entry `e` as a job of `queue` running at `run_at_ms` (pointing into `e`).
[[nodiscard]] inline storage::new_job redriven_job(const redrive_entry& e, std::string_view queue,
                                                   std::int64_t run_at_ms) {
  storage::new_job job;
  job.queue = queue;
  job.key = e.key ? &*e.key : nullptr;
  job.unique = e.unique;
  job.priority = e.priority;
  job.run_at_ms = run_at_ms;
  job.enqueued_at_ms = e.enqueued_at_ms;
  job.sequential = e.sequential;
  job.max_attempts = e.max_attempts;
  job.codec = e.codec;
  job.fingerprint = e.fingerprint;
  job.payload = e.payload;
  job.history_json = e.history;
  job.timeout_ms = e.timeout_ms;
  return job;
}

/// Redrives `r.ids` of `r.dlq` into queues of this database in the caller's transaction:
/// checks, then the locked push path, then one mark of every redriven entry. One result
/// per id, in order; an id given twice is redriven once.
[[nodiscard]] inline std::vector<storage::redriven_entry> redrive_entries(
    connection& c, const storage::redrive_request& r, std::string_view database_id) {
  auto entries = lock_entries(c, r.dlq, r.ids);
  std::vector<storage::redriven_entry> out(r.ids.size());
  std::vector<storage::new_job> jobs;
  std::vector<std::size_t> job_of;  // index into out, per job
  jobs.reserve(r.ids.size());
  for (std::size_t i = 0; i < r.ids.size(); ++i) {
    auto& o = out[i];
    o.id = r.ids[i];
    o.status = storage::redrive_status::gone;
    const auto it = entries.find(r.ids[i]);
    if (it == entries.end()) continue;
    const auto queue = redrive_queue_of(it->second, r, database_id, o);
    if (!queue) continue;
    jobs.push_back(redriven_job(it->second, *queue, r.run_at_ms));
    job_of.push_back(i);
  }
  push_path path{c};
  path.lock(jobs);
  std::vector<dead_letter_id> redriven;
  std::set<dead_letter_id> done;
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    auto& o = out[job_of[j]];
    if (done.contains(o.id)) continue;  // given twice: redriven by its first occurrence
    const auto pushed = path.push(jobs[j]);
    o.job = pushed.id;
    switch (pushed.status) {
      case storage::push_status::created:
        o.status = storage::redrive_status::redriven;
        o.queue = jobs[j].queue;
        redriven.push_back(o.id);
        done.insert(o.id);
        break;
      case storage::push_status::duplicate: o.status = storage::redrive_status::duplicate; break;
      case storage::push_status::full: o.status = storage::redrive_status::full; break;
    }
  }
  path.count();  // queue counters before the DLQ's (counters.hpp)
  if (!redriven.empty()) mark_redriven(c, r.dlq, redriven, r.now_ms);
  return out;
}

}  // namespace durable::inline v0::detail::postgres
