// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The PostgreSQL backend: storage::backend on a pool of libpq connections. Each call
/// takes a connection, runs its transaction (most calls are one statement) and gives the
/// connection back, so calls of different threads run in parallel, and processes on many
/// hosts share one database. Part of the PostgreSQL layer.

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "durable/detail/postgres/admin.hpp"
#include "durable/detail/postgres/claim.hpp"
#include "durable/detail/postgres/connection.hpp"
#include "durable/detail/postgres/counters.hpp"
#include "durable/detail/postgres/dead_letter_move.hpp"
#include "durable/detail/postgres/dead_letter_query.hpp"
#include "durable/detail/postgres/error.hpp"
#include "durable/detail/postgres/finish.hpp"
#include "durable/detail/postgres/inspect.hpp"
#include "durable/detail/postgres/job_status.hpp"
#include "durable/detail/postgres/listener.hpp"
#include "durable/detail/postgres/push.hpp"
#include "durable/detail/postgres/queue_state.hpp"
#include "durable/detail/postgres/redrive.hpp"
#include "durable/detail/postgres/schema.hpp"
#include "durable/exceptions.hpp"
#include "durable/open_options.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::postgres {

/// Throws invalid_argument_error("target") unless libpq can parse `conninfo`. A string
/// libpq cannot parse cannot be redacted reliably, so neither it nor libpq's message (which
/// may quote a piece of it) is shown when it may hold a password.
inline void check_conninfo(const std::string& conninfo) {
  char* message = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &message);
  if (options != nullptr) {
    PQconninfoFree(options);
    return;
  }
  std::string why = message != nullptr ? one_line(message) : "out of memory";
  PQfreemem(message);
  std::string lower = conninfo;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const bool secret =
      lower.find("password") != std::string::npos || lower.find('@') != std::string::npos;
  throw invalid_argument_error(
      "target",
      fmt::format("durable: invalid argument: {} is not a valid PostgreSQL connection string: "
                  "{}; write postgresql://user@host:port/dbname or key=value pairs (host=... "
                  "dbname=...)",
                  secret ? std::string{"the target (not shown: it may hold a password)"}
                         : fmt::format("\"{}\"", conninfo),
                  secret ? std::string{"libpq cannot parse it"} : why));
}

/// storage::backend on a PostgreSQL database (see storage.hpp for the contract).
class postgres_backend final : public storage::backend {
 public:
  /// Connects with `conninfo`, brings the schema of its search_path to the current version
  /// and keeps the connection for the first call. With open_options::read_only, checks
  /// that the schema is one this build reads (check_schema_readable) instead, and every
  /// session is read-only: nothing is created, migrated or written. Throws
  /// invalid_argument_error, connection_error, postgres_error or schema_error.
  postgres_backend(const std::string& conninfo, const open_options& options)
      : pool_((check_conninfo(conninfo), conninfo), redact(conninfo), options),
        listener_(pool_, [this](int pid) { return pool_.serves(pid); }),
        read_only_(options.read_only) {
    const pool::lease c{pool_, pool_.take("opening the database")};
    if (read_only_) {
      check_schema_readable(*c);
    } else {
      ensure_schema(*c);
    }
    database_id_ = postgres::database_id(*c);
  }

  [[nodiscard]] const std::string& target() const noexcept override { return pool_.target(); }
  [[nodiscard]] const std::string& database_id() const noexcept override { return database_id_; }
  // Commits of other hosts cannot be counted cheaply; idle claims are never skipped, and
  // idle workers learn of pushes from watch_pushes instead.
  [[nodiscard]] std::optional<std::int64_t> change_stamp() override { return std::nullopt; }
  void watch_pushes(std::function<void(std::string_view)> on_push) override {
    listener_.watch(std::move(on_push));
  }

  void register_queue(std::string_view queue) override {
    if (read_only_ || known(queues_, queue)) return;
    pool_.single("recording a queue", [&](connection& c) { postgres::register_queue(c, queue); });
    remember(queues_, std::string{queue});
  }
  void configure_queue(std::string_view queue, const storage::queue_settings& settings) override {
    pool_.single("configuring a queue",
                 [&](connection& c) { postgres::configure_queue(c, queue, settings); });
  }
  [[nodiscard]] storage::queue_settings queue_configuration(std::string_view queue) override {
    return pool_.single("reading a queue's settings",
                        [&](connection& c) { return queue_settings(c, queue); });
  }

  std::vector<storage::pushed> push(std::span<const storage::new_job> jobs,
                                    storage::push_mode mode) override {
    if (jobs.empty()) return {};
    bool fast = true;
    for (const auto& job : jobs) {
      check_key(job.key);
      if ((job.unique && job.key != nullptr) || job.sequential || job.queue != jobs.front().queue) {
        fast = false;  // the locked path (push.hpp), for sequential jobs with its table lock
      }
    }
    if (fast) {
      auto ids = pool_.single("pushing", [&](connection& c) { return insert_unlimited(c, jobs); });
      if (ids) {
        std::vector<storage::pushed> out;
        out.reserve(ids->size());
        for (const auto id : *ids) out.push_back({id, storage::push_status::created});
        return out;
      }
    }
    return pool_.in_transaction("pushing", [&](connection& c, transaction& tx) {
      std::vector<storage::pushed> out;
      out.reserve(jobs.size());
      push_path path{c};
      path.lock(jobs);
      for (const auto& job : jobs) {
        out.push_back(path.push(job));
        if (out.back().status == storage::push_status::full &&
            mode == storage::push_mode::all_or_nothing) {
          return out;  // rolled back
        }
      }
      path.count();
      tx.commit();
      return out;
    });
  }

  [[nodiscard]] std::vector<storage::claimed_row> claim(
      const storage::claim_request& request) override {
    return pool_.single("claiming", [&](connection& c) {
      return request.max <= 1 ? claim_next(c, request) : claim_head(c, request);
    });
  }
  bool ack(const storage::lease_ref& lease) override {
    return pool_.single("acking", [&](connection& c) { return delete_claimed(c, lease); });
  }
  bool nack(const storage::nack_request& request) override {
    return pool_.single("nacking", [&](connection& c) { return release_claimed(c, request); });
  }
  bool extend(const storage::lease_ref& lease, std::int64_t lease_until_ms) override {
    return pool_.single("extending a lease",
                        [&](connection& c) { return extend_claimed(c, lease, lease_until_ms); });
  }

  [[nodiscard]] std::vector<attempt_record> job_history(std::string_view queue,
                                                        job_id id) override {
    return pool_.single("reading a job's history",
                        [&](connection& c) { return postgres::job_history(c, queue, id); });
  }
  [[nodiscard]] storage::queue_counts count_jobs(std::string_view queue,
                                                 std::int64_t now_ms) override {
    return pool_.single("counting jobs",
                        [&](connection& c) { return postgres::count_jobs(c, queue, now_ms); });
  }
  [[nodiscard]] std::int64_t size(std::string_view queue) override {
    return pool_.single("counting jobs", [&](connection& c) { return count_all(c, queue); });
  }
  [[nodiscard]] storage::job_status_row job_status(std::string_view queue, job_id id,
                                                   std::int64_t now_ms) override {
    return pool_.single("reading a job's status", [&](connection& c) {
      return postgres::job_status(c, queue, id, now_ms, database_id_);
    });
  }
  [[nodiscard]] std::optional<storage::dead_letter_ref> locate_dead_letter(
      std::string_view origin, job_id original_id) override {
    return pool_.single("locating a dead letter",
                        [&](connection& c) { return dead_letter_of(c, origin, original_id); });
  }
  [[nodiscard]] std::optional<std::int64_t> next_run_at(std::string_view queue) override {
    return pool_.single("reading a queue",
                        [&](connection& c) { return postgres::next_run_at(c, queue); });
  }
  [[nodiscard]] bool has_key(std::string_view queue, const job_key& key) override {
    check_key(&key);
    return pool_.single("looking up a key",
                        [&](connection& c) { return find_by_key(c, queue, key).has_value(); });
  }
  [[nodiscard]] std::vector<std::string> claimers(std::string_view queue) override {
    return pool_.single("listing claimers",
                        [&](connection& c) { return postgres::claimers(c, queue); });
  }
  std::int64_t release_claimer(std::string_view queue, std::string_view claimer,
                               std::int64_t now_ms) override {
    return pool_.single("releasing a dead claimer's jobs", [&](connection& c) {
      return postgres::release_claimer(c, queue, claimer, now_ms);
    });
  }

  [[nodiscard]] std::vector<storage::job_type_count> count_job_types(std::string_view queue,
                                                                     std::int64_t now_ms) override {
    return pool_.single("counting job types",
                        [&](connection& c) { return postgres::count_job_types(c, queue, now_ms); });
  }

  std::optional<dead_letter_id> move_to_dead_letter(const storage::move_request& request) override {
    return pool_.single("moving a job to a dead-letter queue",
                        [&](connection& c) { return move_claimed(c, request, database_id_); });
  }
  [[nodiscard]] std::optional<storage::job_snapshot> read_claimed(
      const storage::lease_ref& lease) override {
    return pool_.single("reading a claimed job",
                        [&](connection& c) { return read_claimed_job(c, lease); });
  }
  std::vector<std::pair<dead_letter_id, bool>> add_dead_letters(
      std::span<const storage::new_dead_letter> entries) override {
    for (const auto& entry : entries) check_key(entry.key);
    return pool_.in_transaction("adding dead letters", [&](connection& c, transaction& tx) {
      std::vector<std::pair<dead_letter_id, bool>> out;
      out.reserve(entries.size());
      count_changes added;
      for (const auto& entry : entries) {
        if (const auto id = insert_dead_letter(c, entry)) {
          out.emplace_back(*id, true);
          add_change(added, entry.dlq, 1);
        } else {
          const auto existing = entry.origin && entry.original_id
                                    ? find_dead_letter(c, *entry.origin, *entry.original_id)
                                    : std::nullopt;
          out.emplace_back(existing.value_or(0), false);
        }
      }
      add_dead_letter_entries(c, added);
      tx.commit();
      return out;
    });
  }
  bool remove_dead_letter(std::string_view dlq, dead_letter_id id) override {
    return pool_.single("deleting a dead letter",
                        [&](connection& c) { return delete_dead_letter(c, dlq, id); });
  }
  [[nodiscard]] std::optional<storage::dead_letter_row> dead_letter(std::string_view dlq,
                                                                    dead_letter_id id) override {
    return read_snapshot("reading a dead letter",
                         [&](connection& c) { return read_dead_letter(c, dlq, id); });
  }
  [[nodiscard]] std::vector<dead_letter_summary> dead_letter_page(
      const storage::dead_letter_where& where, const storage::page_position& position) override {
    const auto read = [&](connection& c) { return postgres::dead_letter_page(c, where, position); };
    if (where.keys.size() + where.error_types.size() <= 1) {
      return pool_.single("querying dead letters", read);
    }
    return read_snapshot("querying dead letters", read);  // several statements: one snapshot
  }
  [[nodiscard]] std::int64_t count_dead_letters(const storage::dead_letter_where& where) override {
    return pool_.single("counting dead letters",
                        [&](connection& c) { return postgres::count_dead_letters(c, where); });
  }
  [[nodiscard]] std::vector<dead_letter_id> select_dead_letters(
      const storage::dead_letter_where& where) override {
    return pool_.single("selecting dead letters",
                        [&](connection& c) { return postgres::select_dead_letters(c, where); });
  }
  std::int64_t delete_dead_letters(const storage::dead_letter_where& where) override {
    return pool_.single("deleting dead letters",
                        [&](connection& c) { return postgres::delete_dead_letters(c, where); });
  }
  std::int64_t delete_failed_before(std::string_view dlq, std::int64_t cutoff_ms) override {
    return pool_.single("deleting old dead letters", [&](connection& c) {
      return postgres::delete_failed_before(c, dlq, cutoff_ms);
    });
  }
  std::vector<storage::redriven_entry> redrive(const storage::redrive_request& request) override {
    return pool_.in_transaction("redriving dead letters", [&](connection& c, transaction& tx) {
      auto out = redrive_entries(c, request, database_id_);
      if (!request.dry_run) tx.commit();  // a dry run rolls back: the results say what would
      return out;                         // happen, and nothing changes
    });
  }
  std::int64_t mark_redriven(std::string_view dlq, std::span<const dead_letter_id> ids,
                             std::int64_t now_ms) override {
    return pool_.single("marking dead letters redriven", [&](connection& c) {
      return postgres::mark_redriven(c, dlq, ids, now_ms);
    });
  }

  // ---- Job types

  void record_job_type(std::string_view codec, std::uint64_t fingerprint,
                       std::string_view description, std::int64_t now_ms) override {
    if (read_only_) return;  // a read-only open records nothing
    auto type = fmt::format("{}/{:016x}", codec, fingerprint);
    if (known(types_, type)) return;
    pool_.single("recording a job type", [&](connection& c) {
      // A read first: no write when the type is recorded already.
      if (!has_job_type(c, codec, fingerprint)) {
        postgres::record_job_type(c, codec, fingerprint, description, now_ms);
      }
    });
    remember(types_, std::move(type));
  }
  [[nodiscard]] std::vector<storage::job_type> job_types() override {
    return pool_.single("reading job types", [](connection& c) { return postgres::job_types(c); });
  }

  // ---- Inspection and administration

  [[nodiscard]] std::vector<storage::queue_info> list_queues(std::int64_t now_ms) override {
    return read_snapshot("listing queues",
                         [&](connection& c) { return postgres::list_queues(c, now_ms); });
  }
  bool set_paused(std::string_view queue, bool paused) override {
    return pool_.single("pausing or resuming a queue",
                        [&](connection& c) { return postgres::set_paused(c, queue, paused); });
  }
  [[nodiscard]] std::vector<storage::job_row> list_jobs(std::string_view queue,
                                                        std::optional<storage::job_state> state,
                                                        std::int64_t now_ms,
                                                        std::int64_t limit) override {
    return pool_.single("listing jobs", [&](connection& c) {
      return postgres::list_jobs(c, queue, state, now_ms, limit);
    });
  }
  [[nodiscard]] std::optional<storage::job_row> find_job(job_id id) override {
    return read_snapshot("reading a job", [&](connection& c) { return postgres::find_job(c, id); });
  }
  storage::cancel_result cancel_job(job_id id, std::int64_t now_ms, bool claimed_too) override {
    return pool_.single("cancelling a job", [&](connection& c) {
      return postgres::cancel_job(c, id, now_ms, claimed_too);
    });
  }
  [[nodiscard]] std::vector<storage::dead_letter_queue_info> dead_letter_queues() override {
    return pool_.single("listing dead-letter queues",
                        [](connection& c) { return postgres::dead_letter_queues(c); });
  }
  [[nodiscard]] std::vector<storage::dead_letter_group> count_dead_letters_by(
      const storage::dead_letter_where& where, storage::dead_letter_grouping grouping) override {
    return pool_.single("counting dead letters", [&](connection& c) {
      return postgres::count_dead_letters_by(c, where, grouping);
    });
  }

  /// The connection pool, for tests and tools that need PostgreSQL itself.
  [[nodiscard]] pool& connections() noexcept { return pool_; }

 private:
  /// Runs `f(connection&)` in a read-only transaction: its statements see one snapshot.
  template <class F>
  std::invoke_result_t<F&, connection&> read_snapshot(std::string_view doing, F&& f) {
    return pool_.in_transaction(
        doing,
        [&](connection& c, transaction& tx) {
          auto out = f(c);
          tx.commit();
          return out;
        },
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  }

  /// True when `name` is in `names` (recorded by this backend already).
  bool known(const std::set<std::string, std::less<>>& names, std::string_view name) {
    const std::lock_guard lock{names_mutex_};
    return names.contains(name);
  }
  void remember(std::set<std::string, std::less<>>& names, std::string name) {
    const std::lock_guard lock{names_mutex_};
    names.insert(std::move(name));
  }

  pool pool_;
  listener listener_;  // after pool_: stopped before the pool goes
  bool read_only_;
  std::string database_id_;
  std::mutex names_mutex_;
  std::set<std::string, std::less<>> queues_;  // registered; guarded by names_mutex_
  std::set<std::string, std::less<>> types_;   // "codec/fingerprint" recorded; guarded too
};

}  // namespace durable::inline v0::detail::postgres
