// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// FNV-1a 64, usable in constant expressions: the hash behind every job-type fingerprint.
/// Standard headers only.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace durable::inline v0::detail {

/// Incremental FNV-1a 64 over a stream of characters (each fed as one octet).
/// Also a "sink" for `detail::pfr_describe`: `put(text)` and `put_number(n)`.
class fnv1a_64_hasher {
 public:
  static constexpr std::uint64_t offset_basis = 0xcbf29ce484222325ULL;
  static constexpr std::uint64_t prime = 0x00000100000001b3ULL;

  /// Feeds the octets of `text`.
  constexpr void put(std::string_view text) noexcept {
    for (const char c : text) {
      state_ ^= static_cast<std::uint64_t>(static_cast<unsigned char>(c));
      state_ *= prime;
    }
  }

  /// Feeds `n` as decimal digits (no sign, no leading zeros; "0" for zero).
  constexpr void put_number(std::uint64_t n) noexcept {
    std::uint64_t divisor = 1;
    while (n / divisor >= 10) divisor *= 10;
    for (; divisor != 0; divisor /= 10) {
      const char digit = static_cast<char>('0' + static_cast<char>(n / divisor % 10));
      put(std::string_view(&digit, 1));
    }
  }

  /// The hash of everything fed so far.
  [[nodiscard]] constexpr std::uint64_t value() const noexcept { return state_; }

 private:
  std::uint64_t state_ = offset_basis;
};

/// FNV-1a 64 of `text`.
[[nodiscard]] constexpr std::uint64_t fnv1a_64(std::string_view text) noexcept {
  fnv1a_64_hasher h;
  h.put(text);
  return h.value();
}

// Published test vectors of FNV-1a 64.
static_assert(fnv1a_64("") == 0xcbf29ce484222325ULL);
static_assert(fnv1a_64("a") == 0xaf63dc4c8601ec8cULL);
static_assert(fnv1a_64("foobar") == 0x85944171f73967e8ULL);
static_assert([] {
  fnv1a_64_hasher h;
  h.put_number(0);
  h.put_number(10);
  h.put_number(18446744073709551615ULL);
  return h.value() == fnv1a_64("01018446744073709551615");
}());

}  // namespace durable::inline v0::detail
