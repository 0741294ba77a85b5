// SPDX-License-Identifier: MIT
// error_list lists an exception type that is only declared.
#include <string_view>

#include <durable/errors.hpp>

struct declared_only;

template <>
struct durable::error_traits<declared_only> {
  static constexpr std::string_view name = "declared_only";
  static constexpr durable::error_kind kind = durable::error_kind::transient;
  static constexpr durable::redrive_policy redrive = durable::redrive_policy::safe;
};

durable::classification classify(const std::exception_ptr& p) {
  return durable::error_list<declared_only>::classify(p);
}
