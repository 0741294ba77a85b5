// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <durable/postgres.hpp>

#include "postgres_support.hpp"

TEST_CASE("placeholder") { CHECK(true); }
