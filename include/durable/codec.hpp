// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The `codec` concept: how a job becomes bytes in the database and back, the
/// `job_version<T>` trait, and `fnv1a_64` for custom codecs' fingerprints.
/// Standard headers only: include this to write your own codec. See docs/codecs.md.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "durable/detail/fnv1a.hpp"

namespace durable::inline v0 {

/// A codec `C` for job type `Job` is a stateless type with:
/// - `static constexpr std::string_view name`: stable, stored with every row;
/// - `C::fingerprint<Job>()`: a `std::uint64_t` identifying `Job`'s layout, stored with every row;
/// - `C::encode(job, out)`: replaces the contents of `out` with the encoding of `job`;
/// - `C::decode<Job>(bytes)`: the job back, or throws `durable::decode_error`.
template <class C, class Job>
concept codec = requires(const Job& job, std::vector<std::byte>& out,
                         std::span<const std::byte> bytes) {
  { C::name } -> std::convertible_to<std::string_view>;
  { C::template fingerprint<Job>() } -> std::same_as<std::uint64_t>;
  { C::encode(job, out) } -> std::same_as<void>;
  { C::template decode<Job>(bytes) } -> std::same_as<Job>;
};

/// A codec that can also read rows written by older versions of `Job` (pfr_codec): it
/// describes a job type in text, stored once per fingerprint in the database, and, given the
/// stored description of a row's type,
/// - `C::incompatibility<Job>(stored)`: says why such rows cannot be read as `Job`, or
///   returns an empty string when they can;
/// - `C::decode<Job>(bytes, stored)`: decodes them, or throws `durable::decode_error`.
/// See docs/evolving-jobs.md.
template <class C, class Job>
concept evolving_codec = codec<C, Job> &&
    requires(std::span<const std::byte> bytes, std::string_view stored) {
  { C::template description<Job>() } -> std::convertible_to<std::string>;
  { C::template incompatibility<Job>(stored) } -> std::convertible_to<std::string>;
  { C::template decode<Job>(bytes, stored) } -> std::same_as<Job>;
};

/// A version number folded into `T`'s fingerprint (for `pfr_codec`, `T` may be any job,
/// nested aggregate or enum). Specialize it, next to `T`, to make rows written before a
/// change of *meaning* that kept the layout (units, enumerator order, ...) fail to decode
/// instead of decoding wrongly:
/// `template <> struct durable::job_version<my_job> { static constexpr std::uint32_t value = 2; };`
/// The default, 0, adds nothing to the fingerprint. See docs/codecs.md#job-version.
template <class T>
struct job_version {
  /// The version; 0 unless specialized.
  static constexpr std::uint32_t value = 0;
};

/// FNV-1a 64 of `text`: a stable, compiler-independent hash a custom codec can use to turn
/// a description of its job type into a fingerprint. Usable in constant expressions.
[[nodiscard]] constexpr std::uint64_t fnv1a_64(std::string_view text) noexcept {
  return detail::fnv1a_64(text);
}

namespace detail {

template <class Job>
inline constexpr bool job_is_plain_object_type = std::is_object_v<Job> && !std::is_const_v<Job> &&
                                                 !std::is_volatile_v<Job> && !std::is_array_v<Job>;

template <class C>
inline constexpr bool codec_has_name = requires {
  C::name;
};

template <class C>
inline constexpr bool codec_name_is_string_view = requires {
  { C::name } -> std::convertible_to<std::string_view>;
};

template <class C>
inline constexpr bool codec_name_is_constant = requires {
  typename std::integral_constant<std::size_t, std::string_view(C::name).size()>;
};

template <class C>
consteval bool codec_name_is_not_empty() {
  return !std::string_view(C::name).empty();
}

template <class C, class Job>
inline constexpr bool codec_has_fingerprint = requires {
  C::template fingerprint<Job>();
};

template <class C, class Job>
inline constexpr bool codec_fingerprint_returns_uint64 = requires {
  { C::template fingerprint<Job>() } -> std::same_as<std::uint64_t>;
};

template <class C, class Job>
inline constexpr bool codec_fingerprint_is_constant = requires {
  typename std::integral_constant<std::uint64_t, C::template fingerprint<Job>()>;
};

template <class C, class Job>
inline constexpr bool codec_has_encode = requires(const Job& job, std::vector<std::byte>& out) {
  C::encode(job, out);
};

template <class C, class Job>
inline constexpr bool codec_encode_returns_void = requires(const Job& job,
                                                           std::vector<std::byte>& out) {
  { C::encode(job, out) } -> std::same_as<void>;
};

template <class C, class Job>
inline constexpr bool codec_has_decode = requires(std::span<const std::byte> bytes) {
  C::template decode<Job>(bytes);
};

template <class C, class Job>
inline constexpr bool codec_decode_returns_job = requires(std::span<const std::byte> bytes) {
  { C::template decode<Job>(bytes) } -> std::same_as<Job>;
};

/// True when `Codec` is a codec for `Job`. Otherwise exactly one `durable:` static_assert
/// fires, for the first requirement that is not met, and the result is false.
/// `Queue` and `DeadLetterQueue` use it as `static_assert(detail::check_codec<Codec, Job>());`.
/// When `Codec::fingerprint<Job>()` is a constant expression it is evaluated here, so a
/// codec's own checks of `Job` (pfr_codec's field checks) fire here too.
template <class Codec, class Job>
consteval bool check_codec() {
  if constexpr (!job_is_plain_object_type<Job>) {
    static_assert(job_is_plain_object_type<Job>,
                  "durable: Queue/DeadLetterQueue<Job, Codec>: Job must be a non-const, "
                  "non-volatile object type (not a reference, array, function or void); "
                  "write Queue<my_job>, not Queue<const my_job&>. See docs/codecs.md#job-type");
    return false;
  } else if constexpr (!codec_has_name<Codec>) {
    static_assert(codec_has_name<Codec>,
                  "durable: Queue/DeadLetterQueue<Job, Codec>: Codec has no "
                  "`static constexpr std::string_view name`; add one, e.g. "
                  "`static constexpr std::string_view name = \"my_codec\";`. "
                  "See docs/codecs.md#codec-name");
    return false;
  } else if constexpr (!codec_name_is_string_view<Codec>) {
    static_assert(codec_name_is_string_view<Codec>,
                  "durable: Queue/DeadLetterQueue<Job, Codec>: Codec::name is not convertible "
                  "to std::string_view; declare it as "
                  "`static constexpr std::string_view name = \"my_codec\";`. "
                  "See docs/codecs.md#codec-name");
    return false;
  } else if constexpr (!codec_name_is_constant<Codec>) {
    static_assert(codec_name_is_constant<Codec>,
                  "durable: Queue/DeadLetterQueue<Job, Codec>: Codec::name is not a constant "
                  "expression; declare it `static constexpr std::string_view name = ...;`. "
                  "See docs/codecs.md#codec-name");
    return false;
  } else if constexpr (!codec_name_is_not_empty<Codec>()) {
    static_assert(codec_name_is_not_empty<Codec>(),
                  "durable: Queue/DeadLetterQueue<Job, Codec>: Codec::name is empty; give the "
                  "codec a stable, non-empty name. See docs/codecs.md#codec-name");
    return false;
  } else if constexpr (!codec_has_fingerprint<Codec, Job>) {
    static_assert(codec_has_fingerprint<Codec, Job>,
                  "durable: Queue/DeadLetterQueue<Job, Codec>: Codec has no "
                  "`template <class Job> static std::uint64_t fingerprint()` callable as "
                  "Codec::fingerprint<Job>(). See docs/codecs.md#codec-fingerprint");
    return false;
  } else if constexpr (!codec_fingerprint_returns_uint64<Codec, Job>) {
    static_assert(codec_fingerprint_returns_uint64<Codec, Job>,
                  "durable: Queue/DeadLetterQueue<Job, Codec>: Codec::fingerprint<Job>() must "
                  "return exactly std::uint64_t. See docs/codecs.md#codec-fingerprint");
    return false;
  } else if constexpr (!codec_has_encode<Codec, Job>) {
    static_assert(codec_has_encode<Codec, Job>,
                  "durable: Queue/DeadLetterQueue<Job, Codec>: Codec has no "
                  "`static void encode(const Job& job, std::vector<std::byte>& out)`. "
                  "See docs/codecs.md#codec-encode");
    return false;
  } else if constexpr (!codec_encode_returns_void<Codec, Job>) {
    static_assert(codec_encode_returns_void<Codec, Job>,
                  "durable: Queue/DeadLetterQueue<Job, Codec>: Codec::encode(job, out) must "
                  "return void (it replaces the contents of `out`). "
                  "See docs/codecs.md#codec-encode");
    return false;
  } else if constexpr (!codec_has_decode<Codec, Job>) {
    static_assert(codec_has_decode<Codec, Job>,
                  "durable: Queue/DeadLetterQueue<Job, Codec>: Codec has no "
                  "`template <class Job> static Job decode(std::span<const std::byte> bytes)` "
                  "callable as Codec::decode<Job>(bytes). See docs/codecs.md#codec-decode");
    return false;
  } else if constexpr (!codec_decode_returns_job<Codec, Job>) {
    static_assert(codec_decode_returns_job<Codec, Job>,
                  "durable: Queue/DeadLetterQueue<Job, Codec>: Codec::decode<Job>(bytes) must "
                  "return exactly Job (by value). See docs/codecs.md#codec-decode");
    return false;
  } else {
    // Instantiates a constexpr fingerprint<Job>() now, so the codec's own static_asserts
    // about Job come before any error from deeper inside Queue.
    if constexpr (codec_fingerprint_is_constant<Codec, Job>) {
      static_assert(codec<Codec, Job>);
    }
    return codec<Codec, Job>;
  }
}

}  // namespace detail
}  // namespace durable::inline v0
