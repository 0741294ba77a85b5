// SPDX-License-Identifier: MIT
// A codec without fingerprint<Job>().
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
  static constexpr std::string_view name = "bad";
  static void encode(const job&, std::vector<std::byte>& out) { out.clear(); }
  template <class Job>
  static Job decode(std::span<const std::byte>) {
    return Job{};
  }
};

static_assert(durable::detail::check_codec<bad_codec, job>());
