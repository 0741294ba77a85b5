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
};

}  // namespace durable::inline v0
