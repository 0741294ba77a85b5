// SPDX-License-Identifier: MIT
// pfr_codec on a job with a C array member.
#include <cstddef>
#include <vector>

#include <durable/codecs/pfr_codec.hpp>

struct job {
  int id;
  char name[16];
};

int main() {
  std::vector<std::byte> out;
  durable::pfr_codec::encode(job{}, out);
}
