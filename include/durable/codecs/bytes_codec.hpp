// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// `durable::bytes_codec`: stores a job that already is bytes (std::string,
/// std::vector<std::byte>, std::vector<std::uint8_t>) as is. See docs/codecs.md#bytes-codec.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "durable/codec.hpp"
#include "durable/exceptions.hpp"

namespace durable::inline v0 {
namespace detail {

template <class Job>
inline constexpr bool bytes_codec_supports =
    std::is_same_v<Job, std::string> || std::is_same_v<Job, std::vector<std::byte>> ||
    std::is_same_v<Job, std::vector<std::uint8_t>>;

/// True for the job types bytes_codec handles; otherwise one `durable:` static_assert fires.
template <class Job>
consteval bool check_bytes_codec() {
  if constexpr (!bytes_codec_supports<Job>) {
    static_assert(bytes_codec_supports<Job>,
                  "durable: bytes_codec: Job must be std::string, std::vector<std::byte> or "
                  "std::vector<std::uint8_t>; for structs use durable::pfr_codec (the default). "
                  "See docs/codecs.md#bytes-codec");
    return false;
  } else {
    return true;
  }
}

}  // namespace detail

/// A passthrough codec for jobs that already are bytes: std::string, std::vector<std::byte>
/// or std::vector<std::uint8_t>. The stored blob is the job's bytes, unchanged, so other
/// programs can read and write it; each of the three types has its own fingerprint.
/// Any other job type fails to compile with a `durable: bytes_codec:` static_assert.
struct bytes_codec {
  /// Stored with every row.
  static constexpr std::string_view name = "bytes";

  /// A distinct constant per supported job type. Never throws.
  template <class Job>
  [[nodiscard]] static constexpr std::uint64_t fingerprint() noexcept {
    if constexpr (!detail::check_bytes_codec<Job>()) {
      return 0;
    } else if constexpr (std::is_same_v<Job, std::string>) {
      return detail::fnv1a_64("bytes/1:std::string");
    } else if constexpr (std::is_same_v<Job, std::vector<std::byte>>) {
      return detail::fnv1a_64("bytes/1:std::vector<std::byte>");
    } else {
      return detail::fnv1a_64("bytes/1:std::vector<std::uint8_t>");
    }
  }

  /// Replaces the contents of `out` with the bytes of `job`. Throws std::bad_alloc only.
  template <class Job>
  static void encode(const Job& job, std::vector<std::byte>& out) {
    if constexpr (detail::check_bytes_codec<Job>()) {
      out.resize(job.size());
      if (!job.empty()) std::memcpy(out.data(), job.data(), job.size());
    }
  }

  /// The job whose bytes are `bytes`; every input is valid. Throws std::bad_alloc only.
  template <class Job>
  [[nodiscard]] static Job decode(std::span<const std::byte> bytes) {
    if constexpr (!detail::check_bytes_codec<Job>()) {
      throw decode_error("durable: bytes_codec: unsupported job type");
    } else if constexpr (std::is_same_v<Job, std::vector<std::byte>>) {
      return Job(bytes.begin(), bytes.end());
    } else {
      using value_type = typename Job::value_type;
      const std::span<const value_type> values(
          // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): bytes as chars
          reinterpret_cast<const value_type*>(bytes.data()), bytes.size());
      return Job(values.begin(), values.end());
    }
  }
};

}  // namespace durable::inline v0
