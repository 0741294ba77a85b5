// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// `durable::pfr_codec`, the default codec: a compact, portable binary encoding of aggregates
/// through Boost.PFR. Wire format, fingerprint and limitations: docs/codecs.md#pfr-codec.

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "durable/codec.hpp"
#include "durable/detail/pfr/checks.hpp"
#include "durable/detail/pfr/decode.hpp"
#include "durable/detail/pfr/description.hpp"
#include "durable/detail/pfr/encode.hpp"
#include "durable/detail/pfr/evolution.hpp"
#include "durable/exceptions.hpp"

namespace durable::inline v0 {

/// The default codec: a compact, portable binary encoding of aggregates (plain structs of
/// integers, bool, char, float, double, enums, std::string, std::vector, std::optional,
/// std::array, std::chrono::duration/time_point and nested aggregates), reflected with
/// Boost.PFR. Fixed-width little-endian scalars, LEB128 lengths; the same bytes on every
/// compiler and host. A job type it cannot encode fails to compile with a `durable: pfr_codec:`
/// static_assert. See docs/codecs.md#pfr-codec.
struct pfr_codec {
  /// Stored with every row.
  static constexpr std::string_view name = "pfr";

  /// FNV-1a 64 of Job's canonical description (see description()): changes when a field's
  /// type, the field order or nesting, or a job_version changes. Usable in constant
  /// expressions; never throws.
  template <class Job>
  [[nodiscard]] static constexpr std::uint64_t fingerprint() noexcept {
    if constexpr (detail::pfr_supported_v<Job>) {
      return detail::pfr_fingerprint_v<Job>;
    } else {
      return 0;
    }
  }

  /// The canonical description of Job that fingerprint() hashes, e.g. "pfr/1:{2:i32,s}":
  /// print it to see why two fingerprints differ. Throws std::bad_alloc only.
  template <class Job>
  [[nodiscard]] static std::string description() {
    if constexpr (detail::pfr_supported_v<Job>) {
      return detail::pfr_description<Job>();
    } else {
      return {};
    }
  }

  /// Replaces the contents of `out` with the encoding of `job`. Reuses `out`'s capacity: at
  /// most one allocation, when it must grow. Throws std::bad_alloc only.
  template <class Job>
  static void encode(const Job& job, std::vector<std::byte>& out) {
    if constexpr (detail::pfr_supported_v<Job>) {
      out.resize(detail::pfr_size(job));
      detail::pfr_writer writer(out);
      detail::pfr_write(writer, job);
      assert(writer.full());
    }
  }

  /// Decodes a Job from exactly `bytes`. Throws durable::decode_error, naming what was being
  /// decoded and the byte offset, when the input is truncated, garbled, claims more elements
  /// than it holds, or has trailing bytes. Never reads out of bounds; allocates no more than
  /// the input can account for.
  template <class Job>
  [[nodiscard]] static Job decode(std::span<const std::byte> bytes) {
    if constexpr (detail::pfr_supported_v<Job>) {
      detail::pfr_reader reader(bytes);
      Job job = detail::pfr_read<Job>(reader);
      reader.expect_end();
      return job;
    } else {
      throw decode_error("durable: pfr_codec: unsupported job type");
    }
  }

  /// Why rows stored with type description `stored` (see description()) cannot be decoded as
  /// Job; empty when they can: `stored` is Job's own description, or an older version of Job
  /// whose records (at any depth, also inside vectors, optionals and arrays) lack trailing
  /// fields. Otherwise names the first field that differs. See docs/codecs.md#pfr-evolution.
  /// Throws decode_error when `stored` is not a pfr_codec description.
  template <class Job>
  [[nodiscard]] static std::string incompatibility(std::string_view stored) {
    if constexpr (detail::pfr_supported_v<Job>) {
      detail::pfr_shape old = detail::pfr_shape_parser(stored).parse();
      auto why = detail::pfr_compare(old, detail::pfr_reader_shape<Job>());
      return why.empty() ? why : difference(stored, description<Job>(), why);
    } else {
      return "unsupported job type";
    }
  }

  /// Decodes a Job from `bytes` written as the type described by `stored`: Job itself or an
  /// older version of it (see incompatibility()); fields the older version did not have take
  /// their default member initializers (or are value-initialized). Throws decode_error, naming
  /// the first field that differs, when `stored` is not such a version, and as decode() for
  /// malformed bytes.
  template <class Job>
  [[nodiscard]] static Job decode(std::span<const std::byte> bytes, std::string_view stored) {
    if constexpr (detail::pfr_supported_v<Job>) {
      detail::pfr_shape old = detail::pfr_shape_parser(stored).parse();
      if (auto why = detail::pfr_compare(old, detail::pfr_reader_shape<Job>()); !why.empty()) {
        throw decode_error("durable: pfr_codec: " + difference(stored, description<Job>(), why));
      }
      detail::pfr_reader reader(bytes);
      Job job = detail::pfr_read_shaped<Job>(reader, old);
      reader.expect_end();
      return job;
    } else {
      throw decode_error("durable: pfr_codec: unsupported job type");
    }
  }

 private:
  static std::string difference(std::string_view stored, const std::string& reader,
                                const std::string& why) {
    return "rows of type " + std::string(stored) + " cannot be read as " + reader + ": " + why +
           "; only appending fields is safe, declare a durable::job_upgrades for other changes "
           "(docs/evolving-jobs.md)";
  }
};

}  // namespace durable::inline v0
