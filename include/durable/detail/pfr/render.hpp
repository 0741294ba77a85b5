// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Rendering pfr_codec bytes as JSON without the C++ job type, from the type's description
/// (pfr_codec::description<Job>(), recorded in the database when a Queue or DLQ opens).
/// Used by the `durable` tool. Records become objects keyed by field position ("0", "1",
/// ...: Boost.PFR before 1.84 cannot name fields). The description and the bytes may be
/// hostile: parsing is bounded in depth and size, every read is checked, and a mismatch
/// throws decode_error.

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "durable/detail/fnv1a.hpp"
#include "durable/detail/iso_time.hpp"
#include "durable/detail/json.hpp"
#include "durable/detail/pfr/decode.hpp"
#include "durable/detail/pfr/description.hpp"
#include "durable/exceptions.hpp"

namespace durable::inline v0::detail {

/// `bytes` as lowercase hexadecimal.
[[nodiscard]] inline std::string to_hex(std::span<const std::byte> bytes) {
  constexpr std::string_view digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const std::byte b : bytes) {
    const auto v = std::to_integer<unsigned>(b);
    out += digits[v >> 4U];
    out += digits[v & 0xFU];
  }
  return out;
}

/// One type of a parsed pfr description.
struct pfr_type_node {
  enum class kind {
    boolean,
    character,
    signed_integer,
    unsigned_integer,
    floating,
    enumeration,
    string,
    vector,
    optional,
    array,
    duration,
    time_point,
    record,
  };
  kind what = kind::boolean;
  unsigned bits = 0;                  ///< integers and floats
  std::uint64_t count = 0;            ///< array size, record field count
  std::uint64_t num = 1, den = 1;     ///< duration period
  bool steady = false;                ///< time point clock
  std::vector<std::size_t> children;  ///< element, underlying, rep, duration or fields
};

/// Parses a pfr description ("pfr/1:{2:i32,s}", grammar in docs/codecs.md#fingerprint)
/// into nodes, children before their parent: the last node is the job type. Throws
/// decode_error on anything else.
class pfr_description_parser {
 public:
  static constexpr std::size_t max_depth = 64;
  static constexpr std::size_t max_nodes = 10'000;

  explicit pfr_description_parser(std::string_view description) : text_(description) {}

  [[nodiscard]] std::vector<pfr_type_node> parse() {
    if (!text_.starts_with(pfr_description_prefix)) fail("it does not start with \"pfr/1:\"");
    pos_ = pfr_description_prefix.size();
    type(0);
    if (pos_ != text_.size()) fail("unexpected text after the type");
    return std::move(nodes_);
  }

 private:
  using kind = pfr_type_node::kind;

  [[noreturn]] void fail(std::string_view why) const {
    throw decode_error(
        fmt::format("durable: pfr_codec: the job type description {:?} is not "
                    "valid at offset {}: {}",
                    text_.substr(0, 200), pos_, why));
  }

  bool eat(std::string_view token) {
    if (!text_.substr(pos_).starts_with(token)) return false;
    pos_ += token.size();
    return true;
  }
  void expect(std::string_view token) {
    if (!eat(token)) fail(fmt::format("expected \"{}\"", token));
  }
  std::uint64_t number() {
    const std::size_t start = pos_;
    std::uint64_t v = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      const auto digit = static_cast<std::uint64_t>(text_[pos_] - '0');
      if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) fail("number too large");
      v = v * 10 + digit;
      ++pos_;
    }
    if (pos_ == start) fail("expected a number");
    return v;
  }
  void version() {
    if (eat("@")) static_cast<void>(number());
  }
  std::size_t add(pfr_type_node node) {
    if (nodes_.size() >= max_nodes) fail("too many types");
    nodes_.push_back(std::move(node));
    return nodes_.size() - 1;
  }
  std::size_t child(std::size_t depth) { return type(depth + 1); }

  std::size_t type(std::size_t depth) {
    if (depth > max_depth) fail("nested too deeply");
    pfr_type_node n;
    if (!scalar(n) && !container(n, depth) && !time(n, depth) && !record(n, depth)) {
      fail("unknown type");
    }
    return add(std::move(n));
  }

  // b, c, iN, uN, f32, f64, s
  bool scalar(pfr_type_node& n) {
    if (eat("b")) {
      n.what = kind::boolean;
    } else if (eat("c")) {
      n.what = kind::character;
    } else if (eat("i") || eat("u")) {
      n.what = text_[pos_ - 1] == 'i' ? kind::signed_integer : kind::unsigned_integer;
      const auto bits = number();
      if (bits != 8 && bits != 16 && bits != 32 && bits != 64) fail("integer width");
      n.bits = static_cast<unsigned>(bits);
    } else if (eat("f32") || eat("f64")) {
      n.what = kind::floating;
      n.bits = text_[pos_ - 1] == '2' ? 32 : 64;
    } else if (eat("s")) {
      n.what = kind::string;
    } else {
      return false;
    }
    return true;
  }

  // e(T), v(T), o(T), aN(T)
  bool container(pfr_type_node& n, std::size_t depth) {
    if (eat("e(")) {
      n.what = kind::enumeration;
    } else if (eat("v(")) {
      n.what = kind::vector;
    } else if (eat("o(")) {
      n.what = kind::optional;
    } else if (eat("a")) {
      n.what = kind::array;
      n.count = number();
      expect("(");
    } else {
      return false;
    }
    n.children.push_back(child(depth));
    expect(")");
    if (n.what == kind::enumeration) version();
    return true;
  }

  // d(T,num/den), t(clock,d(...))
  bool time(pfr_type_node& n, std::size_t depth) {
    if (eat("d(")) {
      n.what = kind::duration;
      n.children.push_back(child(depth));
      expect(",");
      n.num = number();
      expect("/");
      n.den = number();
      if (n.num == 0 || n.den == 0) fail("a period of 0");
    } else if (eat("t(")) {
      n.what = kind::time_point;
      n.steady = eat("steady,");
      if (!n.steady) expect("system,");
      n.children.push_back(child(depth));
      if (nodes_[n.children.back()].what != kind::duration) fail("a time point needs a duration");
    } else {
      return false;
    }
    expect(")");
    return true;
  }

  // {N:T,T,...}
  bool record(pfr_type_node& n, std::size_t depth) {
    if (!eat("{")) return false;
    n.what = kind::record;
    n.count = number();
    expect(":");
    for (std::uint64_t i = 0; i < n.count; ++i) {
      if (i > 0) expect(",");
      n.children.push_back(child(depth));
    }
    expect("}");
    version();
    return true;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::vector<pfr_type_node> nodes_;
};

/// Renders pfr_codec bytes following parsed description nodes.
class pfr_json_renderer {
 public:
  /// Values rendered at most, so a hostile description cannot make the output unbounded.
  static constexpr std::size_t max_values = 1'000'000;

  pfr_json_renderer(const std::vector<pfr_type_node>& nodes, std::span<const std::byte> bytes)
      : nodes_(nodes), reader_(bytes) {}

  [[nodiscard]] std::string render() {
    value(nodes_.size() - 1);  // the parser adds the outermost type last
    reader_.expect_end();
    return std::move(out_);
  }

 private:
  using kind = pfr_type_node::kind;

  [[nodiscard]] std::size_t min_size(std::size_t index) const {
    const auto& n = nodes_[index];
    switch (n.what) {
      case kind::boolean:
      case kind::character: return 1;
      case kind::signed_integer:
      case kind::unsigned_integer:
      case kind::floating: return n.bits / 8;
      case kind::enumeration:
      case kind::duration:
      case kind::time_point: return min_size(n.children.front());
      case kind::string:
      case kind::vector:
      case kind::optional: return 1;
      case kind::array: {
        const auto element = min_size(n.children.front());
        return element == 0 || n.count <= max_values ? static_cast<std::size_t>(n.count) * element
                                                     : max_values;
      }
      case kind::record: {
        std::size_t total = 0;
        for (const auto c : n.children) total += min_size(c);
        return total;
      }
    }
    return 1;
  }

  std::uint64_t unsigned_value(unsigned bits, std::string_view what) {
    switch (bits) {
      case 8: return reader_.uint<std::uint8_t>(what);
      case 16: return reader_.uint<std::uint16_t>(what);
      case 32: return reader_.uint<std::uint32_t>(what);
      default: return reader_.uint<std::uint64_t>(what);
    }
  }
  static std::int64_t as_signed(std::uint64_t v, unsigned bits) {
    if (bits < 64 && (v >> (bits - 1)) != 0) {
      return static_cast<std::int64_t>(v | ~((std::uint64_t{1} << bits) - 1));
    }
    return static_cast<std::int64_t>(v);
  }

  // A number as read (integer or floating), for durations and time points.
  struct scalar {
    bool floating = false;
    std::int64_t i = 0;
    std::uint64_t u = 0;
    bool is_unsigned = false;
    double f = 0;
  };
  scalar read_scalar(std::size_t index) {
    const auto& n = nodes_[index];
    scalar s;
    if (n.what == kind::floating) {
      s.floating = true;
      if (n.bits == 32) {
        s.f = static_cast<double>(std::bit_cast<float>(reader_.uint<std::uint32_t>("f32")));
      } else {
        s.f = std::bit_cast<double>(reader_.uint<std::uint64_t>("f64"));
      }
    } else if (n.what == kind::unsigned_integer) {
      s.is_unsigned = true;
      s.u = unsigned_value(n.bits, "unsigned integer");
    } else if (n.what == kind::signed_integer) {
      s.i = as_signed(unsigned_value(n.bits, "integer"), n.bits);
    } else {
      throw decode_error("durable: pfr_codec: a duration's count must be an integer or float");
    }
    return s;
  }
  static std::string scalar_text(const scalar& s) {
    if (s.floating) return fmt::format("{}", s.f);
    return s.is_unsigned ? fmt::format("{}", s.u) : fmt::format("{}", s.i);
  }
  static std::string unit(std::uint64_t num, std::uint64_t den) {
    if (den == 1) {
      switch (num) {
        case 1: return "s";
        case 60: return "min";
        case 3600: return "h";
        case 86400: return "d";
        default: break;
      }
    } else if (num == 1) {
      switch (den) {
        case 1000: return "ms";
        case 1'000'000: return "us";
        case 1'000'000'000: return "ns";
        default: break;
      }
    }
    return fmt::format("*{}/{}s", num, den);
  }
  void floating(double v) {
    if (std::isfinite(v)) {
      out_ += fmt::format("{}", v);
    } else {
      out_ += std::isnan(v) ? "\"nan\"" : (v > 0 ? "\"inf\"" : "\"-inf\"");
    }
  }
  void text(std::string_view s) {
    if (is_valid_utf8(s)) {
      append_json_string(out_, s);
    } else {
      out_ += R"({"hex":")";
      out_ += to_hex(std::as_bytes(std::span{s.data(), s.size()}));
      out_ += R"("})";
    }
  }

  void count_value() {
    if (++values_ > max_values) {
      throw decode_error("durable: pfr_codec: the payload has more than 1,000,000 values");
    }
  }

  void time_point(const pfr_type_node& n) {
    const auto& d = nodes_[n.children.front()];
    const auto s = read_scalar(d.children.front());
    const std::string count = scalar_text(s) + unit(d.num, d.den);
    if (n.steady || s.floating ||
        (s.is_unsigned && s.u > std::numeric_limits<std::int64_t>::max())) {
      append_json_string(out_, (n.steady ? "steady+" : "system+") + count);
      return;
    }
    // nanoseconds = count * (num * 1e9 / den), when that is exact and fits.
    std::int64_t ns = 0;
    const std::int64_t count_value = s.is_unsigned ? static_cast<std::int64_t>(s.u) : s.i;
    if (d.num > std::numeric_limits<std::int64_t>::max() / 1'000'000'000 ||
        (d.num * 1'000'000'000) % d.den != 0 ||
        __builtin_mul_overflow(count_value,
                               static_cast<std::int64_t>(d.num * 1'000'000'000 / d.den), &ns)) {
      append_json_string(out_, "system+" + count);
      return;
    }
    const int digits = d.den >= 1'000'000'000 ? 9 : d.den >= 1'000'000 ? 6 : d.den >= 1000 ? 3 : 0;
    append_json_string(
        out_,
        iso8601_utc(std::chrono::sys_time<std::chrono::nanoseconds>{std::chrono::nanoseconds{ns}},
                    digits));
  }

  void value(std::size_t index) {
    count_value();
    const auto& n = nodes_[index];
    switch (n.what) {
      case kind::boolean: out_ += reader_.flag("bool") ? "true" : "false"; break;
      case kind::character: {
        const auto c = reader_.byte("char");
        if (c >= 0x20 && c < 0x7F) {
          const char ch = static_cast<char>(c);
          append_json_string(out_, std::string_view{&ch, 1});
        } else {
          out_ += std::to_string(c);
        }
        break;
      }
      case kind::signed_integer:
      case kind::unsigned_integer:
      case kind::floating: {
        const auto s = read_scalar(index);
        if (s.floating) {
          floating(s.f);
        } else {
          out_ += scalar_text(s);
        }
        break;
      }
      case kind::enumeration: value(n.children.front()); break;
      case kind::string: {
        const auto size = reader_.count("std::string length", 1);
        const auto bytes = reader_.take(size, "std::string bytes");
        // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): bytes as chars
        text({reinterpret_cast<const char*>(bytes.data()), bytes.size()});
        break;
      }
      case kind::vector: {
        const auto element = n.children.front();
        const auto size =
            reader_.count("std::vector count", std::max<std::size_t>(1, min_size(element)));
        elements(element, size);
        break;
      }
      case kind::optional:
        if (reader_.flag("std::optional presence byte")) {
          value(n.children.front());
        } else {
          out_ += "null";
        }
        break;
      case kind::array: elements(n.children.front(), n.count); break;
      case kind::duration: {
        const auto s = read_scalar(n.children.front());
        append_json_string(out_, scalar_text(s) + unit(n.num, n.den));
        break;
      }
      case kind::time_point: time_point(n); break;
      case kind::record:
        out_ += '{';
        for (std::size_t i = 0; i < n.children.size(); ++i) {
          if (i > 0) out_ += ',';
          out_ += fmt::format("\"{}\":", i);
          value(n.children[i]);
        }
        out_ += '}';
        break;
    }
  }

  void elements(std::size_t element, std::uint64_t size) {
    out_ += '[';
    for (std::uint64_t i = 0; i < size; ++i) {
      if (i > 0) out_ += ',';
      value(element);
    }
    out_ += ']';
  }

  const std::vector<pfr_type_node>& nodes_;
  pfr_reader reader_;
  std::string out_;
  std::size_t values_ = 0;
};

/// `bytes`, written by pfr_codec for the type `description` describes, as JSON. Throws
/// decode_error when `description` is not a pfr description, does not hash to
/// `fingerprint`, or the bytes do not decode as that type.
[[nodiscard]] inline std::string pfr_render_json(std::string_view description,
                                                 std::uint64_t fingerprint,
                                                 std::span<const std::byte> bytes) {
  if (fnv1a_64(description) != fingerprint) {
    throw decode_error(
        fmt::format("durable: pfr_codec: the recorded job type description does not hash to the "
                    "row's fingerprint {:#018x}; the durable_job_types row is damaged",
                    fingerprint));
  }
  const auto nodes = pfr_description_parser{description}.parse();
  return pfr_json_renderer{nodes, bytes}.render();
}

}  // namespace durable::inline v0::detail
