// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Compile-time error classification: `error_list<E...>` turns a caught exception into a
/// `classification` by what the `error_traits<E>` of the first listed type it matches say
/// (error_traits.hpp, the header to include where you specialize them). Also the traits
/// durable ships for standard exception types and its own, and `default_errors`.
/// Standard headers only. Details: docs/errors.md.

#include <concepts>
#include <cstddef>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <durable/detail/error_list_checks.hpp>
#include <durable/detail/type_list.hpp>
#include <durable/error_traits.hpp>
#include <durable/exceptions.hpp>

namespace durable::inline v0 {

/// What a caught exception means for the job that threw it: produced by
/// `error_list<E...>::classify`, consumed by the worker (retry or dead-letter) and
/// stored in the dead-letter queue.
struct classification {
  /// Stable name of the matched type, from `error_traits<E>::name` ("unknown" if unlisted).
  std::string name{};
  /// Transient (retry) or permanent (dead-letter at once).
  error_kind kind = error_kind::transient;
  /// What recovery may do with the dead-lettered job.
  redrive_policy redrive = redrive_policy::optional;
  /// Per-error retry parameters; empty fields keep the worker's defaults.
  retry_override retry{};
  /// `what()` of the exception; for other types a text saying what was thrown.
  std::string message{};
  /// The nested exceptions (std::throw_with_nested), outermost cause first, one
  /// "name: message" line each.
  std::vector<std::string> context{};

  /// `context` as one text, lines separated by '\n' (empty if there is no nested exception).
  [[nodiscard]] std::string context_text() const {
    std::string text;
    for (const auto& line : context) {
      if (!text.empty()) text += '\n';
      text += line;
    }
    return text;
  }

  friend bool operator==(const classification&, const classification&) = default;
};

/// The default classification of exceptions an `error_list` does not list: transient
/// (retried with backoff, dead-lettered once attempts run out) and redrive `optional`.
/// A thrown `std::exception` still has its `what()` captured. Replace it per list with
/// `error_list<E...>::unlisted_as<D>` (docs/errors.md#unlisted-exceptions).
struct unlisted_traits {
  static constexpr std::string_view name = "unknown";
  static constexpr error_kind kind = error_kind::transient;
  static constexpr redrive_policy redrive = redrive_policy::optional;
};

/// The classifier `error_list<E...>` names; `Default` classifies what it does not list.
template <class Default, class... Es>
class basic_error_list;

namespace detail {

template <class T>
struct flatten_one {
  using type = type_list<T>;
};

/// The entries of `Es...`, with every nested error list replaced by its own entries.
template <class... Es>
using flatten_t = typename concat<typename flatten_one<Es>::type...>::type;

template <class Default, class... Es>
struct flatten_one<basic_error_list<Default, Es...>> {
  using type = flatten_t<Es...>;
};

// ---- Classification at run time.

/// One row of an error list: what `error_traits` (or the default) says.
struct traits_row {
  std::string_view name;
  error_kind kind;
  redrive_policy redrive;
  retry_override retry{};
};

template <class T>
[[nodiscard]] traits_row row_of() {
  if constexpr (has_retry_member<T>) {
    return {T::name, T::kind, T::redrive, T::retry};
  } else {
    return {T::name, T::kind, T::redrive, retry_override{}};
  }
}

/// The message of the exception in `p` and the exception nested in it, if any.
struct inspected {
  std::string message{};
  std::exception_ptr nested;
};

[[nodiscard]] inline inspected inspect(const std::exception_ptr& p) {
  constexpr std::string_view not_std = "exception of a type not derived from std::exception";
  try {
    std::rethrow_exception(p);
  } catch (const std::exception& e) {
    const auto* nested = dynamic_cast<const std::nested_exception*>(&e);
    return {e.what(), nested != nullptr ? nested->nested_ptr() : nullptr};
  } catch (const std::nested_exception& nested) {
    return {std::string(not_std), nested.nested_ptr()};
  } catch (const char* text) {
    return {text != nullptr ? text : "null C string", nullptr};
  } catch (const std::string& text) {
    return {text, nullptr};
  } catch (...) {
    return {std::string(not_std), nullptr};
  }
}

/// Nested exceptions rendered into `classification::context`, at most.
inline constexpr int max_context_depth = 32;

template <class Default, class List>
struct classifier;

template <class Default, class... Es>
struct classifier<Default, type_list<Es...>> {
  static constexpr std::size_t unlisted = sizeof...(Es);

  template <std::size_t I>
  using entry = typename type_at<I, Es...>::type;

  // Handlers nest: the try block of entry 0 is innermost, so the first listed type that
  // matches wins, with one rethrow for the whole list. Handlers only return an index.
  template <std::size_t I>
  [[nodiscard]] static std::size_t match_below(const std::exception_ptr& p) {
    if constexpr (I == 0) {
      std::rethrow_exception(p);
    } else {
      try {
        return match_below<I - 1>(p);
      } catch (const entry<I - 1>&) {
        return I - 1;
      }
    }
  }

  /// Index of the first entry matching the exception in non-null `p`, or `unlisted`.
  [[nodiscard]] static std::size_t match(const std::exception_ptr& p) noexcept {
    try {
      return match_below<sizeof...(Es)>(p);
    } catch (...) {
      return unlisted;
    }
  }

  template <std::size_t... Is>
  [[nodiscard]] static traits_row row(std::size_t index, std::index_sequence<Is...> /*unused*/) {
    traits_row r = row_of<Default>();
    static_cast<void>(((index == Is ? (r = row_of<error_traits<Es>>(), true) : false) || ...));
    return r;
  }
  [[nodiscard]] static traits_row row(std::size_t index) {
    return row(index, std::index_sequence_for<Es...>{});
  }

  [[nodiscard]] static classification classify(const std::exception_ptr& p) {
    const traits_row top = row(p ? match(p) : unlisted);
    classification result{std::string(top.name), top.kind, top.redrive, top.retry, {}, {}};
    if (!p) {
      result.message = "no exception (empty std::exception_ptr)";
      return result;
    }
    auto [message, nested] = inspect(p);
    result.message = std::move(message);
    for (int depth = 0; nested && depth < max_context_depth; ++depth) {
      const traits_row cause = row(match(nested));
      auto [cause_message, deeper] = inspect(nested);
      result.context.push_back(std::string(cause.name) + ": " + cause_message);
      nested = std::move(deeper);
    }
    if (nested) result.context.emplace_back("... (deeper nested exceptions omitted)");
    return result;
  }
};

}  // namespace detail

/// An ordered list of exception types; classifies a caught exception by the FIRST
/// listed type it is (the type itself or derived from it), like a chain of `catch`
/// clauses. Entries may be other error lists, whose entries are spliced in place:
/// `error_list<my_timeout, my_bad_input, durable::default_errors>`. Every entry needs an
/// `error_traits` specialization; a type listed after one of its bases is refused at
/// compile time. Anything unlisted is classified by `Default` (`unlisted_traits`).
template <class Default, class... Es>
class basic_error_list {
  using types_ = detail::flatten_t<Es...>;
  static constexpr bool valid_ = detail::check_error_list<Default>(types_{});
  static_assert(detail::reported(valid_));  // the checks report misuse themselves

 public:
  /// The same list, with `D` classifying unlisted exceptions. `D` provides `name`, `kind`,
  /// `redrive` and optionally `retry`, like an `error_traits` specialization.
  template <class D>
  using unlisted_as = basic_error_list<D, Es...>;

  /// Classifies the exception in `p` by the first listed type it matches (unlisted:
  /// `Default`), with its `what()` and nested exceptions. An empty `p` gets the default
  /// classification. Costs a few rethrows of `p`, plus a few per nested exception.
  /// Throws only `std::bad_alloc`.
  [[nodiscard]] static classification classify(const std::exception_ptr& p) {
    if constexpr (valid_) {
      return detail::classifier<Default, types_>::classify(p);
    } else {
      return {};
    }
  }
};

/// The list of exception types, classified by their `error_traits`; unlisted exceptions
/// get `unlisted_traits` (transient, redrive optional, name "unknown").
template <class... Es>
using error_list = basic_error_list<unlisted_traits, Es...>;

/// A type that can classify exceptions for a Worker: `C::classify(exception_ptr)`
/// returns a `classification`. Every `error_list` is one.
template <class C>
concept error_classifier = requires(const std::exception_ptr& p) {
  { C::classify(p) } -> std::same_as<classification>;
};

// ---- Shipped traits for standard exception types. Bad input and bugs are permanent;
// resource and environment failures are transient (docs/errors.md#shipped-traits).

namespace detail {
/// Kind and redrive policy of a shipped `error_traits` specialization.
template <error_kind Kind, redrive_policy Redrive>
struct shipped_traits {
  static constexpr error_kind kind = Kind;
  static constexpr redrive_policy redrive = Redrive;
};
}  // namespace detail

template <>
struct error_traits<std::invalid_argument>
    : detail::shipped_traits<error_kind::permanent, redrive_policy::never> {
  static constexpr std::string_view name = "std::invalid_argument";
};
template <>
struct error_traits<std::domain_error>
    : detail::shipped_traits<error_kind::permanent, redrive_policy::never> {
  static constexpr std::string_view name = "std::domain_error";
};
template <>
struct error_traits<std::length_error>
    : detail::shipped_traits<error_kind::permanent, redrive_policy::never> {
  static constexpr std::string_view name = "std::length_error";
};
template <>
struct error_traits<std::out_of_range>
    : detail::shipped_traits<error_kind::permanent, redrive_policy::optional> {
  static constexpr std::string_view name = "std::out_of_range";
};
template <>
struct error_traits<std::logic_error>
    : detail::shipped_traits<error_kind::permanent, redrive_policy::optional> {
  static constexpr std::string_view name = "std::logic_error";
};
template <>
struct error_traits<std::system_error>
    : detail::shipped_traits<error_kind::transient, redrive_policy::safe> {
  static constexpr std::string_view name = "std::system_error";
};
template <>
struct error_traits<std::runtime_error>
    : detail::shipped_traits<error_kind::transient, redrive_policy::safe> {
  static constexpr std::string_view name = "std::runtime_error";
};
template <>
struct error_traits<std::bad_alloc>
    : detail::shipped_traits<error_kind::transient, redrive_policy::safe> {
  static constexpr std::string_view name = "std::bad_alloc";
};
template <>
struct error_traits<std::exception>
    : detail::shipped_traits<error_kind::transient, redrive_policy::optional> {
  static constexpr std::string_view name = "std::exception";
};

template <>
struct error_traits<durable::busy_error>
    : detail::shipped_traits<error_kind::transient, redrive_policy::safe> {
  static constexpr std::string_view name = "durable::busy_error";
};
template <>
struct error_traits<durable::sqlite_error>
    : detail::shipped_traits<error_kind::transient, redrive_policy::optional> {
  static constexpr std::string_view name = "durable::sqlite_error";
};
template <>
struct error_traits<durable::connection_error>
    : detail::shipped_traits<error_kind::transient, redrive_policy::safe> {
  static constexpr std::string_view name = "durable::connection_error";
};
template <>
struct error_traits<durable::postgres_error>
    : detail::shipped_traits<error_kind::transient, redrive_policy::optional> {
  static constexpr std::string_view name = "durable::postgres_error";
};
template <>
struct error_traits<durable::decode_error>
    : detail::shipped_traits<error_kind::permanent, redrive_policy::never> {
  static constexpr std::string_view name = "durable::decode_error";
};
template <>
struct error_traits<durable::schema_error>
    : detail::shipped_traits<error_kind::permanent, redrive_policy::optional> {
  static constexpr std::string_view name = "durable::schema_error";
};
template <>
struct error_traits<durable::invalid_argument_error>
    : detail::shipped_traits<error_kind::permanent, redrive_policy::never> {
  static constexpr std::string_view name = "durable::invalid_argument_error";
};
template <>
struct error_traits<durable::error>
    : detail::shipped_traits<error_kind::transient, redrive_policy::optional> {
  static constexpr std::string_view name = "durable::error";
};

/// The standard exception types durable ships traits for, derived types first.
using std_errors = error_list<std::invalid_argument, std::domain_error, std::length_error,
                              std::out_of_range, std::logic_error, std::system_error,
                              std::runtime_error, std::bad_alloc, std::exception>;

/// durable's own exception types (exceptions.hpp), derived types first.
using durable_errors =
    error_list<durable::busy_error, durable::sqlite_error, durable::connection_error,
               durable::postgres_error, durable::decode_error, durable::schema_error,
               durable::invalid_argument_error, durable::error>;

/// What a Worker classifies with unless told otherwise: durable's types, then the
/// standard ones. Extend it by listing your types first:
/// `error_list<my_timeout, my_bad_input, durable::default_errors>`.
using default_errors = error_list<durable_errors, std_errors>;

}  // namespace durable::inline v0
