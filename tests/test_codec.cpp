// SPDX-License-Identifier: MIT
// Codecs: pfr_codec round trips (property style), exact wire bytes, fingerprints, hostile
// input, bytes_codec, and the codec concept check.

#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <climits>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <durable/codec.hpp>
#include <durable/codecs/bytes_codec.hpp>
#include <durable/codecs/pfr_codec.hpp>
#include <durable/detail/json.hpp>
#include <durable/exceptions.hpp>
#include <durable/job.hpp>

// ---------------------------------------------------------------------------------------------
// Allocation tracking: a garbled length must be rejected before anything is allocated for it.
// Replacing the global operator new/delete needs malloc/free.
// ThreadSanitizer's runtime owns operator new, so under TSan the tracking is off and only
// the throwing is checked.
#if defined(__SANITIZE_THREAD__)
#define DURABLE_TEST_TRACK_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DURABLE_TEST_TRACK_ALLOCATIONS 0
#endif
#endif
#ifndef DURABLE_TEST_TRACK_ALLOCATIONS
#define DURABLE_TEST_TRACK_ALLOCATIONS 1
#endif

namespace {
std::atomic<std::size_t> largest_allocation{0};
}  // namespace

#if DURABLE_TEST_TRACK_ALLOCATIONS
// NOLINTBEGIN(cppcoreguidelines-no-malloc, cppcoreguidelines-owning-memory)

namespace {

void* tracked_allocate(std::size_t n) {
  std::size_t seen = largest_allocation.load(std::memory_order_relaxed);
  while (n > seen && !largest_allocation.compare_exchange_weak(seen, n)) {
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) { return tracked_allocate(n); }
void* operator new[](std::size_t n) { return tracked_allocate(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t /*size*/) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t /*size*/) noexcept { std::free(p); }

// NOLINTEND(cppcoreguidelines-no-malloc, cppcoreguidelines-owning-memory)
#endif

// ---------------------------------------------------------------------------------------------
// Sample job types.

namespace {

using bytes = std::vector<std::byte>;
using rng_t = std::mt19937_64;

enum class color : std::uint8_t { red, green, blue };
enum plain_enum : int { plain_a = -3, plain_b = 70000 };
enum class wide_enum : std::int64_t { low = std::numeric_limits<std::int64_t>::min() };

struct integers {
  std::int8_t i8;
  std::int16_t i16;
  std::int32_t i32;
  std::int64_t i64;
  std::uint8_t u8;
  std::uint16_t u16;
  std::uint32_t u32;
  std::uint64_t u64;
  signed char sc;
  unsigned char uc;
  short s;
  unsigned short us;
  int i;
  unsigned u;
  long l;
  unsigned long ul;
  long long ll;
  unsigned long long ull;
  char c;
  char8_t c8;
  char16_t c16;
  char32_t c32;
  wchar_t wc;
  bool operator==(const integers&) const = default;
};

struct floats {
  float f;
  double d;
};

struct scalars {
  bool b;
  color col;
  plain_enum pe;
  wide_enum we;
  std::byte by;
  bool operator==(const scalars&) const = default;
};

struct leaf {
  std::int16_t a;
  std::optional<std::string> s;
  bool operator==(const leaf&) const = default;
};

struct containers {
  std::string text;
  std::vector<std::int32_t> ints;
  std::vector<std::uint8_t> small;
  std::vector<std::string> strings;
  std::vector<bool> flags;
  std::vector<color> colors;
  std::optional<std::int64_t> maybe;
  std::optional<std::optional<std::string>> maybe_maybe;
  std::array<std::uint16_t, 3> triple;
  std::array<bool, 2> pair_of_flags;
  std::vector<leaf> more_leaves;
  std::vector<std::vector<std::string>> nested;
  std::optional<std::vector<leaf>> maybe_leaves;
  std::vector<std::optional<leaf>> sparse;
  std::array<std::int32_t, 0> nothing;
  bool operator==(const containers&) const = default;
};

using sys_ms = std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;

struct times {
  std::chrono::milliseconds ms;
  std::chrono::nanoseconds ns;
  std::chrono::duration<std::int32_t, std::ratio<3600>> hours32;
  std::chrono::duration<double> seconds_f;
  std::chrono::system_clock::time_point now;
  sys_ms at;
  std::chrono::steady_clock::time_point mono;
  std::optional<sys_ms> maybe_at;
};

struct inner_most {
  std::vector<std::optional<std::int32_t>> values;
  bool operator==(const inner_most&) const = default;
};
struct middle {
  inner_most im;
  std::optional<inner_most> maybe_im;
  std::vector<inner_most> many;
  bool operator==(const middle&) const = default;
};
struct outer {
  std::uint32_t id;
  middle m;
  std::vector<middle> ms;
  std::optional<std::vector<std::optional<middle>>> deep;
  bool operator==(const outer&) const = default;
};

struct empty_job {
  bool operator==(const empty_job&) const = default;
};

struct with_const_member {
  const std::int32_t id = 0;
  std::string name;
  bool operator==(const with_const_member&) const = default;
};

struct vector_of_string_arrays {
  std::vector<std::array<std::string, 2>> pairs;
  std::optional<std::array<std::vector<int>, 2>> maybe;
  bool operator==(const vector_of_string_arrays&) const = default;
};

// g++ 12 cannot reflect this one (see docs/codecs.md#pfr-gcc12-arrays).
struct string_array_member {
  std::array<std::string, 3> names;
  std::int32_t n;
  std::array<leaf, 2> leaves;
  bool operator==(const string_array_member&) const = default;
};

// ---------------------------------------------------------------------------------------------
// Random values: extremes with high probability, otherwise uniform bits.

template <class T>
T random_value(rng_t& rng, int depth = 0);

template <class T>
T random_integer(rng_t& rng) {
  using limits = std::numeric_limits<T>;
  switch (rng() % 8) {
    case 0: return limits::min();
    case 1: return limits::max();
    case 2: return T{};
    case 3: return static_cast<T>(1);
    case 4: return static_cast<T>(limits::max() - 1);
    case 5: return static_cast<T>(limits::min() + 1);
    default: {
      const std::uint64_t bits = rng();
      T v{};
      std::memcpy(&v, &bits, sizeof v);  // every bit pattern
      return v;
    }
  }
}

template <class F>
F random_floating(rng_t& rng) {
  using limits = std::numeric_limits<F>;
  using U = std::conditional_t<sizeof(F) == 4, std::uint32_t, std::uint64_t>;
  switch (rng() % 12) {
    case 0: return limits::quiet_NaN();
    case 1: return -limits::quiet_NaN();
    case 2: return limits::infinity();
    case 3: return -limits::infinity();
    case 4: return -F{0};
    case 5: return limits::denorm_min();
    case 6: return limits::max();
    case 7: return limits::lowest();
    case 8: return static_cast<F>(static_cast<std::int32_t>(rng())) / F{7};  // ordinary values
    default: return std::bit_cast<F>(static_cast<U>(rng()));  // NaN payloads, subnormals, anything
  }
}

std::string random_string(rng_t& rng) {
  std::size_t n = 0;
  switch (rng() % 6) {
    case 0: n = 0; break;
    case 1: n = 1; break;
    case 2:
      n = 127 + rng() % 3;  // around the one-byte LEB128 boundary
      break;
    case 3:
      n = 16383 + rng() % 3;  // around the two-byte boundary
      break;
    default: n = rng() % 40;
  }
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() % 4 == 0 ? 0 : rng() % 256);
  return s;
}

template <class T>
inline constexpr bool is_vector_v = false;
template <class T>
inline constexpr bool is_vector_v<std::vector<T>> = true;
template <class T>
inline constexpr bool is_optional_v = false;
template <class T>
inline constexpr bool is_optional_v<std::optional<T>> = true;
template <class T>
inline constexpr bool is_array_v = false;
template <class T, std::size_t N>
inline constexpr bool is_array_v<std::array<T, N>> = true;
template <class T>
inline constexpr bool is_duration_v = false;
template <class R, class P>
inline constexpr bool is_duration_v<std::chrono::duration<R, P>> = true;
template <class T>
inline constexpr bool is_time_point_v = false;
template <class C, class D>
inline constexpr bool is_time_point_v<std::chrono::time_point<C, D>> = true;

template <class T>
T random_value(rng_t& rng, int depth) {
  if constexpr (std::is_same_v<T, bool>) {
    return rng() % 2 == 0;
  } else if constexpr (std::is_integral_v<T>) {
    return random_integer<T>(rng);
  } else if constexpr (std::is_floating_point_v<T>) {
    return random_floating<T>(rng);
  } else if constexpr (std::is_enum_v<T>) {
    return static_cast<T>(random_integer<std::underlying_type_t<T>>(rng));
  } else if constexpr (std::is_same_v<T, std::string>) {
    return random_string(rng);
  } else if constexpr (is_vector_v<T>) {
    const std::size_t n = depth > 3 ? 0 : rng() % (depth == 0 ? 20 : 5);
    T v;
    for (std::size_t i = 0; i < n; ++i) {
      v.push_back(random_value<typename T::value_type>(rng, depth + 1));
    }
    return v;
  } else if constexpr (is_optional_v<T>) {
    if (rng() % 3 == 0) return std::nullopt;
    return T(random_value<typename T::value_type>(rng, depth + 1));
  } else if constexpr (is_array_v<T>) {
    T a{};
    for (auto& e : a) e = random_value<typename T::value_type>(rng, depth + 1);
    return a;
  } else if constexpr (is_duration_v<T>) {
    return T(random_value<typename T::rep>(rng, depth));
  } else if constexpr (is_time_point_v<T>) {
    return T(random_value<typename T::duration>(rng, depth));
  } else {
    T t{};
    boost::pfr::for_each_field(t, [&](auto& field) {
      field = random_value<std::remove_cvref_t<decltype(field)>>(rng, depth + 1);
    });
    return t;
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

template <class Job>
bytes encode(const Job& job) {
  bytes out;
  durable::pfr_codec::encode(job, out);
  return out;
}

template <class Job>
Job decode(const bytes& in) {
  return durable::pfr_codec::decode<Job>(std::span<const std::byte>(in));
}

/// Bytes from hex digits; spaces are ignored.
bytes hex(std::string_view text) {
  auto nibble = [](char c) { return static_cast<unsigned>(c <= '9' ? c - '0' : c - 'a' + 10); };
  std::string digits;
  for (const char c : text) {
    if (c != ' ') digits.push_back(c);
  }
  bytes out;
  for (std::size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(static_cast<std::byte>(nibble(digits[i]) * 16 + nibble(digits[i + 1])));
  }
  return out;
}

/// encode -> decode -> encode gives the same bytes (a bitwise comparison, NaNs included),
/// and, when `compare_values`, the decoded value equals the original.
template <class Job>
void check_round_trip(const Job& job, bool compare_values) {
  const bytes first = encode(job);
  const Job back = decode<Job>(first);
  CHECK(encode(back) == first);
  if constexpr (std::equality_comparable<Job>) {
    if (compare_values) CHECK(back == job);
  }
}

template <class Job>
void check_random_round_trips(std::uint64_t seed, int count, bool compare_values = true) {
  rng_t rng(seed);
  for (int i = 0; i < count; ++i) check_round_trip(random_value<Job>(rng), compare_values);
}

template <class Job>
void check_every_truncation_throws(const Job& job) {
  const bytes full = encode(job);
  for (std::size_t n = 0; n < full.size(); ++n) {
    const bytes prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    CHECK_THROWS_AS(static_cast<void>(decode<Job>(prefix)), durable::decode_error);
  }
  CHECK_NOTHROW(static_cast<void>(decode<Job>(full)));
}

template <class T>
constexpr std::uint64_t fp() {
  return durable::pfr_codec::fingerprint<T>();
}

template <class T>
struct one {
  T value;
};

}  // namespace

// job_version specializations, next to the types they version.
namespace {
struct versioned_v0 {
  std::int32_t x;
};
struct versioned_v2 {
  std::int32_t x;
};
struct holds_versioned {
  versioned_v2 v;
};
struct holds_unversioned {
  versioned_v0 v;
};
enum class status_v0 : std::uint8_t { a, b };
enum class status_v1 : std::uint8_t { b, a };
}  // namespace
template <>
struct durable::job_version<versioned_v2> {
  static constexpr std::uint32_t value = 2;
};
template <>
struct durable::job_version<status_v1> {
  static constexpr std::uint32_t value = 1;
};

// ---------------------------------------------------------------------------------------------
// Compile-time facts.

static_assert(durable::codec<durable::pfr_codec, integers>);
static_assert(durable::codec<durable::pfr_codec, containers>);
static_assert(durable::detail::check_codec<durable::pfr_codec, outer>());
static_assert(durable::detail::check_codec<durable::bytes_codec, std::string>());
static_assert(durable::detail::check_codec<durable::bytes_codec, std::vector<std::byte>>());
static_assert(durable::detail::check_codec<durable::bytes_codec, std::vector<std::uint8_t>>());
static_assert(durable::pfr_codec::name == "pfr");
static_assert(durable::bytes_codec::name == "bytes");
static_assert(durable::fnv1a_64("foobar") == 0x85944171f73967e8ULL);

// Fingerprints are constant expressions.
static_assert(fp<versioned_v0>() != 0);

// ---------------------------------------------------------------------------------------------
// Round trips.

TEST_CASE("pfr_codec round-trips every integer width, signed and unsigned, with extremes") {
  check_random_round_trips<integers>(1, 500);
  check_random_round_trips<std::int64_t>(2, 200);
  check_random_round_trips<std::uint8_t>(3, 200);
  check_round_trip(integers{INT8_MIN,  INT16_MIN, INT32_MIN, INT64_MIN, 0,       0, 0,        0,
                            SCHAR_MIN, 0,         SHRT_MIN,  0,         INT_MIN, 0, LONG_MIN, 0,
                            LLONG_MIN, 0,         CHAR_MIN,  0,         0,       0, WCHAR_MIN},
                   true);
  check_round_trip(integers{INT8_MAX,        INT16_MAX,
                            INT32_MAX,       INT64_MAX,
                            UINT8_MAX,       UINT16_MAX,
                            UINT32_MAX,      UINT64_MAX,
                            SCHAR_MAX,       UCHAR_MAX,
                            SHRT_MAX,        USHRT_MAX,
                            INT_MAX,         UINT_MAX,
                            LONG_MAX,        ULONG_MAX,
                            LLONG_MAX,       ULLONG_MAX,
                            CHAR_MAX,        char8_t{255},
                            char16_t{65535}, char32_t{0xffffffffU},
                            WCHAR_MAX},
                   true);
}

TEST_CASE("pfr_codec round-trips float and double bit for bit: NaN, infinities, -0.0") {
  check_random_round_trips<floats>(4, 2000, false);
  for (const double d :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::signaling_NaN(),
        std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(), -0.0,
        0.0, std::numeric_limits<double>::denorm_min(), std::numeric_limits<double>::max(),
        std::numeric_limits<double>::lowest(), std::bit_cast<double>(0x7ff0000000000123ULL)}) {
    const floats f{static_cast<float>(d), d};
    const auto back = decode<floats>(encode(f));
    CHECK(std::bit_cast<std::uint64_t>(back.d) == std::bit_cast<std::uint64_t>(d));
    CHECK(std::bit_cast<std::uint32_t>(back.f) == std::bit_cast<std::uint32_t>(f.f));
  }
  const auto neg_zero = decode<double>(encode(-0.0));
  CHECK(std::signbit(neg_zero));
}

TEST_CASE("pfr_codec round-trips bool, enums and std::byte") {
  check_random_round_trips<scalars>(5, 500);
  check_round_trip(scalars{true, color::blue, plain_b, wide_enum::low, std::byte{0xff}}, true);
  check_round_trip(scalars{false, static_cast<color>(200), plain_a, wide_enum{}, std::byte{0}},
                   true);
}

TEST_CASE("pfr_codec round-trips strings with NULs, empty and long strings") {
  check_random_round_trips<std::string>(6, 300);
  check_round_trip(std::string(), true);
  check_round_trip(std::string("\0\0a\0", 4), true);
  check_round_trip(std::string(300000, '\0'), true);
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  check_round_trip(all_bytes, true);
}

TEST_CASE("pfr_codec round-trips vectors, optionals and arrays, nested") {
  check_random_round_trips<containers>(7, 300);
  check_round_trip(containers{}, true);
  containers c{};
  c.maybe_maybe = std::optional<std::string>();  // engaged, holding a disengaged optional
  c.sparse = {std::nullopt, leaf{1, std::nullopt}, std::nullopt};
  c.maybe_leaves = std::vector<leaf>();
  c.nested = {{}, {""}, {"a", std::string(1, '\0')}};
  check_round_trip(c, true);
  const auto back = decode<containers>(encode(c));
  REQUIRE(back.maybe_maybe.has_value());
  CHECK_FALSE(back.maybe_maybe->has_value());
  REQUIRE(back.maybe_leaves.has_value());
  CHECK(back.maybe_leaves->empty());
}

TEST_CASE("pfr_codec round-trips chrono durations and time points") {
  check_random_round_trips<times>(8, 500, false);
  const times t{std::chrono::milliseconds(-1),
                std::chrono::nanoseconds(std::numeric_limits<std::int64_t>::min()),
                std::chrono::duration<std::int32_t, std::ratio<3600>>(7),
                std::chrono::duration<double>(0.25),
                std::chrono::system_clock::now(),
                sys_ms(std::chrono::milliseconds(1700000000123)),
                std::chrono::steady_clock::now(),
                std::nullopt};
  const auto back = decode<times>(encode(t));
  CHECK(back.ms == t.ms);
  CHECK(back.ns == t.ns);
  CHECK(back.hours32 == t.hours32);
  CHECK(back.seconds_f == t.seconds_f);
  CHECK(back.now == t.now);
  CHECK(back.at == t.at);
  CHECK(back.mono == t.mono);
  CHECK_FALSE(back.maybe_at.has_value());
}

TEST_CASE("pfr_codec round-trips deeply nested aggregates") {
  check_random_round_trips<outer>(9, 200);
  check_round_trip(outer{}, true);
}

/// Round trips of a struct holding std::array<std::string, N>, except with g++ 12.
template <class Job>
void check_string_arrays() {
  if constexpr (!durable::detail::pfr_gcc_array_workaround) {
    check_round_trip(Job{{"x", "", "zz"}, 3, {leaf{1, "a"}, leaf{2, {}}}}, true);
    check_random_round_trips<Job>(10, 100);
  }
}

TEST_CASE("pfr_codec handles empty jobs, const members and arrays of strings inside vectors") {
  CHECK(encode(empty_job{}).empty());
  check_round_trip(empty_job{}, true);
  CHECK_THROWS_AS(static_cast<void>(decode<empty_job>(hex("00"))), durable::decode_error);
  check_round_trip(with_const_member{-7, "seven"}, true);
  check_round_trip(vector_of_string_arrays{{{"a", ""}, {std::string(3, '\0'), "bb"}},
                                           std::array<std::vector<int>, 2>{{{1, 2}, {}}}},
                   true);
  check_string_arrays<string_array_member>();
}

TEST_CASE("pfr_codec round-trips a 16 MiB string") {
  std::string big(16U << 20U, '\0');
  rng_t rng(11);
  for (std::size_t i = 0; i < big.size(); i += 4093) big[i] = static_cast<char>(rng());
  const bytes encoded = encode(big);
  CHECK(encoded.size() == big.size() + 4);  // 16 Mi = 2^24 needs four LEB128 bytes
  CHECK(decode<std::string>(encoded) == big);
}

TEST_CASE("pfr_codec::encode replaces the contents of out") {
  bytes out(1000, std::byte{0xee});
  durable::pfr_codec::encode(std::int32_t{1}, out);
  CHECK(out == hex("01000000"));
  out.assign(2, std::byte{0xee});
  durable::pfr_codec::encode(std::string("abc"), out);
  CHECK(out == hex("03616263"));
}

// ---------------------------------------------------------------------------------------------
// The wire format, byte for byte.

namespace {
struct wire_sample {
  std::uint16_t a;
  std::int32_t b;
  bool c;
  std::string d;
  std::optional<std::int8_t> e;
  std::optional<std::int8_t> f;
  std::vector<std::uint8_t> g;
  double h;
  color i;
  std::array<std::int16_t, 2> j;
  std::chrono::milliseconds k;
  char l;
  float m;
};
}  // namespace

TEST_CASE("pfr_codec writes the documented little-endian, LEB128 layout") {
  const wire_sample s{0x1234,
                      -2,
                      true,
                      "hi",
                      std::int8_t{5},
                      std::nullopt,
                      {1, 2},
                      1.0,
                      color::blue,
                      {{-1, 0x0102}},
                      std::chrono::milliseconds(1000),
                      'A',
                      -2.5F};
  CHECK(encode(s) == hex("3412"              // u16 0x1234
                         "feffffff"          // i32 -2
                         "01"                // bool true
                         "02 6869"           // std::string "hi": length 2, bytes
                         "01 05"             // optional<i8> engaged, 5
                         "00"                // optional<i8> empty
                         "02 0102"           // vector<u8> {1, 2}
                         "000000000000f03f"  // f64 1.0
                         "02"                // enum : u8, blue
                         "ffff 0201"         // array<i16, 2> {-1, 0x0102}
                         "e803000000000000"  // milliseconds(1000), i64
                         "41"                // char 'A'
                         "000020c0"));       // f32 -2.5
  CHECK(decode<wire_sample>(encode(s)).j[1] == 0x0102);

  // LEB128 lengths: 127 takes one byte, 128 two, 300 two (0xac 0x02), 16384 three.
  CHECK(encode(std::string(127, 'x')).size() == 128);
  CHECK(encode(std::string(128, 'x'))[0] == std::byte{0x80});
  CHECK(encode(std::string(128, 'x'))[1] == std::byte{0x01});
  CHECK(encode(std::string(300, 'x'))[0] == std::byte{0xac});
  CHECK(encode(std::string(300, 'x'))[1] == std::byte{0x02});
  CHECK(encode(std::string(16384, 'x')).size() == 16384 + 3);
  CHECK(encode(std::vector<std::int32_t>{-1, 1}) == hex("02 ffffffff 01000000"));
  CHECK(encode(std::vector<bool>{true, false, true}) == hex("03 010001"));
}

// ---------------------------------------------------------------------------------------------
// Fingerprints.

namespace {
enum class fp_color : std::uint8_t { red, green, blue };
struct fp_point {
  std::int32_t x;
  std::int32_t y;
};
struct fp_line {
  std::string sku;
  std::uint32_t quantity;
  double price;
};
struct fp_order {
  std::uint64_t id;
  std::string customer;
  std::vector<fp_line> lines;
  std::optional<sys_ms> shipped;
  fp_color color;
  std::array<std::int16_t, 3> dims;
  std::chrono::seconds ttl;
  bool urgent;
  char grade;
  float weight;
};
struct xy_swapped {
  std::string s;
  std::int32_t i;
};
struct xy_ordered {
  std::int32_t i;
  std::string s;
};
struct flat3 {
  std::int32_t a;
  std::int32_t b;
  std::int32_t c;
};
struct pair_ab {
  std::int32_t a;
  std::int32_t b;
};
struct nested_ab_c {
  pair_ab ab;
  std::int32_t c;
};
struct nested_a_bc {
  std::int32_t a;
  pair_ab bc;
};
}  // namespace

TEST_CASE("pfr_codec fingerprints are pinned: a change here breaks every stored row") {
  // Literal constants: if one changes, existing databases stop decoding.
  static_assert(fp<fp_point>() == 0xf12cd9fbb1e32217ULL);
  static_assert(fp<fp_order>() == 0x81e6de6af3d23c5fULL);
  static_assert(fp<std::string>() == 0xe0f7678d2e82362cULL);
  static_assert(fp<std::int64_t>() == 0x9d1980ded4ffd210ULL);
  CHECK(durable::pfr_codec::description<fp_point>() == "pfr/1:{2:i32,i32}");
  CHECK(durable::pfr_codec::description<fp_order>() ==
        "pfr/1:{10:u64,s,v({3:s,u32,f64}),o(t(system,d(i64,1/1000))),e(u8),a3(i16),"
        "d(i64,1/1),b,c,f32}");
  CHECK(durable::pfr_codec::description<versioned_v2>() == "pfr/1:{1:i32}@2");
  CHECK(durable::pfr_codec::description<one<status_v1>>() == "pfr/1:{1:e(u8)@1}");
  // The fingerprint is FNV-1a 64 of the description.
  CHECK(durable::fnv1a_64(durable::pfr_codec::description<fp_order>()) == fp<fp_order>());
  CHECK(durable::bytes_codec::fingerprint<std::string>() == 0xd32118189323e4a2ULL);
  CHECK(durable::bytes_codec::fingerprint<std::vector<std::byte>>() == 0x5482738e419c66efULL);
  CHECK(durable::bytes_codec::fingerprint<std::vector<std::uint8_t>>() == 0x03b16e57ec4c846eULL);
}

TEST_CASE("pfr_codec fingerprint changes with field types, order, nesting and job_version") {
  static_assert(fp<one<std::int32_t>>() != fp<one<std::uint32_t>>());
  static_assert(fp<one<std::int32_t>>() != fp<one<std::int64_t>>());
  static_assert(fp<one<std::int8_t>>() != fp<one<char>>());
  static_assert(fp<one<std::uint8_t>>() != fp<one<bool>>());
  static_assert(fp<one<float>>() != fp<one<double>>());
  static_assert(fp<one<std::string>>() != fp<one<std::vector<char>>>());
  static_assert(fp<one<std::vector<std::int32_t>>>() != fp<one<std::optional<std::int32_t>>>());
  static_assert(fp<one<std::array<std::int32_t, 2>>>() != fp<one<std::array<std::int32_t, 3>>>());
  static_assert(fp<one<std::uint8_t>>() != fp<one<color>>());
  static_assert(fp<one<std::chrono::seconds>>() != fp<one<std::chrono::milliseconds>>());
  static_assert(fp<one<std::chrono::seconds>>() != fp<one<std::int64_t>>());
  static_assert(fp<one<std::chrono::system_clock::time_point>>() !=
                fp<one<std::chrono::steady_clock::time_point>>());
  static_assert(fp<one<std::chrono::duration<std::int64_t>>>() !=
                fp<one<std::chrono::duration<double>>>());
  static_assert(fp<xy_ordered>() != fp<xy_swapped>());
  static_assert(fp<flat3>() != fp<nested_ab_c>());
  static_assert(fp<nested_ab_c>() != fp<nested_a_bc>());
  static_assert(fp<one<std::int32_t>>() != fp<std::int32_t>());
  static_assert(fp<one<std::int32_t>>() != fp<one<one<std::int32_t>>>());
  // job_version
  static_assert(fp<versioned_v0>() != fp<versioned_v2>());
  static_assert(fp<holds_versioned>() != fp<holds_unversioned>());
  static_assert(fp<one<status_v0>>() != fp<one<status_v1>>());
  // Same layout, same fingerprint: names are not part of it; long and long long are 64 bits
  // on every LP64 platform.
  static_assert(fp<pair_ab>() == fp<fp_point>());
  static_assert(sizeof(long) != sizeof(long long) || fp<one<long>>() == fp<one<long long>>());
  CHECK(fp<versioned_v0>() != fp<versioned_v2>());
}

// ---------------------------------------------------------------------------------------------
// Hostile input.

/// Random values of Job whose encoding is at most 2 KiB (so that every prefix can be tried).
template <class Job>
void check_truncations_of_random_values(std::uint64_t seed, int count) {
  rng_t rng(seed);
  for (int done = 0; done < count;) {
    const Job job = random_value<Job>(rng);
    if (encode(job).size() > 2048) continue;
    check_every_truncation_throws(job);
    ++done;
  }
}

TEST_CASE("pfr_codec: every truncation of an encoded value throws decode_error") {
  // Each prefix is copied into a buffer of its own size, so ASan sees any read past it.
  check_truncations_of_random_values<containers>(12, 30);
  check_truncations_of_random_values<outer>(13, 30);
  check_truncations_of_random_values<times>(14, 30);
  check_truncations_of_random_values<integers>(15, 30);
  check_every_truncation_throws(wire_sample{});
}

TEST_CASE("pfr_codec: trailing bytes after a complete value throw") {
  bytes b = encode(fp_point{1, 2});
  b.push_back(std::byte{0});
  CHECK_THROWS_WITH_AS(static_cast<void>(decode<fp_point>(b)),
                       "durable: pfr_codec: 1 trailing bytes after a complete value at byte "
                       "offset 8 (input is 9 bytes)",
                       durable::decode_error);
  CHECK_THROWS_AS(static_cast<void>(decode<std::string>(hex("0161 00"))), durable::decode_error);
}

TEST_CASE("pfr_codec: bool and optional presence bytes other than 0 and 1 throw") {
  CHECK_THROWS_WITH_AS(static_cast<void>(decode<one<bool>>(hex("02"))),
                       "durable: pfr_codec: invalid bool at byte offset 0: byte 2, not 0 or 1 "
                       "(input is 1 bytes)",
                       durable::decode_error);
  CHECK_THROWS_AS(static_cast<void>(decode<one<bool>>(hex("ff"))), durable::decode_error);
  CHECK_THROWS_AS(static_cast<void>(decode<std::vector<bool>>(hex("02 0102"))),
                  durable::decode_error);
  CHECK_THROWS_AS(static_cast<void>(decode<std::array<bool, 2>>(hex("0100 02"))),
                  durable::decode_error);
  CHECK_THROWS_WITH_AS(static_cast<void>(decode<std::optional<std::int8_t>>(hex("0205"))),
                       "durable: pfr_codec: invalid std::optional presence byte at byte offset "
                       "0: byte 2, not 0 or 1 (input is 2 bytes)",
                       durable::decode_error);
  CHECK(decode<one<bool>>(hex("01")).value);
}

TEST_CASE("pfr_codec: a length claiming gigabytes throws at once, allocating nothing for it") {
  // std::string of 2^40 bytes, then three bytes of "content".
  const bytes huge_string = hex("8080808080 20 616263");
  largest_allocation = 0;
  CHECK_THROWS_WITH_AS(static_cast<void>(decode<std::string>(huge_string)),
                       "durable: pfr_codec: invalid std::string length at byte offset 0: claims "
                       "1099511627776 bytes but only 3 bytes are left (input is 9 bytes)",
                       durable::decode_error);
  if (DURABLE_TEST_TRACK_ALLOCATIONS) CHECK(largest_allocation.load() < 4096);

  // A vector of 2^62 int64 and one of 2^32 strings: rejected by count * minimum size.
  const bytes huge_vector = hex("8080808080808080 40 0102030405060708");
  largest_allocation = 0;
  CHECK_THROWS_AS(static_cast<void>(decode<std::vector<std::int64_t>>(huge_vector)),
                  durable::decode_error);
  CHECK_THROWS_AS(static_cast<void>(decode<std::vector<std::string>>(hex("8080808010 00"))),
                  durable::decode_error);
  CHECK_THROWS_AS(static_cast<void>(decode<std::vector<fp_point>>(hex("02 0000000000000000"))),
                  durable::decode_error);
  if (DURABLE_TEST_TRACK_ALLOCATIONS) CHECK(largest_allocation.load() < 4096);

  // Exactly as many elements as the bytes can hold is fine.
  CHECK(decode<std::vector<std::string>>(hex("03 000000")).size() == 3);
}

TEST_CASE("pfr_codec: malformed LEB128 lengths throw") {
  // Not in shortest form.
  CHECK_THROWS_AS(static_cast<void>(decode<std::string>(hex("8000"))), durable::decode_error);
  CHECK_THROWS_AS(static_cast<void>(decode<std::string>(hex("818000 61"))), durable::decode_error);
  // Overflows 64 bits (ten bytes, last > 1) or runs past ten bytes.
  CHECK_THROWS_AS(static_cast<void>(decode<std::string>(hex("ffffffffffffffffff02"))),
                  durable::decode_error);
  CHECK_THROWS_AS(static_cast<void>(decode<std::string>(hex("ffffffffffffffffff8001"))),
                  durable::decode_error);
  // Unterminated.
  CHECK_THROWS_AS(static_cast<void>(decode<std::string>(hex("ff"))), durable::decode_error);
}

TEST_CASE("pfr_codec: error messages say what was decoded and where") {
  CHECK_THROWS_WITH_AS(static_cast<void>(decode<fp_point>(hex("0100000002"))),
                       "durable: pfr_codec: input ends while decoding i32 at byte offset 4 "
                       "(needs 4 bytes, 1 left; input is 5 bytes)",
                       durable::decode_error);
  CHECK_THROWS_WITH_AS(static_cast<void>(decode<std::optional<double>>(hex("01 0000"))),
                       "durable: pfr_codec: input ends while decoding f64 at byte offset 1 "
                       "(needs 8 bytes, 2 left; input is 3 bytes)",
                       durable::decode_error);
  CHECK_THROWS_WITH_AS(static_cast<void>(decode<std::string>(bytes{})),
                       "durable: pfr_codec: input ends while decoding std::string length at "
                       "byte offset 0 (needs 1 bytes, 0 left; input is 0 bytes)",
                       durable::decode_error);
}

TEST_CASE("pfr_codec: random garbage never crashes, it decodes or throws decode_error") {
  rng_t rng(13);
  for (int i = 0; i < 3000; ++i) {
    bytes garbage(rng() % 64);
    for (auto& b : garbage) b = static_cast<std::byte>(rng());
    try {
      static_cast<void>(decode<containers>(garbage));
    } catch (const durable::decode_error&) {
    }
    try {
      static_cast<void>(decode<outer>(garbage));
    } catch (const durable::decode_error&) {
    }
  }
  // Flipping any single byte of a valid encoding: same rule.
  const bytes valid = encode(random_value<containers>(rng));
  for (std::size_t i = 0; i < valid.size(); ++i) {
    bytes flipped = valid;
    flipped[i] ^= std::byte{0xff};
    try {
      static_cast<void>(decode<containers>(flipped));
    } catch (const durable::decode_error&) {
    }
  }
}

// ---------------------------------------------------------------------------------------------
// bytes_codec.

TEST_CASE("bytes_codec passes bytes through unchanged") {
  rng_t rng(14);
  for (int i = 0; i < 200; ++i) {
    const std::string s = random_string(rng);
    bytes out(5, std::byte{0xee});
    durable::bytes_codec::encode(s, out);
    REQUIRE(out.size() == s.size());
    CHECK(std::memcmp(out.data(), s.data(), s.size()) == 0);
    CHECK(durable::bytes_codec::decode<std::string>(out) == s);

    std::vector<std::byte> raw(s.size());
    if (!s.empty()) std::memcpy(raw.data(), s.data(), s.size());
    durable::bytes_codec::encode(raw, out);
    CHECK(out == raw);
    CHECK(durable::bytes_codec::decode<std::vector<std::byte>>(out) == raw);

    std::vector<std::uint8_t> u8(s.begin(), s.end());
    durable::bytes_codec::encode(u8, out);
    CHECK(out == raw);
    CHECK(durable::bytes_codec::decode<std::vector<std::uint8_t>>(out) == u8);
  }
  bytes out(3, std::byte{1});
  durable::bytes_codec::encode(std::string(), out);
  CHECK(out.empty());
  CHECK(durable::bytes_codec::decode<std::string>({}).empty());
  const std::string binary("\0\xff\x80\n\0", 5);
  durable::bytes_codec::encode(binary, out);
  CHECK(durable::bytes_codec::decode<std::string>(out) == binary);
}

TEST_CASE("bytes_codec fingerprints differ per job type and from pfr_codec's") {
  constexpr std::uint64_t s = durable::bytes_codec::fingerprint<std::string>();
  constexpr std::uint64_t b = durable::bytes_codec::fingerprint<std::vector<std::byte>>();
  constexpr std::uint64_t u = durable::bytes_codec::fingerprint<std::vector<std::uint8_t>>();
  static_assert(s != b && b != u && s != u);
  static_assert(s != durable::pfr_codec::fingerprint<std::string>());
  CHECK(s != 0);
}

// ---------------------------------------------------------------- the attempt-history reader

TEST_CASE("history reader: reads what durable writes, byte for byte, NUL and UTF-8 included") {
  using durable::detail::history_json;
  using durable::detail::read_history;
  constexpr char bytes[] = "a\0b \"quoted\" \\ \n\t\x01 caf\xc3\xa9 \xff";
  const std::vector<durable::attempt_record> history{
      {1, "timeout", std::string{bytes, sizeof bytes - 1},
       durable::time_point{std::chrono::milliseconds{1767225600123}}},
      {2, std::string{}, std::string{}, durable::min_time},
      {std::numeric_limits<std::int64_t>::max(), "t", "m", durable::max_time},
  };
  const auto back = read_history(history_json(history));
  REQUIRE(back.size() == history.size());
  for (std::size_t i = 0; i < back.size(); ++i) {
    CHECK(back[i].attempt == history[i].attempt);
    CHECK(back[i].error_type == history[i].error_type);
    CHECK(back[i].message == history[i].message);
    CHECK(back[i].at == history[i].at);
  }
  CHECK(read_history("[]").empty());
  // What SQLite's json_object writes, with spaces, escapes and members durable does not know.
  const auto sql = read_history(
      R"( [ {"attempt" : -3, "type":"\u0074\u00e9\ud83d\ude00","message":"x\u0000y\/", )"
      R"("extra":{"a":[1,2.5e3,true,null,"s"]}, "at": 5} ] )");
  REQUIRE(sql.size() == 1);
  CHECK(sql[0].attempt == -3);
  CHECK(sql[0].error_type == "t\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(sql[0].message == std::string{"x\0y/", 4});
  CHECK(sql[0].at == durable::time_point{std::chrono::milliseconds{5}});
}

TEST_CASE("history reader: damaged text reads as one damaged_history record that keeps it") {
  for (const std::string& text : std::vector<std::string>{
           "", "not json", "{}", "[1]", "[{\"attempt\":1.5}]",
           "[{\"attempt\":99999999999999999999}]", "[{\"type\":3}]", "[{}", "[{}] x",
           "[{\"m\":\"\\q\"}]", "[{\"message\":\"\\u12\"}]",
           std::string(100, '[') + std::string(100, ']'),
           "[{\"x\":" + std::string(100, '[') + std::string(100, ']') + "}]"}) {
    const auto h = durable::detail::read_history(text);
    REQUIRE_MESSAGE(h.size() == 1, text);
    CHECK(h[0].error_type == durable::damaged_history_error);
    CHECK(h[0].message == std::string{durable::detail::damaged_history_message} + text);
  }
}
