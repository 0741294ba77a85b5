// SPDX-License-Identifier: MIT
#include "payload.hpp"

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <durable/detail/pfr/render.hpp>

#include "errors.hpp"

namespace durable_cli {

renderers parse_renderers(const std::vector<std::string>& specs) {
  renderers out;
  for (const auto& spec : specs) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      throw usage_error(fmt::format(
          "durable: usage: --render {:?} is not CODEC=COMMAND, e.g. --render 'proto=protoc "
          "--decode_raw'",
          spec.substr(0, 64)));
    }
    out.insert_or_assign(spec.substr(0, eq), spec.substr(eq + 1));
  }
  return out;
}

namespace {

/// Removes a temporary file on scope exit.
struct temp_file {
  std::string path;
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
  temp_file(temp_file&&) = delete;
  temp_file& operator=(temp_file&&) = delete;
  explicit temp_file(std::string p) : path(std::move(p)) {}
  ~temp_file() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

// Runs `command` with the payload on its standard input and DURABLE_CODEC,
// DURABLE_FINGERPRINT and DURABLE_DESCRIPTION in its environment; its standard output
// (at most 1 MiB) is the rendering.
rendered_payload run_renderer(const std::string& command, std::string_view codec,
                              std::uint64_t fingerprint, const std::string& description,
                              std::span<const std::byte> payload) {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "durable-payload-XXXXXX").string();
  const int fd = mkstemp(pattern.data());
  if (fd < 0) return {"hex", durable::detail::to_hex(payload), "could not create a temporary file"};
  const temp_file file{pattern};
  std::size_t written = 0;
  while (written < payload.size()) {
    const auto n = write(fd, payload.data() + written, payload.size() - written);
    if (n <= 0) break;
    written += static_cast<std::size_t>(n);
  }
  close(fd);
  // The tool is single-threaded: setenv and popen are safe here.
  // NOLINTBEGIN(concurrency-mt-unsafe)
  setenv("DURABLE_CODEC", std::string{codec}.c_str(), 1);
  setenv("DURABLE_FINGERPRINT", fmt::format("{:016x}", fingerprint).c_str(), 1);
  setenv("DURABLE_DESCRIPTION", description.c_str(), 1);
  // NOLINTEND(concurrency-mt-unsafe)
  std::fflush(nullptr);
  const std::string shell = fmt::format("( {} ) < '{}'", command, file.path);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> pipe{popen(shell.c_str(), "r"), pclose};
  if (!pipe) return {"hex", durable::detail::to_hex(payload), "the renderer could not be started"};
  std::string out;
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  constexpr std::size_t limit = std::size_t{1} << 20;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe.get())) > 0 && out.size() < limit) {
    out.append(buffer.data(), n);
  }
  const int status = pclose(pipe.release());
  if (status != 0) {
    return {"hex", durable::detail::to_hex(payload),
            fmt::format("the renderer for codec \"{}\" failed (exit status {})", codec,
                        WIFEXITED(status) ? WEXITSTATUS(status) : -1)};
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return {"command", std::move(out), {}};
}

}  // namespace

rendered_payload render_payload(durable::storage::backend& storage, const renderers& commands,
                                std::string_view codec, std::uint64_t fingerprint,
                                std::span<const std::byte> payload) {
  std::optional<std::string> description;  // the recorded description of the job type
  for (auto& type : storage.job_types()) {
    if (type.codec == codec && type.fingerprint == fingerprint) {
      description = std::move(type.description);
      break;
    }
  }
  if (const auto it = commands.find(codec); it != commands.end()) {
    return run_renderer(it->second, codec, fingerprint, description.value_or(""), payload);
  }
  if (codec == "pfr") {
    if (!description) {
      return {"hex", durable::detail::to_hex(payload),
              fmt::format("no description of job type {:016x} is recorded; open a Queue or "
                          "DeadLetterQueue of that type once with this durable version",
                          fingerprint)};
    }
    try {
      return {"json", durable::detail::pfr_render_json(*description, fingerprint, payload), {}};
    } catch (const std::exception& e) {
      return {"hex", durable::detail::to_hex(payload), e.what()};
    }
  }
  if (codec == "bytes") {
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): bytes as chars
    const std::string_view text{reinterpret_cast<const char*>(payload.data()), payload.size()};
    if (durable::detail::is_valid_utf8(text)) return {"text", std::string{text}, {}};
    return {"hex", durable::detail::to_hex(payload), {}};
  }
  return {"hex", durable::detail::to_hex(payload),
          fmt::format("codec \"{}\" has no renderer; pass --render {}=COMMAND", codec, codec)};
}

}  // namespace durable_cli
