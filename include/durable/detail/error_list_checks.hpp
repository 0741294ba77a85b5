// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The compile-time checks of an `error_list<E...>`: every listed type has complete
/// `error_traits`, the default classification has their shape, no type is listed after
/// one of its bases. Each check is a constexpr function whose static_asserts (one readable
/// `durable:` message per misuse) fire only when `Report` is true; a failing check turns
/// `Report` off for every later one, so a mistake produces one message. (Functions, not
/// class templates: clang would turn a failed static_assert in a class into a cascade of
/// "not a constant expression" errors.) Standard headers only; see docs/errors.md.

#include <type_traits>

#include "durable/detail/type_list.hpp"
#include "durable/error_traits.hpp"

namespace durable::inline v0::detail {

/// Checks that listed type `E` can be classified. `E` is the type in question.
template <class E, bool Report>
constexpr bool check_error_traits() {
  using traits = error_traits<E>;
  constexpr bool specialized = complete_type<traits>;
  constexpr bool named = has_error_name<traits>;
  constexpr bool kinded = has_error_kind<traits>;
  constexpr bool redrivable = has_redrive_policy<traits>;
  constexpr bool retry_ok = valid_retry_member<traits>;
  constexpr bool complete = complete_type<E>;

  static_assert(!Report || specialized,
                "durable: error_list<E...>: error_traits<E> is not specialized for a listed "
                "exception type E (named in this diagnostic as check_error_traits<E, ...>). "
                "Next to E, write: template <> struct durable::error_traits<E> { static "
                "constexpr std::string_view name = \"...\"; static constexpr durable::error_kind "
                "kind = durable::error_kind::transient; static constexpr durable::redrive_policy "
                "redrive = durable::redrive_policy::safe; }; see docs/errors.md#error-traits");
  static_assert(!Report || !specialized || named,
                "durable: error_traits<E> has no `name`: add `static constexpr std::string_view "
                "name = \"...\";` (a stable name, stored in the dead-letter queue); see "
                "docs/errors.md#error-traits");
  static_assert(!Report || !specialized || !named || kinded,
                "durable: error_traits<E> has no `kind`: add `static constexpr "
                "durable::error_kind kind = durable::error_kind::transient;` (or permanent); see "
                "docs/errors.md#error-traits");
  static_assert(!Report || !specialized || !named || !kinded || redrivable,
                "durable: error_traits<E> has no `redrive`: add `static constexpr "
                "durable::redrive_policy redrive = durable::redrive_policy::safe;` (or optional, "
                "never); see docs/errors.md#error-traits");
  static_assert(!Report || !specialized || !named || !kinded || !redrivable || retry_ok,
                "durable: error_traits<E>::retry must be a durable::retry_override: write "
                "`static constexpr durable::retry_override retry{.max_attempts = 10};` or leave "
                "it out; see docs/errors.md#error-traits");
  static_assert(
      !Report || !specialized || !named || !kinded || !redrivable || !retry_ok || complete,
      "durable: error_list<E...> lists an incomplete exception type E: include the "
      "header that defines E before classifying with the list; see "
      "docs/errors.md#error-list");
  return specialized && named && kinded && redrivable && retry_ok && complete;
}

/// Checks each type of the list, reporting only the first failure.
template <bool Report>
constexpr bool check_all_error_traits(type_list<> /*unused*/) {
  return true;
}
template <bool Report, class E, class... Rest>
constexpr bool check_all_error_traits(type_list<E, Rest...> /*unused*/) {
  constexpr bool first = check_error_traits<E, Report>();
  constexpr bool report_rest = Report && first;
  return check_all_error_traits<report_rest>(type_list<Rest...>{}) && first;
}

/// Checks that `Later`, listed after `Earlier`, is neither `Earlier` nor derived from it.
template <class Earlier, class Later, bool Report>
constexpr bool check_error_list_order() {
  constexpr bool ok =
      !(std::is_class_v<Earlier> && std::is_class_v<Later> && std::is_base_of_v<Earlier, Later>);
  static_assert(!Report || ok,
                "durable: error_list<E...> lists an exception type after one of its bases (or "
                "twice), so that entry could never match: list derived types first. The two "
                "types are named in this diagnostic as check_error_list_order<Earlier, Later, "
                "...>; see docs/errors.md#error-list-order");
  return ok;
}

/// Checks `Earlier` against each later entry, reporting only the first failure.
template <bool Report, class Earlier>
constexpr bool check_error_list_order_pairs(type_list<> /*unused*/) {
  return true;
}
template <bool Report, class Earlier, class Later, class... Rest>
constexpr bool check_error_list_order_pairs(type_list<Later, Rest...> /*unused*/) {
  constexpr bool first = check_error_list_order<Earlier, Later, Report>();
  constexpr bool report_rest = Report && first;
  return check_error_list_order_pairs<report_rest, Earlier>(type_list<Rest...>{}) && first;
}

/// Checks every pair of entries in list order, reporting only the first failure.
template <bool Report>
constexpr bool check_all_error_list_order(type_list<> /*unused*/) {
  return true;
}
template <bool Report, class E, class... Rest>
constexpr bool check_all_error_list_order(type_list<E, Rest...> /*unused*/) {
  constexpr bool first = check_error_list_order_pairs<Report, E>(type_list<Rest...>{});
  constexpr bool report_rest = Report && first;
  return check_all_error_list_order<report_rest>(type_list<Rest...>{}) && first;
}

/// Checks the default classification `D` given to `unlisted_as<D>`.
template <class D, bool Report>
constexpr bool check_unlisted_traits() {
  constexpr bool ok = error_traits_shape<D>;
  static_assert(!Report || ok,
                "durable: error_list<E...>::unlisted_as<D>: D must provide `name`, `kind` and "
                "`redrive` (and optionally `retry`) like an error_traits specialization; see "
                "docs/errors.md#unlisted-exceptions");
  return ok;
}

/// Checks a flattened error list and its default; reports the first mistake only.
template <class Default, class... Es>
constexpr bool check_error_list(type_list<Es...> /*unused*/) {
  constexpr bool traits_ok = check_all_error_traits<true>(type_list<Es...>{});
  constexpr bool default_ok = check_unlisted_traits<Default, traits_ok>();
  constexpr bool report_order = traits_ok && default_ok;
  constexpr bool order_ok = check_all_error_list_order<report_order>(type_list<Es...>{});
  return traits_ok && default_ok && order_ok;
}

/// True: lets a class force a check function that reports its own failures.
[[nodiscard]] constexpr bool reported(bool /*check*/) noexcept { return true; }

}  // namespace durable::inline v0::detail
