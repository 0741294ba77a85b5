// SPDX-License-Identifier: MIT
// durable stats, queues, jobs, job, job cancel, queue pause|resume, migrate.

#include <fmt/format.h>

#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include <durable/detail/names.hpp>

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

/// The limit "used" is measured against: the hard limit, else the soft one.
std::optional<std::int64_t> limit_of(const durable::storage::queue_settings& s) {
  return s.hard_limit ? s.hard_limit : s.soft_limit;
}

/// The share of `size` in the hard limit (or the soft one without a hard one), or "-".
std::string used(std::int64_t size, const durable::storage::queue_settings& s) {
  const auto limit = limit_of(s);
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
      queue, storage.target(), target_word(storage.target())));
}

json optional_json(const std::optional<std::int64_t>& n) { return n ? json(*n) : json(); }

json queue_json(const context& ctx, const durable::storage::queue_info& q) {
  const auto& c = q.counts;
  const auto size = c.pending + c.scheduled + c.claimed;
  const auto limit = limit_of(q.settings);
  return {{"kind", "queue"},
          {"queue", q.name},
          {"pending", c.pending},
          {"scheduled", c.scheduled},
          {"claimed", c.claimed},
          {"oldest_pending_at", c.oldest_pending_ms ? json(iso(*c.oldest_pending_ms)) : json()},
          {"oldest_pending_age_ms",
           c.oldest_pending_ms ? json(ctx.now_ms - *c.oldest_pending_ms) : json()},
          {"soft_limit", optional_json(q.settings.soft_limit)},
          {"hard_limit", optional_json(q.settings.hard_limit)},
          {"used_percent", limit && *limit > 0 ? json(100.0 * static_cast<double>(size) /
                                                      static_cast<double>(*limit))
                                               : json()},
          {"paused", q.paused}};
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
    if (ctx.json) {
      context::emit(queue_json(ctx, q));
      continue;
    }
    const auto& c = q.counts;
    std::string oldest = "-";
    if (c.oldest_pending_ms) {
      oldest = ctx.utc ? ctx.time(*c.oldest_pending_ms)
                       : human_duration(ctx.now_ms - *c.oldest_pending_ms);
    }
    t.add({printable(q.name), std::to_string(c.pending), std::to_string(c.scheduled),
           std::to_string(c.claimed), oldest, optional_number(q.settings.soft_limit),
           optional_number(q.settings.hard_limit),
           used(c.pending + c.scheduled + c.claimed, q.settings), q.paused ? "yes" : "no"});
  }
  if (!ctx.json) print_or_none(t, "no queues");
}

void dlq_table(const context& ctx, durable::storage::backend& storage) {
  table t{{{"DLQ"},
           {"ENTRIES", align::right},
           {"REDRIVEN", align::right},
           {"OLDEST FAILURE"},
           {"NEWEST FAILURE"},
           {"BY ERROR TYPE"}}};
  const auto when = [&](const std::optional<std::int64_t>& ms, bool for_json) {
    if (!ms) return for_json ? json() : json("-");
    return json(for_json ? iso(*ms) : ctx.time(*ms));
  };
  for (const auto& d : storage.dead_letter_queues()) {
    durable::storage::dead_letter_where where;
    where.dlq = d.name;
    where.from_ms = std::numeric_limits<std::int64_t>::min();
    where.to_ms = std::numeric_limits<std::int64_t>::max();
    const auto groups =
        storage.count_dead_letters_by(where, durable::storage::dead_letter_grouping::error_type);
    json by_type = json::object();
    std::string types;
    for (const auto& g : groups) {
      by_type[g.error_type] = g.count;
      types += fmt::format("{}{} {}", types.empty() ? "" : ", ", printable(g.error_type), g.count);
    }
    if (ctx.json) {
      context::emit({{"kind", "dlq"},
                     {"dlq", d.name},
                     {"entries", d.entries},
                     {"redriven", d.redriven},
                     {"oldest_failure", when(d.oldest_failed_ms, true)},
                     {"newest_failure", when(d.newest_failed_ms, true)},
                     {"by_error_type", by_type}});
      continue;
    }
    t.add({printable(d.name), std::to_string(d.entries), std::to_string(d.redriven),
           when(d.oldest_failed_ms, false).get<std::string>(),
           when(d.newest_failed_ms, false).get<std::string>(), types.empty() ? "-" : types});
  }
  if (!ctx.json) print_or_none(t, "no dead-letter queues");
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
  if (!ctx.json) print_or_none(t, "no queues and no dead-letter queues");
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
  // One row more than asked says whether the table is the whole selection.
  auto rows =
      storage.list_jobs(queue, selected, ctx.now_ms,
                        limit < std::numeric_limits<std::int64_t>::max() ? limit + 1 : limit);
  const bool more = std::cmp_greater(rows.size(), limit);
  if (more) rows.pop_back();
  for (const auto& job : rows) {
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
    print_or_none(t, "no jobs");
    if (more) fmt::print("more jobs: only the first {} are shown; raise --limit\n", limit);
  }
  return 0;
}

int show_job(const context& ctx, std::int64_t id) {
  const auto db = ctx.open(false);
  auto& storage = db.storage();
  const auto job = storage.find_job(id);
  if (!job) {
    if (const auto entry = storage.locate_dead_letter(storage.database_id(), id)) {
      throw failure(fmt::format(
          "durable: job {} is in no queue of \"{}\": it was dead-lettered as entry {} of {}; "
          "`durable dlq show {} {}` shows it (and whether it was redriven since)",
          id, storage.target(), entry->id, entry->dlq, target_word(storage.target()), entry->id));
    }
    throw failure(
        fmt::format("durable: no job {} in \"{}\" (finished, cancelled, dead-lettered "
                    "into another database, or never there); `durable jobs {} QUEUE` lists jobs",
                    id, storage.target(), target_word(storage.target())));
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
    fmt::print("cancelled job {} of queue {}\n", id, printable(result.queue));
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
        queue, db.storage().target(), target_word(db.storage().target())));
  }
  if (ctx.json) {
    context::emit({{"queue", queue}, {"paused", paused}});
  } else {
    fmt::print(
        "queue {} {}\n", queue,
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
  const auto version = ctx.schema_version();
  if (ctx.json) {
    context::emit({{"target", db.target()}, {"schema_version", version}});
  } else {
    fmt::print("{}: schema version {}\n", printable(db.target()), version);
  }
  return 0;
}

}  // namespace durable_cli
