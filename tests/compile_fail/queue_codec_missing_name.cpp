// SPDX-License-Identifier: MIT
// Queue<Job, Codec> with a codec that has no `name`: one durable: message from Queue.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <durable/queue.hpp>

struct job {
  int id;
};

struct nameless_codec {
  template <class Job>
  static constexpr std::uint64_t fingerprint() noexcept {
    return 1;
  }
  static void encode(const job&, std::vector<std::byte>& out) { out.clear(); }
  template <class Job>
  static Job decode(std::span<const std::byte>) {
    return Job{};
  }
};

int main() { durable::Queue<job, nameless_codec> q{"unused.db", "q"}; }
