// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// What the calls of one write transaction share: the writer connection, ids for new rows
/// (from a high-water mark and max(id), read at most once per transaction and kept while
/// no other connection commits; not an AUTOINCREMENT write per row), the counter changes
/// (written once per queue per transaction), and the catalog ids created.
/// A call that fails is rolled back to its savepoint and its share of this state with it
/// (snapshot/restore). Part of the SQLite layer, the only place SQL lives.

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "durable/detail/sqlite/catalog.hpp"
#include "durable/detail/sqlite/connection.hpp"

namespace durable::inline v0::detail::sqlite {

/// A table with durable-assigned ids and the durable_meta key of its high-water mark.
enum class id_table { jobs, dead_letters };

/// What the writer learned in its last committed transaction: the next ids, the
/// high-water marks and queue rows. Valid while no other connection has committed since
/// (PRAGMA data_version on the writer unchanged), which spares a single push or ack the
/// reads of them.
struct write_cache {
  std::optional<std::int64_t> data_version;
  std::array<std::optional<std::int64_t>, 2> next_id{};  // one per id_table
  std::array<bool, 2> newest_present{};                  // row next_id - 1 is stored
  std::array<std::optional<std::int64_t>, 2> hwm{};      // one per id_table
  std::map<std::int64_t, queue_row> queues;
};

/// The state of one write transaction on the writer connection.
class write_context {
 public:
  /// Starts using `cache` inside a write transaction just begun on `c`.
  write_context(connection& c, name_cache& names, write_cache& cache)
      : db(c), names_(names), cache_(cache) {
    const auto version = db.data_version();
    if (cache_.data_version != version) cache_ = {};
    cache_.data_version = version;
    for (std::size_t t = 0; t < 2; ++t) {
      state_.ids.at(t).next = cache_.next_id.at(t);
      state_.ids.at(t).newest_present = cache_.newest_present.at(t);
      hwm_.at(t) = cache_.hwm.at(t);
    }
  }

  /// The writer connection, inside the transaction.
  connection& db;  // NOLINT(cppcoreguidelines-non-private-member-variables-in-classes)

  /// The id of `name`, creating its catalog row.
  [[nodiscard]] std::int64_t id_of(name_kind kind, std::string_view name) {
    if (auto id = existing_id(kind, name)) return *id;
    const auto id = create_name_id(db, kind, name);
    state_.created.push_back({kind, std::string{name}, id});
    return id;
  }
  /// The id of `name` if it has one (committed, or created in this transaction).
  [[nodiscard]] std::optional<std::int64_t> existing_id(name_kind kind, std::string_view name) {
    if (auto id = names_.find(kind, name)) return id;
    for (const auto& n : state_.created) {
      if (n.kind == kind && n.name == name) return n.id;
    }
    auto id = stored_name_id(db, kind, name);  // committed by another connection
    if (id) names_.remember(kind, name, *id);
    return id;
  }

  /// A new id for a row of `table`, never used before in this database; with `count`, the
  /// first of that many consecutive ones.
  [[nodiscard]] std::int64_t next_id(id_table table, std::size_t count = 1) {
    auto& t = state_.ids.at(static_cast<std::size_t>(table));
    if (!t.next) t.next = std::max(stored_hwm(table), max_id(table)) + 1;
    t.newest_present = false;  // until inserted() says the new row is stored
    const auto first = *t.next;
    *t.next += static_cast<std::int64_t>(count);
    return first;
  }
  /// Row `id` of `table` was stored (after next_id()).
  void inserted(id_table table, std::int64_t id) {
    auto& t = state_.ids.at(static_cast<std::size_t>(table));
    t.newest_present = t.next && id == *t.next - 1;
  }
  /// Call before deleting rows of `table`: keeps ids from being reused afterwards.
  /// `id`: the one row to delete; none: maybe several.
  void before_delete(id_table table, std::optional<std::int64_t> id = std::nullopt) {
    auto& t = state_.ids.at(static_cast<std::size_t>(table));
    if (!t.max_before_delete) t.max_before_delete = t.next ? *t.next - 1 : max_id(table);
    if (!id || (t.next && *id >= *t.next - 1)) t.newest_present = false;
  }

  /// Queue `id`'s hard limit and job count as this transaction sees them.
  [[nodiscard]] queue_row queue(std::int64_t id) {
    // Rows read inside this transaction, before its counters are written (flush), are
    // as committed; the group commit drops the cache when a transaction rolls back.
    auto it = cache_.queues.find(id);
    if (it == cache_.queues.end()) it = cache_.queues.emplace(id, read_queue_row(db, id)).first;
    auto row = it->second;
    row.jobs += delta_of(state_.jobs, id).first;
    return row;
  }
  /// Forgets queue `id`'s cached settings (after configure_queue).
  void settings_changed(std::int64_t id) { cache_.queues.erase(id); }

  /// Counts `delta` jobs more in queue `id`.
  void count_jobs(std::int64_t id, std::int64_t delta) { delta_of(state_.jobs, id).first += delta; }
  /// Counts entries and redriven entries more in dead-letter queue `id`.
  void count_dead_letters(std::int64_t id, std::int64_t entries, std::int64_t redriven) {
    auto& d = delta_of(state_.dead_letters, id);
    d.first += entries;
    d.second += redriven;
  }

  /// Asks that the current call's changes be rolled back while it returns normally
  /// (e.g. an all-or-nothing push that met the hard limit).
  void discard() noexcept { discard_ = true; }
  /// Whether discard() was called since the last take_discard(); clears it.
  [[nodiscard]] bool take_discard() noexcept { return std::exchange(discard_, false); }

  using counter_delta = std::pair<std::int64_t, std::pair<std::int64_t, std::int64_t>>;

  /// What one call may change, to restore when it fails.
  struct snapshot {
    struct table_ids {
      std::optional<std::int64_t> next;
      std::optional<std::int64_t> max_before_delete;
      bool newest_present = false;  // the row with id next - 1 is stored
    };
    struct created_name {
      name_kind kind;
      std::string name;
      std::int64_t id;
    };
    std::array<table_ids, 2> ids{};           // one per id_table
    std::vector<counter_delta> jobs;          // (queue id, (jobs, unused))
    std::vector<counter_delta> dead_letters;  // (DLQ id, (entries, redriven))
    std::vector<created_name> created;
  };
  [[nodiscard]] snapshot save() const { return state_; }
  void restore(snapshot s) {
    state_ = std::move(s);
    cache_.queues.clear();  // a rolled-back call may have changed settings
  }

  /// Writes the counters and high-water marks; call last before COMMIT.
  void flush() {
    for (const auto& [id, delta] : state_.jobs) {
      if (delta.first != 0) add_to_queue_jobs(db, id, delta.first);
    }
    for (const auto& [id, d] : state_.dead_letters) {
      if (d.first != 0 || d.second != 0) add_to_dead_letter_counts(db, id, d.first, d.second);
    }
    for (const auto table : {id_table::jobs, id_table::dead_letters}) {
      const auto& t = state_.ids.at(static_cast<std::size_t>(table));
      if (!t.max_before_delete || (t.next && t.newest_present)) continue;
      // Ids live on in the rows unless the newest row was deleted: only then store a mark.
      const auto highest = std::max(*t.max_before_delete, t.next ? *t.next - 1 : 0);
      if (max_id(table) < highest && stored_hwm(table) < highest) {
        db.run("UPDATE durable_meta SET value = ?2 WHERE key = ?1", hwm_key(table), highest);
        hwm_.at(static_cast<std::size_t>(table)) = highest;
      }
    }
  }
  /// After COMMIT: the catalog ids created are shared with every connection, and what
  /// this transaction knows is kept for the next one.
  void committed() {
    for (const auto& n : state_.created) names_.remember(n.kind, n.name, n.id);
    for (std::size_t t = 0; t < 2; ++t) {
      cache_.next_id.at(t) = state_.ids.at(t).next;
      cache_.newest_present.at(t) = state_.ids.at(t).newest_present;
      cache_.hwm.at(t) = hwm_.at(t);
    }
    for (const auto& [id, delta] : state_.jobs) {
      if (auto it = cache_.queues.find(id); it != cache_.queues.end()) {
        it->second.jobs += delta.first;
      }
    }
  }

 private:
  static std::pair<std::int64_t, std::int64_t>& delta_of(std::vector<counter_delta>& deltas,
                                                         std::int64_t id) {
    for (auto& [key, delta] : deltas) {
      if (key == id) return delta;
    }
    return deltas.emplace_back(id, std::pair<std::int64_t, std::int64_t>{0, 0}).second;
  }
  static const char* hwm_key(id_table t) {
    return t == id_table::jobs ? "job_id_hwm" : "dead_letter_id_hwm";
  }
  std::int64_t stored_hwm(id_table t) {
    auto& hwm = hwm_.at(static_cast<std::size_t>(t));
    if (!hwm) {
      auto q = db.query("SELECT value FROM durable_meta WHERE key = ?1", hwm_key(t));
      hwm = q->step() ? q->int64(0) : 0;
    }
    return *hwm;
  }
  std::int64_t max_id(id_table t) {
    auto q = db.query(t == id_table::jobs ? "SELECT max(id) FROM durable_jobs"
                                          : "SELECT max(id) FROM durable_dead_letters");
    return q->step() ? q->int64(0) : 0;
  }

  name_cache& names_;
  write_cache& cache_;
  std::array<std::optional<std::int64_t>, 2> hwm_{};  // one per id_table; as stored
  snapshot state_;
  bool discard_ = false;
};

}  // namespace durable::inline v0::detail::sqlite
