// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Encoded sizes of pfr_codec values known at compile time: the fixed size of a type whose
/// values all encode to the same number of bytes, and the smallest encoding of any type.
/// Only valid for types that passed pfr_check.

#include <boost/pfr/core.hpp>
#include <boost/pfr/tuple_size.hpp>

#include <cstddef>
#include <type_traits>
#include <utility>

#include "durable/detail/pfr/kind.hpp"

namespace durable::inline v0::detail {

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

template <class T>
constexpr std::size_t pfr_min_size();

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
