// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The compile-time checks of a pfr_codec job type: one readable `durable: pfr_codec:`
/// static_assert per misuse, only the first fires. Each failing condition names the offending
/// type, so both compilers print it. Messages and their compile-fail tests: docs/codecs.md.

#include <boost/pfr/core.hpp>
#include <boost/pfr/tuple_size.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "durable/codec.hpp"
#include "durable/detail/pfr/gcc12_workaround.hpp"
#include "durable/detail/pfr/kind.hpp"
#include "durable/detail/pfr/probes.hpp"
#include "durable/detail/pfr/sizes.hpp"

namespace durable::inline v0::detail {

/// True for scoped enums and for unscoped enums declared with `: type`: every value of the
/// underlying type is then a valid value of the enum (list-initialization from an integer is
/// only allowed for those).
template <class E>
inline constexpr bool pfr_enum_has_fixed_underlying_type = requires {
  E{std::underlying_type_t<E>{}};
};

template <class T>
inline constexpr bool job_version_is_valid = requires {
  { job_version<T>::value } -> std::convertible_to<std::uint32_t>;
  typename std::integral_constant<std::uint32_t, job_version<T>::value>;
};

template <class T>
consteval bool pfr_check_version() {
  if constexpr (!job_version_is_valid<T>) {
    static_assert(job_version_is_valid<T>,
                  "durable: job_version<T>: a specialization must declare "
                  "`static constexpr std::uint32_t value = N;`. See docs/codecs.md#job-version");
    return false;
  } else {
    return true;
  }
}

template <class T, class... Outer>
constexpr bool pfr_check();

template <class R, std::size_t I, class... Outer>
constexpr bool pfr_check_fields() {
  if constexpr (I == boost::pfr::tuple_size_v<R>) {
    return true;
  } else if constexpr (!pfr_check<boost::pfr::tuple_element_t<I, R>, R, Outer...>()) {
    return false;
  } else {
    return pfr_check_fields<R, I + 1, Outer...>();
  }
}

template <class R, class... Outer>
constexpr bool pfr_check_record() {
  if constexpr ((std::is_same_v<R, Outer> || ...)) {
    static_assert(pfr_field_type_supported<R>,
                  "durable: pfr_codec: a job type contains itself (a recursive type, e.g. "
                  "`struct node { std::vector<node> children; };`), which pfr_codec does not "
                  "encode; flatten it or write your own codec. "
                  "See docs/codecs.md#pfr-recursive-types");
    return false;
  } else if constexpr (!requires { R{}; }) {
    static_assert(pfr_field_type_supported<R>,
                  "durable: pfr_codec: an aggregate has a reference member (or a member that "
                  "cannot be value-initialized); store values, not references. "
                  "See docs/codecs.md#pfr-references");
    return false;
  } else if constexpr (pfr_has_base_class<R>) {
    static_assert(pfr_field_type_supported<R>,
                  "durable: pfr_codec: an aggregate has a base class, which Boost.PFR cannot "
                  "reflect; make the base a member instead. See docs/codecs.md#pfr-base-classes");
    return false;
  } else if constexpr (pfr_has_c_array_member<R>) {
    static_assert(pfr_field_type_supported<R>,
                  "durable: pfr_codec: an aggregate has a C array member (e.g. `char name[16]`); "
                  "use std::array<T, N> or std::string instead. "
                  "See docs/codecs.md#pfr-c-arrays");
    return false;
  } else if constexpr (pfr_compiler_refuses<R>()) {
    static_assert(pfr_field_type_supported<R>,
                  "durable: pfr_codec: with g++ 12, an aggregate (or an aggregate member of it) "
                  "that holds a std::array of non-trivially-destructible elements (std::string, "
                  "std::vector, ...) crashes the compiler inside Boost.PFR; use std::vector<T> "
                  "for that member, or build with clang or g++ >= 13. "
                  "See docs/codecs.md#pfr-gcc12-arrays");
    return false;
  } else if constexpr (!pfr_check_version<R>()) {
    return false;
  } else {
    return pfr_check_fields<R, 0, Outer...>();
  }
}

/// True when pfr_codec can encode `T` (a job, or a field of the aggregates in `Outer...`,
/// innermost first). Otherwise one `durable: pfr_codec:` static_assert fires and it is false.
// One branch per kind of type: long, but flat.
template <class T, class... Outer>
constexpr bool pfr_check() {  // NOLINT(readability-function-cognitive-complexity)
  using U = std::remove_cv_t<T>;
  constexpr pfr_kind kind = pfr_kind_v<U>;
  if constexpr (std::is_reference_v<T>) {
    static_assert(pfr_field_type_supported<T>,
                  "durable: pfr_codec: a reference cannot be stored; store the value. "
                  "See docs/codecs.md#pfr-references");
    return false;
  } else if constexpr (kind == pfr_kind::boolean || kind == pfr_kind::character ||
                       kind == pfr_kind::integer || kind == pfr_kind::floating ||
                       kind == pfr_kind::string) {
    return true;
  } else if constexpr (kind == pfr_kind::enumeration) {
    if constexpr (!pfr_enum_has_fixed_underlying_type<U>) {
      static_assert(pfr_field_type_supported<U>,
                    "durable: pfr_codec: an enum without a fixed underlying type has a value "
                    "range narrower than its underlying type, so a stored value cannot be checked "
                    "when decoded; give it one (`enum status : std::uint8_t { ... };`) or use "
                    "`enum class`. See docs/codecs.md#pfr-enums");
      return false;
    } else {
      return pfr_check_version<U>();
    }
  } else if constexpr (kind == pfr_kind::vector) {
    using E = typename std_template_traits<U>::element;
    if constexpr (!pfr_check<E, Outer...>()) {
      return false;
    } else if constexpr (pfr_min_size<E>() == 0) {
      static_assert(pfr_field_type_supported<U>,
                    "durable: pfr_codec: std::vector<T> where T encodes to zero bytes (an empty "
                    "struct, std::array<T, 0>) cannot be decoded safely; store a count instead. "
                    "See docs/codecs.md#pfr-zero-size-elements");
      return false;
    } else {
      return true;
    }
  } else if constexpr (kind == pfr_kind::optional || kind == pfr_kind::array) {
    return pfr_check<typename std_template_traits<U>::element, Outer...>();
  } else if constexpr (kind == pfr_kind::duration) {
    using rep = typename std_template_traits<U>::rep;
    constexpr pfr_kind rep_kind = pfr_kind_v<rep>;
    if constexpr (rep_kind != pfr_kind::integer && rep_kind != pfr_kind::floating) {
      static_assert(pfr_field_type_supported<U>,
                    "durable: pfr_codec: a std::chrono::duration's Rep must be an integer type "
                    "(other than bool and char), float or double. See docs/codecs.md#pfr-chrono");
      return false;
    } else {
      return true;
    }
  } else if constexpr (kind == pfr_kind::time_point) {
    if constexpr (!pfr_known_clock<typename std_template_traits<U>::clock>) {
      static_assert(pfr_field_type_supported<U>,
                    "durable: pfr_codec: a std::chrono::time_point must use system_clock or "
                    "steady_clock (other clocks have no portable epoch); convert it to "
                    "std::chrono::system_clock::time_point. See docs/codecs.md#pfr-chrono");
      return false;
    } else {
      return pfr_check<typename std_template_traits<U>::duration, Outer...>();
    }
  } else if constexpr (kind == pfr_kind::record) {
    return pfr_check_record<U, Outer...>();
  } else if constexpr (std::is_pointer_v<U> || std::is_member_pointer_v<U> ||
                       std::is_null_pointer_v<U>) {
    static_assert(pfr_field_type_supported<U>,
                  "durable: pfr_codec: a pointer cannot be stored (the address means nothing "
                  "to the process that decodes it); store the value itself or an id. "
                  "See docs/codecs.md#pfr-pointers");
    return false;
  } else if constexpr (std::is_array_v<U>) {
    static_assert(pfr_field_type_supported<U>,
                  "durable: pfr_codec: a C array cannot be stored; use std::array<T, N> or "
                  "std::string instead. See docs/codecs.md#pfr-c-arrays");
    return false;
  } else if constexpr (std::is_same_v<U, long double>) {
    static_assert(pfr_field_type_supported<U>,
                  "durable: pfr_codec: long double has no portable size or layout; use double. "
                  "See docs/codecs.md#pfr-supported-types");
    return false;
  } else if constexpr (std::is_union_v<U>) {
    static_assert(pfr_field_type_supported<U>,
                  "durable: pfr_codec: a union cannot be reflected (which member is active is "
                  "unknown); use separate fields or std::optional members. "
                  "See docs/codecs.md#pfr-unions");
    return false;
  } else {
    static_assert(pfr_field_type_supported<U>,
                  "durable: pfr_codec: this type is neither a supported standard type "
                  "(integers, bool, char, float, double, enums, std::string, std::vector, "
                  "std::optional, std::array, std::chrono::duration, std::chrono::time_point) "
                  "nor an aggregate; std::map, std::variant, std::unique_ptr and classes with "
                  "constructors or private members are not supported. Use a plain struct, or "
                  "write your own codec. See docs/codecs.md#pfr-supported-types");
    return false;
  }
}

/// Memoized pfr_check<T>(): true when pfr_codec supports job type T.
template <class T>
inline constexpr bool pfr_supported_v = pfr_check<T>();

}  // namespace durable::inline v0::detail
