// SPDX-License-Identifier: MIT
// durable dlq list, show, count, redrive, purge.

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
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
    if (on_) std::fprintf(stderr, "\r%s: %zu/%zu", what_.c_str(), done, total_);
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
  if (f.since)
    filter.from = durable::detail::from_unix_ms(parse_time(*f.since, "--since", ctx.now_ms));
  if (f.until)
    filter.to = durable::detail::from_unix_ms(parse_time(*f.until, "--until", ctx.now_ms));
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
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), n);
    if (ec == std::errc{} && end == key.data() + key.size()) filter.keys.emplace_back(n);
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
                    *f.dlq, s.db.target(), ctx.target));
  }
  return s;
}

durable::detail::dead_letter_engine engine(const selection& s, const std::string& dlq) {
  durable::dead_letter_options options;
  options.log = nullptr;
  options.retention.reset();
  return {s.db, dlq, options};
}

/// Every entry of `dlq` matching the filter, oldest first.
std::vector<dead_letter_summary> all_entries(durable::detail::dead_letter_engine& e,
                                             const durable::dead_letter_filter& filter) {
  std::vector<dead_letter_summary> out;
  durable::page_request page;
  page.limit = static_cast<std::int64_t>(batch);
  for (;;) {
    auto p = e.query(filter, page);
    out.insert(out.end(), p.entries.begin(), p.entries.end());
    if (!p.next) return out;
    page.after = p.next;
  }
}

std::string cursor_text(const dead_letter_summary& e) {
  return fmt::format("{}:{}", ms(e.failed_at), e.id);
}

durable::dead_letter_cursor parse_cursor(const std::string& text) {
  const auto colon = text.find(':');
  std::int64_t at = 0;
  std::int64_t id = 0;
  const auto whole = [](std::string_view part, std::int64_t& v) {
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    return !part.empty() && ec == std::errc{} && end == part.data() + part.size();
  };
  if (colon == std::string::npos || !whole(std::string_view{text}.substr(0, colon), at) ||
      !whole(std::string_view{text}.substr(colon + 1), id)) {
    throw usage_error(fmt::format(
        "durable: usage: --after {:?} is not a cursor; pass the value a previous `dlq list` "
        "printed (FAILED_AT_MS:ID)",
        text.substr(0, 64)));
  }
  return {durable::detail::from_unix_ms(at), id};
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

void print_or_none(const table& t, const char* none) {
  if (t.empty()) {
    std::puts(none);
  } else {
    t.print(stdout);
  }
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
    std::printf("more entries: add --after %s\n", cursor_text(entries.back().second).c_str());
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
                    id, storage.target(), ctx.target));
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

int dlq_count(const context& ctx, const dlq_filter& filter, const std::optional<std::string>& by) {
  using grouping = durable::storage::dead_letter_grouping;
  std::optional<grouping> g;
  if (by) {
    if (*by == "type") {
      g = grouping::error_type;
    } else if (*by == "hour") {
      g = grouping::hour;
    } else if (*by == "day") {
      g = grouping::day;
    } else {
      throw usage_error(
          fmt::format("durable: usage: --by {:?} is not type, hour or day", by->substr(0, 64)));
    }
  }
  const auto s = select(ctx, filter, false);
  auto& storage = s.db.storage();
  const auto prepared = durable::detail::dead_letter_engine::prepare(s.filter);
  if (!g) {
    table t{{{"DLQ"}, {"ENTRIES", align::right}}};
    std::int64_t total = 0;
    for (const auto& name : s.dlqs) {
      const auto n = storage.count_dead_letters(prepared.where(name));
      total += n;
      if (ctx.json) {
        context::emit({{"dlq", name}, {"count", n}});
      } else {
        t.add({printable(name), std::to_string(n)});
      }
    }
    if (!ctx.json) {
      t.add({"total", std::to_string(total)});
      t.print(stdout);
    }
    return 0;
  }
  // Groups of every selected DLQ added up: by type, most first; by time, oldest first.
  std::map<std::string, std::int64_t> by_type;
  std::map<std::int64_t, std::int64_t> by_time;
  for (const auto& name : s.dlqs) {
    for (const auto& group : storage.count_dead_letters_by(prepared.where(name), *g)) {
      if (*g == grouping::error_type) {
        by_type[group.error_type] += group.count;
      } else {
        by_time[group.bucket_ms] += group.count;
      }
    }
  }
  std::vector<std::pair<std::string, std::int64_t>> rows;
  if (*g == grouping::error_type) {
    rows.assign(by_type.begin(), by_type.end());
    std::stable_sort(rows.begin(), rows.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
  } else if (!by_time.empty()) {
    // Every bucket from the first to the last, empty ones included, up to 10,000 rows:
    // a gap in the bars is the shape of an outage.
    const std::int64_t step = *g == grouping::hour ? 3'600'000 : 86'400'000;
    const auto first = by_time.begin()->first;
    const auto last = by_time.rbegin()->first;
    const bool fill = (last - first) / step < 10'000;
    for (std::int64_t at = first; at <= last; at = fill ? at + step : last + 1) {
      if (!fill) {
        for (const auto& [bucket, n] : by_time) {
          rows.emplace_back(durable_cli::iso(bucket), n);
        }
        break;
      }
      const auto it = by_time.find(at);
      rows.emplace_back(durable_cli::iso(at), it == by_time.end() ? 0 : it->second);
    }
  }
  const char* label = *g == grouping::error_type ? "error_type"
                      : *g == grouping::hour     ? "hour"
                                                 : "day";
  if (ctx.json) {
    for (const auto& [key, n] : rows) context::emit({{label, key}, {"count", n}});
    return 0;
  }
  std::int64_t max = 0;
  for (const auto& r : rows) max = std::max(max, r.second);
  table t{{{*g == grouping::error_type ? "ERROR"
            : *g == grouping::hour     ? "HOUR (UTC)"
                                       : "DAY (UTC)"},
           {"COUNT", align::right},
           {""}}};
  for (const auto& [key, n] : rows) {
    std::string name = key;
    if (*g == grouping::hour) name = key.substr(0, 16) + "Z";  // 2026-11-30T08:00Z
    if (*g == grouping::day) name = key.substr(0, 10);
    t.add({printable(name), std::to_string(n), bar(n, max)});
  }
  print_or_none(t, "no entries");
  return 0;
}

int dlq_redrive(const context& ctx, const dlq_filter& filter, const std::optional<std::string>& to,
                bool dry_run, bool force, bool include_optional) {
  if (to) durable::detail::validate_name("--to", *to);
  const auto s = select(ctx, filter, true);
  std::optional<durable::detail::queue_engine> target;
  if (to) {
    const auto queues = s.db.storage().list_queues(ctx.now_ms);
    if (std::none_of(queues.begin(), queues.end(), [&](const auto& q) { return q.name == *to; })) {
      throw failure(fmt::format(
          "durable: unknown queue \"{}\" in \"{}\": --to needs a queue of the same database that "
          "has jobs or settings; nothing was changed",
          *to, s.db.target()));
    }
    durable::queue_options options;
    options.log = nullptr;
    // Untyped: the tool pushes stored bytes as they are and never claims through it.
    target.emplace(s.db, *to, options, durable::detail::codec_identity{});
  }
  const std::set<std::string, std::less<>> named(filter.types.begin(), filter.types.end());

  struct line {
    std::string dlq;
    dead_letter_summary entry;
    std::string outcome;
    std::string detail;
  };
  std::vector<line> lines;
  std::size_t total = 0;
  std::vector<std::pair<std::string, std::vector<dead_letter_summary>>> per_dlq;
  for (const auto& name : s.dlqs) {
    auto e = engine(s, name);
    per_dlq.emplace_back(name, all_entries(e, s.filter));
    total += per_dlq.back().second.size();
  }
  const progress bar_line{dry_run ? "redrive (dry run)" : "redrive", total};
  std::size_t done = 0;
  std::map<std::string, std::int64_t> counts;
  for (auto& [name, entries] : per_dlq) {
    auto e = engine(s, name);
    std::vector<durable::dead_letter_id> ids;
    std::map<durable::dead_letter_id, dead_letter_summary> by_id;
    for (auto& entry : entries) {
      const auto policy = entry.redrive;
      if (!force && policy == durable::redrive_policy::optional && !include_optional &&
          !named.contains(entry.error_type)) {
        lines.push_back({name, entry, "skipped",
                         "policy optional: name its error type with --type, or pass "
                         "--include-optional"});
        ++counts["skipped"];
        continue;
      }
      ids.push_back(entry.id);
      by_id.emplace(entry.id, std::move(entry));
    }
    durable::detail::redrive_target how;
    how.queue = target ? &*target : nullptr;
    how.options.force = force;
    how.dry_run = dry_run;
    for (std::size_t start = 0; start < ids.size(); start += batch) {
      const auto chunk = std::span{ids}.subspan(start, std::min(batch, ids.size() - start));
      const auto result = durable::detail::redrive(e, chunk, how);
      for (const auto& r : result.entries) {
        auto& entry = by_id.at(r.id);
        const auto into = to ? *to : entry.queue;
        std::string outcome = "skipped";
        std::string detail;
        switch (r.outcome) {
          case durable::redrive_outcome::redriven:
            outcome = dry_run ? "would redrive" : "redriven";
            detail = dry_run ? fmt::format("into {}", printable(into))
                             : fmt::format("job {} in {}", r.job, printable(into));
            break;
          case durable::redrive_outcome::not_redrivable:
            detail = "policy never: pass --force to redrive it anyway";
            break;
          case durable::redrive_outcome::already_queued:
            detail = fmt::format("its unique key is queued as job {}", r.job);
            break;
          case durable::redrive_outcome::queue_full:
            detail = fmt::format("queue {} is at its hard limit", printable(into));
            break;
          case durable::redrive_outcome::no_target:
            detail =
                "no source queue in this database (added by hand or from another "
                "database): pass --to QUEUE";
            break;
          case durable::redrive_outcome::gone: detail = "redriven or deleted meanwhile"; break;
          case durable::redrive_outcome::incompatible: detail = "incompatible"; break;
        }
        ++counts[outcome];
        lines.push_back({name, std::move(entry), std::move(outcome), std::move(detail)});
      }
      done += chunk.size();
      bar_line.update(done);
    }
  }
  std::stable_sort(lines.begin(), lines.end(),
                   [](const line& a, const line& b) { return a.entry.id < b.entry.id; });
  if (ctx.json) {
    for (const auto& l : lines) {
      context::emit({{"id", l.entry.id},
                     {"dlq", l.dlq},
                     {"error_type", l.entry.error_type},
                     {"redrive_policy", durable::to_string(l.entry.redrive)},
                     {"outcome", l.outcome},
                     {"detail", l.detail},
                     {"dry_run", dry_run}});
    }
    return 0;
  }
  table t{{{"ID", align::right}, {"DLQ"}, {"ERROR"}, {"POLICY"}, {"OUTCOME"}, {"DETAIL"}}};
  for (const auto& l : lines) {
    t.add({std::to_string(l.entry.id), printable(l.dlq), printable(l.entry.error_type),
           std::string{durable::to_string(l.entry.redrive)}, l.outcome, l.detail});
  }
  print_or_none(t, "no entries selected");
  const auto moved = counts[dry_run ? "would redrive" : "redriven"];
  std::printf("%s%lld of %zu entries %s, %lld skipped%s\n", dry_run ? "dry run: " : "",
              static_cast<long long>(moved), lines.size(),
              dry_run ? "would be redriven" : "redriven", static_cast<long long>(counts["skipped"]),
              dry_run ? "; nothing was changed" : "");
  return 0;
}

int dlq_purge(const context& ctx, const dlq_filter& filter,
              const std::optional<std::string>& older_than, bool dry_run) {
  if (older_than && !filter.empty() &&
      !(filter.dlq && !filter.since && !filter.until && filter.types.empty() &&
        filter.keys.empty() && !filter.queue)) {
    throw usage_error(
        "durable: usage: dlq purge takes --older-than (with --dlq at most) or filters, not both");
  }
  if (!older_than && filter.empty()) {
    throw usage_error(
        "durable: usage: dlq purge needs --older-than DURATION or at least one filter (--dlq, "
        "--since, --until, --type, --key, --queue)");
  }
  std::int64_t cutoff = 0;
  if (older_than) {
    const auto age = parse_duration(*older_than, "--older-than");
    if (__builtin_sub_overflow(ctx.now_ms, age, &cutoff)) {
      throw usage_error("durable: usage: --older-than reaches before the earliest time");
    }
  }
  const auto s = select(ctx, filter, !dry_run);
  auto& storage = s.db.storage();
  auto prepared = durable::detail::dead_letter_engine::prepare(s.filter);
  if (older_than) {
    prepared.to_ms = cutoff - 1;  // failed before the cutoff
    prepared.include_redriven = true;
  }
  std::map<std::string, std::int64_t> counted;
  std::size_t total = 0;
  for (const auto& name : s.dlqs) {
    counted[name] = storage.count_dead_letters(prepared.where(name));
    total += static_cast<std::size_t>(counted[name]);
  }
  std::map<std::string, std::int64_t> deleted;
  if (!dry_run) {
    // In time-ordered slices of up to 1,000 entries, one transaction each, so a large purge
    // shows progress and never holds the write lock for long.
    const progress bar_line{"purge", total};
    std::size_t done = 0;
    for (const auto& name : s.dlqs) {
      auto where = prepared.where(name);
      durable::storage::page_position position;
      position.after_ms = std::numeric_limits<std::int64_t>::min();
      position.limit = static_cast<std::int64_t>(batch);
      for (;;) {
        const auto page = storage.dead_letter_page(where, position);
        if (page.empty()) break;
        auto slice = where;
        slice.to_ms = ms(page.back().failed_at);
        const auto n = storage.delete_dead_letters(slice);
        deleted[name] += n;
        done += static_cast<std::size_t>(n);
        bar_line.update(std::min(done, total));
        position.after_ms = ms(page.back().failed_at);
        position.after_id = page.back().id;
      }
    }
  }
  const auto& shown = dry_run ? counted : deleted;
  std::int64_t sum = 0;
  table t{{{"DLQ"}, {dry_run ? "WOULD DELETE" : "DELETED", align::right}}};
  for (const auto& name : s.dlqs) {
    const auto it = shown.find(name);
    const auto n = it == shown.end() ? 0 : it->second;
    sum += n;
    if (ctx.json) {
      context::emit(
          {{"dlq", name}, {dry_run ? "would_delete" : "deleted", n}, {"dry_run", dry_run}});
    } else {
      t.add({printable(name), std::to_string(n)});
    }
  }
  if (!ctx.json) {
    print_or_none(t, "no dead-letter queues");
    std::printf("%s%lld entr%s %s\n", dry_run ? "dry run: " : "", static_cast<long long>(sum),
                sum == 1 ? "y" : "ies",
                dry_run ? "would be deleted; nothing was changed" : "deleted");
  }
  return 0;
}

}  // namespace durable_cli
