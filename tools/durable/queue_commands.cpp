// SPDX-License-Identifier: MIT
// durable stats, queues, jobs, job, job cancel, queue pause|resume, migrate.

#include <fmt/format.h>

#include <cstdio>
#include <optional>
#include <string>
#include <variant>

#include <durable/detail/names.hpp>
#include <durable/detail/sqlite/schema.hpp>

#include "commands.hpp"
#include "errors.hpp"
#include "output.hpp"
#include "text.hpp"

namespace durable_cli {

namespace {

using durable::storage::job_row;
using durable::storage::job_state;
using nlohmann::json;

std::string state_name(const job_row& job, std::int64_t now_ms) {
  if (job.run_at_ms <= now_ms) return "pending";
  return job.leased ? "claimed" : "scheduled";
}

std::string optional_number(const std::optional<std::int64_t>& n) {
  return n ? std::to_string(*n) : "-";
}

/// The share of `size` in the hard limit (or the soft one without a hard one), or "-".
std::string used(std::int64_t size, const durable::storage::queue_settings& s) {
  const auto limit = s.hard_limit ? s.hard_limit : s.soft_limit;
  if (!limit || *limit <= 0) return "-";
  return fmt::format("{:.1f} %", 100.0 * static_cast<double>(size) / static_cast<double>(*limit));
}

void require_queue(durable::storage::backend& storage, const context& ctx,
                   const std::string& queue) {
  durable::detail::validate_name("queue", queue);
  for (const auto& q : storage.list_queues(ctx.now_ms)) {
    if (q.name == queue) return;
  }
  throw failure(fmt::format(
      "durable: unknown queue \"{}\" in \"{}\": it has no jobs and no settings; `durable queues "
      "{}` lists the queues",
      queue, storage.target(), ctx.target));
}

void queue_table(const context& ctx, const std::vector<durable::storage::queue_info>& queues) {
  table t{{{"QUEUE"},
           {"PENDING", align::right},
           {"SCHEDULED", align::right},
           {"CLAIMED", align::right},
           {"OLDEST PENDING"},
           {"SOFT LIMIT", align::right},
           {"HARD LIMIT", align::right},
           {"USED", align::right},
           {"PAUSED"}}};
  for (const auto& q : queues) {
    const auto& c = q.counts;
    const auto size = c.pending + c.scheduled + c.claimed;
    if (ctx.json) {
      json j{{"kind", "queue"},
             {"queue", q.name},
             {"pending", c.pending},
             {"scheduled", c.scheduled},
             {"claimed", c.claimed},
             {"oldest_pending_at", nullptr},
             {"oldest_pending_age_ms", nullptr},
             {"soft_limit", nullptr},
             {"hard_limit", nullptr},
             {"used_percent", nullptr},
             {"paused", q.paused}};
      if (c.oldest_pending_ms) {
        j["oldest_pending_at"] = iso(*c.oldest_pending_ms);
        j["oldest_pending_age_ms"] = ctx.now_ms - *c.oldest_pending_ms;
      }
      if (q.settings.soft_limit) j["soft_limit"] = *q.settings.soft_limit;
      if (q.settings.hard_limit) j["hard_limit"] = *q.settings.hard_limit;
      const auto limit = q.settings.hard_limit ? q.settings.hard_limit : q.settings.soft_limit;
      if (limit && *limit > 0) {
        j["used_percent"] = 100.0 * static_cast<double>(size) / static_cast<double>(*limit);
      }
      context::emit(j);
      continue;
    }
    t.add({printable(q.name), std::to_string(c.pending), std::to_string(c.scheduled),
           std::to_string(c.claimed),
           c.oldest_pending_ms ? (ctx.utc ? ctx.time(*c.oldest_pending_ms)
                                          : human_duration(ctx.now_ms - *c.oldest_pending_ms))
                               : "-",
           optional_number(q.settings.soft_limit), optional_number(q.settings.hard_limit),
           used(size, q.settings), q.paused ? "yes" : "no"});
  }
  if (!ctx.json) {
    if (t.empty()) {
      std::puts("no queues");
    } else {
      t.print(stdout);
    }
  }
}

void dlq_table(const context& ctx, durable::storage::backend& storage) {
  table t{{{"DLQ"},
           {"ENTRIES", align::right},
           {"REDRIVEN", align::right},
           {"OLDEST FAILURE"},
           {"NEWEST FAILURE"},
           {"BY ERROR TYPE"}}};
  for (const auto& d : storage.dead_letter_queues()) {
    durable::storage::dead_letter_where where;
    where.dlq = d.name;
    where.from_ms = std::numeric_limits<std::int64_t>::min();
    where.to_ms = std::numeric_limits<std::int64_t>::max();
    const auto groups =
        storage.count_dead_letters_by(where, durable::storage::dead_letter_grouping::error_type);
    if (ctx.json) {
      json by_type = json::object();
      for (const auto& g : groups) by_type[g.error_type] = g.count;
      json j{{"kind", "dlq"},
             {"dlq", d.name},
             {"entries", d.entries},
             {"redriven", d.redriven},
             {"oldest_failure", nullptr},
             {"newest_failure", nullptr},
             {"by_error_type", by_type}};
      if (d.oldest_failed_ms) j["oldest_failure"] = iso(*d.oldest_failed_ms);
      if (d.newest_failed_ms) j["newest_failure"] = iso(*d.newest_failed_ms);
      context::emit(j);
      continue;
    }
    std::string types;
    for (const auto& g : groups) {
      if (!types.empty()) types += ", ";
      types += fmt::format("{} {}", printable(g.error_type), g.count);
    }
    t.add({printable(d.name), std::to_string(d.entries), std::to_string(d.redriven),
           d.oldest_failed_ms ? ctx.time(*d.oldest_failed_ms) : "-",
           d.newest_failed_ms ? ctx.time(*d.newest_failed_ms) : "-", types.empty() ? "-" : types});
  }
  if (!ctx.json) {
    if (t.empty()) {
      std::puts("no dead-letter queues");
    } else {
      t.print(stdout);
    }
  }
}

}  // namespace

int stats(const context& ctx, const std::optional<std::string>& queue) {
  const auto db = ctx.open(false);
  auto& storage = db.storage();
  auto all = storage.list_queues(ctx.now_ms);
  if (queue) {
    require_queue(storage, ctx, *queue);
    std::erase_if(all, [&](const auto& q) { return q.name != *queue; });
  }
  queue_table(ctx, all);
  if (queue) return 0;
  if (!ctx.json) std::puts("");
  dlq_table(ctx, storage);
  return 0;
}

int queues(const context& ctx) {
  const auto db = ctx.open(false);
  auto& storage = db.storage();
  table t{{{"NAME"}, {"KIND"}, {"JOBS", align::right}, {"PAUSED"}}};
  for (const auto& q : storage.list_queues(ctx.now_ms)) {
    const auto jobs = q.counts.pending + q.counts.scheduled + q.counts.claimed;
    if (ctx.json) {
      context::emit({{"kind", "queue"}, {"name", q.name}, {"jobs", jobs}, {"paused", q.paused}});
    } else {
      t.add({printable(q.name), "queue", std::to_string(jobs), q.paused ? "yes" : "no"});
    }
  }
  for (const auto& d : storage.dead_letter_queues()) {
    if (ctx.json) {
      context::emit({{"kind", "dlq"}, {"name", d.name}, {"entries", d.entries}});
    } else {
      t.add({printable(d.name), "dlq", std::to_string(d.entries), "-"});
    }
  }
  if (!ctx.json) {
    if (t.empty()) {
      std::puts("no queues and no dead-letter queues");
    } else {
      t.print(stdout);
    }
  }
  return 0;
}

int jobs(const context& ctx, const std::string& queue, const std::optional<std::string>& state,
         std::int64_t limit) {
  std::optional<job_state> selected;
  if (state) {
    if (*state == "pending") {
      selected = job_state::pending;
    } else if (*state == "scheduled") {
      selected = job_state::scheduled;
    } else if (*state == "claimed") {
      selected = job_state::claimed;
    } else {
      throw usage_error(
          fmt::format("durable: usage: --state {:?} is not pending, scheduled or claimed",
                      state->substr(0, 64)));
    }
  }
  if (limit < 1) throw usage_error("durable: usage: --limit must be at least 1");
  const auto db = ctx.open(false);
  auto& storage = db.storage();
  require_queue(storage, ctx, queue);
  table t{{{"ID", align::right},
           {"STATE"},
           {"PRIORITY", align::right},
           {"KEY"},
           {"ATTEMPTS", align::right},
           {"RUN AT"},
           {"ENQUEUED"},
           {"BYTES", align::right}}};
  for (const auto& job : storage.list_jobs(queue, selected, ctx.now_ms, limit)) {
    if (ctx.json) {
      context::emit({{"id", job.id},
                     {"queue", job.queue},
                     {"state", state_name(job, ctx.now_ms)},
                     {"priority", job.priority},
                     {"key", key_json(job.key)},
                     {"attempts", job.attempts},
                     {"max_attempts", job.max_attempts},
                     {"run_at", iso(job.run_at_ms)},
                     {"enqueued_at", iso(job.enqueued_at_ms)},
                     {"payload_bytes", job.payload_size}});
      continue;
    }
    t.add({std::to_string(job.id), state_name(job, ctx.now_ms), std::to_string(job.priority),
           key_text(job.key), fmt::format("{}/{}", job.attempts, job.max_attempts),
           ctx.time(job.run_at_ms), ctx.time(job.enqueued_at_ms),
           std::to_string(job.payload_size)});
  }
  if (!ctx.json) {
    if (t.empty()) {
      std::puts("no jobs");
    } else {
      t.print(stdout);
    }
  }
  return 0;
}

int show_job(const context& ctx, std::int64_t id) {
  const auto db = ctx.open(false);
  auto& storage = db.storage();
  const auto job = storage.find_job(id);
  if (!job) {
    throw failure(
        fmt::format("durable: no job {} in \"{}\" (finished, cancelled, dead-lettered "
                    "or never there); `durable jobs {} QUEUE` lists jobs",
                    id, storage.target(), ctx.target));
  }
  const auto payload =
      render_payload(storage, ctx.render, job->codec, job->fingerprint, job->payload);
  const auto state = state_name(*job, ctx.now_ms);
  if (ctx.json) {
    json j{
        {"id", job->id},
        {"queue", job->queue},
        {"state", state},
        {"key", key_json(job->key)},
        {"unique", job->unique},
        {"priority", job->priority},
        {"sequential", job->sequential},
        {"attempts", job->attempts},
        {"max_attempts", job->max_attempts},
        {"run_at", iso(job->run_at_ms)},
        {"enqueued_at", iso(job->enqueued_at_ms)},
        {"lease_holder", state == "claimed" && job->claimed_by ? json(*job->claimed_by) : json()},
        {"codec", job->codec},
        {"fingerprint", fmt::format("{:016x}", job->fingerprint)},
        {"history", history_json(job->history)}};
    add_payload(j, payload);
    context::emit(j);
    return 0;
  }
  table t{{{"FIELD"}, {"VALUE"}}};
  t.add({"job", std::to_string(job->id)});
  t.add({"queue", printable(job->queue)});
  t.add({"state", state});
  t.add({"key", key_text(job->key) + (job->unique ? " (unique)" : "")});
  t.add({"priority", std::to_string(job->priority) + (job->sequential ? ", sequential" : "")});
  t.add({"attempts", fmt::format("{} of {}", job->attempts, job->max_attempts)});
  t.add({state == "claimed" ? "lease ends" : "run at", ctx.time(job->run_at_ms)});
  t.add({"enqueued", ctx.time(job->enqueued_at_ms)});
  if (state == "claimed") t.add({"lease holder", printable(job->claimed_by.value_or("-"))});
  t.add(
      {"codec", fmt::format("{} (fingerprint {:016x})", printable(job->codec), job->fingerprint)});
  t.print(stdout);
  print_history(ctx, job->history);
  print_payload(payload, job->payload.size());
  return 0;
}

int cancel_job(const context& ctx, std::int64_t id, bool force) {
  const auto db = ctx.open(true);
  const auto result = db.storage().cancel_job(id, ctx.now_ms, force);
  switch (result.status) {
    case durable::storage::cancel_status::not_found:
      throw failure(fmt::format("durable: no job {} in \"{}\"; nothing was changed", id,
                                db.storage().target()));
    case durable::storage::cancel_status::claimed:
      throw failure(fmt::format(
          "durable: job {} of queue \"{}\" is claimed by a worker now; nothing was changed; "
          "pass --force to delete it anyway (its worker then gets lease_lost_error when it "
          "finishes)",
          id, result.queue));
    case durable::storage::cancel_status::cancelled: break;
  }
  if (ctx.json) {
    context::emit({{"id", id}, {"queue", result.queue}, {"cancelled", true}});
  } else {
    std::printf("cancelled job %lld of queue %s\n", static_cast<long long>(id),
                printable(result.queue).c_str());
  }
  return 0;
}

int set_paused(const context& ctx, const std::string& queue, bool paused) {
  durable::detail::validate_name("queue", queue);
  const auto db = ctx.open(true);
  if (!db.storage().set_paused(queue, paused)) {
    throw failure(fmt::format(
        "durable: unknown queue \"{}\" in \"{}\": it has no jobs and no settings; nothing was "
        "changed; `durable queues {}` lists the queues",
        queue, db.storage().target(), ctx.target));
  }
  if (ctx.json) {
    context::emit({{"queue", queue}, {"paused", paused}});
  } else {
    std::printf(
        "queue %s %s\n", queue.c_str(),
        paused ? "paused: no worker claims its jobs until `durable queue resume`" : "resumed");
  }
  return 0;
}

int migrate(const context& ctx) {
  // The read-only open refuses a missing file and a file without durable's tables; only
  // an older schema goes on to the read-write open, which migrates it.
  try {
    static_cast<void>(ctx.open(false));
  } catch (const durable::schema_error& e) {
    if (e.found() <= 0 || e.found() > e.supported()) throw;
  }
  const durable::database db{ctx.target};
  const auto version = durable::detail::sqlite::migrations.back().version;
  if (ctx.json) {
    context::emit({{"target", db.target()}, {"schema_version", version}});
  } else {
    std::printf("%s: schema version %lld\n", printable(db.target()).c_str(),
                static_cast<long long>(version));
  }
  return 0;
}

}  // namespace durable_cli
