// SPDX-License-Identifier: MIT
// error_list lists a derived type after its base: the derived entry could never match.
// The base comes from a nested list, so the check must see through the splicing.
#include <stdexcept>
#include <string_view>

#include <durable/errors.hpp>

struct my_timeout : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <>
struct durable::error_traits<my_timeout> {
  static constexpr std::string_view name = "my_timeout";
  static constexpr durable::error_kind kind = durable::error_kind::transient;
  static constexpr durable::redrive_policy redrive = durable::redrive_policy::safe;
};

using errors = durable::error_list<durable::std_errors, my_timeout>;

static_assert(durable::error_classifier<errors>);
