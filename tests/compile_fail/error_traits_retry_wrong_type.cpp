// SPDX-License-Identifier: MIT
// error_traits<E>::retry is a retry_policy, not a retry_override.
#include <stdexcept>
#include <string_view>

#include <durable/errors.hpp>
#include <durable/retry.hpp>

struct flaky : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <>
struct durable::error_traits<flaky> {
  static constexpr std::string_view name = "flaky";
  static constexpr durable::error_kind kind = durable::error_kind::transient;
  static constexpr durable::redrive_policy redrive = durable::redrive_policy::safe;
  static constexpr durable::retry_policy retry{.multiplier = 3.0};
};

durable::classification classify(const std::exception_ptr& p) {
  return durable::error_list<flaky>::classify(p);
}
