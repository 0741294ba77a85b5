// SPDX-License-Identifier: MIT
// durable dlq list, show, count, redrive, purge.

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include <durable/detail/engine/dead_letter_engine.hpp>
#include <durable/detail/engine/queue_engine.hpp>
#include <durable/detail/engine/redrive.hpp>
#include <durable/detail/names.hpp>

#include "commands.hpp"
#include "errors.hpp"
#include "output.hpp"
#include "text.hpp"

namespace durable_cli {

namespace {

using durable::dead_letter_summary;
using nlohmann::json;

/// Redrive and purge show a progress line on a terminal from this many entries on.
constexpr std::size_t progress_from = 10'000;
/// Entries per transaction of a redrive or purge.
constexpr std::size_t batch = 1000;

/// Prints "\r<what>: done/total" on stderr when it is a terminal and the job is large.
class progress {
 public:
  progress(std::string what, std::size_t total)
      : what_(std::move(what)), total_(total), on_(total >= progress_from && isatty(2) == 1) {}
  progress(const progress&) = delete;
  progress& operator=(const progress&) = delete;
  progress(progress&&) = delete;
  progress& operator=(progress&&) = delete;
  ~progress() {
    if (on_) std::fputs("\n", stderr);
  }
  void update(std::size_t done) const {
    if (on_) fmt::print(stderr, "\r{}: {}/{}", what_, std::min(done, total_), total_);
  }

 private:
  std::string what_;
  std::size_t total_;
  bool on_;
};

std::int64_t ms(durable::time_point t) { return durable::detail::to_unix_ms(t); }

std::string iso(durable::time_point t) { return durable_cli::iso(ms(t)); }

/// The first `n` characters of printable `text`, with "..." when cut.
std::string cut(const std::string& text, std::size_t n) {
  auto p = printable(text);
  std::size_t chars = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if ((static_cast<unsigned char>(p[i]) & 0xC0U) != 0x80 && ++chars > n) {
      return p.substr(0, i) + "...";
    }
  }
  return p;
}

/// The database, its DLQs selected by the filter, and the filter as the library takes it.
struct selection {
  durable::database db;
  std::vector<std::string> dlqs;
  durable::dead_letter_filter filter;
};

selection select(const context& ctx, const dlq_filter& f, bool write) {
  if (f.dlq) durable::detail::validate_name("dlq", *f.dlq);
  if (f.queue) durable::detail::validate_name("queue", *f.queue);
  durable::dead_letter_filter filter;
  if (f.since) {
    filter.from = durable::detail::from_unix_ms(parse_time(*f.since, "--since", ctx.now_ms));
  }
  if (f.until) {
    filter.to = durable::detail::from_unix_ms(parse_time(*f.until, "--until", ctx.now_ms));
  }
  if (filter.from && filter.to && *filter.from > *filter.to) {
    throw usage_error(
        fmt::format("durable: usage: --since {} is after --until {}; both bounds are "
                    "inclusive, give since <= until",
                    iso(*filter.from), iso(*filter.to)));
  }
  filter.error_types = f.types;
  for (const auto& key : f.keys) {
    // "42" matches the integer key 42 and the string key "42".
    filter.keys.emplace_back(key);
    if (const auto n = parse_int(key)) filter.keys.emplace_back(*n);
  }
  filter.queue = f.queue;
  selection s{ctx.open(write), {}, std::move(filter)};
  const auto all = s.db.storage().dead_letter_queues();
  for (const auto& d : all) {
    if (!f.dlq || d.name == *f.dlq) s.dlqs.push_back(d.name);
  }
  if (f.dlq && s.dlqs.empty()) {
    throw failure(
        fmt::format("durable: no dead-letter queue \"{}\" in \"{}\" (it has no entries); "
                    "`durable queues {}` lists them",
                    *f.dlq, s.db.target(), target_word(s.db.target())));
  }
  return s;
}

durable::detail::dead_letter_engine engine(const selection& s, const std::string& dlq) {
  durable::dead_letter_options options;
  options.log = nullptr;
  options.retention.reset();
  return {s.db, dlq, options};
}

std::string cursor_text(const dead_letter_summary& e) {
  return fmt::format("{}:{}", ms(e.failed_at), e.id);
}

durable::dead_letter_cursor parse_cursor(const std::string& text) {
  const auto colon = text.find(':');
  const auto at = colon == std::string::npos ? std::nullopt : parse_int(text.substr(0, colon));
  const auto id = colon == std::string::npos ? std::nullopt : parse_int(text.substr(colon + 1));
  if (!at || !id) {
    throw usage_error(fmt::format(
        "durable: usage: --after {:?} is not a cursor; pass the value a previous `dlq list` "
        "printed (FAILED_AT_MS:ID)",
        text.substr(0, 64)));
  }
  return {durable::detail::from_unix_ms(*at), *id};
}

json entry_json(const std::string& dlq, const dead_letter_summary& e) {
  return {{"id", e.id},
          {"dlq", dlq},
          {"queue", e.queue},
          {"original_id", e.original_id ? json(*e.original_id) : json()},
          {"key", key_json(e.key)},
          {"error_type", e.error_type},
          {"message", e.message},
          {"attempts", e.attempts},
          {"redrive_policy", durable::to_string(e.redrive)},
          {"enqueued_at", iso(e.enqueued_at)},
          {"failed_at", iso(e.failed_at)},
          {"redriven_at", e.redriven_at ? json(iso(*e.redriven_at)) : json()},
          {"cursor", cursor_text(e)}};
}

}  // namespace

int dlq_list(const context& ctx, const dlq_filter& filter, std::int64_t limit,
             const std::optional<std::string>& after) {
  if (limit < 1) throw usage_error("durable: usage: --limit must be at least 1");
  durable::page_request page;
  page.order = durable::sort_order::newest_first;
  page.limit = limit;
  if (after) page.after = parse_cursor(*after);
  const auto s = select(ctx, filter, false);
  std::vector<std::pair<std::string, dead_letter_summary>> entries;
  bool more = false;
  for (const auto& name : s.dlqs) {
    auto e = engine(s, name);
    auto p = e.query(s.filter, page);
    more = more || p.next.has_value();
    for (auto& entry : p.entries) entries.emplace_back(name, std::move(entry));
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return std::tuple{b.second.failed_at, b.second.id} <
           std::tuple{a.second.failed_at, a.second.id};
  });
  if (entries.size() > static_cast<std::size_t>(limit)) {
    entries.resize(static_cast<std::size_t>(limit));
    more = true;
  }
  if (ctx.json) {
    for (const auto& [dlq, e] : entries) context::emit(entry_json(dlq, e));
    return 0;
  }
  table t{{{"ID", align::right},
           {"DLQ"},
           {"QUEUE"},
           {"KEY"},
           {"ERROR"},
           {"POLICY"},
           {"ATTEMPTS", align::right},
           {"FAILED"},
           {"MESSAGE"}}};
  for (const auto& [dlq, e] : entries) {
    t.add({std::to_string(e.id), printable(dlq), e.queue.empty() ? "-" : printable(e.queue),
           key_text(e.key), printable(e.error_type), std::string{durable::to_string(e.redrive)},
           std::to_string(e.attempts), ctx.time(ms(e.failed_at)), cut(e.message, 60)});
  }
  print_or_none(t, "no entries");
  if (more && !entries.empty()) {
    fmt::print("more entries: add --after {}\n", cursor_text(entries.back().second));
  }
  return 0;
}

int dlq_show(const context& ctx, std::int64_t id) {
  const auto s = select(ctx, {}, false);
  auto& storage = s.db.storage();
  std::optional<durable::storage::dead_letter_row> row;
  std::string dlq;
  for (const auto& name : s.dlqs) {
    if ((row = storage.dead_letter(name, id))) {
      dlq = name;
      break;
    }
  }
  if (!row) {
    throw failure(
        fmt::format("durable: no dead-letter entry {} in \"{}\"; `durable dlq list {}` "
                    "lists entries",
                    id, storage.target(), target_word(storage.target())));
  }
  const auto& e = row->summary;
  const auto payload =
      render_payload(storage, ctx.render, row->codec, row->fingerprint, row->payload);
  if (ctx.json) {
    auto j = entry_json(dlq, e);
    j["context"] = row->context;
    j["origin"] = row->origin;
    j["priority"] = row->priority;
    j["sequential"] = row->sequential;
    j["unique"] = row->unique;
    j["max_attempts"] = row->max_attempts;
    j["codec"] = row->codec;
    j["fingerprint"] = fmt::format("{:016x}", row->fingerprint);
    j["history"] = history_json(row->history);
    add_payload(j, payload);
    context::emit(j);
    return 0;
  }
  table t{{{"FIELD"}, {"VALUE"}}};
  t.add({"entry", std::to_string(e.id)});
  t.add({"dlq", printable(dlq)});
  t.add({"queue", e.queue.empty() ? "-" : printable(e.queue)});
  t.add({"job", e.original_id ? std::to_string(*e.original_id) : "- (added by hand)"});
  t.add({"key", key_text(e.key) + (row->unique ? " (unique)" : "")});
  t.add({"error", printable(e.error_type)});
  t.add({"message", printable(e.message)});
  t.add({"redrive policy", std::string{durable::to_string(e.redrive)}});
  t.add({"attempts", fmt::format("{} of {}", e.attempts, row->max_attempts)});
  t.add({"enqueued", ctx.time(ms(e.enqueued_at))});
  t.add({"failed", ctx.time(ms(e.failed_at))});
  t.add({"redriven", e.redriven_at ? ctx.time(ms(*e.redriven_at)) : "no"});
  t.add(
      {"codec", fmt::format("{} (fingerprint {:016x})", printable(row->codec), row->fingerprint)});
  t.print(stdout);
  const auto context_text = fmt::format(
      "\ncontext:\n{}\n", row->context.empty() ? "  none" : printable_block(row->context));
  std::fputs(context_text.c_str(), stdout);
  print_history(ctx, row->history);
  print_payload(payload, row->payload.size());
  return 0;
}

namespace {

using grouping = durable::storage::dead_letter_grouping;

std::optional<grouping> parse_grouping(const std::optional<std::string>& by) {
  if (!by) return std::nullopt;
  if (*by == "type") return grouping::error_type;
  if (*by == "hour") return grouping::hour;
  if (*by == "day") return grouping::day;
  throw usage_error(
      fmt::format("durable: usage: --by {:?} is not type, hour or day", by->substr(0, 64)));
}

/// `dlq count` without --by: entries per DLQ and the total.
void count_per_dlq(const context& ctx, const selection& s,
                   const durable::detail::prepared_filter& prepared) {
  table t{{{"DLQ"}, {"ENTRIES", align::right}}};
  std::int64_t total = 0;
  for (const auto& name : s.dlqs) {
    const auto n = s.db.storage().count_dead_letters(prepared.where(name));
    total += n;
    if (ctx.json) {
      context::emit({{"dlq", name}, {"count", n}});
    } else {
      t.add({printable(name), std::to_string(n)});
    }
  }
  if (ctx.json) return;
  t.add({"total", std::to_string(total)});
  t.print(stdout);
}

/// Time buckets as rows: every bucket from the first to the last, empty ones included (a
/// gap in the bars is the shape of an outage), unless that would be over 10,000 rows.
std::vector<std::pair<std::string, std::int64_t>> time_rows(
    const std::map<std::int64_t, std::int64_t>& by_time, std::int64_t step) {
  std::vector<std::pair<std::string, std::int64_t>> rows;
  if (by_time.empty()) return rows;
  const auto first = by_time.begin()->first;
  const auto last = by_time.rbegin()->first;
  if ((last - first) / step >= 10'000) {
    for (const auto& [bucket, n] : by_time) rows.emplace_back(durable_cli::iso(bucket), n);
    return rows;
  }
  for (std::int64_t at = first; at <= last; at += step) {
    const auto it = by_time.find(at);
    rows.emplace_back(durable_cli::iso(at), it == by_time.end() ? 0 : it->second);
  }
  return rows;
}

/// The groups of every selected DLQ added up: by type, most first; by time, oldest first.
std::vector<std::pair<std::string, std::int64_t>> group_rows(
    const selection& s, const durable::detail::prepared_filter& prepared, grouping g) {
  std::map<std::string, std::int64_t> by_type;
  std::map<std::int64_t, std::int64_t> by_time;
  for (const auto& name : s.dlqs) {
    for (const auto& group : s.db.storage().count_dead_letters_by(prepared.where(name), g)) {
      if (g == grouping::error_type) {
        by_type[group.error_type] += group.count;
      } else {
        by_time[group.bucket_ms] += group.count;
      }
    }
  }
  if (g != grouping::error_type) {
    return time_rows(by_time, g == grouping::hour ? 3'600'000 : 86'400'000);
  }
  std::vector<std::pair<std::string, std::int64_t>> rows(by_type.begin(), by_type.end());
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return rows;
}

}  // namespace

int dlq_count(const context& ctx, const dlq_filter& filter, const std::optional<std::string>& by) {
  const auto g = parse_grouping(by);
  const auto s = select(ctx, filter, false);
  const auto prepared = durable::detail::dead_letter_engine::prepare(s.filter);
  if (!g) {
    count_per_dlq(ctx, s, prepared);
    return 0;
  }
  const auto rows = group_rows(s, prepared, *g);
  const bool by_type = *g == grouping::error_type;
  const bool by_hour = *g == grouping::hour;
  if (ctx.json) {
    const char* label = by_type ? "error_type" : by_hour ? "hour" : "day";
    for (const auto& [key, n] : rows) context::emit({{label, key}, {"count", n}});
    return 0;
  }
  std::int64_t max = 0;
  for (const auto& r : rows) max = std::max(max, r.second);
  table t{{{by_type   ? "ERROR"
            : by_hour ? "HOUR (UTC)"
                      : "DAY (UTC)"},
           {"COUNT", align::right},
           {""}}};
  for (const auto& [key, n] : rows) {
    // 2026-11-30T08:00Z by hour, 2026-11-30 by day
    const auto name = by_type ? key : by_hour ? key.substr(0, 16) + "Z" : key.substr(0, 10);
    t.add({printable(name), std::to_string(n), bar(n, max)});
  }
  print_or_none(t, "no entries");
  return 0;
}

namespace {

/// What a redrive did with one entry, for people: outcome, detail, and the detail without
/// ids for the grouped summary.
struct outcome_text {
  std::string outcome = "skipped";
  std::string detail;
  std::string group_detail;
};

outcome_text describe(const durable::redriven_entry& r, bool dry_run, const std::string& into) {
  outcome_text t;
  switch (r.outcome) {
    case durable::redrive_outcome::redriven:
      t.outcome = dry_run ? "would redrive" : "redriven";
      t.group_detail = "into " + into;
      t.detail = dry_run ? t.group_detail : fmt::format("job {} in {}", r.job, into);
      return t;
    case durable::redrive_outcome::not_redrivable:
      t.detail = "policy never: pass --force to redrive it anyway";
      break;
    case durable::redrive_outcome::already_queued:
      t.group_detail = "its unique key is queued";
      t.detail = fmt::format("{} as job {}", t.group_detail, r.job);
      return t;
    case durable::redrive_outcome::queue_full:
      t.detail = fmt::format("queue {} is at its hard limit", into);
      break;
    case durable::redrive_outcome::no_target:
      t.detail =
          "no source queue in this database (added by hand or from another database): pass "
          "--to QUEUE";
      break;
    case durable::redrive_outcome::gone: t.detail = "redriven or deleted meanwhile"; break;
    case durable::redrive_outcome::incompatible: t.detail = "incompatible"; break;
  }
  t.group_detail = t.detail;
  return t;
}

}  // namespace

namespace {

/// What a redrive reports: with --json a line per entry at once; up to 10,000 entries a
/// table row per entry; past that a row per (DLQ, error type, policy, outcome), so memory
/// and output stay bounded. Then a summary line.
class redrive_report {
 public:
  redrive_report(const context& ctx, bool dry_run, std::size_t total)
      : ctx_(ctx), dry_run_(dry_run), per_entry_(ctx.json || total <= progress_from) {}

  void add(const std::string& dlq, const dead_letter_summary& entry, const outcome_text& t) {
    ++counts_[t.outcome];
    const std::string policy{durable::to_string(entry.redrive)};
    if (ctx_.json) {
      context::emit({{"id", entry.id},
                     {"dlq", dlq},
                     {"error_type", entry.error_type},
                     {"redrive_policy", policy},
                     {"outcome", t.outcome},
                     {"detail", t.detail},
                     {"dry_run", dry_run_}});
    } else if (per_entry_) {
      entries_.add({std::to_string(entry.id), printable(dlq), printable(entry.error_type), policy,
                    t.outcome, t.detail});
    } else {
      ++groups_[{dlq, entry.error_type, policy, t.outcome, t.group_detail}];
    }
  }

  void print() {
    if (ctx_.json) return;
    if (per_entry_) {
      print_or_none(entries_, "no entries selected");
    } else {
      table t{{{"ENTRIES", align::right}, {"DLQ"}, {"ERROR"}, {"POLICY"}, {"OUTCOME"}, {"DETAIL"}}};
      for (const auto& [key, n] : groups_) {
        const auto& [dlq, type, policy, outcome, detail] = key;
        t.add({std::to_string(n), printable(dlq), printable(type), policy, outcome, detail});
      }
      t.print(stdout);
    }
    std::int64_t seen = 0;
    for (const auto& [outcome, n] : counts_) seen += n;
    fmt::print("{}{} of {} entries {}, {} skipped{}\n", dry_run_ ? "dry run: " : "",
               counts_[dry_run_ ? "would redrive" : "redriven"], seen,
               dry_run_ ? "would be redriven" : "redriven", counts_["skipped"],
               dry_run_ ? "; nothing was changed" : "");
  }

 private:
  const context& ctx_;
  bool dry_run_;
  bool per_entry_;
  table entries_{{{"ID", align::right}, {"DLQ"}, {"ERROR"}, {"POLICY"}, {"OUTCOME"}, {"DETAIL"}}};
  std::map<std::tuple<std::string, std::string, std::string, std::string, std::string>,
           std::int64_t>
      groups_;
  std::map<std::string, std::int64_t> counts_;
};

/// A redrive's choices: where to, and which policies move.
struct redrive_plan {
  durable::detail::redrive_target how;
  std::optional<std::string> to;
  std::set<std::string, std::less<>> named;  ///< error types the command names (--type)
  bool include_optional = false;

  /// True when the entry's policy is `optional` and the command neither names its type
  /// nor forces: the tool's gate (the `never` gate, limits and unique keys are the
  /// redrive's own).
  [[nodiscard]] bool held_back(const dead_letter_summary& entry) const {
    return !how.options.force && entry.redrive == durable::redrive_policy::optional &&
           !include_optional && !named.contains(entry.error_type);
  }
};

/// Redrives the selected entries of DLQ `name` page by page (a transaction per page),
/// reporting each in failure order.
void redrive_dlq(const selection& s, const std::string& name, const redrive_plan& plan,
                 redrive_report& report, const progress& bar_line, std::size_t& done) {
  auto e = engine(s, name);
  durable::page_request page;  // oldest first
  page.limit = static_cast<std::int64_t>(batch);
  for (;;) {
    const auto p = e.query(s.filter, page);
    std::vector<durable::dead_letter_id> ids;
    for (const auto& entry : p.entries) {
      if (!plan.held_back(entry)) ids.push_back(entry.id);
    }
    std::map<durable::dead_letter_id, durable::redriven_entry> results;
    for (const auto& r : durable::detail::redrive(e, ids, plan.how).entries) {
      results.emplace(r.id, r);
    }
    for (const auto& entry : p.entries) {
      if (plan.held_back(entry)) {
        const std::string why =
            "policy optional: name its error type with --type, or pass --include-optional";
        report.add(name, entry, {"skipped", why, why});
        continue;
      }
      report.add(name, entry,
                 describe(results.at(entry.id), plan.how.dry_run,
                          printable(plan.to ? *plan.to : entry.queue)));
    }
    done += p.entries.size();
    bar_line.update(done);
    if (!p.next) return;
    page.after = p.next;
  }
}

/// The queue engine of `--to`, after checking the queue exists; untyped: the tool pushes
/// stored bytes as they are and never claims through it.
std::optional<durable::detail::queue_engine> target_queue(const context& ctx, const selection& s,
                                                          const std::optional<std::string>& to) {
  if (!to) return std::nullopt;
  const auto queues = s.db.storage().list_queues(ctx.now_ms);
  if (std::none_of(queues.begin(), queues.end(), [&](const auto& q) { return q.name == *to; })) {
    throw failure(fmt::format(
        "durable: unknown queue \"{}\" in \"{}\": --to needs a queue of the same database that "
        "has jobs or settings; nothing was changed",
        *to, s.db.target()));
  }
  durable::queue_options options;
  options.log = nullptr;
  return std::optional<durable::detail::queue_engine>{std::in_place, s.db, *to, options,
                                                      durable::detail::codec_identity{}};
}

}  // namespace

int dlq_redrive(const context& ctx, const dlq_filter& filter, const std::optional<std::string>& to,
                bool dry_run, bool force, bool include_optional) {
  if (to) durable::detail::validate_name("--to", *to);
  const auto s = select(ctx, filter, true);
  auto target = target_queue(ctx, s, to);
  redrive_plan plan;
  plan.how.queue = target ? &*target : nullptr;
  plan.how.options.force = force;
  plan.how.dry_run = dry_run;
  plan.to = to;
  plan.named = {filter.types.begin(), filter.types.end()};
  plan.include_optional = include_optional;
  const auto prepared = durable::detail::dead_letter_engine::prepare(s.filter);
  std::size_t total = 0;
  for (const auto& name : s.dlqs) {
    total += static_cast<std::size_t>(s.db.storage().count_dead_letters(prepared.where(name)));
  }
  redrive_report report{ctx, dry_run, total};
  {
    const progress bar_line{dry_run ? "redrive (dry run)" : "redrive", total};
    std::size_t done = 0;
    for (const auto& name : s.dlqs) redrive_dlq(s, name, plan, report, bar_line, done);
  }
  report.print();
  return 0;
}

namespace {

/// The cutoff of --older-than (entries that failed before it go), after checking that
/// purge was given either it (with --dlq at most) or filters.
std::optional<std::int64_t> purge_cutoff(const context& ctx, const dlq_filter& filter,
                                         const std::optional<std::string>& older_than) {
  if (!older_than) {
    if (filter.empty()) {
      throw usage_error(
          "durable: usage: dlq purge needs --older-than DURATION or at least one filter (--dlq, "
          "--since, --until, --type, --key, --queue)");
    }
    return std::nullopt;
  }
  auto only_dlq = filter;
  only_dlq.dlq.reset();
  if (!only_dlq.empty()) {
    throw usage_error(
        "durable: usage: dlq purge takes --older-than (with --dlq at most) or filters, not both");
  }
  const auto age = parse_duration(*older_than, "--older-than");
  std::int64_t cutoff = 0;
  if (__builtin_sub_overflow(ctx.now_ms, age, &cutoff)) {
    throw usage_error("durable: usage: --older-than reaches before the earliest time");
  }
  return cutoff;
}

/// Deletes what `where` selects in time-ordered slices of up to 1,000 entries, one
/// transaction each, so a large purge shows progress and never holds the write lock long.
std::int64_t delete_in_slices(durable::storage::backend& storage,
                              const durable::storage::dead_letter_where& where,
                              const progress& bar_line, std::size_t& done) {
  std::int64_t deleted = 0;
  durable::storage::page_position position;
  position.after_ms = std::numeric_limits<std::int64_t>::min();
  position.limit = static_cast<std::int64_t>(batch);
  for (;;) {
    const auto page = storage.dead_letter_page(where, position);
    if (page.empty()) return deleted;
    auto slice = where;
    slice.to_ms = ms(page.back().failed_at);
    const auto n = storage.delete_dead_letters(slice);
    deleted += n;
    done += static_cast<std::size_t>(n);
    bar_line.update(done);
    position.after_ms = ms(page.back().failed_at);
    position.after_id = page.back().id;
  }
}

}  // namespace

int dlq_purge(const context& ctx, const dlq_filter& filter,
              const std::optional<std::string>& older_than, bool dry_run) {
  const auto cutoff = purge_cutoff(ctx, filter, older_than);
  const auto s = select(ctx, filter, !dry_run);
  auto& storage = s.db.storage();
  auto prepared = durable::detail::dead_letter_engine::prepare(s.filter);
  if (cutoff) {
    prepared.to_ms = *cutoff - 1;  // failed before the cutoff, redriven or not
    prepared.include_redriven = true;
  }
  std::map<std::string, std::int64_t> counts;
  std::size_t total = 0;
  for (const auto& name : s.dlqs) {
    counts[name] = storage.count_dead_letters(prepared.where(name));
    total += static_cast<std::size_t>(counts[name]);
  }
  if (!dry_run) {
    const progress bar_line{"purge", total};
    std::size_t done = 0;
    for (const auto& name : s.dlqs) {
      counts[name] = delete_in_slices(storage, prepared.where(name), bar_line, done);
    }
  }
  std::int64_t sum = 0;
  table t{{{"DLQ"}, {dry_run ? "WOULD DELETE" : "DELETED", align::right}}};
  for (const auto& [name, n] : counts) {
    sum += n;
    if (ctx.json) {
      context::emit(
          {{"dlq", name}, {dry_run ? "would_delete" : "deleted", n}, {"dry_run", dry_run}});
    } else {
      t.add({printable(name), std::to_string(n)});
    }
  }
  if (ctx.json) return 0;
  print_or_none(t, "no dead-letter queues");
  fmt::print("{}{} entr{} {}\n", dry_run ? "dry run: " : "", sum, sum == 1 ? "y" : "ies",
             dry_run ? "would be deleted; nothing was changed" : "deleted");
  return 0;
}

}  // namespace durable_cli
