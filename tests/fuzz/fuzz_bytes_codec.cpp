// SPDX-License-Identifier: MIT
// Fuzz target: bytes_codec decoding each of its job types. Every input decodes to exactly
// its bytes and encodes back to them.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include <durable/codecs/bytes_codec.hpp>

namespace {

template <class Job>
void round_trip(std::span<const std::byte> bytes) {
  const auto job = durable::bytes_codec::decode<Job>(bytes);
  if (job.size() != bytes.size() ||
      (!bytes.empty() && std::memcmp(job.data(), bytes.data(), bytes.size()) != 0)) {
    std::abort();
  }
  std::vector<std::byte> out;
  durable::bytes_codec::encode(job, out);
  if (out.size() != bytes.size() || !std::equal(out.begin(), out.end(), bytes.begin())) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes{reinterpret_cast<const std::byte*>(data), size};
  round_trip<std::string>(bytes);
  round_trip<std::vector<std::byte>>(bytes);
  round_trip<std::vector<std::uint8_t>>(bytes);
  return 0;
}
