// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// g++ 12 crashes (internal compiler error in check_noexcept_r) when Boost.PFR counts the fields
/// of an aggregate whose value-initialization creates an array of a non-trivially-destructible
/// type: `struct job { std::array<std::string, 2> names; };`, also through nested aggregate
/// members. The probes here (requires-expressions) do not trigger it, so such a type is refused
/// with a readable message before PFR sees it. clang, and g++ from 13 on, are not affected.
/// Standard headers only.

#include <cstddef>
#include <cstdlib>
#include <type_traits>
#include <utility>

#include "durable/detail/pfr/kind.hpp"
#include "durable/detail/pfr/probes.hpp"

namespace durable::inline v0::detail {

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

}  // namespace durable::inline v0::detail
