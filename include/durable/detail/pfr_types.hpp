// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Type analysis behind `durable::pfr_codec`: the kind of every field type, the compile-time
/// checks (one readable `durable:` static_assert per misuse, only the first fires) and the
/// encoded-size bounds. Users never name anything here; see docs/codecs.md.

#include <boost/pfr/core.hpp>
#include <boost/pfr/tuple_size.hpp>

#include <array>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <ratio>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "durable/codec.hpp"

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

// ---------------------------------------------------------------------------------------------
// Structural probes for aggregates, run before Boost.PFR sees the type (PFR would otherwise
// stop with its own, less actionable, errors, and g++ 12 crashes on some C array members).

/// B is a (strict) base class of R.
template <class B, class R>
concept strict_base_of = std::is_class_v<B> && !std::is_same_v<B, R> && std::is_base_of_v<B, R>;

/// Converts to a reference to any base class of R, and to nothing else. Not copyable, so that
/// "construct from anything copyable" members (std::any) do not accept it. Like every probe
/// here it only appears in unevaluated operands; its conversion functions have bodies because
/// clang requires one when the target type has internal linkage.
template <class R>
struct base_probe {
  base_probe() = default;
  base_probe(const base_probe&) = delete;
  base_probe(base_probe&&) = delete;
  base_probe& operator=(const base_probe&) = delete;
  base_probe& operator=(base_probe&&) = delete;
  ~base_probe() = default;
  template <strict_base_of<R> B>
  operator B&() const noexcept {
    std::abort();
  }
};

/// True when the first element of R's aggregate initialization is a base class.
template <class R>
inline constexpr bool pfr_has_base_class = requires {
  R{base_probe<R>{}};
};

/// Converts to anything (as Boost.PFR's field-counting probes do).
template <std::size_t I>
struct any_lref_probe {
  template <class U>
  operator U&() const&& noexcept {
    std::abort();
  }
  template <class U>
  operator U&() const& noexcept {
    std::abort();
  }
};
template <std::size_t I>
struct any_rref_probe {
  template <class U>
  operator U() const&& noexcept {
    std::abort();
  }
};
template <class R, std::size_t I>
using any_probe =
    std::conditional_t<std::is_copy_constructible_v<R>, any_lref_probe<I>, any_rref_probe<I>>;

template <class R, std::size_t... I>
consteval bool pfr_probe_init(std::index_sequence<I...> /*probes*/) {
  return requires { R{any_probe<R, I>{}...}; };
}

template <class R, std::size_t N>
inline constexpr bool pfr_initializable_with = pfr_probe_init<R>(std::make_index_sequence<N>{});

/// Largest N in [Lo, Hi) with R{probe x N} valid; R{probe x Lo} is valid, R{probe x Hi} not.
template <class R, std::size_t Lo, std::size_t Hi>
consteval std::size_t pfr_flat_count_between() {
  if constexpr (Hi - Lo <= 1) {
    return Lo;
  } else {
    constexpr std::size_t mid = Lo + (Hi - Lo) / 2;
    if constexpr (pfr_initializable_with<R, mid>) {
      return pfr_flat_count_between<R, mid, Hi>();
    } else {
      return pfr_flat_count_between<R, Lo, mid>();
    }
  }
}

/// Number of initializers R's aggregate initialization takes with brace elision, i.e. with
/// every element of a C array member counted separately.
template <class R, std::size_t N = 1>
consteval std::size_t pfr_flat_count() {
  if constexpr (!pfr_initializable_with<R, N>) {
    return pfr_flat_count_between<R, N / 2, N>();
  } else if constexpr (N > sizeof(R) * CHAR_BIT) {
    return N;  // cannot happen for a real aggregate; stops the search
  } else {
    return pfr_flat_count<R, N * 2>();
  }
}

/// Whether `{}` can stand at flat position sizeof...(I) of R's initialization. It cannot
/// exactly where a C array member starts: `{}` then initializes the whole array, and the
/// remaining initializers no longer fit.
template <class R, std::size_t... I, std::size_t... J>
consteval bool pfr_braces_fit_at(std::index_sequence<I...> /*before*/,
                                 std::index_sequence<J...> /*after*/) {
  return requires { R{any_probe<R, I>{}..., {}, any_probe<R, sizeof...(I) + 1 + J>{}...}; };
}

template <class R, std::size_t N, std::size_t... K>
consteval bool pfr_has_c_array_member_impl(std::index_sequence<K...> /*positions*/) {
  return (
      !pfr_braces_fit_at<R>(std::make_index_sequence<K>{}, std::make_index_sequence<N - 1 - K>{}) ||
      ...);
}

/// True when R has a C array member (of more than one element).
template <class R>
inline constexpr bool pfr_has_c_array_member = [] {
  constexpr std::size_t n = pfr_flat_count<R>();
  return pfr_has_c_array_member_impl<R, n>(std::make_index_sequence<n>{});
}();

// ---------------------------------------------------------------------------------------------
// g++ 12 crashes (internal compiler error in check_noexcept_r) when Boost.PFR counts the fields
// of an aggregate whose value-initialization creates an array of a non-trivially-destructible
// type: `struct job { std::array<std::string, 2> names; };`, also through nested aggregate
// members. The probes here (requires-expressions) do not trigger it, so such a type is refused
// with a readable message before PFR sees it. clang, and g++ from 13 on, are not affected.

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
inline constexpr bool pfr_gcc_array_workaround = true;
#else
inline constexpr bool pfr_gcc_array_workaround = false;
#endif

template <class T>
constexpr bool pfr_gcc_crash_prone();

template <class V>
concept crash_prone_type = pfr_gcc_crash_prone<V>();

template <class V>
concept not_trivially_destructible = !std::is_trivially_destructible_v<V>;

/// Converts to a member type whose value-initialization crashes g++ 12 in PFR. It offers
/// both `V&` and `V&&`: initializing a member of type V from the prvalue probe picks `V&&`,
/// but direct-initializing a V from it (what std::optional<V>'s converting constructor asks
/// std::is_constructible) finds the copy and the move constructor equally good and fails, so
/// such members are not mistaken for a V. Not copyable, so std::any does not take it either.
template <std::size_t I>
struct crash_prone_probe {
  crash_prone_probe() = default;
  crash_prone_probe(const crash_prone_probe&) = delete;
  crash_prone_probe(crash_prone_probe&&) = delete;
  crash_prone_probe& operator=(const crash_prone_probe&) = delete;
  crash_prone_probe& operator=(crash_prone_probe&&) = delete;
  ~crash_prone_probe() = default;
  template <crash_prone_type V>
  operator V&() const& noexcept {
    std::abort();
  }
  template <crash_prone_type V>
  operator V&&() const&& noexcept {
    std::abort();
  }
};

/// Converts to any non-trivially-destructible type, in the same way.
template <std::size_t I>
struct nontrivial_probe {
  nontrivial_probe() = default;
  nontrivial_probe(const nontrivial_probe&) = delete;
  nontrivial_probe(nontrivial_probe&&) = delete;
  nontrivial_probe& operator=(const nontrivial_probe&) = delete;
  nontrivial_probe& operator=(nontrivial_probe&&) = delete;
  ~nontrivial_probe() = default;
  template <not_trivially_destructible V>
  operator V&() const& noexcept {
    std::abort();
  }
  template <not_trivially_destructible V>
  operator V&&() const&& noexcept {
    std::abort();
  }
};

template <class R, class Probe, std::size_t... I, std::size_t... J>
consteval bool pfr_probe_fits_at(std::index_sequence<I...> /*before*/,
                                 std::index_sequence<J...> /*after*/) {
  return requires { R{any_probe<R, I>{}..., Probe{}, any_probe<R, sizeof...(I) + 1 + J>{}...}; };
}

template <class R, std::size_t N, std::size_t K>
consteval bool pfr_crash_prone_at() {
  using before = std::make_index_sequence<K>;
  using after = std::make_index_sequence<N - 1 - K>;
  // A member that is crash-prone itself, or a C array of non-trivially-destructible elements
  // starting here (`{}` does not fit where a C array starts; with brace elision the probe
  // then meets the array's first element).
  return pfr_probe_fits_at<R, crash_prone_probe<0>>(before{}, after{}) ||
         (!pfr_braces_fit_at<R>(before{}, after{}) &&
          pfr_probe_fits_at<R, nontrivial_probe<0>>(before{}, after{}));
}

template <class R, std::size_t N, std::size_t... K>
consteval bool pfr_has_crash_prone_member(std::index_sequence<K...> /*positions*/) {
  return (pfr_crash_prone_at<R, N, K>() || ...);
}

/// True when value-initializing a T creates an array of non-trivially-destructible elements.
template <class T>
constexpr bool pfr_gcc_crash_prone() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_array_v<U>) {
    return !std::is_trivially_destructible_v<std::remove_all_extents_t<U>>;
  } else if constexpr (std_template_traits<U>::kind == pfr_kind::array) {
    using E = typename std_template_traits<U>::element;
    return std_template_traits<U>::size != 0 &&
           (!std::is_trivially_destructible_v<E> || pfr_gcc_crash_prone<E>());
  } else if constexpr (std::is_class_v<U> && std::is_aggregate_v<U> && !std::is_union_v<U> &&
                       std_template_traits<U>::kind == pfr_kind::unsupported) {
    if constexpr (!requires { U{}; }) {
      return false;
    } else {
      constexpr std::size_t n = pfr_flat_count<U>();
      return pfr_has_crash_prone_member<U, n>(std::make_index_sequence<n>{});
    }
  } else {
    return false;
  }
}

/// True when this compiler cannot reflect R with Boost.PFR (see above).
template <class R>
consteval bool pfr_compiler_refuses() {
  if constexpr (pfr_gcc_array_workaround) {
    return pfr_gcc_crash_prone<R>();
  } else {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// The checks. Each failing condition names the offending type, so both compilers print it.

/// True for scoped enums and for unscoped enums declared with `: type`: every value of the
/// underlying type is then a valid value of the enum (list-initialization from an integer is
/// only allowed for those).
template <class E>
inline constexpr bool pfr_enum_has_fixed_underlying_type = requires {
  E{std::underlying_type_t<E>{}};
};

/// False for every type that reaches a failing check; the static_asserts below use it so the
/// compiler prints "pfr_field_type_supported<the type> evaluates to false".
template <class T>
inline constexpr bool pfr_field_type_supported = false;

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

template <class T>
constexpr std::size_t pfr_min_size();

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

// ---------------------------------------------------------------------------------------------
// Encoded sizes. Only valid for types that passed pfr_check.

/// "No fixed size": the encoded size depends on the value.
inline constexpr std::size_t pfr_dynamic_size = static_cast<std::size_t>(-1);

template <class T>
constexpr std::size_t pfr_fixed_size();

template <class R, std::size_t... I>
constexpr std::size_t pfr_record_fixed_size(std::index_sequence<I...> /*fields*/) {
  std::size_t total = 0;
  bool fixed = true;
  ((pfr_fixed_size<boost::pfr::tuple_element_t<I, R>>() == pfr_dynamic_size
        ? void(fixed = false)
        : void(total += pfr_fixed_size<boost::pfr::tuple_element_t<I, R>>())),
   ...);
  return fixed ? total : pfr_dynamic_size;
}

/// The encoded size of every value of `T`, or pfr_dynamic_size.
template <class T>
constexpr std::size_t pfr_fixed_size() {
  using U = std::remove_cv_t<T>;
  constexpr pfr_kind kind = pfr_kind_v<U>;
  if constexpr (kind == pfr_kind::boolean || kind == pfr_kind::character) {
    return 1;
  } else if constexpr (kind == pfr_kind::integer || kind == pfr_kind::floating) {
    return sizeof(U);
  } else if constexpr (kind == pfr_kind::enumeration) {
    return pfr_fixed_size<std::underlying_type_t<U>>();
  } else if constexpr (kind == pfr_kind::array) {
    constexpr std::size_t element = pfr_fixed_size<typename std_template_traits<U>::element>();
    return element == pfr_dynamic_size ? pfr_dynamic_size : element * std_template_traits<U>::size;
  } else if constexpr (kind == pfr_kind::duration) {
    return pfr_fixed_size<typename std_template_traits<U>::rep>();
  } else if constexpr (kind == pfr_kind::time_point) {
    return pfr_fixed_size<typename std_template_traits<U>::duration>();
  } else if constexpr (kind == pfr_kind::record) {
    return pfr_record_fixed_size<U>(std::make_index_sequence<boost::pfr::tuple_size_v<U>>{});
  } else {
    return pfr_dynamic_size;  // string, vector, optional
  }
}

template <class R, std::size_t... I>
constexpr std::size_t pfr_record_min_size(std::index_sequence<I...> /*fields*/) {
  return (std::size_t{0} + ... + pfr_min_size<boost::pfr::tuple_element_t<I, R>>());
}

/// The smallest encoded size of any value of `T` (a length prefix counts one byte).
template <class T>
constexpr std::size_t pfr_min_size() {
  using U = std::remove_cv_t<T>;
  constexpr pfr_kind kind = pfr_kind_v<U>;
  if constexpr (kind == pfr_kind::string || kind == pfr_kind::vector ||
                kind == pfr_kind::optional) {
    return 1;
  } else if constexpr (kind == pfr_kind::array) {
    return pfr_min_size<typename std_template_traits<U>::element>() * std_template_traits<U>::size;
  } else if constexpr (kind == pfr_kind::record) {
    return pfr_record_min_size<U>(std::make_index_sequence<boost::pfr::tuple_size_v<U>>{});
  } else {
    return pfr_fixed_size<U>();
  }
}

}  // namespace durable::inline v0::detail
