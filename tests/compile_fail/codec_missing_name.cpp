// SPDX-License-Identifier: MIT
// A codec without `static constexpr std::string_view name`.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <durable/codec.hpp>

struct job {
  int id;
};

struct nameless_codec {
  template <class Job>
  static constexpr std::uint64_t fingerprint() noexcept {
    return 1;
  }
  static void encode(const job&, std::vector<std::byte>& out) { out.clear(); }
  template <class Job>
  static Job decode(std::span<const std::byte>) {
    return Job{};
  }
};

static_assert(durable::detail::check_codec<nameless_codec, job>());
