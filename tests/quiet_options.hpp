// SPDX-License-Identifier: MIT
#pragma once
// Options for tests: no logging, and the given manual clock when there is one.

#include <durable/clock.hpp>
#include <durable/dead_letter_queue.hpp>
#include <durable/queue.hpp>

namespace durable_test {

/// Queue options that log nothing and read `clock` when given.
inline durable::queue_options quiet_queue(const durable::manual_clock* clock = nullptr) {
  durable::queue_options o;
  o.log = nullptr;
  if (clock != nullptr) o.clock = clock->source();
  return o;
}

/// DeadLetterQueue options that log nothing and read `clock` when given.
inline durable::dead_letter_options quiet_dlq(const durable::manual_clock* clock = nullptr) {
  durable::dead_letter_options o;
  o.log = nullptr;
  if (clock != nullptr) o.clock = clock->source();
  return o;
}

}  // namespace durable_test
