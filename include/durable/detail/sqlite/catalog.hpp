// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The catalog: the ids of queue and dead-letter-queue names (durable_queues,
/// durable_dead_letter_queues) and the counters kept there. Part of the SQLite layer, the
/// only place SQL lives.

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "durable/detail/sqlite/connection.hpp"

namespace durable::inline v0::detail::sqlite {

/// Which catalog table a name lives in.
enum class name_kind { queue, dead_letter_queue };

/// The id of `name` as stored; empty when it has none yet.
[[nodiscard]] inline std::optional<std::int64_t> stored_name_id(connection& c, name_kind kind,
                                                                std::string_view name) {
  auto q = c.query(kind == name_kind::queue
                       ? "SELECT id FROM durable_queues WHERE name = ?1"
                       : "SELECT id FROM durable_dead_letter_queues WHERE name = ?1",
                   name);
  if (!q->step()) return std::nullopt;
  return q->int64(0);
}

/// The id of `name`, creating its catalog row; the caller holds a write transaction.
[[nodiscard]] inline std::int64_t create_name_id(connection& c, name_kind kind,
                                                 std::string_view name) {
  if (auto id = stored_name_id(c, kind, name)) return *id;
  auto q = c.query(kind == name_kind::queue
                       ? "INSERT INTO durable_queues (name) VALUES (?1) RETURNING id"
                       : "INSERT INTO durable_dead_letter_queues (name) VALUES (?1) RETURNING id",
                   name);
  if (!q->step()) throw std::logic_error("durable: catalog insert returned no id");
  const auto id = q->int64(0);
  q->run();
  return id;
}

/// The committed name ids of one database, shared by its writer and readers. A committed
/// id never changes, so it can be kept for the life of the backend; ids created by a
/// transaction are added only after it commits.
class name_cache {
 public:
  [[nodiscard]] std::optional<std::int64_t> find(name_kind kind, std::string_view name) const {
    std::lock_guard lock{mutex_};
    const auto& map = ids_.at(static_cast<std::size_t>(kind));
    const auto it = map.find(name);
    if (it == map.end()) return std::nullopt;
    return it->second;
  }
  void remember(name_kind kind, std::string_view name, std::int64_t id) {
    std::lock_guard lock{mutex_};
    ids_.at(static_cast<std::size_t>(kind)).emplace(std::string{name}, id);
  }

  /// The id of `name`, read through reader `c` (which sees committed rows only) when not
  /// cached; empty when it has none.
  [[nodiscard]] std::optional<std::int64_t> lookup(connection& c, name_kind kind,
                                                   std::string_view name) {
    if (auto id = find(kind, name)) return id;
    auto id = stored_name_id(c, kind, name);
    if (id) remember(kind, name, *id);
    return id;
  }

 private:
  mutable std::mutex mutex_;
  std::array<std::map<std::string, std::int64_t, std::less<>>, 2> ids_;  // one per name_kind
};

/// A queue's row: its hard limit, its stored job count and its pause flag.
struct queue_row {
  std::optional<std::int64_t> hard_limit;
  std::int64_t jobs = 0;
  bool paused = false;
};

/// The stored hard limit, job count and pause flag of queue `id`.
[[nodiscard]] inline queue_row read_queue_row(connection& c, std::int64_t id) {
  auto q = c.query("SELECT hard_limit, jobs, paused FROM durable_queues WHERE id = ?1", id);
  queue_row row;
  if (q->step()) {
    if (!q->is_null(0)) row.hard_limit = q->int64(0);
    row.jobs = q->int64(1);
    row.paused = q->int64(2) != 0;
  }
  return row;
}

/// Jobs of queue `name` in any state, from its counter; 0 for an unknown queue.
[[nodiscard]] inline std::int64_t queue_jobs(connection& c, std::string_view name) {
  auto q = c.query("SELECT jobs FROM durable_queues WHERE name = ?1", name);
  return q->step() ? q->int64(0) : 0;
}

/// (entries, redriven) of dead-letter queue `id`, from its counters.
[[nodiscard]] inline std::pair<std::int64_t, std::int64_t> dead_letter_counts(connection& c,
                                                                              std::int64_t id) {
  auto q = c.query("SELECT entries, redriven FROM durable_dead_letter_queues WHERE id = ?1", id);
  if (!q->step()) return {0, 0};
  return {q->int64(0), q->int64(1)};
}

/// Adds `delta` to queue `id`'s job counter.
inline void add_to_queue_jobs(connection& c, std::int64_t id, std::int64_t delta) {
  c.run("UPDATE durable_queues SET jobs = jobs + ?2 WHERE id = ?1", id, delta);
}

/// Adds to dead-letter queue `id`'s counters.
inline void add_to_dead_letter_counts(connection& c, std::int64_t id, std::int64_t entries,
                                      std::int64_t redriven) {
  c.run(
      "UPDATE durable_dead_letter_queues SET entries = entries + ?2, redriven = redriven + ?3 "
      "WHERE id = ?1",
      id, entries, redriven);
}

}  // namespace durable::inline v0::detail::sqlite
