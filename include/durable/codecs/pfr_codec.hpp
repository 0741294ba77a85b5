// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// `durable::pfr_codec`, the default codec: a compact, portable binary encoding of aggregates
/// through Boost.PFR. Wire format, fingerprint and limitations: docs/codecs.md#pfr-codec.

#include <boost/pfr/core.hpp>

#include <array>
#include <bit>
#include <cassert>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "durable/codec.hpp"
#include "durable/detail/pfr_types.hpp"
#include "durable/detail/type_description.hpp"
#include "durable/exceptions.hpp"

namespace durable::inline v0 {
namespace detail {

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

// ---------------------------------------------------------------------------------------------
// Encoding: a sizing pass, one resize of the output, then a writing pass with no checks.

/// A cursor over output that pfr_size has sized exactly.
class pfr_writer {
 public:
  explicit pfr_writer(std::span<std::byte> out) noexcept : rest_(out) {}

  void put(std::byte b) noexcept {
    rest_.front() = b;
    rest_ = rest_.subspan(1);
  }

  void put_raw(const void* data, std::size_t n) noexcept {
    if (n != 0) {
      std::memcpy(rest_.data(), data, n);
      rest_ = rest_.subspan(n);
    }
  }

  /// An unsigned integer, little-endian whatever the host.
  template <class U>
  void put_uint(U v) noexcept {
    if constexpr (std::endian::native == std::endian::little) {
      put_raw(&v, sizeof v);
    } else {
      for (std::size_t i = 0; i < sizeof v; ++i) {
        put(static_cast<std::byte>(static_cast<unsigned char>(v >> (8 * i))));
      }
    }
  }

  void put_varint(std::uint64_t v) noexcept {
    while (v >= 0x80) {
      put(static_cast<std::byte>(static_cast<unsigned char>((v & 0x7fU) | 0x80U)));
      v >>= 7;
    }
    put(static_cast<std::byte>(static_cast<unsigned char>(v)));
  }

  [[nodiscard]] bool full() const noexcept { return rest_.empty(); }

 private:
  std::span<std::byte> rest_;
};

template <class T>
std::size_t pfr_size(const T& value) noexcept;

template <class R>
std::size_t pfr_record_size(const R& value) noexcept {
  std::size_t n = 0;
  boost::pfr::for_each_field(value, [&n](const auto& field) { n += pfr_size(field); });
  return n;
}

/// The encoded size of `value`.
template <class T>
std::size_t pfr_size(const T& value) noexcept {
  constexpr pfr_kind kind = pfr_kind_v<T>;
  if constexpr (pfr_fixed_size<T>() != pfr_dynamic_size) {
    static_cast<void>(value);
    return pfr_fixed_size<T>();
  } else if constexpr (kind == pfr_kind::string) {
    return pfr_varint_size(value.size()) + value.size();
  } else if constexpr (kind == pfr_kind::vector) {
    using E = typename std_template_traits<T>::element;
    std::size_t n = pfr_varint_size(value.size());
    if constexpr (pfr_fixed_size<E>() != pfr_dynamic_size) {
      n += value.size() * pfr_fixed_size<E>();
    } else {
      for (const auto& e : value) n += pfr_size(e);
    }
    return n;
  } else if constexpr (kind == pfr_kind::optional) {
    return 1 + (value ? pfr_size(*value) : 0);
  } else if constexpr (kind == pfr_kind::array) {
    std::size_t n = 0;
    for (const auto& e : value) n += pfr_size(e);
    return n;
  } else if constexpr (kind == pfr_kind::record) {
    return pfr_record_size(value);
  } else {
    static_assert(pfr_field_type_supported<T>, "durable: internal: unhandled kind in pfr_size");
  }
}

template <class T>
void pfr_write(pfr_writer& w, const T& value) noexcept;

template <class R>
void pfr_write_record(pfr_writer& w, const R& value) noexcept {
  boost::pfr::for_each_field(value, [&w](const auto& field) { pfr_write(w, field); });
}

/// Writes a contiguous run of elements: one memcpy when they already are in wire format.
template <class E>
void pfr_write_elements(pfr_writer& w, std::span<const E> elements) noexcept {
  if constexpr (pfr_bulk_copyable<E>) {
    w.put_raw(elements.data(), elements.size_bytes());
  } else {
    for (const E& e : elements) pfr_write(w, e);
  }
}

/// Writes the encoding of `value`.
template <class T>
void pfr_write(pfr_writer& w, const T& value) noexcept {
  constexpr pfr_kind kind = pfr_kind_v<T>;
  if constexpr (kind == pfr_kind::boolean) {
    w.put(value ? std::byte{1} : std::byte{0});
  } else if constexpr (kind == pfr_kind::character) {
    w.put(static_cast<std::byte>(static_cast<unsigned char>(value)));
  } else if constexpr (kind == pfr_kind::integer) {
    w.put_uint(static_cast<pfr_wire_uint<T>>(value));
  } else if constexpr (kind == pfr_kind::floating) {
    w.put_uint(std::bit_cast<pfr_wire_uint<T>>(value));
  } else if constexpr (kind == pfr_kind::enumeration) {
    pfr_write(w, static_cast<std::underlying_type_t<T>>(value));
  } else if constexpr (kind == pfr_kind::string) {
    w.put_varint(value.size());
    w.put_raw(value.data(), value.size());
  } else if constexpr (kind == pfr_kind::vector) {
    w.put_varint(value.size());
    if constexpr (std::is_same_v<T, std::vector<bool>>) {
      for (const bool b : value) pfr_write(w, b);
    } else {
      using E = typename std_template_traits<T>::element;
      pfr_write_elements<E>(w, std::span<const E>(value.data(), value.size()));
    }
  } else if constexpr (kind == pfr_kind::optional) {
    w.put(value ? std::byte{1} : std::byte{0});
    if (value) pfr_write(w, *value);
  } else if constexpr (kind == pfr_kind::array) {
    using E = std::remove_cv_t<typename std_template_traits<T>::element>;
    pfr_write_elements<E>(w, std::span<const E>(value.data(), value.size()));
  } else if constexpr (kind == pfr_kind::duration) {
    pfr_write(w, value.count());
  } else if constexpr (kind == pfr_kind::time_point) {
    pfr_write(w, value.time_since_epoch());
  } else if constexpr (kind == pfr_kind::record) {
    pfr_write_record(w, value);
  } else {
    static_assert(pfr_field_type_supported<T>, "durable: internal: unhandled kind in pfr_write");
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding: every read is bounds-checked; every count is checked against the bytes left
// before anything is allocated.

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

}  // namespace detail

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
