// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Structural probes for aggregates, run before Boost.PFR sees the type (PFR would otherwise
/// stop with its own, less actionable, errors, and g++ 12 crashes on some C array members):
/// whether an aggregate has a base class or a C array member. Standard headers only.

#include <climits>
#include <cstddef>
#include <cstdlib>
#include <type_traits>
#include <utility>

namespace durable::inline v0::detail {

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

}  // namespace durable::inline v0::detail
