// SPDX-License-Identifier: MIT
#pragma once
// Test helpers shared by the test executables: a unique temporary directory per test.

#include <filesystem>
#include <random>
#include <string>
#include <system_error>

namespace durable_test {

/// A fresh directory under the system temp dir, removed (with its contents) on scope exit.
class temp_dir {
 public:
  temp_dir() {
    std::random_device rd;
    for (;;) {
      path_ = std::filesystem::temp_directory_path() /
              ("durable-test-" + std::to_string(rd()) + std::to_string(rd()));
      if (std::filesystem::create_directory(path_)) break;
    }
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(path_, ec);
  }
  /// The directory.
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  /// A file name inside the directory, as a string.
  [[nodiscard]] std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace durable_test
