// SPDX-License-Identifier: MIT
// An error_traits specialization without `kind`.
#include <stdexcept>
#include <string_view>

#include <durable/errors.hpp>

struct half_done : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <>
struct durable::error_traits<half_done> {
  static constexpr std::string_view name = "half_done";
  static constexpr durable::redrive_policy redrive = durable::redrive_policy::safe;
};

using errors = durable::error_list<half_done>;

durable::classification classify(const std::exception_ptr& p) { return errors::classify(p); }
