// SPDX-License-Identifier: MIT
// Conan test_package: durable's headers compile, its dependencies link, and a job goes
// through a queue in a temporary database file.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include <durable/durable.hpp>

struct ping {
  int n = 0;
};

int main() {
  const auto path = std::filesystem::temp_directory_path() / "durable-test-package.db";
  std::filesystem::remove(path);
  int result = 1;
  {
    durable::Queue<ping> queue(path.string(), "pings");
    queue.push(ping{42});
    const auto claimed = queue.claim(std::chrono::seconds{10});
    if (claimed && claimed->job && claimed->job->n == 42) {
      queue.ack(*claimed);
      std::puts("durable test_package: ok");
      result = 0;
    }
  }
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::remove(path.string() + suffix);
  }
  return result;
}
