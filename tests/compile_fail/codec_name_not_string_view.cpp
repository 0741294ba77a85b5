// SPDX-License-Identifier: MIT
// A codec whose name is an int.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include <durable/codec.hpp>

struct job {
  int id;
};

struct bad_codec {
  static constexpr int name = 7;
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

static_assert(durable::detail::check_codec<bad_codec, job>());
