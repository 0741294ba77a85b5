// SPDX-License-Identifier: MIT
// Fuzz target: the attempt-history reader (durable/detail/json.hpp). Any text reads
// without throwing: either as records that durable writes back to text reading as the
// same records, or as one damaged_history record that keeps the text.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <durable/detail/json.hpp>
#include <durable/job.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text{reinterpret_cast<const char*>(data), size};
  const auto records = durable::detail::read_history(text);
  const bool damaged =
      records.size() == 1 && records[0].error_type == durable::damaged_history_error &&
      records[0].message.size() == durable::detail::damaged_history_message.size() + text.size() &&
      records[0].message.ends_with(text);
  if (damaged || records.empty()) return 0;  // (no records are stored as NULL, not as text)
  const auto again = durable::detail::read_history(durable::detail::history_json(records));
  if (again.size() != records.size()) std::abort();
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (again[i].attempt != records[i].attempt || again[i].error_type != records[i].error_type ||
        again[i].message != records[i].message || again[i].at != records[i].at) {
      std::abort();
    }
  }
  return 0;
}
