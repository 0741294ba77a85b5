// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The SQLite backend: storage::backend on one database file for one process. One writer
/// connection takes every write, merging concurrent calls from threads into one
/// transaction (group_commit.hpp), so threads of one process never wait in SQLite's busy
/// handler for each other; other processes take turns on SQLite's file lock. Reads run
/// on reader connections (reader_pool.hpp) and never wait for the writer. Part of the
/// SQLite layer, the only place SQL lives.

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "durable/detail/sqlite/admin.hpp"
#include "durable/detail/sqlite/catalog.hpp"
#include "durable/detail/sqlite/claim.hpp"
#include "durable/detail/sqlite/connection.hpp"
#include "durable/detail/sqlite/dead_letter_move.hpp"
#include "durable/detail/sqlite/dead_letter_query.hpp"
#include "durable/detail/sqlite/finish.hpp"
#include "durable/detail/sqlite/group_commit.hpp"
#include "durable/detail/sqlite/inspect.hpp"
#include "durable/detail/sqlite/job_status.hpp"
#include "durable/detail/sqlite/job_types.hpp"
#include "durable/detail/sqlite/push.hpp"
#include "durable/detail/sqlite/queue_state.hpp"
#include "durable/detail/sqlite/reader_pool.hpp"
#include "durable/detail/sqlite/redrive.hpp"
#include "durable/detail/sqlite/schema.hpp"
#include "durable/detail/sqlite/write_context.hpp"
#include "durable/open_options.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::sqlite {

/// storage::backend on a SQLite file (see storage.hpp for the contract). Every write call
/// commits before it returns, possibly in one transaction with other threads' calls.
class sqlite_backend final : public storage::backend {
 public:
  /// Opens (creating if needed) `path` and brings it to the current schema; with
  /// open_options::read_only, opens an existing file of a schema this build reads
  /// (check_schema_readable) and writes nothing.
  sqlite_backend(std::string path, const open_options& options)
      : writer_(std::move(path), options),
        readers_(writer_.path(), options),
        stamp_(writer_.path(), options),
        group_(writer_, names_) {
    stamp_.exec("PRAGMA query_only = 1");
    if (options.read_only) {
      check_schema_readable(writer_);
    } else {
      ensure_schema(writer_);
    }
    database_id_ = sqlite::database_id(writer_);
  }

  [[nodiscard]] const std::string& target() const noexcept override { return writer_.path(); }
  [[nodiscard]] const std::string& database_id() const noexcept override { return database_id_; }
  // PRAGMA data_version on a connection that never writes changes with every commit to
  // the file, by any connection, this process's writer included.
  [[nodiscard]] std::optional<std::int64_t> change_stamp() override {
    std::lock_guard lock{stamp_mutex_};
    return stamp_.data_version();
  }

  // ---- Queues

  void register_queue(std::string_view queue) override {
    if (writer_.read_only() || names_.find(name_kind::queue, queue)) return;
    // A read first: no write transaction when the queue has its catalog row already.
    if (readers_.read([&](connection& c) { return names_.lookup(c, name_kind::queue, queue); })) {
      return;
    }
    group_.run([&](write_context& ctx) { (void)ctx.id_of(name_kind::queue, queue); });
  }
  void configure_queue(std::string_view queue, const storage::queue_settings& settings) override {
    group_.run([&](write_context& ctx) { sqlite::configure_queue(ctx, queue, settings); });
  }
  [[nodiscard]] storage::queue_settings queue_configuration(std::string_view queue) override {
    return readers_.read([&](connection& c) { return queue_settings(c, queue); });
  }

  std::vector<storage::pushed> push(std::span<const storage::new_job> jobs,
                                    storage::push_mode mode) override {
    return group_.run([&](write_context& ctx) { return push_jobs(ctx, jobs, mode); });
  }

  [[nodiscard]] std::vector<storage::claimed_row> claim(
      const storage::claim_request& request) override {
    return group_.run([&](write_context& ctx) {
      const auto queue_id = ctx.existing_id(name_kind::queue, request.queue);
      std::vector<storage::claimed_row> rows;
      if (queue_id && !ctx.queue(*queue_id).paused) {
        rows = claim_head(ctx.db, *queue_id, request);
      }
      // Taken while this transaction holds the write lock: no other connection can
      // commit between the claim and the stamp.
      if (rows.empty() && request.stamp_if_empty != nullptr) {
        *request.stamp_if_empty = change_stamp();
      }
      return rows;
    });
  }

  bool ack(const storage::lease_ref& lease) override {
    return group_.run([&](write_context& ctx) { return delete_claimed(ctx, lease); });
  }
  bool nack(const storage::nack_request& request) override {
    return group_.run([&](write_context& ctx) { return release_claimed(ctx, request); });
  }
  bool extend(const storage::lease_ref& lease, std::int64_t lease_until_ms) override {
    return group_.run(
        [&](write_context& ctx) { return extend_claimed(ctx, lease, lease_until_ms); });
  }

  [[nodiscard]] std::vector<attempt_record> job_history(std::string_view queue,
                                                        job_id id) override {
    return read_queue(queue, std::vector<attempt_record>{},
                      [&](connection& c, std::int64_t q) { return sqlite::job_history(c, q, id); });
  }
  [[nodiscard]] storage::queue_counts count_jobs(std::string_view queue,
                                                 std::int64_t now_ms) override {
    return read_queue(queue, storage::queue_counts{}, [&](connection& c, std::int64_t q) {
      return sqlite::count_jobs(c, q, queue_jobs(c, queue), now_ms);
    });
  }
  [[nodiscard]] std::int64_t size(std::string_view queue) override {
    return readers_.read([&](connection& c) { return queue_jobs(c, queue); });
  }
  [[nodiscard]] storage::job_status_row job_status(std::string_view queue, job_id id,
                                                   std::int64_t now_ms) override {
    return read_queue(queue, storage::job_status_row{}, [&](connection& c, std::int64_t q) {
      return sqlite::job_status(c, queue, q, id, now_ms);
    });
  }
  [[nodiscard]] std::optional<storage::dead_letter_ref> locate_dead_letter(
      std::string_view origin, job_id original_id) override {
    return readers_.read(
        [&](connection& c) { return dead_letter_of(c, origin, original_id, database_id_); });
  }
  [[nodiscard]] std::optional<std::int64_t> next_run_at(std::string_view queue) override {
    return read_queue(queue, std::optional<std::int64_t>{},
                      [&](connection& c, std::int64_t q) { return sqlite::next_run_at(c, q); });
  }
  [[nodiscard]] bool has_key(std::string_view queue, const job_key& key) override {
    return read_queue(queue, false, [&](connection& c, std::int64_t q) {
      return find_by_key(c, q, key).has_value();
    });
  }
  [[nodiscard]] std::vector<std::string> claimers(std::string_view queue) override {
    return read_queue(queue, std::vector<std::string>{},
                      [&](connection& c, std::int64_t q) { return sqlite::claimers(c, q); });
  }
  std::int64_t release_claimer(std::string_view queue, std::string_view claimer,
                               std::int64_t now_ms) override {
    return group_.run(
        [&](write_context& ctx) { return sqlite::release_claimer(ctx, queue, claimer, now_ms); });
  }

  [[nodiscard]] std::vector<storage::job_type_count> count_job_types(std::string_view queue,
                                                                     std::int64_t now_ms) override {
    return read_queue(
        queue, std::vector<storage::job_type_count>{},
        [&](connection& c, std::int64_t q) { return sqlite::count_job_types(c, q, now_ms); });
  }

  // ---- Dead letters

  std::optional<dead_letter_id> move_to_dead_letter(const storage::move_request& request) override {
    return group_.run(
        [&](write_context& ctx) { return move_claimed_to_dead_letters(ctx, request); });
  }
  [[nodiscard]] std::optional<storage::job_snapshot> read_claimed(
      const storage::lease_ref& lease) override {
    return read_queue(lease.queue, std::optional<storage::job_snapshot>{},
                      [&](connection& c, std::int64_t q) { return read_claimed_job(c, q, lease); });
  }
  std::vector<std::pair<dead_letter_id, bool>> add_dead_letters(
      std::span<const storage::new_dead_letter> entries) override {
    return group_.run([&](write_context& ctx) { return insert_dead_letters(ctx, entries); });
  }
  bool remove_dead_letter(std::string_view dlq, dead_letter_id id) override {
    return group_.run([&](write_context& ctx) {
      const auto dlq_id = ctx.existing_id(name_kind::dead_letter_queue, dlq);
      return dlq_id && delete_dead_letter(ctx, *dlq_id, id);
    });
  }
  [[nodiscard]] std::optional<storage::dead_letter_row> dead_letter(std::string_view dlq,
                                                                    dead_letter_id id) override {
    return read_dlq(
        dlq, std::optional<storage::dead_letter_row>{},
        [&](connection& c, std::int64_t d) { return read_dead_letter(c, d, id, database_id_); });
  }
  [[nodiscard]] std::vector<dead_letter_summary> dead_letter_page(
      const storage::dead_letter_where& where, const storage::page_position& position) override {
    return read_dlq(where.dlq, std::vector<dead_letter_summary>{},
                    [&](connection& c, std::int64_t d) {
                      return sqlite::dead_letter_page(c, d, where, position);
                    });
  }
  [[nodiscard]] std::int64_t count_dead_letters(const storage::dead_letter_where& where) override {
    return read_dlq(where.dlq, std::int64_t{0}, [&](connection& c, std::int64_t d) {
      return sqlite::count_dead_letters(c, d, where);
    });
  }
  [[nodiscard]] std::vector<dead_letter_id> select_dead_letters(
      const storage::dead_letter_where& where) override {
    return read_dlq(where.dlq, std::vector<dead_letter_id>{}, [&](connection& c, std::int64_t d) {
      return sqlite::select_dead_letters(c, d, where);
    });
  }
  std::int64_t delete_dead_letters(const storage::dead_letter_where& where) override {
    return group_.run([&](write_context& ctx) -> std::int64_t {
      const auto dlq_id = ctx.existing_id(name_kind::dead_letter_queue, where.dlq);
      return dlq_id ? sqlite::delete_dead_letters(ctx, *dlq_id, where) : 0;
    });
  }
  std::int64_t delete_failed_before(std::string_view dlq, std::int64_t cutoff_ms) override {
    return group_.run([&](write_context& ctx) -> std::int64_t {
      const auto dlq_id = ctx.existing_id(name_kind::dead_letter_queue, dlq);
      return dlq_id ? sqlite::delete_failed_before(ctx, *dlq_id, cutoff_ms) : 0;
    });
  }
  std::vector<storage::redriven_entry> redrive(const storage::redrive_request& request) override {
    return group_.run([&](write_context& ctx) {
      std::vector<storage::redriven_entry> out;
      out.reserve(request.ids.size());
      const auto dlq_id = ctx.existing_id(name_kind::dead_letter_queue, request.dlq);
      for (const auto id : request.ids) {
        if (dlq_id) {
          out.push_back(redrive_one(ctx, *dlq_id, request, id));
        } else {
          out.push_back(storage::redriven_entry{.id = id});
        }
      }
      if (request.dry_run) ctx.discard();  // the results say what would happen
      return out;
    });
  }
  std::int64_t mark_redriven(std::string_view dlq, std::span<const dead_letter_id> ids,
                             std::int64_t now_ms) override {
    return group_.run([&](write_context& ctx) -> std::int64_t {
      const auto dlq_id = ctx.existing_id(name_kind::dead_letter_queue, dlq);
      std::int64_t marked = 0;
      for (const auto id : ids) {
        if (dlq_id && sqlite::mark_redriven(ctx, *dlq_id, id, now_ms)) ++marked;
      }
      return marked;
    });
  }

  // ---- Job types

  void record_job_type(std::string_view codec, std::uint64_t fingerprint,
                       std::string_view description, std::int64_t now_ms) override {
    if (writer_.read_only()) return;  // a read-only open records nothing
    auto known = std::pair{std::string{codec}, fingerprint};
    {
      std::lock_guard lock{types_mutex_};
      if (recorded_types_.contains(known)) return;
    }
    // A read first: no write transaction when the type is recorded already.
    if (!readers_.read([&](connection& c) { return has_job_type(c, codec, fingerprint); })) {
      group_.run([&](write_context& ctx) {
        sqlite::record_job_type(ctx.db, codec, fingerprint, description, now_ms);
      });
    }
    std::lock_guard lock{types_mutex_};
    recorded_types_.insert(std::move(known));
  }
  [[nodiscard]] std::vector<storage::job_type> job_types() override {
    return readers_.read([](connection& c) { return sqlite::job_types(c); });
  }

  // ---- Inspection and administration

  [[nodiscard]] std::vector<storage::queue_info> list_queues(std::int64_t now_ms) override {
    return readers_.read([&](connection& c) { return sqlite::list_queues(c, now_ms); });
  }
  bool set_paused(std::string_view queue, bool paused) override {
    return group_.run([&](write_context& ctx) { return sqlite::set_paused(ctx, queue, paused); });
  }
  [[nodiscard]] std::vector<storage::job_row> list_jobs(std::string_view queue,
                                                        std::optional<storage::job_state> state,
                                                        std::int64_t now_ms,
                                                        std::int64_t limit) override {
    return read_queue(queue, std::vector<storage::job_row>{}, [&](connection& c, std::int64_t q) {
      return sqlite::list_jobs(c, q, state, now_ms, limit);
    });
  }
  [[nodiscard]] std::optional<storage::job_row> find_job(job_id id) override {
    return readers_.read([&](connection& c) { return sqlite::find_job(c, id); });
  }
  storage::cancel_result cancel_job(job_id id, std::int64_t now_ms, bool claimed_too) override {
    return group_.run(
        [&](write_context& ctx) { return sqlite::cancel_job(ctx, id, now_ms, claimed_too); });
  }
  [[nodiscard]] std::vector<storage::dead_letter_queue_info> dead_letter_queues() override {
    return readers_.read([](connection& c) { return sqlite::dead_letter_queues(c); });
  }
  [[nodiscard]] std::vector<storage::dead_letter_group> count_dead_letters_by(
      const storage::dead_letter_where& where, storage::dead_letter_grouping grouping) override {
    return read_dlq(where.dlq, std::vector<storage::dead_letter_group>{},
                    [&](connection& c, std::int64_t d) {
                      return sqlite::count_dead_letters_by(c, d, where, grouping);
                    });
  }

  // ---- For tests and tools

  /// Runs `f(write_context&)` as a write call of the next group transaction (see
  /// group_commit::run): the way to reach the writer connection.
  template <class F>
  auto write(F&& f) {
    return group_.run(std::forward<F>(f));
  }
  /// Runs `f(connection&)` on a reader connection in a read transaction.
  template <class F>
  auto read(F&& f) {
    return readers_.read(std::forward<F>(f));
  }
  /// The group commit, for tests: calls waiting, transactions run.
  [[nodiscard]] const group_commit& writer() const noexcept { return group_; }

 private:
  // f(connection&, queue id) on a reader; `none` when the queue has no id yet.
  template <class R, class F>
  R read_queue(std::string_view queue, R none, F&& f) {
    return readers_.read([&](connection& c) -> R {
      const auto id = names_.lookup(c, name_kind::queue, queue);
      return id ? f(c, *id) : std::move(none);
    });
  }
  template <class R, class F>
  R read_dlq(std::string_view dlq, R none, F&& f) {
    return readers_.read([&](connection& c) -> R {
      const auto id = names_.lookup(c, name_kind::dead_letter_queue, dlq);
      return id ? f(c, *id) : std::move(none);
    });
  }

  connection writer_;
  reader_pool readers_;
  std::mutex stamp_mutex_;
  connection stamp_;  // guarded by stamp_mutex_
  name_cache names_;
  group_commit group_;
  std::string database_id_;
  std::mutex types_mutex_;
  std::set<std::pair<std::string, std::uint64_t>> recorded_types_;  // guarded by types_mutex_
};

}  // namespace durable::inline v0::detail::sqlite
