// SPDX-License-Identifier: MIT
#pragma once
// Payloads shown without the C++ job type: pfr_codec payloads as JSON from the job type's
// description recorded in the database; bytes_codec payloads as text when UTF-8, hex
// otherwise; a codec with a renderer command (--render CODEC=COMMAND) through that
// command; anything else as hex with its codec's name.

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <durable/storage.hpp>

namespace durable_cli {

/// How a payload was rendered.
struct rendered_payload {
  /// "json" (text is a JSON value), "text", "hex" or "command" (a renderer's output).
  std::string format;
  std::string text;
  /// Why it is hex when a better form was expected (no description, decode error, ...).
  std::string note;
};

/// Renderer commands by codec name, from --render CODEC=COMMAND.
using renderers = std::map<std::string, std::string, std::less<>>;

/// Parses --render values; throws usage_error for one without "=".
[[nodiscard]] renderers parse_renderers(const std::vector<std::string>& specs);

/// Renders `payload`, stored with `codec` and `fingerprint`, reading descriptions from
/// `storage`.
[[nodiscard]] rendered_payload render_payload(durable::storage::backend& storage,
                                              const renderers& commands, std::string_view codec,
                                              std::uint64_t fingerprint,
                                              std::span<const std::byte> payload);

}  // namespace durable_cli
