// SPDX-License-Identifier: MIT
// Fuzz target: pfr_codec decoding a job type with strings, vectors, optionals, nested
// structs, enums, bools and floating point. Any input either decodes or throws
// durable::decode_error (anything else escapes and is reported); a decoded value encodes
// to bytes that decode to a value with the same encoding.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <durable/codecs/pfr_codec.hpp>

namespace {

enum class color : std::uint8_t { red, green, blue };

struct inner {
  std::int32_t a = 0;
  std::optional<std::string> label;
  std::vector<std::int16_t> values;
};

struct rich {
  std::string name;
  std::vector<std::string> tags;
  std::optional<std::int64_t> limit;
  inner nested;
  std::vector<inner> items;
  color shade = color::red;
  bool flag = false;
  std::optional<std::vector<std::uint8_t>> blob;
  double ratio = 0;
  std::uint64_t big = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes{reinterpret_cast<const std::byte*>(data), size};
  std::optional<rich> decoded;
  try {
    decoded.emplace(durable::pfr_codec::decode<rich>(bytes));
  } catch (const durable::decode_error&) {
    return 0;
  }
  std::vector<std::byte> once;
  durable::pfr_codec::encode(*decoded, once);
  std::vector<std::byte> twice;
  durable::pfr_codec::encode(durable::pfr_codec::decode<rich>(once), twice);
  if (once != twice) std::abort();
  return 0;
}
