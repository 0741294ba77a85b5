// SPDX-License-Identifier: MIT
// The doctest main every test executable shares. On the postgres backend it first points
// temp_dir::db() at fresh schemas of the test server (tests/postgres_support.hpp).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "support.hpp"
#ifdef DURABLE_TEST_WITH_POSTGRES
#include "postgres_support.hpp"
#endif

int main(int argc, char** argv) {
#ifdef DURABLE_TEST_WITH_POSTGRES
  if (durable_test::backend() == "postgres") durable_test::use_postgres();
#endif
  doctest::Context context(argc, argv);
  return context.run();
}
