// SPDX-License-Identifier: MIT
// A codec whose decode<Job>() returns something other than Job.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include <durable/codec.hpp>

struct job {
  int id;
};

struct optional_codec {
  static constexpr std::string_view name = "optional";
  template <class Job>
  static constexpr std::uint64_t fingerprint() noexcept {
    return 1;
  }
  static void encode(const job&, std::vector<std::byte>& out) { out.clear(); }
  template <class Job>
  static std::optional<Job> decode(std::span<const std::byte>) {
    return std::nullopt;
  }
};

static_assert(durable::detail::check_codec<optional_codec, job>());
