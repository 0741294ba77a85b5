// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The byte-level dead-letter engine: adding entries, moving claimed jobs in (within one
/// database or across two), reading, window queries, retention and purge, for one DLQ of
/// one database. Not a template: DeadLetterQueue<Job, Codec> forwards here. Redrive is
/// in redrive.hpp beside it.

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "durable/clock.hpp"
#include "durable/database.hpp"
#include "durable/dead_letter.hpp"
#include "durable/detail/engine/job_types.hpp"
#include "durable/detail/engine/queue_engine.hpp"
#include "durable/detail/iso_time.hpp"
#include "durable/detail/names.hpp"
#include "durable/exceptions.hpp"
#include "durable/job.hpp"
#include "durable/log.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0::detail {

/// One job dead-lettered by hand, encoded.
struct encoded_dead_letter {
  std::span<const std::byte> payload;
  const failure* error = nullptr;
  std::int64_t attempts = 0;
  const add_options* options = nullptr;
};

/// A dead_letter_filter checked and turned into bound values; lists sorted and unique.
struct prepared_filter {
  std::int64_t from_ms = std::numeric_limits<std::int64_t>::min();
  std::int64_t to_ms = std::numeric_limits<std::int64_t>::max();
  std::vector<std::string> types;
  std::vector<job_key> keys;
  std::optional<std::string> queue;
  bool include_redriven = false;

  [[nodiscard]] storage::dead_letter_where where(std::string_view dlq) const {
    storage::dead_letter_where w;
    w.dlq = dlq;
    w.from_ms = from_ms;
    w.to_ms = to_ms;
    w.error_types = types;
    w.keys = keys;
    if (queue) w.queue = *queue;
    w.include_redriven = include_redriven;
    return w;
  }
};

class dead_letter_engine;

/// True when `queue` and `dlq` live in the same database (the same file, even through
/// handles opened with different options): a move or redrive is then one transaction.
[[nodiscard]] inline bool same_database(const queue_engine& queue, const dead_letter_engine& dlq);

/// Dead-letter operations on bytes for DLQ `name` of `db`. Thread-safe.
class dead_letter_engine {
 public:
  /// `reader`: the type a typed layer reads and writes (registered in the database); none
  /// for tools.
  dead_letter_engine(database db, std::string name, dead_letter_options options,
                     type_reader reader = {})
      : db_(std::move(db)),
        name_((validate_name("dlq_name", name), std::move(name))),
        options_(std::move(options)),
        types_(std::move(reader)) {
    if (options_.retention) {
      check_not_negative("dead_letter_options::retention", *options_.retention);
    }
    types_.open(storage(), now_ms());
  }

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const database& db() const noexcept { return db_; }
  [[nodiscard]] const std::string& target() const noexcept { return db_.target(); }
  [[nodiscard]] const dead_letter_options& options() const noexcept { return options_; }
  [[nodiscard]] std::int64_t now_ms() const { return to_unix_ms(detail::now(options_.clock)); }
  [[nodiscard]] storage::backend& storage() const noexcept { return db_.storage(); }

  static void check_failure(const failure& error) {
    check_error_type("failure::error_type", error.error_type);
  }

  /// Stores jobs dead-lettered by hand, in one transaction; returns their ids.
  std::vector<dead_letter_id> add(std::span<const encoded_dead_letter> entries,
                                  codec_identity codec) {
    const auto now = now_ms();
    std::vector<storage::new_dead_letter> rows;
    rows.reserve(entries.size());
    for (const auto& e : entries) {
      check_failure(*e.error);
      if (e.attempts < 0) {
        throw invalid_argument_error(
            "attempts",
            fmt::format("durable: invalid argument: attempts must be >= 0, got {}", e.attempts));
      }
      const add_options& o = *e.options;
      if (!o.queue.empty()) validate_name("add_options::queue", o.queue);
      if (o.max_attempts < 1) {
        throw invalid_argument_error(
            "add_options::max_attempts",
            fmt::format("durable: invalid argument: add_options::max_attempts must be >= 1, got {}",
                        o.max_attempts));
      }
      storage::new_dead_letter row;
      row.dlq = name_;
      row.queue = o.queue;
      row.key = o.key ? &*o.key : nullptr;
      row.unique = o.unique;
      row.priority = o.priority;
      row.sequential = o.sequential;
      row.max_attempts = o.max_attempts;
      row.codec = codec.name;
      row.fingerprint = codec.fingerprint;
      row.payload = e.payload;
      row.failure = {e.error->error_type, e.error->message, e.error->context, e.error->redrive,
                     now};
      row.attempts = e.attempts;
      row.enqueued_at_ms = o.enqueued_at ? to_unix_ms(*o.enqueued_at) : now;
      rows.push_back(row);
    }
    std::vector<dead_letter_id> ids;
    for (const auto& [id, inserted] : storage().add_dead_letters(rows)) ids.push_back(id);
    for (std::size_t i = 0; i < ids.size() && options_.log_events; ++i) {
      log_event event = change("dlq.added");
      event.queue = rows[i].queue;
      event.entry = ids[i];
      event.attempt = rows[i].attempts;
      event.error_type = rows[i].failure.error_type;
      emit(options_.log, event,
           R"(entry {} added to dead-letter queue "{}" after {} attempt{}: {})", ids[i], name_,
           rows[i].attempts, rows[i].attempts == 1 ? "" : "s", rows[i].failure.error_type);
    }
    return ids;
  }

  /// Moves claimed job (`id`, `token`) of `queue` in with its final failure `error`.
  /// Same database: one transaction. Another database: the entry is inserted first,
  /// keyed by (origin database id, job id) so a repeat finds it, then the job is
  /// deleted; if the lease was lost meanwhile, the entry is removed again. Throws
  /// lease_lost_error, changing nothing, when the claim no longer holds the job.
  /// `attempts` (the failed one included), when the caller knows it, is only logged.
  dead_letter_id move_from(queue_engine& queue, job_id id, std::int64_t token, const failure& error,
                           std::optional<std::int64_t> attempts = {}) {
    check_failure(error);
    const storage::lease_ref lease{queue.name(), id, token};
    const storage::final_failure f{error.error_type, error.message, error.context, error.redrive,
                                   now_ms()};
    if (same_database(queue, *this)) {
      const auto entry = storage().move_to_dead_letter({lease, name_, f});
      if (!entry) queue.lease_lost(id, "dead-lettering");
      log_move(queue, id, *entry, attempts, error);
      return *entry;
    }
    auto& source = queue.db().storage();
    const auto job = source.read_claimed(lease);
    if (!job) queue.lease_lost(id, "dead-lettering");
    copy_job_type(source, storage(), job->codec, job->fingerprint, now_ms());
    storage::new_dead_letter row;
    row.dlq = name_;
    row.origin = source.database_id();
    row.original_id = id;
    row.queue = queue.name();
    row.key = job->key ? &*job->key : nullptr;
    row.unique = job->unique;
    row.priority = job->priority;
    row.sequential = job->sequential;
    row.max_attempts = job->max_attempts;
    row.codec = job->codec;
    row.fingerprint = job->fingerprint;
    row.payload = job->payload;
    row.failure = f;
    row.history_json = job->history_json;
    row.attempts = job->attempts + 1;
    row.enqueued_at_ms = job->enqueued_at_ms;
    row.timeout_ms = job->timeout_ms;
    const auto [entry, inserted] = storage().add_dead_letters({&row, 1}).front();
    if (!inserted) {
      log(options_.log, log_level::info,
          "job {} of queue \"{}\" was already in dead-letter queue \"{}\" of \"{}\" as entry {} "
          "(an earlier move was interrupted); removing it from the queue",
          id, queue.name(), name_, target(), entry);
    }
    if (!source.ack(lease)) {
      if (inserted) storage().remove_dead_letter(name_, entry);
      queue.lease_lost(id, "dead-lettering");
    }
    log_move(queue, id, entry, row.attempts, error);
    return entry;
  }

  [[nodiscard]] std::optional<storage::dead_letter_row> get(dead_letter_id id) {
    return storage().dead_letter(name_, id);
  }

  /// The entry of this DLQ holding job `id` of the database `origin`; empty when none.
  [[nodiscard]] std::optional<dead_letter_id> find(std::string_view origin, job_id id) {
    auto ref = storage().locate_dead_letter(origin, id);
    if (!ref || ref->dlq != name_) return std::nullopt;
    return ref->id;
  }

  /// The registered description of type (`codec`, `fingerprint`) in this database.
  [[nodiscard]] std::optional<std::string> description(std::string_view codec,
                                                       std::uint64_t fingerprint) {
    if (auto d = types_.description(codec, fingerprint)) return d;
    types_.refresh(storage(), true);
    return types_.description(codec, fingerprint);
  }

  /// Entries not yet redriven. O(n) over the time index, no table reads.
  [[nodiscard]] std::int64_t size() { return count(dead_letter_filter{}); }

  [[nodiscard]] std::int64_t count(const dead_letter_filter& filter) {
    return storage().count_dead_letters(prepare(filter).where(name_));
  }

  [[nodiscard]] dead_letter_page query(const dead_letter_filter& filter, const page_request& page) {
    const auto f = prepare(filter);
    if (page.limit < 1) {
      throw invalid_argument_error(
          "page.limit",
          fmt::format("durable: invalid argument: page_request::limit must be >= 1, got {}",
                      page.limit));
    }
    using position = std::pair<std::int64_t, dead_letter_id>;
    constexpr auto lowest = std::numeric_limits<std::int64_t>::min();
    constexpr auto highest = std::numeric_limits<std::int64_t>::max();
    const bool descending = page.order == sort_order::newest_first;
    position after = descending ? position{f.to_ms, highest} : position{f.from_ms, lowest};
    if (page.after) {
      const position cursor{to_unix_ms(page.after->failed_at), page.after->id};
      after = descending ? std::min(after, cursor) : std::max(after, cursor);
    }
    storage::page_position pos;
    pos.descending = descending;
    pos.after_ms = after.first;
    pos.after_id = after.second;
    pos.limit = page.limit < highest ? page.limit + 1 : page.limit;
    dead_letter_page result;
    result.entries = storage().dead_letter_page(f.where(name_), pos);
    const auto limit = static_cast<std::size_t>(page.limit);
    if (result.entries.size() > limit) {
      result.entries.resize(limit);
      result.next = dead_letter_cursor{result.entries.back().failed_at, result.entries.back().id};
    }
    return result;
  }

  /// Ids of the entries matching `filter` not yet redriven, oldest failure first.
  [[nodiscard]] std::vector<dead_letter_id> select(const dead_letter_filter& filter) {
    auto f = prepare(filter);
    f.include_redriven = false;
    return storage().select_dead_letters(f.where(name_));
  }

  std::int64_t delete_older_than(std::chrono::milliseconds age) {
    check_not_negative("age", age);
    const auto removed = storage().delete_failed_before(name_, add_ms(now_ms(), -age));
    if (options_.log_events) {
      log_event event = change("dlq.retention");
      event.count = removed;
      emit(options_.log, event, R"(dead-letter queue "{}": removed {} entr{} older than {})", name_,
           removed, removed == 1 ? "y" : "ies",
           std::chrono::duration_cast<std::chrono::hours>(age));
    }
    return removed;
  }

  std::int64_t apply_retention() {
    return options_.retention ? delete_older_than(*options_.retention) : 0;
  }

  std::int64_t purge(const dead_letter_filter& filter) {
    return storage().delete_dead_letters(prepare(filter).where(name_));
  }

  [[nodiscard]] decode_error undecodable(dead_letter_id id, codec_identity expected,
                                         const std::string& found_codec,
                                         std::uint64_t found_fingerprint,
                                         std::string_view why) const {
    return {
        fmt::format("durable: decode: entry {} of dead-letter queue \"{}\" in \"{}\" cannot be "
                    "decoded as this DeadLetterQueue's job type: {}; the entry was kept: read it "
                    "with a DeadLetterQueue of its job type and codec, or purge it",
                    id, name_, target(), why),
        name_,
        id,
        std::string{expected.name},
        expected.fingerprint,
        found_codec,
        found_fingerprint};
  }

  /// A window bound as ISO 8601 UTC text for an error message: with milliseconds, or with
  /// nanoseconds when it falls inside a millisecond, so two different bounds never read
  /// the same.
  static std::string window_bound(time_point t) {
    const bool whole_ms =
        t.time_since_epoch() % std::chrono::milliseconds{1} == time_point::duration{0};
    return iso8601_utc(t, whole_ms ? 3 : 9);
  }

  /// `filter` checked and turned into bound values. Both window bounds are inclusive at
  /// millisecond precision, the precision failed_at is stored with: a bound inside a
  /// millisecond includes the entries of that millisecond.
  static prepared_filter prepare(const dead_letter_filter& filter) {
    using std::chrono::milliseconds;
    if (filter.from && filter.to && *filter.from > *filter.to) {
      throw invalid_argument_error(
          "filter",
          fmt::format("durable: invalid argument: dead_letter_filter window is empty: from "
                      "{} is after to {}; give from <= to (both are inclusive)",
                      window_bound(*filter.from), window_bound(*filter.to)));
    }
    prepared_filter f;
    // Floored as durations: a time_point<milliseconds> floored from a time near
    // time_point::min() does not fit back into a time_point (nanoseconds).
    const auto ms_of = [](time_point t) {
      return std::chrono::floor<milliseconds>(t.time_since_epoch()).count();
    };
    if (filter.from) f.from_ms = ms_of(*filter.from);
    if (filter.to) f.to_ms = ms_of(*filter.to);
    f.types = filter.error_types;
    for (const auto& type : f.types) check_error_type("dead_letter_filter::error_types", type);
    std::sort(f.types.begin(), f.types.end());
    f.types.erase(std::unique(f.types.begin(), f.types.end()), f.types.end());
    f.keys = filter.keys;
    std::sort(f.keys.begin(), f.keys.end());
    f.keys.erase(std::unique(f.keys.begin(), f.keys.end()), f.keys.end());
    f.queue = filter.queue;
    f.include_redriven = filter.include_redriven;
    return f;
  }

 private:
  // An event of this DLQ at info level, now.
  [[nodiscard]] log_event change(std::string_view event_name) const {
    log_event event;
    event.time = detail::now(options_.clock);
    event.name = event_name;
    event.dead_letter_queue = name_;
    return event;
  }

  void log_move(const queue_engine& queue, job_id id, dead_letter_id entry,
                std::optional<std::int64_t> attempts, const failure& error) const {
    if (!options_.log_events) return;
    log_event event = change("dlq.moved");
    event.queue = queue.name();
    event.job = id;
    event.entry = entry;
    event.attempt = attempts;
    event.error_type = error.error_type;
    if (attempts) {
      emit(options_.log, event,
           R"(job {} of queue "{}" moved to dead-letter queue "{}" after {} attempt{}: {})", id,
           queue.name(), name_, *attempts, *attempts == 1 ? "" : "s", error.error_type);
    } else {
      emit(options_.log, event, R"(job {} of queue "{}" moved to dead-letter queue "{}": {})", id,
           queue.name(), name_, error.error_type);
    }
  }

  database db_;
  std::string name_;
  dead_letter_options options_;
  readable_types types_;
};

inline bool same_database(const queue_engine& queue, const dead_letter_engine& dlq) {
  return queue.db() == dlq.db() ||
         queue.db().storage().database_id() == dlq.db().storage().database_id();
}

}  // namespace durable::inline v0::detail
