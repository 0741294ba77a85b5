// SPDX-License-Identifier: MIT
// error_list lists a type whose error_traits is not specialized.
#include <stdexcept>

#include <durable/errors.hpp>

struct unclassified : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using errors = durable::error_list<unclassified, durable::std_errors>;

durable::classification classify(const std::exception_ptr& p) { return errors::classify(p); }
