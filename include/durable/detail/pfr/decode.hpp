// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// pfr_codec decoding: every read is bounds-checked; every count is checked against the bytes
/// left before anything is allocated; a malformed input throws durable::decode_error naming
/// what was being decoded and where. Only for types that passed pfr_check.
/// Format: docs/codecs.md#pfr-codec.

#include <boost/pfr/core.hpp>
#include <boost/pfr/tuple_size.hpp>

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "durable/detail/pfr/kind.hpp"
#include "durable/detail/pfr/sizes.hpp"
#include "durable/detail/pfr/wire.hpp"
#include "durable/exceptions.hpp"

namespace durable::inline v0::detail {

/// A cursor over the input with the error reporting of pfr_codec::decode.
class pfr_reader {
 public:
  explicit pfr_reader(std::span<const std::byte> in) noexcept : rest_(in), size_(in.size()) {}

  [[nodiscard]] std::size_t offset() const noexcept { return size_ - rest_.size(); }
  [[nodiscard]] std::size_t left() const noexcept { return rest_.size(); }

  /// The next `n` bytes; throws decode_error (naming `what`) when fewer are left.
  [[nodiscard]] std::span<const std::byte> take(std::size_t n, std::string_view what) {
    if (rest_.size() < n) throw_truncated(what, n);
    const std::span<const std::byte> taken = rest_.first(n);
    rest_ = rest_.subspan(n);
    return taken;
  }

  /// The next byte.
  [[nodiscard]] unsigned char byte(std::string_view what) {
    return std::to_integer<unsigned char>(take(1, what).front());
  }

  /// An unsigned integer stored little-endian.
  template <class U>
  [[nodiscard]] U uint(std::string_view what) {
    const std::span<const std::byte> bytes = take(sizeof(U), what);
    U v{};
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(&v, bytes.data(), sizeof v);
    } else {
      for (std::size_t i = 0; i < sizeof v; ++i) {
        v = static_cast<U>(v |
                           static_cast<U>(static_cast<U>(std::to_integer<U>(bytes[i])) << (8 * i)));
      }
    }
    return v;
  }

  /// A byte that must be 0 or 1 (bool, optional presence).
  [[nodiscard]] bool flag(std::string_view what) {
    const unsigned char b = byte(what);
    if (b > 1) throw_invalid(what, offset() - 1, "byte " + std::to_string(b) + ", not 0 or 1");
    return b == 1;
  }

  /// An unsigned LEB128 length or count, at most 10 bytes, in its shortest form, that the
  /// bytes left can hold `per_element` bytes each of (per_element >= 1).
  [[nodiscard]] std::size_t count(std::string_view what, std::size_t per_element) {
    const std::size_t start = offset();
    std::uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
      const unsigned char b = byte(what);
      if (shift == 63 && b > 1) throw_invalid(what, start, "LEB128 value overflows 64 bits");
      v |= static_cast<std::uint64_t>(b & 0x7fU) << shift;
      if ((b & 0x80U) == 0) {
        if (b == 0 && shift != 0) {
          throw_invalid(what, start, "LEB128 value is not in its shortest form");
        }
        break;
      }
    }
    if (v > left() / per_element) {
      throw_invalid(what, start,
                    "claims " + std::to_string(v) +
                        (per_element == 1 ? std::string(" bytes")
                                          : " elements of at least " + std::to_string(per_element) +
                                                " bytes each") +
                        " but only " + std::to_string(left()) + " bytes are left");
    }
    return static_cast<std::size_t>(v);
  }

  /// Throws unless the whole input was consumed.
  void expect_end() const {
    if (!rest_.empty()) {
      throw decode_error("durable: pfr_codec: " + std::to_string(left()) +
                         " trailing bytes after a complete value at byte offset " +
                         std::to_string(offset()) + " (input is " + std::to_string(size_) +
                         " bytes)");
    }
  }

 private:
  [[noreturn]] void throw_invalid(std::string_view what, std::size_t at,
                                  const std::string& problem) const {
    throw decode_error("durable: pfr_codec: invalid " + std::string(what) + " at byte offset " +
                       std::to_string(at) + ": " + problem + " (input is " + std::to_string(size_) +
                       " bytes)");
  }

  [[noreturn]] void throw_truncated(std::string_view what, std::size_t needed) const {
    throw decode_error("durable: pfr_codec: input ends while decoding " + std::string(what) +
                       " at byte offset " + std::to_string(offset()) + " (needs " +
                       std::to_string(needed) + " bytes, " + std::to_string(left()) +
                       " left; input is " + std::to_string(size_) + " bytes)");
  }

  std::span<const std::byte> rest_;
  std::size_t size_;
};

/// Short wire name of an integer or floating type, for error messages ("i32", "f64", ...).
template <class T>
constexpr std::string_view pfr_scalar_name() noexcept {
  constexpr bool is_float = pfr_kind_v<T> == pfr_kind::floating;
  constexpr bool is_signed = std::is_signed_v<T>;
  if constexpr (sizeof(T) == 1) {
    return is_signed ? "i8" : "u8";
  } else if constexpr (sizeof(T) == 2) {
    return is_signed ? "i16" : "u16";
  } else if constexpr (sizeof(T) == 4) {
    return is_float ? "f32" : is_signed ? "i32" : "u32";
  } else {
    return is_float ? "f64" : is_signed ? "i64" : "u64";
  }
}

template <class T>
T pfr_read(pfr_reader& r);

template <class R, std::size_t... I>
R pfr_read_record([[maybe_unused]] pfr_reader& r, std::index_sequence<I...> /*fields*/) {
  // Braced initializers are evaluated left to right: fields are read in order, and each is
  // constructed in place from the returned prvalue.
  return R{pfr_read<std::remove_cv_t<boost::pfr::tuple_element_t<I, R>>>(r)...};
}

template <class T, std::size_t... I>
std::array<T, sizeof...(I)> pfr_read_array([[maybe_unused]] pfr_reader& r,
                                           std::index_sequence<I...> /*elements*/) {
  return {{(static_cast<void>(I), pfr_read<std::remove_cv_t<T>>(r))...}};
}

template <class T>
T pfr_read_vector(pfr_reader& r) {
  using E = typename std_template_traits<T>::element;
  const std::size_t n = r.count("std::vector count", pfr_min_size<E>());
  T v;
  if constexpr (pfr_bulk_copyable<E>) {
    const std::span<const std::byte> bytes = r.take(n * sizeof(E), "std::vector elements");
    v.resize(n);
    if (n != 0) std::memcpy(v.data(), bytes.data(), bytes.size());
  } else {
    v.reserve(n);
    for (std::size_t i = 0; i < n; ++i) v.push_back(pfr_read<E>(r));
  }
  return v;
}

template <class T>
T pfr_read_std_array(pfr_reader& r) {
  using E = typename std_template_traits<T>::element;
  constexpr std::size_t n = std_template_traits<T>::size;
  if constexpr (pfr_bulk_copyable<E> && !std::is_const_v<E> && n != 0) {
    T a;  // NOLINT(cppcoreguidelines-pro-type-member-init): every byte is copied in below
    std::memcpy(a.data(), r.take(n * sizeof(E), "std::array elements").data(), n * sizeof(E));
    return a;
  } else {
    return pfr_read_array<E>(r, std::make_index_sequence<n>{});
  }
}

/// Decodes one `T` at the reader's position.
template <class T>
T pfr_read(pfr_reader& r) {
  constexpr pfr_kind kind = pfr_kind_v<T>;
  if constexpr (kind == pfr_kind::boolean) {
    return r.flag("bool");
  } else if constexpr (kind == pfr_kind::character) {
    return static_cast<char>(r.byte("char"));
  } else if constexpr (kind == pfr_kind::integer) {
    return static_cast<T>(r.uint<pfr_wire_uint<T>>(pfr_scalar_name<T>()));
  } else if constexpr (kind == pfr_kind::floating) {
    return std::bit_cast<T>(r.uint<pfr_wire_uint<T>>(pfr_scalar_name<T>()));
  } else if constexpr (kind == pfr_kind::enumeration) {
    return static_cast<T>(pfr_read<std::underlying_type_t<T>>(r));
  } else if constexpr (kind == pfr_kind::string) {
    const std::size_t n = r.count("std::string length", 1);
    const std::span<const std::byte> bytes = r.take(n, "std::string bytes");
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): bytes to chars
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  } else if constexpr (kind == pfr_kind::vector) {
    return pfr_read_vector<T>(r);
  } else if constexpr (kind == pfr_kind::optional) {
    T o;
    if (r.flag("std::optional presence byte")) {
      o.emplace(pfr_read<std::remove_cv_t<typename std_template_traits<T>::element>>(r));
    }
    return o;
  } else if constexpr (kind == pfr_kind::array) {
    return pfr_read_std_array<T>(r);
  } else if constexpr (kind == pfr_kind::duration) {
    return T(pfr_read<typename std_template_traits<T>::rep>(r));
  } else if constexpr (kind == pfr_kind::time_point) {
    return T(pfr_read<typename std_template_traits<T>::duration>(r));
  } else if constexpr (kind == pfr_kind::record) {
    return pfr_read_record<T>(r, std::make_index_sequence<boost::pfr::tuple_size_v<T>>{});
  } else {
    static_assert(pfr_field_type_supported<T>, "durable: internal: unhandled kind in pfr_read");
  }
}

}  // namespace durable::inline v0::detail
