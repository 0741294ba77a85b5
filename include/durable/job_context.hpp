// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// `durable::job_context`: what a Worker's handler learns about the job it runs, and the
/// stop token that asks it to finish early. See docs/worker.md#handlers.

#include <concepts>
#include <cstdint>
#include <exception>
#include <optional>
#include <stop_token>
#include <string_view>
#include <type_traits>
#include <utility>

#include "durable/clock.hpp"
#include "durable/job.hpp"

namespace durable::inline v0 {

/// One running attempt of a job, as its handler sees it. A handler takes it as
/// `(const Job&, job_context&)`; a batch handler gets one per job.
// NOLINTBEGIN(cppcoreguidelines-non-private-member-variables-in-classes): plain fields
// are the handler's view of the job; the member functions only act on them.
struct job_context {
  /// The job's id.
  job_id id = 0;
  /// The job's key, if it has one.
  std::optional<job_key> key{};
  /// Which attempt this is, 1 for the first.
  std::int64_t attempt = 0;
  /// Attempts the job gets, as stored with it.
  std::int64_t max_attempts = 0;
  /// When the job was first pushed.
  time_point enqueued_at{};
  /// When the job was first claimed (this attempt's claim on attempt 1).
  time_point first_run_at{};
  /// The queue's name.
  std::string_view queue{};
  /// When this attempt's timeout ends (the worker's clock); durable::max_time without one.
  time_point deadline = max_time;
  /// Fires when the worker stops, when the job's lease is lost to another claimer, and at
  /// the deadline. A handler that sees it should return (the job is then acked) or throw
  /// (the failure is classified as usual) soon.
  std::stop_token stop{};

  /// Marks this job failed with `error`, classified as if the handler had thrown it: for
  /// batch handlers, which report per job (a job not marked succeeded). A per-job handler
  /// may call it instead of throwing. A null `error` (std::current_exception() outside a
  /// catch block) still fails the job, classified as unlisted ("no exception (empty
  /// std::exception_ptr)").
  void fail(std::exception_ptr error) noexcept {
    error_ = std::move(error);
    failed_ = true;
  }
  /// As above, with an exception object.
  template <class E>
  requires(!std::same_as<std::remove_cvref_t<E>, std::exception_ptr>) void fail(E&& error) {
    fail(std::make_exception_ptr(std::forward<E>(error)));
  }
  /// True once fail() was called.
  [[nodiscard]] bool failed() const noexcept { return failed_; }
  /// The failure given to fail(); null when none (or when fail() was given null).
  [[nodiscard]] const std::exception_ptr& failure() const noexcept { return error_; }

 private:
  std::exception_ptr error_;
  bool failed_ = false;
};
// NOLINTEND(cppcoreguidelines-non-private-member-variables-in-classes)

}  // namespace durable::inline v0
