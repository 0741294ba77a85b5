// SPDX-License-Identifier: MIT
// bytes_codec with a job that is not a string or byte vector.
#include <cstddef>
#include <vector>

#include <durable/codecs/bytes_codec.hpp>

struct job {
  int id;
};

int main() {
  std::vector<std::byte> out;
  durable::bytes_codec::encode(job{1}, out);
}
