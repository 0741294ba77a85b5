// SPDX-License-Identifier: MIT
// Rendering pfr_codec payloads as JSON from the job type's recorded description, without
// the C++ type (what the `durable` tool shows), and the checks that keep hostile
// descriptions and bytes from doing harm.

#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <durable/codecs/pfr_codec.hpp>
#include <durable/detail/pfr/render.hpp>
#include <durable/exceptions.hpp>

namespace {

enum class level : std::uint8_t { low, high };

struct address {
  std::string city;
  std::optional<std::uint16_t> zip;
};

struct order {
  std::uint64_t id;
  std::int32_t delta;
  bool express;
  char grade;
  double price;
  level urgency;
  std::string note;
  std::vector<std::int16_t> quantities;
  std::vector<address> addresses;
  std::optional<std::string> coupon;
  std::chrono::milliseconds timeout;
  std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds> due;
  std::chrono::duration<double> ratio_seconds;
};

template <class Job>
std::string render(const Job& job) {
  std::vector<std::byte> bytes;
  durable::pfr_codec::encode(job, bytes);
  return durable::detail::pfr_render_json(durable::pfr_codec::description<Job>(),
                                          durable::pfr_codec::fingerprint<Job>(), bytes);
}

std::vector<std::byte> as_bytes(std::string_view s) {
  const auto b = std::as_bytes(std::span{s.data(), s.size()});
  return {b.begin(), b.end()};
}

}  // namespace

TEST_CASE("a pfr payload renders as JSON by field position, from its description alone") {
  using namespace std::chrono_literals;
  const order o{18'446'744'073'709'551'615ULL,
                -42,
                true,
                'A',
                2.5,
                level::high,
                "say \"hi\"\n",
                {1, -2},
                {address{"Zürich", 8001}, address{"Oslo", std::nullopt}},
                std::nullopt,
                1500ms,
                decltype(order::due){1'777'777'777'123ms},
                std::chrono::duration<double>{0.25}};
  CHECK(render(o) ==
        R"({"0":18446744073709551615,"1":-42,"2":true,"3":"A","4":2.5,"5":1,)"
        R"("6":"say \"hi\"\u000a","7":[1,-2],"8":[{"0":"Zürich","1":8001},{"0":"Oslo","1":null}],)"
        R"("9":null,"10":"1500ms","11":"2026-05-03T03:09:37.123Z","12":"0.25s"})");
  CHECK(render(std::string{"plain"}) == R"("plain")");
  CHECK(render(std::vector<std::int8_t>{-128, 127}) == "[-128,127]");
}

TEST_CASE("pfr rendering refuses bytes that do not match the description") {
  const auto description = durable::pfr_codec::description<address>();
  const auto fingerprint = durable::pfr_codec::fingerprint<address>();
  std::vector<std::byte> bytes;
  durable::pfr_codec::encode(address{"Bern", 3000}, bytes);
  auto truncated = bytes;
  truncated.pop_back();
  CHECK_THROWS_AS(
      static_cast<void>(durable::detail::pfr_render_json(description, fingerprint, truncated)),
      durable::decode_error);
  auto longer = bytes;
  longer.push_back(std::byte{0});
  CHECK_THROWS_WITH_AS(
      static_cast<void>(durable::detail::pfr_render_json(description, fingerprint, longer)),
      doctest::Contains("trailing bytes"), durable::decode_error);
  // A description that does not hash to the row's fingerprint is not trusted.
  CHECK_THROWS_WITH_AS(
      static_cast<void>(durable::detail::pfr_render_json(description, fingerprint + 1, bytes)),
      doctest::Contains("does not hash"), durable::decode_error);
}

TEST_CASE("pfr rendering refuses malformed and hostile descriptions with a decode_error") {
  const auto attempt = [](const std::string& description, std::string_view payload = "") {
    const auto bytes = as_bytes(payload);
    return durable::detail::pfr_render_json(description, durable::detail::fnv1a_64(description),
                                            bytes);
  };
  for (const std::string bad :
       {"", "pfr/1:", "pfr/2:b", "pfr/1:x", "pfr/1:i7", "pfr/1:{2:b}", "pfr/1:v(b",
        "pfr/1:d(i64,0/1)", "pfr/1:t(system,i64)", "pfr/1:a99999999999999999999(b)", "pfr/1:bb"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(attempt(bad), durable::decode_error);
  }
  std::string deep = "pfr/1:";
  for (int i = 0; i < 100; ++i) deep += "v(";
  deep += "b";
  for (int i = 0; i < 100; ++i) deep += ")";
  CHECK_THROWS_WITH_AS(attempt(deep), doctest::Contains("nested too deeply"),
                       durable::decode_error);
  // An array of a billion empty records would render forever: refused.
  CHECK_THROWS_WITH_AS(attempt("pfr/1:a1000000000({0:})"), doctest::Contains("1,000,000"),
                       durable::decode_error);
  // A vector count larger than the bytes left is refused before anything is rendered.
  CHECK_THROWS_AS(attempt("pfr/1:v(i64)", "\x7f"), durable::decode_error);
}

TEST_CASE("strings that are not UTF-8 render as hex, and UTF-8 validation rejects overlong forms") {
  CHECK(render(std::string{"\xff\x00", 2}) == R"({"hex":"ff00"})");
  using durable::detail::is_valid_utf8;
  CHECK(is_valid_utf8("plain ascii"));
  CHECK(is_valid_utf8("Zürich ✓ 😀"));
  CHECK_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));      // a surrogate
  CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  CHECK_FALSE(is_valid_utf8("\xe2\x9c"));          // cut short
}
