// SPDX-License-Identifier: MIT
// A codec whose encode returns the bytes instead of filling `out`.
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
  template <class Job>
  static constexpr std::uint64_t fingerprint() noexcept {
    return 1;
  }
  static bool encode(const job&, std::vector<std::byte>& out) { return out.empty(); }
  template <class Job>
  static Job decode(std::span<const std::byte>) {
    return Job{};
  }
};

static_assert(durable::detail::check_codec<bad_codec, job>());
