// SPDX-License-Identifier: MIT
// unlisted_as<D> with a D that does not look like error_traits (no redrive).
#include <string_view>

#include <durable/errors.hpp>

struct my_default {
  static constexpr std::string_view name = "unclassified";
  static constexpr durable::error_kind kind = durable::error_kind::permanent;
};

durable::classification classify(const std::exception_ptr& p) {
  return durable::std_errors::unlisted_as<my_default>::classify(p);
}
