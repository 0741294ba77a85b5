// SPDX-License-Identifier: MIT
#pragma once
// The tool's two kinds of error, by exit status.

#include <stdexcept>

namespace durable_cli {

/// Bad command-line input: exit status 2.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The command could not do what was asked (unknown queue or id, ...): exit status 1.
class failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace durable_cli
