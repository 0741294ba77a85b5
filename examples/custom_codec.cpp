// SPDX-License-Identifier: MIT
// A user-defined codec: jobs stored as short, human-readable text ("640x480 /img/cat.png").
// `thumbnail_job` has a constructor and private members, so pfr_codec cannot reflect it;
// any type works with a codec written for it. Use it as `durable::Queue<thumbnail_job,
// text_codec>`. See docs/codecs.md#writing-a-codec.

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iostream>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <durable/codec.hpp>
#include <durable/exceptions.hpp>

/// A job: make a thumbnail of `path` at `width` x `height`.
class thumbnail_job {
 public:
  thumbnail_job(std::string path, int width, int height)
      : path_(std::move(path)), width_(width), height_(height) {}
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] int width() const { return width_; }
  [[nodiscard]] int height() const { return height_; }

 private:
  std::string path_;
  int width_;
  int height_;
};

/// Encodes a thumbnail_job as "<width>x<height> <path>".
struct text_codec {
  /// Stored with every row: never change it once rows exist.
  static constexpr std::string_view name = "text";

  /// Names the layout; bump "/1" when the text format changes.
  template <class Job>
  static constexpr std::uint64_t fingerprint() noexcept {
    static_assert(std::is_same_v<Job, thumbnail_job>, "text_codec only encodes thumbnail_job");
    return durable::fnv1a_64("text/1:thumbnail_job{width:int,height:int,path:string}");
  }

  /// Replaces the contents of `out`.
  static void encode(const thumbnail_job& job, std::vector<std::byte>& out) {
    const std::string text =
        std::to_string(job.width()) + "x" + std::to_string(job.height()) + " " + job.path();
    const auto bytes = std::as_bytes(std::span(text));
    out.assign(bytes.begin(), bytes.end());
  }

  /// Parses the text back; throws durable::decode_error when it is not in that form.
  template <class Job>
  static Job decode(std::span<const std::byte> bytes) {
    const std::string_view text = as_text(bytes);
    int width = 0;
    int height = 0;
    const std::size_t x = text.find('x');
    const std::size_t space = text.find(' ');
    if (x == std::string_view::npos || space == std::string_view::npos || space < x ||
        !parse_int(text.substr(0, x), width) ||
        !parse_int(text.substr(x + 1, space - x - 1), height)) {
      throw durable::decode_error(R"(text_codec: not "<width>x<height> <path>": ")" +
                                  std::string(text) + "\"");
    }
    return Job(std::string(text.substr(space + 1)), width, height);
  }

  /// The bytes as characters (std::byte and char may alias each other).
  static std::string_view as_text(std::span<const std::byte> bytes) {
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): bytes as chars
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }

 private:
  static bool parse_int(std::string_view digits, int& value) {
    const char* const last = std::to_address(digits.end());
    const auto [end, error] = std::from_chars(std::to_address(digits.begin()), last, value);
    return error == std::errc() && end == last;
  }
};

static_assert(durable::codec<text_codec, thumbnail_job>);

int main() {
  try {
    const thumbnail_job job("/img/cat.png", 640, 480);

    std::vector<std::byte> blob;
    text_codec::encode(job, blob);
    std::cout << "stored as:  \"" << text_codec::as_text(blob) << "\" (" << blob.size()
              << " bytes, codec \"" << text_codec::name << "\", fingerprint " << std::hex
              << text_codec::fingerprint<thumbnail_job>() << std::dec << ")\n";

    const auto back = text_codec::decode<thumbnail_job>(blob);
    std::cout << "decoded:    " << back.path() << " at " << back.width() << "x" << back.height()
              << "\n";

    const std::string garbage = "not a thumbnail";
    try {
      static_cast<void>(text_codec::decode<thumbnail_job>(std::as_bytes(std::span(garbage))));
    } catch (const durable::decode_error& e) {
      std::cout << "bad input:  " << e.what() << "\n";
    }
    return back.width() == 640 && back.height() == 480 && back.path() == job.path() ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
