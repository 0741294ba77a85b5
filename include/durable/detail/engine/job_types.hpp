// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Which stored job types a typed reader can decode, for the non-template engines: its own
/// type, the types it declares upgrades from (exact fingerprints), and older versions of
/// them that its codec judges readable from their recorded descriptions (durable_job_types).
/// The claim of a typed Queue filters by this set, so rows of other types stay pending.

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "durable/storage.hpp"

namespace durable::inline v0::detail {

/// The codec a typed layer writes with.
struct codec_identity {
  std::string_view name;
  std::uint64_t fingerprint = 0;
};

/// What a typed layer reads and writes.
struct type_reader {
  /// The codec and type fingerprint it writes. An empty name: an untyped tool, which
  /// claims any job.
  codec_identity codec;
  /// Its type's description, registered in the database; empty: none.
  std::string description{};
  /// Fingerprints of `codec.name` it decodes without a description: its own, then those of
  /// the types it upgrades from.
  std::vector<std::uint64_t> exact{};
  /// Why rows of registered type (`codec`, `description`) cannot be decoded; empty when they
  /// can. Null: only the `exact` fingerprints are read.
  std::string (*judge)(std::string_view codec, std::string_view description) = nullptr;
};

/// Copies the record of type (`codec`, `fingerprint`) from one database to another at
/// `now_ms` (a job moved across databases stays readable where it lands).
inline void copy_job_type(storage::backend& from, storage::backend& to, std::string_view codec,
                          std::uint64_t fingerprint, std::int64_t now_ms) {
  if (&from == &to) return;
  for (const auto& t : from.job_types()) {
    if (t.codec == codec && t.fingerprint == fingerprint) {
      to.record_job_type(codec, fingerprint, t.description, now_ms);
      return;
    }
  }
}

/// The stored types a type_reader reads, refreshed from the database's registered types.
/// Thread-safe.
class readable_types {
 public:
  using fingerprints = std::shared_ptr<const std::vector<std::uint64_t>>;

  explicit readable_types(type_reader reader)
      : reader_(std::move(reader)),
        accepted_(std::make_shared<const std::vector<std::uint64_t>>(reader_.exact)) {}

  [[nodiscard]] const type_reader& reader() const noexcept { return reader_; }
  [[nodiscard]] bool typed() const noexcept { return !reader_.codec.name.empty(); }

  /// Records the reader's own type in `storage` at `now_ms` (if it has a description),
  /// then reads the recorded types.
  void open(storage::backend& storage, std::int64_t now_ms) {
    if (!reader_.description.empty()) {
      storage.record_job_type(reader_.codec.name, reader_.codec.fingerprint, reader_.description,
                              now_ms);
    }
    refresh(storage, true);
  }

  /// Reads the registered types and judges those not seen yet; unless `force`, at most once
  /// a second (a type registered by another process is read within a second).
  void refresh(storage::backend& storage, bool force) {
    if (!typed()) return;
    const auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard lock{mutex_};
      if (!force && now < next_refresh_) return;
      next_refresh_ = now + std::chrono::seconds{1};
    }
    const auto registered = storage.job_types();
    std::lock_guard lock{mutex_};
    std::vector<std::uint64_t> accepted = *accepted_;
    for (const auto& t : registered) {
      auto key = std::make_pair(t.codec, t.fingerprint);
      if (known_.contains(key)) continue;
      std::string why;
      if (t.codec != reader_.codec.name) {
        why = written_by(t.codec);
      } else if (std::find(accepted.begin(), accepted.end(), t.fingerprint) == accepted.end()) {
        why = reader_.judge != nullptr
                  ? reader_.judge(t.codec, t.description)
                  : fmt::format(
                        "codec \"{}\" reads only the fingerprints of its own job type "
                        "and of the types it upgrades from",
                        reader_.codec.name);
        if (why.empty()) accepted.push_back(t.fingerprint);
      }
      known_.emplace(std::move(key), entry{t.description, std::move(why)});
    }
    if (accepted.size() != accepted_->size()) {
      accepted_ = std::make_shared<const std::vector<std::uint64_t>>(std::move(accepted));
    }
  }

  /// The fingerprints (of the reader's codec) it decodes.
  [[nodiscard]] fingerprints accepted() const {
    std::lock_guard lock{mutex_};
    return accepted_;
  }

  /// True when rows of (`codec`, `fingerprint`) are decoded.
  [[nodiscard]] bool accepts(std::string_view codec, std::uint64_t fingerprint) const {
    if (codec != reader_.codec.name) return false;
    const auto list = accepted();
    return std::find(list->begin(), list->end(), fingerprint) != list->end();
  }

  /// The registered description of (`codec`, `fingerprint`), as last read.
  [[nodiscard]] std::optional<std::string> description(std::string_view codec,
                                                       std::uint64_t fingerprint) const {
    std::lock_guard lock{mutex_};
    const auto it = known_.find(std::make_pair(std::string{codec}, fingerprint));
    if (it == known_.end()) return std::nullopt;
    return it->second.description;
  }

  /// Why rows of (`codec`, `fingerprint`) are not decoded; empty when they are.
  [[nodiscard]] std::string why_not(std::string_view codec, std::uint64_t fingerprint) const {
    if (accepts(codec, fingerprint)) return {};
    if (codec != reader_.codec.name) return written_by(codec);
    std::lock_guard lock{mutex_};
    const auto it = known_.find(std::make_pair(std::string{codec}, fingerprint));
    if (it != known_.end()) return it->second.why;
    return "no description of its type is registered in this database (rows written before "
           "schema version 4, or by another program, have none), so only a reader of exactly "
           "that type, or one that declares an upgrade from it, claims them";
  }

 private:
  struct entry {
    std::string description;
    std::string why;  // empty: readable
  };

  [[nodiscard]] std::string written_by(std::string_view codec) const {
    return fmt::format(R"(it was written by codec "{}", this reader uses codec "{}")", codec,
                       reader_.codec.name);
  }

  type_reader reader_;
  mutable std::mutex mutex_;  // guards the members below
  fingerprints accepted_;
  std::map<std::pair<std::string, std::uint64_t>, entry, std::less<>> known_;
  std::chrono::steady_clock::time_point next_refresh_{};
};

}  // namespace durable::inline v0::detail
