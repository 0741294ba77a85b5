// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// What users specialize to classify their exception types: `error_traits<E>` (left
/// undefined), the vocabulary a specialization is written in (`error_kind`,
/// `redrive_policy`, `retry_override`, `jitter_mode`) and the `classified_error` concept.
/// Standard headers only: include this next to your exception types. The classifier
/// (`error_list`) is in errors.hpp; retry policies and backoff are in retry.hpp.
/// Details: docs/errors.md.

#include <chrono>
#include <concepts>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>

namespace durable::inline v0 {

/// Whether retrying a job that failed with this error can succeed.
enum class error_kind {
  transient,  ///< may succeed later (timeout, lock, unavailable service): retried with backoff
  permanent,  ///< will fail the same way again (bad input, bug): dead-lettered at once
};

/// What recovery may do with a dead-lettered job that failed with this error.
enum class redrive_policy {
  safe,      ///< redriven by any recovery that selects it, including bulk "redrive all"
  optional,  ///< redriven only when the recovery request names it (by error name or kind)
  never,     ///< never redriven: the job would fail the same way; inspect or delete it
};

/// How retry delays are randomized around the exponential backoff `d` (docs/errors.md).
enum class jitter_mode {
  none,   ///< exactly `d`
  full,   ///< uniform in [0, d]
  equal,  ///< uniform in [d/2, d]
};

/// The lowercase name of `kind` ("transient", "permanent").
[[nodiscard]] constexpr std::string_view to_string(error_kind kind) noexcept {
  return kind == error_kind::permanent ? "permanent" : "transient";
}

/// The lowercase name of `policy` ("safe", "optional", "never").
[[nodiscard]] constexpr std::string_view to_string(redrive_policy policy) noexcept {
  switch (policy) {
    case redrive_policy::safe: return "safe";
    case redrive_policy::optional: return "optional";
    case redrive_policy::never: return "never";
  }
  return "unknown";
}

/// The lowercase name of `mode` ("none", "full", "equal").
[[nodiscard]] constexpr std::string_view to_string(jitter_mode mode) noexcept {
  switch (mode) {
    case jitter_mode::none: return "none";
    case jitter_mode::full: return "full";
    case jitter_mode::equal: return "equal";
  }
  return "unknown";
}

/// Per-error retry parameters, from `error_traits<E>::retry`: each field that is set
/// replaces the worker's default `retry_policy` (retry.hpp); unset fields keep it. Write it
/// with designated initializers:
/// `retry_override{.max_attempts = 10, .base_delay = std::chrono::seconds{5}}`.
struct retry_override {
  std::optional<std::int64_t> max_attempts{};             ///< replaces the job's max_attempts
  std::optional<std::chrono::milliseconds> base_delay{};  ///< replaces `retry_policy::base_delay`
  std::optional<std::chrono::milliseconds> max_delay{};   ///< replaces `retry_policy::max_delay`
  std::optional<double> multiplier{};                     ///< replaces `retry_policy::multiplier`
  std::optional<jitter_mode> jitter{};                    ///< replaces `retry_policy::jitter`

  friend bool operator==(const retry_override&, const retry_override&) = default;
};

/// Classification of exception type `E`. Left undefined: specialize it next to `E`
/// (in the header that defines `E`, so every file sees the same answer):
///
///     template <> struct durable::error_traits<payment_timeout> {
///       static constexpr std::string_view name = "payments.timeout";  // stable, stored
///       static constexpr durable::error_kind kind = durable::error_kind::transient;
///       static constexpr durable::redrive_policy redrive = durable::redrive_policy::safe;
///       static constexpr durable::retry_override retry{.max_attempts = 10};  // optional
///     };
template <class E>
struct error_traits;

namespace detail {

template <class T>
concept complete_type = requires {
  sizeof(T);
};

template <class T>
concept has_error_name = requires {
  { T::name } -> std::convertible_to<std::string_view>;
};

template <class T>
concept has_error_kind = requires {
  { T::kind } -> std::convertible_to<error_kind>;
};

template <class T>
concept has_redrive_policy = requires {
  { T::redrive } -> std::convertible_to<redrive_policy>;
};

template <class T>
concept has_retry_member = requires {
  T::retry;
};

template <class T>
concept valid_retry_member =
    !has_retry_member<T> || std::same_as<std::remove_cvref_t<decltype(T::retry)>, retry_override>;

/// `T` provides what an `error_traits` specialization must: name, kind, redrive and,
/// optionally, retry.
template <class T>
concept error_traits_shape =
    has_error_name<T> && has_error_kind<T> && has_redrive_policy<T> && valid_retry_member<T>;

}  // namespace detail

/// `E` has a complete `error_traits<E>` specialization, so it can be listed in an `error_list`.
template <class E>
concept classified_error = detail::error_traits_shape<error_traits<E>>;

}  // namespace durable::inline v0
