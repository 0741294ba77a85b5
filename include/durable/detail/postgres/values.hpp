// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Values as the PostgreSQL backend sends and reads them, all in libpq's binary format:
/// typed parameters (int8, bool, text, bytea, one-dimensional arrays of them, NULL) and
/// typed access to result columns. Text is sent with its length, never as a C string, so
/// it is not cut at a NUL byte. Part of the PostgreSQL layer.

#include <libpq-fe.h>

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "durable/clock.hpp"
#include "durable/detail/json.hpp"
#include "durable/error_traits.hpp"
#include "durable/exceptions.hpp"
#include "durable/job.hpp"

namespace durable::inline v0::detail::postgres {

/// Type OIDs of the built-in types durable uses (pg_type.h, stable across versions).
namespace oid {
inline constexpr Oid boolean = 16;
inline constexpr Oid bytea = 17;
inline constexpr Oid int8 = 20;
inline constexpr Oid int2 = 21;
inline constexpr Oid int4 = 23;
inline constexpr Oid text = 25;
inline constexpr Oid json = 114;
inline constexpr Oid varchar = 1043;
inline constexpr Oid name = 19;
inline constexpr Oid bool_array = 1000;
inline constexpr Oid bytea_array = 1001;
inline constexpr Oid text_array = 1009;
inline constexpr Oid int8_array = 1016;
}  // namespace oid

/// Appends `v` to `out` in network byte order.
inline void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
    out += static_cast<char>((v >> static_cast<unsigned>(shift)) & 0xFFU);
  }
}

/// Reads an unsigned big-endian integer of `bytes.size()` bytes.
[[nodiscard]] inline std::uint64_t get_be(std::span<const char> bytes) noexcept {
  std::uint64_t v = 0;
  for (const char c : bytes) v = (v << 8U) | static_cast<unsigned char>(c);
  return v;
}

/// The parameters of one statement, in binary format, with their types. Text and bytea
/// values point into the caller's memory: keep it alive until the statement ran.
class params {
 public:
  params() = default;

  void add(std::int64_t v) {
    std::string bytes;
    put_be(bytes, static_cast<std::uint64_t>(v), 8);
    add_owned(oid::int8, std::move(bytes));
  }
  void add(int v) { add(static_cast<std::int64_t>(v)); }
  void add(std::uint64_t v) { add(static_cast<std::int64_t>(v)); }
  void add(bool v) { add_owned(oid::boolean, std::string(1, v ? '\1' : '\0')); }
  void add(std::string_view v) { add_ref(oid::text, v.data(), v.size()); }
  void add(const std::string& v) { add(std::string_view{v}); }
  void add(const char* v) { add(std::string_view{v}); }
  void add(std::span<const std::byte> v) {
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): libpq takes char bytes
    add_ref(oid::bytea, reinterpret_cast<const char*>(v.data()), v.size());
  }
  template <class T>
  void add(const std::optional<T>& v) {
    if (v) {
      add(*v);
    } else {
      add_null(type_of<T>());
    }
  }
  /// A NULL of type `type`.
  void add_null(Oid type) { entries_.push_back({type, nullptr, 0, -1}); }

  /// A job key as two parameters: (key_int, key_text), the unused one NULL; both NULL for
  /// no key.
  void add_key(const job_key* key) {
    if (key == nullptr) {
      add_null(oid::int8);
      add_null(oid::text);
    } else if (const auto* i = std::get_if<std::int64_t>(key)) {
      add(*i);
      add_null(oid::text);
    } else {
      add_null(oid::int8);
      add(std::string_view{std::get<std::string>(*key)});
    }
  }

  /// A one-dimensional array of `n` elements of type `element` (array type `array`);
  /// `element_at(i, out)` appends element i's binary form to `out` and returns true, or
  /// appends nothing and returns false for NULL.
  template <class ElementAt>
  void add_array(Oid array, Oid element, std::size_t n, ElementAt&& element_at) {
    std::string bytes;
    put_be(bytes, 1, 4);  // dimensions
    const auto flags_at = bytes.size();
    put_be(bytes, 0, 4);  // has NULLs, set below
    put_be(bytes, element, 4);
    put_be(bytes, n, 4);  // length
    put_be(bytes, 1, 4);  // lower bound
    bool nulls = false;
    for (std::size_t i = 0; i < n; ++i) {
      const auto length_at = bytes.size();
      put_be(bytes, 0, 4);  // the element's length, set below
      const bool present = element_at(i, bytes);
      const auto length = present ? bytes.size() - length_at - 4 : 0xFFFFFFFFU;  // -1: NULL
      nulls = nulls || !present;
      for (std::size_t k = 0; k < 4; ++k) {
        bytes[length_at + k] = static_cast<char>((length >> (8 * (3 - k))) & 0xFFU);
      }
    }
    if (nulls) bytes[flags_at + 3] = '\1';
    add_owned(array, std::move(bytes));
  }

  [[nodiscard]] int size() const noexcept { return static_cast<int>(entries_.size()); }

  /// The arrays libpq takes; valid until the next add.
  struct view {
    std::vector<Oid> types;
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;
  };
  [[nodiscard]] view build() const {
    view v;
    v.types.reserve(entries_.size());
    v.values.reserve(entries_.size());
    v.lengths.reserve(entries_.size());
    v.formats.assign(entries_.size(), 1);
    for (const auto& e : entries_) {
      v.types.push_back(e.type);
      v.values.push_back(e.owned >= 0 ? owned_[static_cast<std::size_t>(e.owned)].data() : e.data);
      v.lengths.push_back(e.length);
    }
    return v;
  }

 private:
  template <class T>
  static constexpr Oid type_of() {
    if constexpr (std::is_same_v<T, bool>) {
      return oid::boolean;
    } else if constexpr (std::is_integral_v<T>) {
      return oid::int8;
    } else {
      return oid::text;
    }
  }

  struct entry {
    Oid type;
    const char* data;
    int length;
    int owned;  // index into owned_, or -1
  };

  void add_ref(Oid type, const char* data, std::size_t length) {
    entries_.push_back({type, data == nullptr ? "" : data, static_cast<int>(length), -1});
  }
  void add_owned(Oid type, std::string bytes) {
    const auto length = static_cast<int>(bytes.size());
    owned_.push_back(std::move(bytes));
    entries_.push_back({type, nullptr, length, static_cast<int>(owned_.size() - 1)});
  }

  std::vector<entry> entries_;
  std::vector<std::string> owned_;
};

/// Appends every argument to `p` in order.
template <class... Args>
void add_all(params& p, const Args&... args) {
  (p.add(args), ...);
}

/// Binary element writers for params::add_array.
inline void put_int8(std::string& out, std::int64_t v) {
  put_be(out, static_cast<std::uint64_t>(v), 8);
}

/// A result of one statement, owned; columns read in binary format.
class result {
 public:
  result() = default;
  explicit result(PGresult* r) noexcept : r_(r) {}
  result(const result&) = delete;
  result& operator=(const result&) = delete;
  result(result&& other) noexcept : r_(std::exchange(other.r_, nullptr)) {}
  result& operator=(result&& other) noexcept {
    if (this != &other) {
      PQclear(r_);
      r_ = std::exchange(other.r_, nullptr);
    }
    return *this;
  }
  ~result() { PQclear(r_); }

  [[nodiscard]] PGresult* get() const noexcept { return r_; }
  [[nodiscard]] int rows() const noexcept { return PQntuples(r_); }
  /// Rows a command changed (DELETE, UPDATE, INSERT).
  [[nodiscard]] std::int64_t changed() const noexcept {
    const std::string_view n{PQcmdTuples(r_)};
    std::int64_t v = 0;
    std::from_chars(n.data(), n.data() + n.size(), v);
    return v;
  }
  [[nodiscard]] bool is_null(int row, int col) const noexcept {
    return PQgetisnull(r_, row, col) == 1;
  }
  [[nodiscard]] std::span<const char> raw(int row, int col) const noexcept {
    return {PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col))};
  }
  /// An integer column (int2, int4, int8) or a boolean as 0/1.
  [[nodiscard]] std::int64_t int64(int row, int col) const {
    const auto bytes = raw(row, col);
    switch (PQftype(r_, col)) {
      case oid::int8: return static_cast<std::int64_t>(get_be(bytes));
      case oid::int4: return static_cast<std::int32_t>(get_be(bytes));
      case oid::int2: return static_cast<std::int16_t>(get_be(bytes));
      case oid::boolean: return get_be(bytes) != 0 ? 1 : 0;
      default: throw error("durable: postgres: internal: a column read as an integer is not one");
    }
  }
  [[nodiscard]] bool boolean(int row, int col) const { return int64(row, col) != 0; }
  /// An integer column that may be NULL (empty then).
  [[nodiscard]] std::optional<std::int64_t> optional_int64(int row, int col) const {
    if (is_null(row, col)) return std::nullopt;
    return int64(row, col);
  }
  /// A text-like column (text, varchar, name, json) as it is.
  [[nodiscard]] std::string_view text(int row, int col) const {
    const auto bytes = raw(row, col);
    return {bytes.data(), bytes.size()};
  }
  [[nodiscard]] std::string text_or_empty(int row, int col) const {
    return is_null(row, col) ? std::string{} : std::string{text(row, col)};
  }
  /// A bytea column.
  [[nodiscard]] std::span<const std::byte> bytes(int row, int col) const {
    const auto bytes = raw(row, col);
    return std::as_bytes(bytes);
  }
  [[nodiscard]] std::vector<std::byte> owned_bytes(int row, int col) const {
    const auto b = bytes(row, col);
    return {b.begin(), b.end()};
  }
  /// A key from the column pair (key_int at `col`, key_text at `col + 1`).
  [[nodiscard]] std::optional<job_key> key(int row, int col) const {
    if (!is_null(row, col)) return job_key{int64(row, col)};
    if (!is_null(row, col + 1)) return job_key{std::string{text(row, col + 1)}};
    return std::nullopt;
  }
  /// A redrive policy as stored ("safe", "optional", "never").
  [[nodiscard]] redrive_policy policy(int row, int col) const {
    const auto t = text(row, col);
    if (t == "safe") return redrive_policy::safe;
    if (t == "never") return redrive_policy::never;
    return redrive_policy::optional;
  }

 private:
  PGresult* r_ = nullptr;
};

/// The rows (attempt, type, message, at) of a history query as attempt records.
[[nodiscard]] inline std::vector<attempt_record> read_history(const result& r) {
  std::vector<attempt_record> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back({r.int64(i, 0), std::string{r.text(i, 1)}, std::string{r.text(i, 2)},
                   from_unix_ms(r.int64(i, 3))});
  }
  return out;
}

/// True when `s` is valid UTF-8 without NUL bytes, what a PostgreSQL text value may hold.
[[nodiscard]] inline bool is_storable_text(std::string_view s) noexcept {
  return s.find('\0') == std::string_view::npos && is_valid_utf8(s);
}

/// `s` made storable as PostgreSQL text: each NUL byte and each byte that is not part of
/// valid UTF-8 becomes U+FFFD. For messages and contexts, which must not fail a dead-letter
/// move. Returns `s` unchanged (without copying into `buffer`) when it is storable.
[[nodiscard]] inline std::string_view storable_text(std::string_view s, std::string& buffer) {
  if (is_storable_text(s)) return s;
  buffer.clear();
  for (const char c : to_valid_utf8(s)) {
    if (c == '\0') {
      buffer += "\xEF\xBF\xBD";
    } else {
      buffer += c;
    }
  }
  return buffer;
}

/// Longest error type stored with a dead letter, in bytes: the column is indexed with the
/// DLQ name and three more columns, and a PostgreSQL btree row holds at most 2704 bytes.
inline constexpr std::size_t max_error_type_bytes = 2048;

/// `type` made storable as a dead letter's error type: storable_text, then cut to at most
/// max_error_type_bytes at a character boundary, so that no error type fails a move to a
/// dead-letter queue.
[[nodiscard]] inline std::string_view storable_error_type(std::string_view type,
                                                          std::string& buffer) {
  return utf8_prefix(storable_text(type, buffer), max_error_type_bytes);
}

}  // namespace durable::inline v0::detail::postgres
