// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// The canonical, compiler-independent description of a job type that pfr_codec hashes into
/// its fingerprint. The grammar is in docs/codecs.md#fingerprint; in short:
/// `b` bool, `c` char, `i8`..`u64` integers, `f32`/`f64`, `e(<int>)` enums, `s` std::string,
/// `v(<T>)`, `o(<T>)`, `a<N>(<T>)`, `d(<rep>,<num>/<den>)`, `t(<clock>,<duration>)`,
/// `{<count>:<T>,<T>...}` aggregates, and `@<version>` after a record or enum whose
/// job_version is not 0.

#include <boost/pfr/core.hpp>
#include <boost/pfr/tuple_size.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "durable/codec.hpp"
#include "durable/detail/fnv1a.hpp"
#include "durable/detail/pfr/kind.hpp"

namespace durable::inline v0::detail {

/// A description sink that appends to a std::string (the other sink is fnv1a_64_hasher).
class string_sink {
 public:
  explicit string_sink(std::string& out) noexcept : out_(&out) {}
  void put(std::string_view text) { out_->append(text); }
  void put_number(std::uint64_t n) { out_->append(std::to_string(n)); }

 private:
  std::string* out_;
};

template <class T, class Sink>
constexpr void pfr_describe(Sink& sink);

template <class T, class Sink>
constexpr void pfr_describe_version(Sink& sink) {
  constexpr std::uint32_t version = job_version<T>::value;
  if constexpr (version != 0) {
    sink.put("@");
    sink.put_number(version);
  }
}

template <class R, class Sink, std::size_t... I>
constexpr void pfr_describe_fields(Sink& sink, std::index_sequence<I...> /*fields*/) {
  ((sink.put(I == 0 ? "" : ","), pfr_describe<boost::pfr::tuple_element_t<I, R>>(sink)), ...);
}

template <class Ratio, class Sink>
constexpr void pfr_describe_ratio(Sink& sink) {
  static_assert(Ratio::num > 0 && Ratio::den > 0);
  sink.put_number(static_cast<std::uint64_t>(Ratio::num));
  sink.put("/");
  sink.put_number(static_cast<std::uint64_t>(Ratio::den));
}

/// Feeds the description of `T` (which passed pfr_check) to `sink`.
template <class T, class Sink>
constexpr void pfr_describe(Sink& sink) {
  using U = std::remove_cv_t<T>;
  constexpr pfr_kind kind = pfr_kind_v<U>;
  if constexpr (kind == pfr_kind::boolean) {
    sink.put("b");
  } else if constexpr (kind == pfr_kind::character) {
    sink.put("c");
  } else if constexpr (kind == pfr_kind::integer) {
    sink.put(std::is_signed_v<U> ? "i" : "u");
    sink.put_number(sizeof(U) * 8);
  } else if constexpr (kind == pfr_kind::floating) {
    sink.put(sizeof(U) == 4 ? "f32" : "f64");
  } else if constexpr (kind == pfr_kind::enumeration) {
    sink.put("e(");
    pfr_describe<std::underlying_type_t<U>>(sink);
    sink.put(")");
    pfr_describe_version<U>(sink);
  } else if constexpr (kind == pfr_kind::string) {
    sink.put("s");
  } else if constexpr (kind == pfr_kind::vector || kind == pfr_kind::optional) {
    sink.put(kind == pfr_kind::vector ? "v(" : "o(");
    pfr_describe<typename std_template_traits<U>::element>(sink);
    sink.put(")");
  } else if constexpr (kind == pfr_kind::array) {
    sink.put("a");
    sink.put_number(std_template_traits<U>::size);
    sink.put("(");
    pfr_describe<typename std_template_traits<U>::element>(sink);
    sink.put(")");
  } else if constexpr (kind == pfr_kind::duration) {
    sink.put("d(");
    pfr_describe<typename std_template_traits<U>::rep>(sink);
    sink.put(",");
    pfr_describe_ratio<typename std_template_traits<U>::period>(sink);
    sink.put(")");
  } else if constexpr (kind == pfr_kind::time_point) {
    using clock = typename std_template_traits<U>::clock;
    sink.put(std::is_same_v<clock, std::chrono::system_clock> ? "t(system," : "t(steady,");
    pfr_describe<typename std_template_traits<U>::duration>(sink);
    sink.put(")");
  } else if constexpr (kind == pfr_kind::record) {
    constexpr std::size_t count = boost::pfr::tuple_size_v<U>;
    sink.put("{");
    sink.put_number(count);
    sink.put(":");
    pfr_describe_fields<U>(sink, std::make_index_sequence<count>{});
    sink.put("}");
    pfr_describe_version<U>(sink);
  } else {
    static_assert(pfr_field_type_supported<U>,
                  "durable: internal: pfr_describe on a type "
                  "that did not pass pfr_check");
  }
}

/// Prefix of every pfr_codec description: the codec and its wire-format version.
inline constexpr std::string_view pfr_description_prefix = "pfr/1:";

/// The fingerprint pfr_codec stores for job type `Job` (which passed pfr_check).
template <class Job>
inline constexpr std::uint64_t pfr_fingerprint_v = [] {
  fnv1a_64_hasher hasher;
  hasher.put(pfr_description_prefix);
  pfr_describe<Job>(hasher);
  return hasher.value();
}();

/// The description pfr_codec hashes for job type `Job`, e.g. "pfr/1:{2:i32,s}".
template <class Job>
std::string pfr_description() {
  std::string out(pfr_description_prefix);
  string_sink sink(out);
  pfr_describe<Job>(sink);
  return out;
}

}  // namespace durable::inline v0::detail
