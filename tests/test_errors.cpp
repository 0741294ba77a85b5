// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <system_error>
#include <typeinfo>
#include <vector>

#include <durable/errors.hpp>

namespace {

// User exception types, with their traits specialized next to them.
struct payment_timeout : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct card_declined : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct gateway_timeout : payment_timeout {  // derived from a listed type, not listed itself
  using payment_timeout::payment_timeout;
};
struct plain_struct {
  int code = 7;
};

template <class E>
std::exception_ptr thrown(E e) {
  return std::make_exception_ptr(std::move(e));
}

}  // namespace

template <>
struct durable::error_traits<payment_timeout> {
  static constexpr std::string_view name = "payments.timeout";
  static constexpr durable::error_kind kind = durable::error_kind::transient;
  static constexpr durable::redrive_policy redrive = durable::redrive_policy::safe;
  static constexpr durable::retry_override retry{.max_attempts = 10,
                                                 .base_delay = std::chrono::seconds{5}};
};
template <>
struct durable::error_traits<card_declined> {
  static constexpr std::string_view name = "payments.declined";
  static constexpr durable::error_kind kind = durable::error_kind::permanent;
  static constexpr durable::redrive_policy redrive = durable::redrive_policy::never;
};

namespace {

using durable::error_kind;
using durable::redrive_policy;

using payment_errors = durable::error_list<payment_timeout, card_declined, durable::default_errors>;

static_assert(durable::classified_error<payment_timeout>);
static_assert(durable::classified_error<std::runtime_error>);
static_assert(!durable::classified_error<plain_struct>);
static_assert(!durable::classified_error<gateway_timeout>);
static_assert(durable::error_classifier<payment_errors>);
static_assert(durable::error_classifier<durable::std_errors>);

TEST_CASE("the first listed type that matches classifies the exception") {
  const auto c = payment_errors::classify(thrown(payment_timeout("gateway slow")));
  CHECK(c.name == "payments.timeout");
  CHECK(c.kind == error_kind::transient);
  CHECK(c.redrive == redrive_policy::safe);
  CHECK(c.retry.max_attempts == 10);
  CHECK(c.retry.base_delay == std::chrono::seconds{5});
  CHECK_FALSE(c.retry.multiplier.has_value());
  CHECK(c.message == "gateway slow");
  CHECK(c.context.empty());

  const auto d = payment_errors::classify(thrown(card_declined("insufficient funds")));
  CHECK(d.name == "payments.declined");
  CHECK(d.kind == error_kind::permanent);
  CHECK(d.redrive == redrive_policy::never);
  CHECK(d.retry == durable::retry_override{});

  // payment_timeout is a std::runtime_error too; the earlier entry wins.
  using runtime_first = durable::error_list<card_declined, std::runtime_error>;
  CHECK(runtime_first::classify(thrown(payment_timeout("x"))).name == "std::runtime_error");
}

TEST_CASE("a derived type is matched by its listed base") {
  const auto c = payment_errors::classify(thrown(gateway_timeout("504")));
  CHECK(c.name == "payments.timeout");
  CHECK(c.message == "504");

  const auto e = durable::std_errors::classify(thrown(std::range_error("too big")));
  CHECK(e.name == "std::runtime_error");
  CHECK(e.kind == error_kind::transient);
  CHECK(e.message == "too big");
}

TEST_CASE("unlisted exceptions get the default classification") {
  using only_declined = durable::error_list<card_declined>;

  SUBCASE("a std::exception keeps its what()") {
    const auto c = only_declined::classify(thrown(std::runtime_error("disk on fire")));
    CHECK(c.name == "unknown");
    CHECK(c.kind == error_kind::transient);
    CHECK(c.redrive == redrive_policy::optional);
    CHECK(c.retry == durable::retry_override{});
    CHECK(c.message == "disk on fire");
  }
  SUBCASE("an int") {
    const auto c = payment_errors::classify(thrown(42));
    CHECK(c.name == "unknown");
    CHECK(c.kind == error_kind::transient);
    CHECK(c.message == "exception of a type not derived from std::exception");
  }
  SUBCASE("a plain struct") {
    const auto c = payment_errors::classify(thrown(plain_struct{}));
    CHECK(c.name == "unknown");
    CHECK(c.message == "exception of a type not derived from std::exception");
  }
  SUBCASE("a C string and a std::string keep their text") {
    CHECK(payment_errors::classify(thrown("legacy failure")).message == "legacy failure");
    CHECK(payment_errors::classify(thrown(std::string("text"))).message == "text");
  }
  SUBCASE("an empty exception_ptr") {
    const auto c = payment_errors::classify(std::exception_ptr{});
    CHECK(c.name == "unknown");
    CHECK(c.message == "no exception (empty std::exception_ptr)");
  }
  SUBCASE("an empty list classifies everything by the default") {
    CHECK(durable::error_list<>::classify(thrown(card_declined("x"))).name == "unknown");
  }
}

struct bad_input_by_default {
  static constexpr std::string_view name = "unclassified";
  static constexpr durable::error_kind kind = durable::error_kind::permanent;
  static constexpr durable::redrive_policy redrive = durable::redrive_policy::never;
  static constexpr durable::retry_override retry{.max_attempts = 1};
};

TEST_CASE("unlisted_as replaces the default classification") {
  using strict = durable::error_list<payment_timeout>::unlisted_as<bad_input_by_default>;
  static_assert(durable::error_classifier<strict>);

  const auto c = strict::classify(thrown(std::logic_error("bug")));
  CHECK(c.name == "unclassified");
  CHECK(c.kind == error_kind::permanent);
  CHECK(c.redrive == redrive_policy::never);
  CHECK(c.retry.max_attempts == 1);
  CHECK(c.message == "bug");
  CHECK(strict::classify(thrown(42)).name == "unclassified");
  // Listed types are unaffected.
  CHECK(strict::classify(thrown(payment_timeout("t"))).name == "payments.timeout");
}

TEST_CASE("nested lists are spliced in order") {
  using inner = durable::error_list<card_declined>;
  using outer = durable::error_list<payment_timeout, inner, durable::std_errors>;
  CHECK(outer::classify(thrown(card_declined("x"))).name == "payments.declined");
  CHECK(outer::classify(thrown(std::invalid_argument("x"))).name == "std::invalid_argument");
  CHECK(outer::classify(thrown(42)).name == "unknown");
}

TEST_CASE("nested exceptions are rendered as context, outermost cause first") {
  std::exception_ptr p;
  try {
    try {
      try {
        throw durable::busy_error("database is locked", 5, 5, "jobs.db");
      } catch (...) {
        std::throw_with_nested(payment_timeout("charging order 7"));
      }
    } catch (...) {
      std::throw_with_nested(std::runtime_error("processing job 12"));
    }
  } catch (...) {
    p = std::current_exception();
  }
  const auto c = payment_errors::classify(p);
  CHECK(c.name == "std::runtime_error");
  CHECK(c.message == "processing job 12");
  REQUIRE(c.context.size() == 2);
  CHECK(c.context[0] == "payments.timeout: charging order 7");
  CHECK(c.context[1] == "durable::busy_error: database is locked");
  CHECK(c.context_text() ==
        "payments.timeout: charging order 7\ndurable::busy_error: database is locked");
}

TEST_CASE("a non-std exception nested inside a std one") {
  std::exception_ptr p;
  try {
    try {
      throw 42;
    } catch (...) {
      std::throw_with_nested(std::invalid_argument("bad order"));
    }
  } catch (...) {
    p = std::current_exception();
  }
  const auto c = payment_errors::classify(p);
  CHECK(c.name == "std::invalid_argument");
  CHECK(c.kind == error_kind::permanent);
  REQUIRE(c.context.size() == 1);
  CHECK(c.context[0] == "unknown: exception of a type not derived from std::exception");
}

TEST_CASE("a very deep nested chain is cut off") {
  std::exception_ptr p = thrown(std::runtime_error("root"));
  for (int i = 0; i < 40; ++i) {
    try {
      try {
        std::rethrow_exception(p);
      } catch (...) {
        std::throw_with_nested(std::runtime_error("level " + std::to_string(i)));
      }
    } catch (...) {
      p = std::current_exception();
    }
  }
  const auto c = durable::std_errors::classify(p);
  CHECK(c.message == "level 39");
  REQUIRE(c.context.size() == 33);
  CHECK(c.context.front() == "std::runtime_error: level 38");
  CHECK(c.context.back() == "... (deeper nested exceptions omitted)");
}

TEST_CASE("shipped traits for standard exception types") {
  struct expected {
    std::exception_ptr error;
    std::string_view name;
    error_kind kind;
    redrive_policy redrive;
  };
  const std::vector<expected> table = {
      {thrown(std::invalid_argument("m")), "std::invalid_argument", error_kind::permanent,
       redrive_policy::never},
      {thrown(std::domain_error("m")), "std::domain_error", error_kind::permanent,
       redrive_policy::never},
      {thrown(std::length_error("m")), "std::length_error", error_kind::permanent,
       redrive_policy::never},
      {thrown(std::out_of_range("m")), "std::out_of_range", error_kind::permanent,
       redrive_policy::optional},
      {thrown(std::logic_error("m")), "std::logic_error", error_kind::permanent,
       redrive_policy::optional},
      {thrown(std::system_error(std::make_error_code(std::errc::connection_refused), "m")),
       "std::system_error", error_kind::transient, redrive_policy::safe},
      {thrown(std::runtime_error("m")), "std::runtime_error", error_kind::transient,
       redrive_policy::safe},
      {thrown(std::bad_alloc()), "std::bad_alloc", error_kind::transient, redrive_policy::safe},
      {thrown(std::bad_cast()), "std::exception", error_kind::transient, redrive_policy::optional},
  };
  for (const auto& row : table) {
    const auto c = durable::std_errors::classify(row.error);
    CAPTURE(row.name);
    CHECK(c.name == row.name);
    CHECK(c.kind == row.kind);
    CHECK(c.redrive == row.redrive);
    CHECK_FALSE(c.message.empty());
  }
}

TEST_CASE("shipped traits for durable's own exception types") {
  const auto busy = durable::default_errors::classify(
      thrown(durable::busy_error("durable: database is locked", 5, 5, "a.db")));
  CHECK(busy.name == "durable::busy_error");
  CHECK(busy.kind == error_kind::transient);
  CHECK(busy.redrive == redrive_policy::safe);

  const auto sqlite = durable::default_errors::classify(
      thrown(durable::sqlite_error("durable: disk I/O error", 10, 10, "a.db")));
  CHECK(sqlite.name == "durable::sqlite_error");
  CHECK(sqlite.kind == error_kind::transient);

  const auto decode =
      durable::default_errors::classify(thrown(durable::decode_error("durable: truncated")));
  CHECK(decode.name == "durable::decode_error");
  CHECK(decode.kind == error_kind::permanent);
  CHECK(decode.redrive == redrive_policy::never);
  CHECK(decode.message == "durable: truncated");

  const auto schema =
      durable::default_errors::classify(thrown(durable::schema_error("durable: newer", 9, 1, "")));
  CHECK(schema.name == "durable::schema_error");
  CHECK(schema.kind == error_kind::permanent);

  const auto argument = durable::default_errors::classify(
      thrown(durable::invalid_argument_error("queue_name", "durable: empty queue name")));
  CHECK(argument.name == "durable::invalid_argument_error");
  CHECK(argument.kind == error_kind::permanent);
  CHECK(argument.redrive == redrive_policy::never);

  const auto base = durable::default_errors::classify(thrown(durable::error("durable: other")));
  CHECK(base.name == "durable::error");
  CHECK(base.kind == error_kind::transient);
}

TEST_CASE("to_string names every enumerator") {
  CHECK(durable::to_string(error_kind::transient) == "transient");
  CHECK(durable::to_string(error_kind::permanent) == "permanent");
  CHECK(durable::to_string(redrive_policy::safe) == "safe");
  CHECK(durable::to_string(redrive_policy::optional) == "optional");
  CHECK(durable::to_string(redrive_policy::never) == "never");
  CHECK(durable::to_string(durable::jitter_mode::none) == "none");
  CHECK(durable::to_string(durable::jitter_mode::full) == "full");
  CHECK(durable::to_string(durable::jitter_mode::equal) == "equal");
}

}  // namespace
