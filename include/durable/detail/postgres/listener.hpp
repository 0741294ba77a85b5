// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Wake-ups across processes and hosts: a thread with its own connection that LISTENs on
/// durable's push channel and reports each push made by another session into this
/// database's schema. Part of the PostgreSQL layer.

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "durable/detail/postgres/connection.hpp"
#include "durable/detail/postgres/schema.hpp"

namespace durable::inline v0::detail::postgres {

/// Listens for pushes on a connection of its own, started by the first watch(). When the
/// connection breaks it reconnects (waiting 50 ms, doubling up to 2 s between attempts)
/// and then reports "" (any queue may have changed while it was away).
class listener {
 public:
  /// `own` tells whether a server process is one of this backend's sessions, whose pushes
  /// the engine already reported.
  listener(const pool& p, std::function<bool(int)> own)
      : pool_(p), own_(std::move(own)), owner_(getpid()) {}
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;
  listener(listener&&) = delete;
  listener& operator=(listener&&) = delete;
  ~listener() {
    if (!thread_) return;
    if (owner_ != getpid()) {
      // A forked child has no such thread: leave the handle (joining it would hang).
      static_cast<void>(thread_.release());
      return;
    }
    std::uint64_t one = 1;
    static_cast<void>(write(wake_, &one, sizeof one));
    thread_->join();
    close(wake_);
  }

  /// Calls `on_push(queue)` for each push by another session from now on ("" after a
  /// reconnect); an empty function stops the calls, and when it returns no call runs.
  void watch(std::function<void(std::string_view)> on_push) {
    std::lock_guard lock{mutex_};
    callback_ = std::move(on_push);
    if (callback_ && !thread_) {
      wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (wake_ < 0) return;  // no wake-ups: workers poll, as on SQLite
      thread_ = std::make_unique<std::thread>([this] { run(); });
    }
  }

 private:
  void deliver(std::string_view queue) {
    std::lock_guard lock{mutex_};
    if (callback_) callback_(queue);
  }

  /// Waits up to `timeout` for a stop request; true when stopping.
  [[nodiscard]] bool stop_requested(std::chrono::milliseconds timeout) const {
    pollfd fd{wake_, POLLIN, 0};
    return poll(&fd, 1, static_cast<int>(timeout.count())) > 0;
  }

  void run() {
    std::chrono::milliseconds backoff{50};
    std::unique_ptr<connection> conn;
    std::string schema;
    for (;;) {
      if (!conn) {
        try {
          conn = std::make_unique<connection>(pool_.conninfo(), pool_.target(), pool_.options());
          conn->doing("listening for pushes");
          conn->exec(fmt::format("LISTEN {}", push_channel).c_str(), conn->doing());
          schema = conn->query("SELECT coalesce(current_schema(), '')").text_or_empty(0, 0);
          backoff = std::chrono::milliseconds{50};
          deliver("");
        } catch (const std::exception&) {
          conn.reset();
          if (stop_requested(backoff)) return;
          backoff = std::min(backoff * 2, std::chrono::milliseconds{2000});
          continue;
        }
      }
      std::array<pollfd, 2> fds{pollfd{PQsocket(conn->handle()), POLLIN, 0},
                                pollfd{wake_, POLLIN, 0}};
      if (poll(fds.data(), fds.size(), -1) < 0) continue;  // EINTR
      if ((fds[1].revents & POLLIN) != 0) return;
      if (PQconsumeInput(conn->handle()) == 0 || conn->broken()) {
        conn.reset();
        continue;
      }
      while (PGnotify* n = PQnotifies(conn->handle())) {
        const std::string_view payload{n->extra};
        const auto space = payload.find(' ');
        const bool ours = space != std::string_view::npos && payload.substr(space + 1) == schema;
        if (ours && !own_(n->be_pid)) deliver(payload.substr(0, space));
        PQfreemem(n);
      }
    }
  }

  const pool& pool_;
  std::function<bool(int)> own_;
  pid_t owner_;
  std::mutex mutex_;  // guards callback_ and thread_ start
  std::function<void(std::string_view)> callback_;
  int wake_ = -1;
  std::unique_ptr<std::thread> thread_;
};

}  // namespace durable::inline v0::detail::postgres
