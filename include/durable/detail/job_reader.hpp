// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// How a typed layer reads stored rows as `Job`: its own type, the old types it declares
/// upgrades from (job_upgrades, followed transitively), and older versions of any of them
/// that an evolving codec can read from their stored description. The compile-time checks
/// of a job_upgrades declaration, each a `durable:` static_assert.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "durable/codec.hpp"
#include "durable/detail/engine/job_types.hpp"
#include "durable/detail/type_list.hpp"
#include "durable/exceptions.hpp"
#include "durable/upgrade.hpp"

namespace durable::inline v0::detail {

template <class Job>
concept declares_upgrades = requires {
  sizeof(job_upgrades<Job>);
};

template <class T>
inline constexpr bool is_types = false;
template <class... Ts>
inline constexpr bool is_types<types<Ts...>> = true;

template <class T, class... Ts>
inline constexpr bool listed = (std::is_same_v<T, Ts> || ...);

template <class T, class... Ts>
inline constexpr std::size_t count_in = (std::size_t{0} + ... + std::size_t{std::is_same_v<T, Ts>});

template <class... Ts>
inline constexpr bool all_distinct = ((count_in<Ts, Ts...> == 1) && ...);

template <class From>
struct types_to_list {
  using type = type_list<>;
};
template <class... Ts>
struct types_to_list<types<Ts...>> {
  using type = type_list<Ts...>;
};

template <class Job>
consteval auto sources_of() {
  if constexpr (declares_upgrades<Job>) {
    if constexpr (requires { typename job_upgrades<Job>::from; }) {
      return typename types_to_list<typename job_upgrades<Job>::from>::type{};
    } else {
      return type_list<>{};
    }
  } else {
    return type_list<>{};
  }
}

/// The types `Job` upgrades from directly.
template <class Job>
using direct_sources_t = decltype(sources_of<Job>());

template <class Job, class... Seen>
consteval bool upgrades_cycle();

template <class Old, class... Seen>
consteval bool reaches_seen() {
  if constexpr (listed<Old, Seen...>) {
    return true;
  } else {
    return upgrades_cycle<Old, Seen...>();
  }
}

/// True when following upgrades from `Job` reaches a type already on the way (a cycle).
template <class Job, class... Seen>
consteval bool upgrades_cycle() {
  return []<class... Old>(type_list<Old...>) {
    return (reaches_seen<Old, Job, Seen...>() || ...);
  }(direct_sources_t<Job>{});
}

template <class List, class... More>
struct append_new;
template <class... Ts>
struct append_new<type_list<Ts...>> {
  using type = type_list<Ts...>;
};
template <class... Ts, class T, class... More>
struct append_new<type_list<Ts...>, T, More...>
    : append_new<std::conditional_t<listed<T, Ts...>, type_list<Ts...>, type_list<Ts..., T>>,
                 More...> {};

template <class Job>
consteval auto all_sources();

template <class... Old>
consteval auto sources_closure(type_list<Old...> /*direct*/) {
  using flat = typename concat<type_list<Old>..., decltype(all_sources<Old>())...>::type;
  return []<class... Ts>(type_list<Ts...>) {
    return typename append_new<type_list<>, Ts...>::type{};
  }(flat{});
}

/// Every type `Job` reads through upgrades: the direct ones, then theirs, without repeats.
/// Empty when the upgrades form a cycle (check_upgrades reports it).
template <class Job>
consteval auto all_sources() {
  if constexpr (upgrades_cycle<Job>()) {
    return type_list<>{};
  } else {
    return sources_closure(direct_sources_t<Job>{});
  }
}

template <class Job>
using sources_t = decltype(all_sources<Job>());

template <class T, class List>
inline constexpr bool in_list = false;
template <class T, class... Ts>
inline constexpr bool in_list<T, type_list<Ts...>> = listed<T, Ts...>;

/// The direct source of `Job` through which old type `Old` is reached.
template <class Job, class Old, class Direct = direct_sources_t<Job>>
struct via;
template <class Job, class Old, class First, class... Rest>
struct via<Job, Old, type_list<First, Rest...>> {
  using type = std::conditional_t<std::is_same_v<Old, First> || in_list<Old, sources_t<First>>,
                                  First, typename via<Job, Old, type_list<Rest...>>::type>;
};
template <class Job, class Old>
struct via<Job, Old, type_list<>> {
  using type = void;
};

/// `old` upgraded to `Job`, step by step along the declared upgrades.
template <class Job, class Old>
Job lift(Old&& old) {
  if constexpr (std::is_same_v<Job, std::remove_cvref_t<Old>>) {
    return std::forward<Old>(old);
  } else {
    using step = typename via<Job, std::remove_cvref_t<Old>>::type;
    return job_upgrades<Job>::upgrade(lift<step>(std::forward<Old>(old)));
  }
}

/// False; a static_assert that names it depends on its argument, so it fires only when its
/// branch is instantiated (inside a generic lambda, name the lambda's parameters too).
template <class T>
inline constexpr bool upgrade_always_false = false;

template <class Job, class Old>
inline constexpr bool has_upgrade_from = requires(Old old) {
  { job_upgrades<Job>::upgrade(std::move(old)) } -> std::same_as<Job>;
};

/// True when `job_upgrades<Job>` is absent or well formed; otherwise exactly one `durable:`
/// static_assert fires, for the first problem.
template <class Job>
consteval bool check_upgrade_declaration() {
  if constexpr (!declares_upgrades<Job>) {
    return true;
  } else if constexpr (!requires { typename job_upgrades<Job>::from; }) {
    static_assert(upgrade_always_false<Job>,
                  "durable: job_upgrades<Job>: a specialization must declare "
                  "`using from = durable::types<Old...>;` listing the old job types. "
                  "See docs/evolving-jobs.md#upgrades");
    return false;
  } else if constexpr (!is_types<typename job_upgrades<Job>::from>) {
    static_assert(upgrade_always_false<Job>,
                  "durable: job_upgrades<Job>::from must be durable::types<Old...>. "
                  "See docs/evolving-jobs.md#upgrades");
    return false;
  } else {
    return []<class... Old>(type_list<Old...>) {
      if constexpr (sizeof...(Old) == 0) {
        static_assert(upgrade_always_false<types<Job, Old...>>,
                      "durable: job_upgrades<Job>::from lists no type; list the old job types "
                      "in durable::types<Old...>. See docs/evolving-jobs.md#upgrades");
        return false;
      } else if constexpr (!(job_is_plain_object_type<Old> && ...)) {
        static_assert(upgrade_always_false<types<Job, Old...>>,
                      "durable: job_upgrades<Job>::from: each old type must be a non-const, "
                      "non-volatile object type (a job struct, not a reference). "
                      "See docs/evolving-jobs.md#upgrades");
        return false;
      } else if constexpr (listed<Job, Old...>) {
        static_assert(upgrade_always_false<types<Job, Old...>>,
                      "durable: job_upgrades<Job>::from lists Job itself; list only older job "
                      "types. See docs/evolving-jobs.md#upgrades");
        return false;
      } else if constexpr (!all_distinct<Old...>) {
        static_assert(upgrade_always_false<types<Job, Old...>>,
                      "durable: job_upgrades<Job>::from lists a type twice. "
                      "See docs/evolving-jobs.md#upgrades");
        return false;
      } else if constexpr (!(has_upgrade_from<Job, Old> && ...)) {
        static_assert(upgrade_always_false<types<Job, Old...>>,
                      "durable: job_upgrades<Job>: a type listed in `from` has no "
                      "`static Job upgrade(Old old)` (it must take the old job and return "
                      "exactly Job). See docs/evolving-jobs.md#upgrades");
        return false;
      } else if constexpr (upgrades_cycle<Job>()) {
        static_assert(upgrade_always_false<types<Job, Old...>>,
                      "durable: job_upgrades<Job>: the upgrades form a cycle (following `from` "
                      "leads back to a type already on the way); upgrades go from older types "
                      "to newer ones only. See docs/evolving-jobs.md#upgrades");
        return false;
      } else {
        return (check_upgrade_declaration<Old>() && ...);
      }
    }(direct_sources_t<Job>{});
  }
}

template <class Codec, class... Ts>
consteval bool fingerprints_distinct() {
  if constexpr (!(requires {
                  typename std::integral_constant<std::uint64_t, Codec::template fingerprint<Ts>()>;
                } &&
                  ...)) {
    return true;  // not constant: checked when the reader is built
  } else {
    constexpr std::array<std::uint64_t, sizeof...(Ts)> fps{Codec::template fingerprint<Ts>()...};
    for (std::size_t i = 0; i < sizeof...(Ts); ++i) {
      for (std::size_t j = i + 1; j < sizeof...(Ts); ++j) {
        if (fps.at(i) == fps.at(j)) return false;
      }
    }
    return true;
  }
}

/// True when `Codec` reads and writes `Job` and every type Job upgrades from; otherwise
/// exactly one `durable:` static_assert fires. Queue and DeadLetterQueue check it.
template <class Codec, class Job>
consteval bool check_job_reader() {
  // Separate branches, not one condition: each check is instantiated only after the one
  // before passed, so exactly one static_assert fires.
  if constexpr (!check_codec<Codec, Job>()) {  // NOLINT(bugprone-branch-clone)
    return false;
  } else if constexpr (!check_upgrade_declaration<Job>()) {
    return false;
  } else {
    return []<class... Old>(type_list<Old...>) {
      if constexpr (!(check_codec<Codec, Old>() && ...)) {
        return false;
      } else if constexpr (!fingerprints_distinct<Codec, Job, Old...>()) {
        static_assert(upgrade_always_false<types<Job, Old...>>,
                      "durable: job_upgrades<Job>: an old type has the same fingerprint as Job "
                      "(or as another old type) under this codec, so their rows cannot be told "
                      "apart; give the newer type a durable::job_version. "
                      "See docs/evolving-jobs.md#upgrades");
        return false;
      } else {
        return true;
      }
    }(sources_t<Job>{});
  }
}

/// Reads stored rows as `Job` with `Codec` (see the file comment).
template <class Job, class Codec>
struct job_reader {
  /// What the engines need to know of this reader.
  static type_reader info() {
    type_reader r;
    r.codec = {Codec::name, Codec::template fingerprint<Job>()};
    if constexpr (requires { Codec::template description<Job>(); }) {
      r.description = Codec::template description<Job>();
    }
    r.exact.push_back(r.codec.fingerprint);
    [&]<class... Old>(type_list<Old...>) {
      (r.exact.push_back(Codec::template fingerprint<Old>()), ...);
    }(sources_t<Job>{});
    r.judge = &judge;
    return r;
  }

  /// Why rows of registered type (`codec`, `description`) cannot be read as Job; empty when
  /// they can.
  static std::string judge(std::string_view codec, std::string_view description) {
    if (codec != Codec::name) {
      return "it was written by codec \"" + std::string(codec) + "\", this reader uses codec \"" +
             std::string(Codec::name) + "\"";
    }
    if constexpr (!evolving_codec<Codec, Job>) {
      return "codec \"" + std::string(Codec::name) +
             "\" reads only the fingerprints of its own job type and of the types it upgrades "
             "from";
    } else {
      try {
        std::string why = Codec::template incompatibility<Job>(description);
        if (why.empty()) return why;
        const bool older_source = [&]<class... Old>(type_list<Old...>) {
          return ((evolving_codec<Codec, Old> &&
                   Codec::template incompatibility<Old>(description).empty()) ||
                  ...);
        }(sources_t<Job>{});
        return older_source ? std::string{} : why;
      } catch (const decode_error& e) {
        return e.what();
      }
    }
  }

  /// Decodes `bytes` stored by `codec` with type `fingerprint` as Job: directly, through
  /// upgrades, or as an older version described by `description`. Throws decode_error.
  static Job decode(std::string_view codec, std::uint64_t fingerprint,
                    std::span<const std::byte> bytes,
                    const std::optional<std::string>& description) {
    if (codec != Codec::name) throw decode_error(judge(codec, {}));
    if (fingerprint == Codec::template fingerprint<Job>()) {
      return Codec::template decode<Job>(bytes);
    }
    std::optional<Job> job;
    [&]<class... Old>(type_list<Old...>) {
      static_cast<void>(((fingerprint == Codec::template fingerprint<Old>() &&
                          (job.emplace(lift<Job>(Codec::template decode<Old>(bytes))), true)) ||
                         ...));
    }(sources_t<Job>{});
    if (job) return std::move(*job);
    if (!description) {
      throw decode_error(
          "durable: decode: no description of type fingerprint " + std::to_string(fingerprint) +
          " is registered in this database, and it is not this reader's type nor one it "
          "upgrades from");
    }
    if constexpr (evolving_codec<Codec, Job>) {
      if (Codec::template incompatibility<Job>(*description).empty()) {
        return Codec::template decode<Job>(bytes, *description);
      }
      [&]<class... Old>(type_list<Old...>) {
        static_cast<void>(
            ((evolving_codec<Codec, Old> &&
              Codec::template incompatibility<Old>(*description).empty() &&
              (job.emplace(lift<Job>(Codec::template decode<Old>(bytes, *description))), true)) ||
             ...));
      }(sources_t<Job>{});
      if (job) return std::move(*job);
    }
    throw decode_error("durable: decode: " + judge(codec, *description));
  }
};

}  // namespace durable::inline v0::detail
