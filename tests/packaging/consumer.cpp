// SPDX-License-Identifier: MIT
// The program both packaging consumers build: it includes durable the way a user does,
// runs one job through a queue in a temporary database file, and uses what durable::durable
// brings along (C++20, SQLite, fmt) without naming any of it in its CMakeLists.txt.
#include <fmt/format.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include <durable/durable.hpp>

namespace {

struct send_email {
  std::string to;
  std::int64_t attempt_limit = 0;
};

int fail(std::string_view what) {
  std::fputs(fmt::format("durable consumer: FAILED: {}\n", what).c_str(), stderr);
  return 1;
}

int run(const std::string& path) {
  durable::Queue<send_email> queue(path, "emails");
  queue.push(send_email{"ada@example.com", 3});
  auto claimed = queue.claim(std::chrono::seconds{30});
  if (!claimed || !claimed->job) return fail("claim returned nothing");
  if (claimed->job->to != "ada@example.com" || claimed->job->attempt_limit != 3) {
    return fail("the claimed job differs from the pushed one");
  }
  queue.ack(*claimed);
  if (queue.claim(std::chrono::seconds{30})) return fail("an acked job came back");
  std::puts(fmt::format("durable consumer: ok (SQLite {})", sqlite3_libversion()).c_str());
  return 0;
}

}  // namespace

int main() {
  const auto dir = std::filesystem::temp_directory_path() /
                   fmt::format("durable-consumer-{}",
                               std::chrono::steady_clock::now().time_since_epoch().count());
  std::filesystem::create_directories(dir);
  int result = 1;
  try {
    result = run((dir / "jobs.db").string());
  } catch (const durable::error& e) {
    result = fail(e.what());
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return result;
}
