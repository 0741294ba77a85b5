// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// What pfr_codec does with each type it meets: its kind (integer, string, vector, aggregate,
/// ...) and the parts of the standard templates it supports. Standard headers only.

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace durable::inline v0::detail {

/// What pfr_codec does with a (cv-unqualified) type.
enum class pfr_kind {
  unsupported,
  boolean,      // bool
  character,    // char
  integer,      // every other integral type
  floating,     // float, double
  enumeration,  // enums, as their underlying type
  string,       // std::string
  vector,       // std::vector<T>
  optional,     // std::optional<T>
  array,        // std::array<T, N>
  duration,     // std::chrono::duration<Rep, Period>
  time_point,   // std::chrono::time_point<Clock, Duration>
  record,       // an aggregate class, reflected by Boost.PFR
};

template <class T>
struct std_template_traits {
  static constexpr pfr_kind kind = pfr_kind::unsupported;
};
template <>
struct std_template_traits<std::string> {
  static constexpr pfr_kind kind = pfr_kind::string;
};
template <class T>
struct std_template_traits<std::vector<T>> {
  static constexpr pfr_kind kind = pfr_kind::vector;
  using element = T;
};
template <class T>
struct std_template_traits<std::optional<T>> {
  static constexpr pfr_kind kind = pfr_kind::optional;
  using element = T;
};
template <class T, std::size_t N>
struct std_template_traits<std::array<T, N>> {
  static constexpr pfr_kind kind = pfr_kind::array;
  using element = T;
  static constexpr std::size_t size = N;
};
template <class Rep, class Period>
struct std_template_traits<std::chrono::duration<Rep, Period>> {
  static constexpr pfr_kind kind = pfr_kind::duration;
  using rep = Rep;
  using period = Period;
};
template <class Clock, class Duration>
struct std_template_traits<std::chrono::time_point<Clock, Duration>> {
  static constexpr pfr_kind kind = pfr_kind::time_point;
  using clock = Clock;
  using duration = Duration;
};

template <class T>
consteval pfr_kind pfr_kind_of() {
  if constexpr (std::is_same_v<T, bool>) {
    return pfr_kind::boolean;
  } else if constexpr (std::is_same_v<T, char>) {
    return pfr_kind::character;
  } else if constexpr (std::is_integral_v<T>) {
    return pfr_kind::integer;
  } else if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    return pfr_kind::floating;
  } else if constexpr (std::is_enum_v<T>) {
    return pfr_kind::enumeration;
  } else if constexpr (std_template_traits<T>::kind != pfr_kind::unsupported) {
    return std_template_traits<T>::kind;
  } else if constexpr (std::is_class_v<T> && std::is_aggregate_v<T>) {
    return pfr_kind::record;  // unions are not classes; the record checks come in pfr_check
  } else {
    return pfr_kind::unsupported;
  }
}

/// The kind of `T`, ignoring cv-qualifiers.
template <class T>
inline constexpr pfr_kind pfr_kind_v = pfr_kind_of<std::remove_cv_t<T>>();

/// True for the clocks whose time points pfr_codec stores.
template <class Clock>
inline constexpr bool pfr_known_clock = std::is_same_v<Clock, std::chrono::system_clock> ||
                                        std::is_same_v<Clock, std::chrono::steady_clock>;

/// False for every type that reaches a failing check; the static_asserts that refuse a type
/// use it so the compiler prints "pfr_field_type_supported<the type> evaluates to false".
template <class T>
inline constexpr bool pfr_field_type_supported = false;

}  // namespace durable::inline v0::detail
