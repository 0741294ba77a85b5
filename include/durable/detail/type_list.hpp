// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// A compile-time list of types, with concatenation and indexing. Standard headers only.

#include <cstddef>

namespace durable::inline v0::detail {

/// A list of types, passed by value to deduce `Ts...`.
template <class... Ts>
struct type_list {};

/// `type_list` of the types of `Lists...` (each a `type_list`), in order.
template <class... Lists>
struct concat {
  using type = type_list<>;
};
template <class... As>
struct concat<type_list<As...>> {
  using type = type_list<As...>;
};
template <class... As, class... Bs, class... Rest>
struct concat<type_list<As...>, type_list<Bs...>, Rest...>
    : concat<type_list<As..., Bs...>, Rest...> {};

/// `type` is the type at index `I` of `Ts...`.
template <std::size_t I, class... Ts>
struct type_at;
template <std::size_t I, class T, class... Ts>
struct type_at<I, T, Ts...> : type_at<I - 1, Ts...> {};
template <class T, class... Ts>
struct type_at<0, T, Ts...> {
  using type = T;
};

}  // namespace durable::inline v0::detail
