// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// `durable::stop_signals`: turns SIGINT and SIGTERM into a std::stop_token, so a Worker
/// run as a process stops gracefully:
///
///     durable::stop_signals signals;             // first, before any thread starts
///     return worker.run(signals.token()) ? 0 : 1; // drains, then returns
///
/// See docs/worker.md#running-as-a-process. POSIX only.

#include <pthread.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): sigaction is POSIX

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <initializer_list>
#include <stop_token>
#include <system_error>
#include <thread>

#include "durable/exceptions.hpp"

namespace durable::inline v0 {

/// While alive, the given signals (SIGINT and SIGTERM by default) no longer end the
/// process: the first one requests a stop on token(); a second one ends the process at
/// once with status 128 + signal (as a shell reports a signal death; claimed jobs come
/// back by lease expiry). Blocks the signals in the constructing thread and so in every
/// thread started after it (create it at the top of main, before other threads), and waits
/// for them on a thread of its own. The destructor restores the constructing thread's
/// signal mask; call it on that thread.
class stop_signals {
 public:
  /// Handles SIGINT and SIGTERM. Throws std::system_error if the mask cannot be set.
  stop_signals() : stop_signals({SIGINT, SIGTERM}) {}

  /// Handles `signals`. Throws invalid_argument_error for an empty list, std::system_error
  /// if the mask cannot be set.
  explicit stop_signals(std::initializer_list<int> signals) {
    if (signals.size() == 0) {
      throw invalid_argument_error("signals",
                                   "durable: invalid argument: stop_signals needs a signal");
    }
    sigemptyset(&set_);
    for (const int s : signals) sigaddset(&set_, s);
    if (const int rc = pthread_sigmask(SIG_BLOCK, &set_, &previous_); rc != 0) {
      throw std::system_error(rc, std::generic_category(),
                              "durable: stop_signals: pthread_sigmask");
    }
    wake_ = *signals.begin();
    waiter_ = std::thread{[this] { wait(); }};
  }

  stop_signals(const stop_signals&) = delete;
  stop_signals& operator=(const stop_signals&) = delete;
  stop_signals(stop_signals&&) = delete;
  stop_signals& operator=(stop_signals&&) = delete;

  /// Stops waiting and restores the signal mask of the constructing thread.
  ~stop_signals() {
    closing_ = true;
    pthread_kill(waiter_.native_handle(), wake_);  // blocked there: sigwait takes it
    waiter_.join();
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }

  /// Requested when the first signal arrives.
  [[nodiscard]] std::stop_token token() const noexcept { return source_.get_token(); }

  /// The first signal received; 0 until one arrives.
  [[nodiscard]] int received() const noexcept { return received_.load(); }

 private:
  void wait() {
    for (;;) {
      int signal = 0;
      if (sigwait(&set_, &signal) != 0) continue;
      if (closing_) return;
      if (received_.load() != 0) std::_Exit(128 + signal);  // a second signal: stop now
      received_ = signal;
      source_.request_stop();
    }
  }

  sigset_t set_{};
  sigset_t previous_{};
  int wake_ = SIGTERM;
  std::atomic<bool> closing_{false};
  std::atomic<int> received_{0};
  std::stop_source source_;
  std::thread waiter_;
};

}  // namespace durable::inline v0
