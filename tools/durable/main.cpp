// SPDX-License-Identifier: MIT
// durable: see and operate the queues and dead-letter queues of a durable database
// without writing C++. Exit status: 0 ok, 1 failure, 2 usage. See README "Operating durable".

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <durable/clock.hpp>
#include <durable/exceptions.hpp>
#include <durable/open_options.hpp>

#include "commands.hpp"
#include "errors.hpp"

namespace {

using durable_cli::context;
using durable_cli::dlq_filter;

/// `message` on one line of stderr.
void print_error(std::string message) {
  for (auto& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  message += '\n';
  std::fputs(message.c_str(), stderr);
}

/// A subcommand whose unknown options fall through to the parent (--json anywhere).
CLI::App* command(CLI::App& parent, const std::string& name, const std::string& what) {
  auto* sub = parent.add_subcommand(name, what);
  sub->fallthrough();
  return sub;
}

/// Refuses a number too large for 64 bits, which CLI11 2.1 would silently saturate (an id
/// of 99999999999999999999 became "no job 9223372036854775807"); other text is left to
/// the option's conversion.
const CLI::Validator fits_64_bits{
    [](std::string& text) -> std::string {
      std::int64_t value = 0;
      const auto* end = text.data() + text.size();
      if (std::from_chars(text.data(), end, value).ec == std::errc::result_out_of_range) {
        return fmt::format("{} does not fit in a 64-bit integer", text);
      }
      return {};
    },
    "", "fits_64_bits"};

void add_target(CLI::App* sub, context& ctx) {
  sub->add_option("DB", ctx.target,
                  "The database: a SQLite file, or a PostgreSQL connection string")
      ->required();
}

void add_filters(CLI::App* sub, dlq_filter& f) {
  sub->add_option("--dlq", f.dlq, "Only this dead-letter queue (default: every one)");
  sub->add_option("--since", f.since,
                  "Entries that failed at or after T: ISO 8601 (UTC without an offset), now, or "
                  "an age such as 2h, 30m, 7d");
  sub->add_option("--until", f.until, "Entries that failed at or before T (same forms)");
  sub->add_option("--type", f.types, "Entries with this error type (repeatable)")
      ->allow_extra_args(false);
  sub->add_option("--key", f.keys,
                  "Entries with this job key (repeatable; 42 matches integer and string keys)")
      ->allow_extra_args(false);
  sub->add_option("--queue", f.queue, "Entries that came from this queue");
}

/// The deepest command the parse reached (`app` itself when none).
const CLI::App* deepest_command(const CLI::App& app) {
  const CLI::App* current = &app;
  for (auto found = true; found;) {
    found = false;
    for (const auto* sub : current->get_subcommands()) {
      current = sub;
      found = true;
      break;
    }
  }
  return current;
}

/// The one-line message for a parse error: an unknown or missing command is named with
/// the commands that exist; the help hint names the command the operator was typing.
std::string usage_message(const CLI::App& app, const CLI::ParseError& e) {
  const auto* command = deepest_command(app);
  std::string path = "durable";
  std::vector<const CLI::App*> chain;
  for (const auto* c = command; c != &app && c != nullptr; c = c->get_parent()) {
    chain.push_back(c);
  }
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) path += " " + (*it)->get_name();
  const auto hint = fmt::format("see {} --help", path);
  if (e.get_name() == "RequiredError" && command->get_require_subcommand_min() > 0 &&
      command->get_subcommands().empty()) {
    std::string names;
    for (const auto* sub : command->get_subcommands({}))
      names += (names.empty() ? "" : ", ") + sub->get_name();
    const auto remaining = app.remaining();
    if (!remaining.empty()) {
      return fmt::format(
          "durable: usage: unknown command \"{}\" after \"{}\"; the commands are: {}; {}",
          remaining.front(), path, names, hint);
    }
    return fmt::format("durable: usage: \"{}\" needs a command: {}; {}", path, names, hint);
  }
  return fmt::format("durable: usage: {}; {}", e.what(), hint);
}

/// `what`, a lock wait past the busy timeout, with the library's advice (from
/// `advice_start` on: it names open_options::busy_timeout, which the tool has no option
/// for) replaced by what an operator can do.
std::string locked(std::string what, std::string_view advice_start) {
  what = what.substr(0, what.find(advice_start));
  return fmt::format(
      "{}; another program held a lock this command needs for more than {} ms; nothing was "
      "changed; retry when it is done",
      what, durable::open_options{}.busy_timeout.count());
}

}  // namespace

int run_main(int argc, char** argv) {
  CLI::App app{
      "See and operate the queues and dead-letter queues of a durable database.\n"
      "Exit status: 0 ok, 1 failure, 2 usage."};
  app.name("durable");
  app.require_subcommand(1);
  context ctx;
  std::vector<std::string> render;
  app.add_flag("--json", ctx.json, "One JSON object per line instead of tables");
  app.add_flag("--utc", ctx.utc, "Times as ISO 8601 UTC instead of \"3 min ago\"");
  app.add_option("--render", render,
                 "CODEC=COMMAND: show payloads of CODEC through COMMAND (payload on stdin; "
                 "DURABLE_CODEC, DURABLE_FINGERPRINT, DURABLE_DESCRIPTION in its environment)")
      ->allow_extra_args(false);

  std::function<int()> run;

  std::optional<std::string> queue;
  auto* stats =
      command(app, "stats", "Counts, ages, limits and pause state of every queue and DLQ");
  add_target(stats, ctx);
  stats->add_option("--queue", queue, "Only this queue");
  stats->callback([&] { run = [&] { return durable_cli::stats(ctx, queue); }; });

  auto* queues = command(app, "queues", "The queues and dead-letter queues of the database");
  add_target(queues, ctx);
  queues->callback([&] { run = [&] { return durable_cli::queues(ctx); }; });

  std::string queue_name;
  std::optional<std::string> state;
  std::int64_t limit = 50;
  auto* jobs = command(app, "jobs", "The jobs of a queue, in claim order");
  add_target(jobs, ctx);
  jobs->add_option("QUEUE", queue_name, "The queue")->required();
  jobs->add_option("--state", state, "Only jobs in this state: pending, scheduled or claimed");
  jobs->add_option("--limit", limit, "At most this many jobs (default 50)")->check(fits_64_bits);
  jobs->callback([&] { run = [&] { return durable_cli::jobs(ctx, queue_name, state, limit); }; });

  std::int64_t id = 0;
  bool force = false;
  auto* job = command(app, "job", "One job: state, attempts, lease holder, history, payload");
  job->add_option("DB", ctx.target, "The database");
  job->add_option("ID", id, "The job's id")->check(fits_64_bits);
  job->require_subcommand(0, 1);
  auto* cancel = command(*job, "cancel", "Delete a job that is not claimed (--force: even then)");
  add_target(cancel, ctx);
  cancel->add_option("ID", id, "The job's id")->required()->check(fits_64_bits);
  cancel->add_flag("--force", force, "Also delete a job a worker holds now");
  cancel->callback([&] { run = [&] { return durable_cli::cancel_job(ctx, id, force); }; });
  job->callback([&] {
    if (cancel->parsed()) return;
    if (ctx.target.empty() || job->count("ID") == 0) {
      throw CLI::RequiredError("durable job DB ID (or: durable job cancel DB ID)");
    }
    run = [&] { return durable_cli::show_job(ctx, id); };
  });

  auto* queue_cmd = command(app, "queue", "Pause or resume a queue");
  queue_cmd->require_subcommand(1);
  for (const bool pause : {true, false}) {
    auto* sub = command(*queue_cmd, pause ? "pause" : "resume",
                        pause ? "Stop every claim of the queue, in every process"
                              : "Let workers claim the queue's jobs again");
    add_target(sub, ctx);
    sub->add_option("QUEUE", queue_name, "The queue")->required();
    sub->callback([&, pause] {
      run = [&, pause] { return durable_cli::set_paused(ctx, queue_name, pause); };
    });
  }

  auto* migrate = command(app, "migrate", "Bring an older database to this build's schema");
  add_target(migrate, ctx);
  migrate->callback([&] { run = [&] { return durable_cli::migrate(ctx); }; });

  dlq_filter filter;
  std::optional<std::string> after;
  std::optional<std::string> by;
  std::optional<std::string> to;
  std::optional<std::string> older_than;
  bool dry_run = false;
  bool include_optional = false;
  auto* dlq = command(app, "dlq", "Dead-letter queues: list, show, count, redrive, purge");
  dlq->require_subcommand(1);

  auto* list = command(*dlq, "list", "Entries, newest first");
  add_target(list, ctx);
  add_filters(list, filter);
  list->add_option("--limit", limit, "At most this many entries (default 50)")->check(fits_64_bits);
  list->add_option("--after", after, "Continue after this cursor (printed by the previous page)");
  list->callback([&] { run = [&] { return durable_cli::dlq_list(ctx, filter, limit, after); }; });

  auto* show = command(*dlq, "show", "One entry: error, message, context, history, payload");
  add_target(show, ctx);
  show->add_option("ID", id, "The entry's id")->required()->check(fits_64_bits);
  show->callback([&] { run = [&] { return durable_cli::dlq_show(ctx, id); }; });

  auto* count = command(*dlq, "count", "How many entries, per DLQ or by type, hour or day");
  add_target(count, ctx);
  add_filters(count, filter);
  count->add_option("--by", by, "Group by type, hour or day (UTC), with bars");
  count->callback([&] { run = [&] { return durable_cli::dlq_count(ctx, filter, by); }; });

  auto* redrive = command(*dlq, "redrive",
                          "Put entries back on their queue, as each entry's redrive policy "
                          "allows: safe always, optional when --type names it, never with --force");
  add_target(redrive, ctx);
  add_filters(redrive, filter);
  redrive->add_option("--to", to, "Into this queue of the same database instead");
  redrive->add_flag("--dry-run", dry_run, "Say what would happen; change nothing");
  redrive->add_flag("--force", force, "Redrive every selected entry, whatever its policy");
  redrive->add_flag("--include-optional", include_optional,
                    "Redrive entries whose policy is optional without naming their type");
  redrive->callback([&] {
    run = [&] {
      return durable_cli::dlq_redrive(ctx, filter, to, dry_run, force, include_optional);
    };
  });

  auto* purge = command(*dlq, "purge",
                        "Delete entries: --older-than D (redriven ones too), or "
                        "the entries the filters select");
  add_target(purge, ctx);
  add_filters(purge, filter);
  purge->add_option("--older-than", older_than,
                    "Entries that failed longer ago than this: 30d, 12h");
  purge->add_flag("--dry-run", dry_run, "Count what would be deleted; change nothing");
  purge->callback(
      [&] { run = [&] { return durable_cli::dlq_purge(ctx, filter, older_than, dry_run); }; });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    print_error(usage_message(app, e));
    return 2;
  }
  try {
    ctx.render = durable_cli::parse_renderers(render);
    ctx.now_ms = durable::detail::to_unix_ms(std::chrono::system_clock::now());
    return run ? run() : 2;
  } catch (const durable_cli::usage_error& e) {
    print_error(e.what());
    return 2;
  } catch (const durable::invalid_argument_error& e) {
    print_error(e.what());
    return 2;
  } catch (const durable::busy_error& e) {
    print_error(locked(e.what(), "; another connection held"));
    return 1;
  } catch (const durable::postgres_error& e) {
    print_error(e.sqlstate() == "55P03" ? locked(e.what(), "; another transaction held")
                                        : std::string{e.what()});
    return 1;
  } catch (const durable::connection_error& e) {
    // The library's advice speaks of its next call; the operator's next call is a command.
    std::string what = e.what();
    for (const auto& [library, operator_words] :
         {std::pair<std::string_view, std::string_view>{
              "; the next call reconnects (check that the server runs and accepts this "
              "connection)",
              "; check that the server runs and accepts this connection, then run the command "
              "again"},
          {"the call may have taken effect; the next call reconnects",
           "the command may have taken effect; look (e.g. `durable stats`) before running it "
           "again"}}) {
      if (const auto at = what.find(library); at != std::string::npos) {
        what.replace(at, library.size(), operator_words);
      }
    }
    print_error(what);
    return 1;
  } catch (const std::exception& e) {
    const std::string what = e.what();
    print_error(what.starts_with("durable: ") ? what : "durable: error: " + what);
    return 1;
  }
}

int main(int argc, char** argv) {
  try {
    return run_main(argc, argv);
  } catch (...) {  // run_main reports every error itself; this is for the unexpected
    std::fputs("durable: error: an unexpected exception\n", stderr);
    return 1;
  }
}
