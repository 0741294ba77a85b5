// SPDX-License-Identifier: MIT
#pragma once
// Test helpers shared by the test executables: a unique temporary directory per test,
// and the backend the conformance tests run against.

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>

namespace durable_test {

/// The backend the behaviour tests run against: $DURABLE_TEST_BACKEND, "sqlite" when unset.
/// CTest registers the conformance executables once per backend (tests/CMakeLists.txt).
inline const std::string& backend() {
  static const std::string name = [] {
    const char* env = std::getenv("DURABLE_TEST_BACKEND");
    return std::string{env != nullptr && *env != '\0' ? env : "sqlite"};
  }();
  return name;
}

/// True when the tests run against SQLite (tests that open the file themselves need it).
inline bool on_sqlite() { return backend() == "sqlite"; }

/// How a backend other than SQLite makes a fresh, empty database target from a unique
/// name; set by that backend's test support before the tests run.
inline std::function<std::string(const std::string& unique_name)>& target_factory() {
  static std::function<std::string(const std::string&)> factory;
  return factory;
}

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
  /// A database target named `name`, private to this directory, on the backend under
  /// test: a file here for SQLite; a fresh database (or schema) for the others.
  [[nodiscard]] std::string db(const std::string& name) const {
    if (on_sqlite() || !target_factory()) return file(name);
    return target_factory()(path_.filename().string() + "_" + name);
  }

 private:
  std::filesystem::path path_;
};

}  // namespace durable_test
