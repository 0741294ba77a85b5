// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Group commit on the writer connection. Concurrent write calls from threads of one
/// process are merged into one transaction, with no timer: a call queues itself; if no
/// transaction is running, its thread becomes the leader, takes every queued call, runs
/// them in arrival order in one BEGIN IMMEDIATE ... COMMIT, and wakes their threads (one
/// wake-up per call); calls queued meanwhile go into the next transaction, led by the
/// thread of the first of them. When the last transaction held several calls, a new leader
/// first yields the CPU while calls keep arriving (a few times at most): the threads the
/// last transaction woke queue their next calls into this one instead of each leading a
/// transaction of its own.
///
/// Each call returns only after the transaction holding it committed. A call that throws
/// is rolled back to its own savepoint (its counters and ids with it) and gets its own
/// error; the others go on. When the transaction itself fails (BEGIN, COMMIT, or an error
/// after which SQLite rolled the whole transaction back), every call in it gets that
/// error and nothing of it is stored. Part of the SQLite layer.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "durable/detail/sqlite/catalog.hpp"
#include "durable/detail/sqlite/connection.hpp"
#include "durable/detail/sqlite/write_context.hpp"

namespace durable::inline v0::detail::sqlite {

/// The writer of one database file in one process.
class group_commit {
 public:
  /// Writes through `writer`, which nothing else may use while this object lives.
  group_commit(connection& writer, name_cache& names) : writer_(writer), names_(names) {}

  /// Runs `work(write_context&)` in the next group transaction; returns its result once
  /// that transaction committed. `work` may call write_context::discard() to roll back
  /// its own changes and still return normally. Rethrows what `work` threw, or the
  /// transaction's error.
  template <class F>
  auto run(F&& work) {
    using result = std::invoke_result_t<F&, write_context&>;
    if constexpr (std::is_void_v<result>) {
      call_with c{work};
      submit(c);
    } else {
      std::optional<result> out;
      auto store = [&](write_context& ctx) { out.emplace(work(ctx)); };
      call_with c{store};
      submit(c);
      return std::move(*out);
    }
  }

  /// Calls queued and not yet taken into a transaction (for tests: observable progress).
  [[nodiscard]] std::size_t waiting() const {
    std::lock_guard lock{mutex_};
    return queue_.size();
  }
  /// Group transactions run so far, committed or not.
  [[nodiscard]] std::uint64_t transactions() const {
    std::lock_guard lock{mutex_};
    return transactions_;
  }

 private:
  // A call's state: queued until its transaction ran (done), or until it is handed the
  // leadership (lead). Set under the call's own mutex, which the signalling thread holds
  // while it notifies: the waiting thread cannot return (and destroy the call) earlier.
  class call {
   public:
    enum : int { queued, done, lead };
    call() = default;
    virtual ~call() = default;
    call(const call&) = delete;
    call& operator=(const call&) = delete;
    call(call&&) = delete;
    call& operator=(call&&) = delete;
    virtual void run(write_context& ctx) = 0;
    std::exception_ptr error;  // NOLINT(cppcoreguidelines-non-private-member-variables-in-classes)

    void signal(int to) {
      std::lock_guard lock{mutex_};
      state_ = to;
      changed_.notify_one();
    }
    int wait() {
      std::unique_lock lock{mutex_};
      changed_.wait(lock, [&] { return state_ != queued; });
      return state_;
    }

   private:
    std::mutex mutex_;
    std::condition_variable changed_;
    int state_ = queued;
  };

  template <class Fn>
  class call_with final : public call {
   public:
    explicit call_with(Fn& fn) : fn_(fn) {}
    void run(write_context& ctx) override { fn_(ctx); }

   private:
    Fn& fn_;
  };

  // The first caller to find no leader leads; the others wait to be told their call ran,
  // or that they lead the next transaction (only one thread is woken per call).
  void submit(call& c) {
    bool leader = false;
    {
      std::lock_guard lock{mutex_};
      queue_.push_back(&c);
      if (!leading_) leading_ = leader = true;
    }
    if (!leader) leader = c.wait() == call::lead;
    if (leader) {
      if (contended_.load(std::memory_order_relaxed)) let_callers_queue();
      lead();
    }
    if (c.error) std::rethrow_exception(c.error);
  }

  // Yields while other threads are still queuing calls (at most a few times).
  void let_callers_queue() const {
    for (int i = 0; i < 8; ++i) {
      const auto before = waiting();
      std::this_thread::yield();
      if (waiting() == before) return;
    }
  }

  // Runs everything queued in one transaction, tells those calls, and hands the leadership
  // to the thread of the first call queued meanwhile. (Running that next transaction here
  // instead would keep this thread's own caller from queuing its next call into it: two
  // threads would then commit one call at a time.)
  void lead() {
    std::vector<call*> batch;
    {
      std::lock_guard lock{mutex_};
      batch.swap(queue_);
    }
    run_batch(batch);
    call* next = nullptr;
    {
      std::lock_guard lock{mutex_};
      ++transactions_;
      contended_.store(batch.size() > 1, std::memory_order_relaxed);
      if (queue_.empty()) {
        leading_ = false;
      } else {
        next = queue_.front();
      }
    }
    for (call* b : batch) b->signal(call::done);
    if (next != nullptr) next->signal(call::lead);
  }

  void rollback() noexcept {
    if (writer_.in_transaction()) {
      // A failed rollback leaves nothing to do: SQLite rolls back on close anyway.
      sqlite3_exec(writer_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }

  // Runs `batch` in one transaction; never throws: errors go to the calls.
  void run_batch(std::span<call* const> batch) noexcept {
    try {
      writer_.run("BEGIN IMMEDIATE");
      write_context ctx{writer_, names_, cache_};
      if (batch.size() == 1) {
        // Alone in its transaction: no savepoint, the transaction is the call.
        call& c = *batch.front();
        try {
          c.run(ctx);
        } catch (...) {
          c.error = std::current_exception();
          rollback();
          cache_ = {};
          return;
        }
        if (ctx.take_discard()) {
          rollback();
          cache_ = {};
          return;
        }
      } else {
        for (call* c : batch) run_in_savepoint(*c, ctx);
      }
      ctx.flush();
      writer_.run("COMMIT");
      ctx.committed();
    } catch (...) {
      const auto error = std::current_exception();
      rollback();
      cache_ = {};
      for (call* c : batch) {
        if (!c->error) c->error = error;
      }
    }
  }

  void run_in_savepoint(call& c, write_context& ctx) {
    auto saved = ctx.save();
    writer_.run("SAVEPOINT durable_call");
    try {
      c.run(ctx);
    } catch (...) {
      c.error = std::current_exception();
      // After some errors (disk full, I/O) SQLite rolls back the whole transaction:
      // then every call in it failed.
      if (!writer_.in_transaction()) throw;
      (void)ctx.take_discard();
    }
    if (c.error || ctx.take_discard()) {
      writer_.run("ROLLBACK TO durable_call");
      ctx.restore(std::move(saved));
    }
    writer_.run("RELEASE durable_call");
  }

  connection& writer_;
  name_cache& names_;
  write_cache cache_;  // the leader's
  mutable std::mutex mutex_;
  std::vector<call*> queue_;            // guarded by mutex_
  bool leading_ = false;                // guarded by mutex_
  std::uint64_t transactions_ = 0;      // guarded by mutex_
  std::atomic<bool> contended_{false};  // the last transaction held several calls
};

}  // namespace durable::inline v0::detail::sqlite
