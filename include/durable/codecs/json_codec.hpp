// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// `durable::json_codec`: jobs stored as readable JSON text through nlohmann/json. Optional:
/// only programs that include this header need nlohmann/json (Debian: nlohmann-json3-dev;
/// CMake: `find_package(nlohmann_json 3.11 REQUIRED)` and link `nlohmann_json::nlohmann_json`).
/// See docs/codecs.md#json-codec.

#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "durable/codec.hpp"
#include "durable/exceptions.hpp"

namespace durable::inline v0 {

namespace detail {

template <class Job>
inline constexpr bool json_convertible = requires(nlohmann::json& j, const Job& job) {
  nlohmann::adl_serializer<Job>::to_json(j, job);
}
&&requires(const nlohmann::json& j, Job& job) { nlohmann::adl_serializer<Job>::from_json(j, job); };

/// The first non-finite number in `j` (JSON has none: nlohmann writes null), or nullptr.
inline const nlohmann::json* json_non_finite(const nlohmann::json& j) {
  if (j.is_number_float()) return std::isfinite(j.get<double>()) ? nullptr : &j;
  if (j.is_structured()) {
    for (const auto& e : j) {
      if (const auto* bad = json_non_finite(e)) return bad;
    }
  }
  return nullptr;
}

}  // namespace detail

/// Stores each job as one JSON document (UTF-8 text, readable in the `sqlite3` shell with
/// `CAST(payload AS TEXT)`), through nlohmann/json's `to_json`/`from_json` for the job type:
/// declare them with `NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(job, fields...)` next to
/// the type, so that missing fields take the values of a default-constructed job and unknown
/// fields are ignored. Every job type's fingerprint is that of `json/1` and its job_version:
/// readers of any shape read each other's rows, and a change that needs more (a renamed
/// field, a new meaning) takes a job_version and a job_upgrades declaration.
/// See docs/codecs.md#json-codec.
struct json_codec {
  /// Stored with every row.
  static constexpr std::string_view name = "json";

  /// FNV-1a 64 of "json/1", with "@<version>" appended for a job_version other than 0.
  template <class Job>
  [[nodiscard]] static constexpr std::uint64_t fingerprint() noexcept {
    constexpr std::uint32_t version = job_version<Job>::value;
    if constexpr (!check<Job>()) {
      return 0;
    } else if constexpr (version == 0) {
      return fnv1a_64("json/1");
    } else {
      std::array<char, 20> text{'j', 's', 'o', 'n', '/', '1', '@'};
      std::size_t n = 7;
      std::uint32_t digits = 1;
      for (std::uint32_t v = version; v >= 10; v /= 10) digits *= 10;
      for (; digits != 0; digits /= 10) {
        text.at(n++) = static_cast<char>('0' + version / digits % 10);
      }
      return fnv1a_64(std::string_view(text.data(), n));
    }
  }

  /// Replaces the contents of `out` with `job` as compact JSON text. Throws
  /// invalid_argument_error, storing nothing, when the job holds a string that is not valid
  /// UTF-8 or a NaN or infinity (JSON cannot hold them).
  template <class Job>
  static void encode(const Job& job, std::vector<std::byte>& out) {
    if constexpr (detail::json_convertible<Job>) write(nlohmann::json(job), out);
  }

  /// Parses `bytes` as JSON and converts it to a Job. Throws durable::decode_error, naming
  /// what nlohmann/json reported (byte offset for a parse error), when the bytes are not
  /// JSON or do not convert to Job (a field of the wrong type, a missing field without a
  /// default).
  template <class Job>
  [[nodiscard]] static Job decode(std::span<const std::byte> bytes) {
    if constexpr (detail::json_convertible<Job>) {
      // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): bytes as text
      const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      try {
        return nlohmann::json::parse(text).template get<Job>();
      } catch (const nlohmann::json::exception& e) {
        throw decode_error(std::string("durable: json_codec: ") + e.what() + " (input is " +
                           std::to_string(bytes.size()) + " bytes)");
      }
    } else {
      throw decode_error("durable: json_codec: unsupported job type");
    }
  }

 private:
  template <class Job>
  static consteval bool check() {
    static_assert(detail::json_convertible<Job>,
                  "durable: json_codec: Job has no nlohmann/json to_json/from_json; declare them "
                  "next to the type, e.g. NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Job, "
                  "field1, field2). See docs/codecs.md#json-codec");
    return detail::json_convertible<Job>;
  }

  static void write(const nlohmann::json& j, std::vector<std::byte>& out) {
    if (const auto* bad = detail::json_non_finite(j)) {
      throw invalid_argument_error(
          "job", "durable: json_codec: the job holds a number JSON cannot represent (" +
                     std::to_string(bad->get<double>()) +
                     "); nothing was stored; use pfr_codec for NaN and infinities");
    }
    std::string text;
    try {
      text = j.dump();
    } catch (const nlohmann::json::exception& e) {
      throw invalid_argument_error(
          "job", std::string("durable: json_codec: the job cannot be written as JSON (") +
                     e.what() +
                     "); nothing was stored; JSON strings must be valid UTF-8: store binary data "
                     "base64-encoded, or use pfr_codec");
    }
    out.resize(text.size());
    if (!text.empty()) std::memcpy(out.data(), text.data(), text.size());
  }
};

}  // namespace durable::inline v0
