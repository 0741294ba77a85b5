// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The SQLite backend: storage::backend on one connection per database file per process.
/// Every call takes the connection's mutex, so threads of one process write through one
/// connection and never wait in SQLite's busy handler for each other; other processes
/// take turns on SQLite's file lock. Part of the SQLite layer, the only place SQL lives.

#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "durable/detail/sqlite/claim.hpp"
#include "durable/detail/sqlite/connection.hpp"
#include "durable/detail/sqlite/dead_letter_move.hpp"
#include "durable/detail/sqlite/dead_letter_query.hpp"
#include "durable/detail/sqlite/finish.hpp"
#include "durable/detail/sqlite/job_types.hpp"
#include "durable/detail/sqlite/push.hpp"
#include "durable/detail/sqlite/queue_state.hpp"
#include "durable/detail/sqlite/redrive.hpp"
#include "durable/detail/sqlite/schema.hpp"
#include "durable/open_options.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail::sqlite {

/// storage::backend on a SQLite file (see storage.hpp for the contract).
class sqlite_backend final : public storage::backend {
 public:
  /// Opens (creating if needed) `path` and brings it to the current schema.
  sqlite_backend(std::string path, const open_options& options) : conn_(std::move(path), options) {
    ensure_schema(conn_);
    database_id_ = sqlite::database_id(conn_);
  }

  [[nodiscard]] const std::string& target() const noexcept override { return conn_.path(); }
  [[nodiscard]] const std::string& database_id() const noexcept override { return database_id_; }
  // data_version changes only for other connections' commits; this process's writes all
  // go through conn_, so they are counted here.
  [[nodiscard]] std::optional<std::int64_t> change_stamp() override {
    std::lock_guard lock{mutex_};
    return conn_.data_version() + (writes_ << 40);
  }

  void configure_queue(std::string_view queue, const storage::queue_settings& settings) override {
    std::lock_guard lock{mutex_};
    ++writes_;
    sqlite::configure_queue(conn_, queue, settings);
  }
  [[nodiscard]] storage::queue_settings queue_configuration(std::string_view queue) override {
    std::lock_guard lock{mutex_};
    return queue_settings(conn_, queue);
  }

  std::vector<storage::pushed> push(std::span<const storage::new_job> jobs,
                                    storage::push_mode mode) override {
    std::vector<storage::pushed> out;
    out.reserve(jobs.size());
    std::lock_guard lock{mutex_};
    ++writes_;
    write_transaction tx{conn_};
    push_path path{conn_};
    for (const auto& job : jobs) {
      out.push_back(path.push(job));
      if (out.back().status == storage::push_status::full &&
          mode == storage::push_mode::all_or_nothing) {
        return out;  // rolled back
      }
    }
    tx.commit();
    return out;
  }

  [[nodiscard]] std::vector<storage::claimed_row> claim(
      const storage::claim_request& request) override {
    std::lock_guard lock{mutex_};
    ++writes_;
    if (request.max <= 1) return claim_next(conn_, request);
    write_transaction tx{conn_};
    auto rows = claim_head(conn_, request);
    tx.commit();
    return rows;
  }

  bool ack(const storage::lease_ref& lease) override {
    std::lock_guard lock{mutex_};
    ++writes_;
    return delete_claimed(conn_, lease);
  }
  bool nack(const storage::nack_request& request) override {
    std::lock_guard lock{mutex_};
    ++writes_;
    return release_claimed(conn_, request);
  }
  bool extend(const storage::lease_ref& lease, std::int64_t lease_until_ms) override {
    std::lock_guard lock{mutex_};
    ++writes_;
    return extend_claimed(conn_, lease, lease_until_ms);
  }

  [[nodiscard]] std::vector<attempt_record> job_history(std::string_view queue,
                                                        job_id id) override {
    std::lock_guard lock{mutex_};
    return sqlite::job_history(conn_, queue, id);
  }
  [[nodiscard]] storage::queue_counts count_jobs(std::string_view queue,
                                                 std::int64_t now_ms) override {
    std::lock_guard lock{mutex_};
    return sqlite::count_jobs(conn_, queue, now_ms);
  }
  [[nodiscard]] std::int64_t size(std::string_view queue) override {
    std::lock_guard lock{mutex_};
    return count_all(conn_, queue);
  }
  [[nodiscard]] std::optional<std::int64_t> next_run_at(std::string_view queue) override {
    std::lock_guard lock{mutex_};
    return sqlite::next_run_at(conn_, queue);
  }
  [[nodiscard]] bool has_key(std::string_view queue, const job_key& key) override {
    std::lock_guard lock{mutex_};
    return find_by_key(conn_, queue, key).has_value();
  }
  [[nodiscard]] std::vector<std::string> claimers(std::string_view queue) override {
    std::lock_guard lock{mutex_};
    return sqlite::claimers(conn_, queue);
  }
  std::int64_t release_claimer(std::string_view queue, std::string_view claimer,
                               std::int64_t now_ms) override {
    std::lock_guard lock{mutex_};
    ++writes_;
    return sqlite::release_claimer(conn_, queue, claimer, now_ms);
  }

  [[nodiscard]] std::vector<storage::job_type_count> count_job_types(std::string_view queue,
                                                                     std::int64_t now_ms) override {
    std::lock_guard lock{mutex_};
    return sqlite::count_job_types(conn_, queue, now_ms);
  }

  void register_job_type(std::string_view codec, std::uint64_t fingerprint,
                         std::string_view description) override {
    std::lock_guard lock{mutex_};
    if (job_type_registered(conn_, codec, fingerprint)) return;  // no write lock when known
    ++writes_;
    sqlite::register_job_type(conn_, codec, fingerprint, description);
  }
  [[nodiscard]] std::vector<storage::job_type> job_types() override {
    std::lock_guard lock{mutex_};
    return sqlite::job_types(conn_);
  }

  std::optional<dead_letter_id> move_to_dead_letter(const storage::move_request& request) override {
    std::lock_guard lock{mutex_};
    ++writes_;
    write_transaction tx{conn_};
    const auto id = copy_claimed_to_dead_letters(conn_, request, database_id_);
    if (!id || !delete_claimed(conn_, request.lease)) return std::nullopt;
    tx.commit();
    return id;
  }
  [[nodiscard]] std::optional<storage::job_snapshot> read_claimed(
      const storage::lease_ref& lease) override {
    std::lock_guard lock{mutex_};
    return read_claimed_job(conn_, lease);
  }
  std::vector<std::pair<dead_letter_id, bool>> add_dead_letters(
      std::span<const storage::new_dead_letter> entries) override {
    std::vector<std::pair<dead_letter_id, bool>> out;
    out.reserve(entries.size());
    std::lock_guard lock{mutex_};
    ++writes_;
    write_transaction tx{conn_};
    for (const auto& entry : entries) {
      if (const auto id = insert_dead_letter(conn_, entry)) {
        out.emplace_back(*id, true);
      } else {
        const auto existing = entry.origin && entry.original_id
                                  ? find_dead_letter(conn_, *entry.origin, *entry.original_id)
                                  : std::nullopt;
        out.emplace_back(existing.value_or(0), false);
      }
    }
    tx.commit();
    return out;
  }
  bool remove_dead_letter(std::string_view dlq, dead_letter_id id) override {
    std::lock_guard lock{mutex_};
    ++writes_;
    return delete_dead_letter(conn_, dlq, id);
  }
  [[nodiscard]] std::optional<storage::dead_letter_row> dead_letter(std::string_view dlq,
                                                                    dead_letter_id id) override {
    std::lock_guard lock{mutex_};
    read_transaction snapshot{conn_};
    return read_dead_letter(conn_, dlq, id);
  }
  [[nodiscard]] std::vector<dead_letter_summary> dead_letter_page(
      const storage::dead_letter_where& where, const storage::page_position& position) override {
    std::lock_guard lock{mutex_};
    read_transaction snapshot{conn_};
    return sqlite::dead_letter_page(conn_, where, position);
  }
  [[nodiscard]] std::int64_t count_dead_letters(const storage::dead_letter_where& where) override {
    std::lock_guard lock{mutex_};
    return sqlite::count_dead_letters(conn_, where);
  }
  [[nodiscard]] std::vector<dead_letter_id> select_dead_letters(
      const storage::dead_letter_where& where) override {
    std::lock_guard lock{mutex_};
    return sqlite::select_dead_letters(conn_, where);
  }
  std::int64_t delete_dead_letters(const storage::dead_letter_where& where) override {
    std::lock_guard lock{mutex_};
    ++writes_;
    write_transaction tx{conn_};
    const auto removed = sqlite::delete_dead_letters(conn_, where);
    tx.commit();
    return removed;
  }
  std::int64_t delete_failed_before(std::string_view dlq, std::int64_t cutoff_ms) override {
    std::lock_guard lock{mutex_};
    ++writes_;
    write_transaction tx{conn_};
    const auto removed = sqlite::delete_failed_before(conn_, dlq, cutoff_ms);
    tx.commit();
    return removed;
  }
  std::vector<storage::redriven_entry> redrive(const storage::redrive_request& request) override {
    std::vector<storage::redriven_entry> out;
    out.reserve(request.ids.size());
    std::lock_guard lock{mutex_};
    ++writes_;
    write_transaction tx{conn_};
    push_path path{conn_};
    for (const auto id : request.ids) {
      out.push_back(redrive_one(conn_, path, request, id, database_id_));
    }
    tx.commit();
    return out;
  }
  std::int64_t mark_redriven(std::string_view dlq, std::span<const dead_letter_id> ids,
                             std::int64_t now_ms) override {
    std::lock_guard lock{mutex_};
    ++writes_;
    write_transaction tx{conn_};
    std::int64_t marked = 0;
    for (const auto id : ids) marked += sqlite::mark_redriven(conn_, dlq, id, now_ms) ? 1 : 0;
    tx.commit();
    return marked;
  }

  /// The connection, for tests and tools that need SQLite itself. Hold `mutex()`.
  [[nodiscard]] connection& raw_connection() noexcept { return conn_; }
  /// The mutex every call takes.
  [[nodiscard]] std::mutex& mutex() noexcept { return mutex_; }

 private:
  std::mutex mutex_;
  connection conn_;
  std::string database_id_;
  std::int64_t writes_ = 0;  // guarded by mutex_
};

}  // namespace durable::inline v0::detail::sqlite
