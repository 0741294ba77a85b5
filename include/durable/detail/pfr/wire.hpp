// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The pfr_codec wire format's building blocks, shared by encoding and decoding: the platform
/// it needs, the unsigned integer that carries each scalar, which runs of values are already
/// in wire format in memory, and the size of a LEB128 varint. Format: docs/codecs.md#pfr-codec.

#include <bit>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "durable/detail/pfr/kind.hpp"

namespace durable::inline v0::detail {

static_assert(CHAR_BIT == 8, "durable: pfr_codec needs 8-bit bytes");
static_assert(std::endian::native == std::endian::little || std::endian::native == std::endian::big,
              "durable: pfr_codec needs a little- or big-endian platform");
static_assert(std::numeric_limits<float>::is_iec559 && sizeof(float) == 4 &&
                  std::numeric_limits<double>::is_iec559 && sizeof(double) == 8,
              "durable: pfr_codec needs IEEE-754 binary32 float and binary64 double");

template <std::size_t Size>
struct pfr_uint_of_size;
template <>
struct pfr_uint_of_size<1> {
  using type = std::uint8_t;
};
template <>
struct pfr_uint_of_size<2> {
  using type = std::uint16_t;
};
template <>
struct pfr_uint_of_size<4> {
  using type = std::uint32_t;
};
template <>
struct pfr_uint_of_size<8> {
  using type = std::uint64_t;
};

/// The unsigned integer type whose bytes carry a T (integer, float or double) on the wire.
template <class T>
using pfr_wire_uint = typename pfr_uint_of_size<sizeof(T)>::type;

/// True when a contiguous run of T is already in wire format in memory, so it can be copied
/// with memcpy: integers (not bool), char, float, double and enums of those, on a
/// little-endian host.
template <class T>
inline constexpr bool pfr_bulk_copyable = [] {
  if constexpr (std::endian::native != std::endian::little) {
    return false;
  } else if constexpr (pfr_kind_v<T> == pfr_kind::enumeration) {
    return pfr_kind_v<std::underlying_type_t<T>> != pfr_kind::boolean;
  } else {
    return pfr_kind_v<T> == pfr_kind::integer || pfr_kind_v<T> == pfr_kind::character ||
           pfr_kind_v<T> == pfr_kind::floating;
  }
}();

/// Number of bytes of the unsigned LEB128 encoding of `v`.
[[nodiscard]] constexpr std::size_t pfr_varint_size(std::uint64_t v) noexcept {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

}  // namespace durable::inline v0::detail
