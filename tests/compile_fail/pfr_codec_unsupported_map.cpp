// SPDX-License-Identifier: MIT
// pfr_codec on a job with a std::map field.
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include <durable/codecs/pfr_codec.hpp>

struct job {
  int id;
  std::map<std::string, int> counts;
};

int main() {
  std::vector<std::byte> out;
  durable::pfr_codec::encode(job{}, out);
}
