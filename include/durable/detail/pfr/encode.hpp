// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// pfr_codec encoding: a sizing pass, one resize of the output, then a writing pass with no
/// checks. Only for types that passed pfr_check. Format: docs/codecs.md#pfr-codec.

#include <boost/pfr/core.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>
#include <vector>

#include "durable/detail/pfr/kind.hpp"
#include "durable/detail/pfr/sizes.hpp"
#include "durable/detail/pfr/wire.hpp"

namespace durable::inline v0::detail {

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

}  // namespace durable::inline v0::detail
