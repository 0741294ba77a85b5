// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Redrive on bytes: putting dead-lettered jobs back on a queue through the one push
/// path (hard limit, unique keys), applying each entry's stored redrive policy, each
/// entry once. Within one database each batch is one transaction; across two, the jobs
/// are pushed and committed first, then the entries marked (a crash in between can push
/// a job once more on the next redrive; it never loses one).

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <set>
#include <span>
#include <string_view>
#include <vector>

#include "durable/dead_letter.hpp"
#include "durable/detail/engine/dead_letter_engine.hpp"
#include "durable/detail/engine/queue_engine.hpp"
#include "durable/detail/json.hpp"
#include "durable/exceptions.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail {

/// Where a redrive puts jobs and what it checks.
struct redrive_target {
  /// The target queue; null: each entry's source queue in the DLQ's database.
  queue_engine* queue = nullptr;
  redrive_options options{};
  /// Why an entry's job cannot be decoded by the typed layer (another type, or bytes that
  /// do not decode); empty when it can. Such entries stay, counted `incompatible`. Null:
  /// any entry moves (tools without the C++ type).
  std::function<std::string(const storage::dead_letter_row&)> undecodable{};
  /// Report what the redrive would do and change nothing (each batch is rolled back).
  /// Only within one database.
  bool dry_run = false;
};

[[nodiscard]] inline redrive_outcome to_outcome(storage::redrive_status s) noexcept {
  switch (s) {
    case storage::redrive_status::redriven: return redrive_outcome::redriven;
    case storage::redrive_status::gone: return redrive_outcome::gone;
    case storage::redrive_status::no_target: return redrive_outcome::no_target;
    case storage::redrive_status::not_redrivable: return redrive_outcome::not_redrivable;
    case storage::redrive_status::duplicate: return redrive_outcome::already_queued;
    case storage::redrive_status::full: return redrive_outcome::queue_full;
  }
  return redrive_outcome::gone;
}

/// Redrives one batch into a queue of another database: push (each job on its own
/// under the hard limit), then mark the pushed entries.
inline std::vector<storage::redriven_entry> redrive_across(dead_letter_engine& dlq,
                                                           std::span<const dead_letter_id> ids,
                                                           const storage::redrive_request& r,
                                                           queue_engine& queue) {
  std::vector<storage::redriven_entry> out;
  std::vector<storage::dead_letter_row> rows;
  std::vector<storage::new_job> jobs;
  std::vector<std::size_t> pushed_at;  // index in `out` of each job
  rows.reserve(ids.size());
  for (const auto id : ids) {
    storage::redriven_entry e{.id = id};
    auto row = dlq.storage().dead_letter(r.dlq, id);
    if (row && !row->summary.redriven_at) {
      if (!r.force && row->summary.redrive == redrive_policy::never) {
        e.status = storage::redrive_status::not_redrivable;
      } else {
        pushed_at.push_back(out.size());
        rows.push_back(std::move(*row));
      }
    }
    out.push_back(std::move(e));
  }
  std::vector<std::string> histories;
  histories.reserve(rows.size());
  for (const auto& row : rows) {
    copy_job_type(dlq.storage(), queue.db().storage(), row.codec, row.fingerprint, r.now_ms);
    histories.push_back(history_json(row.history));
    storage::new_job job;
    job.queue = queue.name();
    job.key = row.summary.key ? &*row.summary.key : nullptr;
    job.unique = row.unique;
    job.priority = row.priority;
    job.run_at_ms = r.run_at_ms;
    job.enqueued_at_ms = to_unix_ms(row.summary.enqueued_at);
    job.sequential = row.sequential;
    job.max_attempts = row.max_attempts;
    job.timeout_ms = row.timeout_ms;
    job.codec = row.codec;
    job.fingerprint = row.fingerprint;
    job.payload = row.payload;
    job.history_json = histories.back();
    jobs.push_back(job);
  }
  if (jobs.empty()) return out;
  const auto pushed = queue.db().storage().push(jobs, storage::push_mode::each);
  std::vector<dead_letter_id> to_mark;
  for (std::size_t i = 0; i < pushed.size(); ++i) {
    auto& e = out[pushed_at[i]];
    e.job = pushed[i].id;
    switch (pushed[i].status) {
      case storage::push_status::created:
        e.status = storage::redrive_status::redriven;
        e.queue = queue.name();
        to_mark.push_back(e.id);
        break;
      case storage::push_status::duplicate: e.status = storage::redrive_status::duplicate; break;
      case storage::push_status::full: e.status = storage::redrive_status::full; break;
    }
  }
  if (!to_mark.empty()) dlq.storage().mark_redriven(r.dlq, to_mark, r.now_ms);
  return out;
}

/// Adds `e` to `result`'s entries and counts; returns its outcome.
inline redrive_outcome tally(redrive_result& result, const storage::redriven_entry& e) {
  const auto outcome = to_outcome(e.status);
  result.entries.push_back({e.id, outcome, e.job});
  switch (outcome) {
    case redrive_outcome::redriven:
      ++result.redriven;
      result.jobs.push_back(e.job);
      break;
    case redrive_outcome::gone: break;
    case redrive_outcome::incompatible: ++result.skipped_incompatible; break;
    case redrive_outcome::no_target: ++result.skipped_no_target; break;
    case redrive_outcome::not_redrivable: ++result.skipped_not_redrivable; break;
    case redrive_outcome::already_queued: ++result.skipped_already_queued; break;
    case redrive_outcome::queue_full: ++result.skipped_queue_full; break;
  }
  return outcome;
}

/// Wakes this process's waiters on the queues `entries` were redriven into.
inline void wake_waiters(dead_letter_engine& dlq, const redrive_target& target,
                         const std::vector<storage::redriven_entry>& entries) {
  const auto redriven = [](const storage::redriven_entry& e) {
    return e.status == storage::redrive_status::redriven;
  };
  if (target.queue != nullptr) {
    const auto pushed = std::ranges::count_if(entries, redriven);
    if (pushed > 0) {
      target.queue->refresh_types();  // the entries' types may be new to it
      target.queue->after_push(pushed);
    }
    return;
  }
  std::set<std::string_view> woken;  // each entry's own queue
  for (const auto& e : entries) {
    if (redriven(e) && woken.insert(e.queue).second) dlq.db().state().notify_push(e.queue);
  }
}

/// The ids of `batch` whose job the typed layer decodes; the others are counted in
/// `result` as incompatible (they stay in the DLQ).
inline std::vector<dead_letter_id> keep_decodable(dead_letter_engine& dlq,
                                                  std::span<const dead_letter_id> batch,
                                                  const redrive_target& target,
                                                  redrive_result& result) {
  std::vector<dead_letter_id> decodable;
  for (const auto id : batch) {
    const auto row = dlq.get(id);
    if (row && !row->summary.redriven_at && !target.undecodable(*row).empty()) {
      result.entries.push_back({id, redrive_outcome::incompatible, 0});
      ++result.skipped_incompatible;
    } else {
      decodable.push_back(id);
    }
  }
  return decodable;
}

/// Redrives `ids` of `dlq` in batches of 1,000 (one transaction each within one database).
inline redrive_result redrive(dead_letter_engine& dlq, std::span<const dead_letter_id> ids,
                              const redrive_target& target) {
  check_not_negative("redrive_options::delay", target.options.delay);
  constexpr std::size_t batch_size = 1000;
  const bool across = target.queue != nullptr && !same_database(*target.queue, dlq);
  if (across && target.dry_run) {
    throw invalid_argument_error(
        "dry_run",
        "durable: invalid argument: a dry-run redrive works only into a queue of "
        "the dead-letter queue's own database");
  }
  redrive_result result;
  for (std::size_t start = 0; start < ids.size(); start += batch_size) {
    auto batch = ids.subspan(start, std::min(batch_size, ids.size() - start));
    std::vector<dead_letter_id> decodable;
    if (target.undecodable) {  // entries whose job the typed layer cannot decode stay
      decodable = keep_decodable(dlq, batch, target, result);
      batch = decodable;
      if (batch.empty()) continue;
    }
    const auto now = dlq.now_ms();
    storage::redrive_request r;
    r.dlq = dlq.name();
    r.ids = batch;
    if (target.queue != nullptr) r.queue = target.queue->name();
    r.now_ms = now;
    r.run_at_ms = add_ms(now, target.options.delay);
    r.force = target.options.force;
    r.dry_run = target.dry_run;
    const auto entries =
        across ? redrive_across(dlq, batch, r, *target.queue) : dlq.storage().redrive(r);
    for (const auto& e : entries) tally(result, e);
    if (!target.dry_run) wake_waiters(dlq, target, entries);  // a dry run pushed nothing
  }
  return result;
}

}  // namespace durable::inline v0::detail
