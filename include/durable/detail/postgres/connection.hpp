// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// libpq connections: one connection with its prepared statements, transactions, and the
/// pool of connections a backend takes one from per call. Part of the PostgreSQL layer.

#include <libpq-fe.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "durable/detail/postgres/error.hpp"
#include "durable/detail/postgres/values.hpp"
#include "durable/open_options.hpp"

namespace durable::inline v0::detail::postgres {

/// One connection to the server, with a cache of the statements it prepared; with
/// open_options::read_only, a session whose transactions are all read-only. Not
/// thread-safe: one thread at a time (the pool hands it to one call).
class connection {
 public:
  /// Connects with `conninfo` (a URI or key=value pairs); `target` is its redacted form,
  /// for messages. Throws connection_error.
  connection(const std::string& conninfo, std::string target, const open_options& options)
      : target_(std::move(target)), owner_(getpid()) {
    const auto timeout_s = std::max<std::int64_t>(
        2, std::chrono::ceil<std::chrono::seconds>(options.busy_timeout).count());
    const std::string connect_timeout = std::to_string(timeout_s);
    // Defaults first, so the connection string overrides them; the client encoding last,
    // because durable sends and reads UTF-8.
    const std::array<const char*, 5> keywords{"connect_timeout", "application_name", "dbname",
                                              "client_encoding", nullptr};
    const std::array<const char*, 5> values{connect_timeout.c_str(), "durable", conninfo.c_str(),
                                            "UTF8", nullptr};
    conn_ = PQconnectdbParams(keywords.data(), values.data(), 1);
    if (conn_ == nullptr) throw_connection("connecting", target_, "out of memory");
    if (PQstatus(conn_) != CONNECTION_OK) {
      const std::string message = PQerrorMessage(conn_);
      PQfinish(conn_);
      conn_ = nullptr;
      throw_connection("connecting", target_, message);
    }
    // The server's notices (e.g. "table exists, skipping") are not errors: never print them.
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
    try {
      exec(fmt::format("SET lock_timeout = {}", options.busy_timeout.count()).c_str(),
           "connecting");
      // open_options::read_only: the server refuses every write of this session.
      if (options.read_only) exec("SET default_transaction_read_only = on", "connecting");
    } catch (...) {
      PQfinish(conn_);
      throw;
    }
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  connection(connection&&) = delete;
  connection& operator=(connection&&) = delete;
  ~connection() {
    // A forked child must not close its parent's session (PQfinish would tell the server
    // to end it): the child leaves the socket alone and the memory with it.
    if (owner_ == getpid()) PQfinish(conn_);
  }

  [[nodiscard]] PGconn* handle() const noexcept { return conn_; }
  [[nodiscard]] const std::string& target() const noexcept { return target_; }
  /// The server process serving this connection.
  [[nodiscard]] int backend_pid() const noexcept { return PQbackendPID(conn_); }
  /// What the current call does, for error messages ("push", "claim", ...).
  void doing(std::string_view what) noexcept { doing_ = what; }
  [[nodiscard]] std::string_view doing() const noexcept { return doing_; }

  /// True when the connection can take the next call: open, outside a transaction, and
  /// silent since its last call. An idle session is sent nothing unless the server ends
  /// it (a restart or an idle timeout sends a FATAL message, then closes), so anything to
  /// read means it is gone, or may be: it is not reused.
  [[nodiscard]] bool reusable() const noexcept {
    if (PQstatus(conn_) != CONNECTION_OK || PQtransactionStatus(conn_) != PQTRANS_IDLE) {
      return false;
    }
    pollfd fd{PQsocket(conn_), POLLIN, 0};
    return poll(&fd, 1, 0) == 0;
  }
  [[nodiscard]] bool broken() const noexcept { return PQstatus(conn_) == CONNECTION_BAD; }

  /// Runs `sql` without parameters through the simple protocol (BEGIN, COMMIT, DDL, several
  /// statements at once). Throws.
  void exec(const char* sql, std::string_view doing, bool commit = false) {
    const result r{PQexec(conn_, sql)};
    const auto status = PQresultStatus(r.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      throw_result(conn_, r.get(), doing, target_, commit);
    }
  }

  /// Runs `sql` with `p` as a prepared statement (prepared on first use) and returns its
  /// result, columns in binary format. Throws.
  result run(std::string_view sql, const params& p) {
    const auto& name = prepared(sql, p);
    const auto v = p.build();
    result r{PQexecPrepared(conn_, name.c_str(), p.size(), v.values.data(), v.lengths.data(),
                            v.formats.data(), 1)};
    const auto status = PQresultStatus(r.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      throw_result(conn_, r.get(), doing_, target_);
    }
    return r;
  }

  /// run() with `args` as the parameters $1..$n.
  template <class... Args>
  result query(std::string_view sql, const Args&... args) {
    params p;
    add_all(p, args...);
    return run(sql, p);
  }

 private:
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  const std::string& prepared(std::string_view sql, const params& p) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return it->second;
    std::string name = "durable_" + std::to_string(statements_.size() + 1);
    const std::string text{sql};
    const auto v = p.build();
    const result r{PQprepare(conn_, name.c_str(), text.c_str(), p.size(), v.types.data())};
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      throw_result(conn_, r.get(), doing_, target_);
    }
    return statements_.emplace(text, std::move(name)).first->second;
  }

  std::string target_;
  pid_t owner_;
  PGconn* conn_ = nullptr;
  std::string_view doing_ = "a call";
  std::unordered_map<std::string, std::string, string_hash, std::equal_to<>> statements_;
};

/// A transaction on a connection: BEGIN on construction, ROLLBACK on destruction unless
/// committed. The destructor never throws.
class transaction {
 public:
  explicit transaction(connection& c, const char* begin = "BEGIN") : c_(&c) {
    c_->exec(begin, c_->doing());
  }
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  transaction(transaction&&) = delete;
  transaction& operator=(transaction&&) = delete;
  ~transaction() {
    if (c_ != nullptr && !c_->broken()) {
      // A failed rollback leaves nothing to do: the pool drops a connection left in a
      // transaction, and the server rolls back when the session ends.
      PQclear(PQexec(c_->handle(), "ROLLBACK"));
    }
  }
  /// Commits; throws (connection_error with during_commit() when the connection broke).
  void commit() {
    auto* c = std::exchange(c_, nullptr);
    c->exec("COMMIT", c->doing(), true);
  }
  [[nodiscard]] bool committed() const noexcept { return c_ == nullptr; }

 private:
  connection* c_;
};

/// The connections of one backend: sized by demand (one per concurrently calling thread),
/// each call takes one and gives it back. A connection that broke is dropped, with every
/// idle one (after a server restart they are all gone); the next call connects anew.
class pool {
 public:
  pool(std::string conninfo, std::string target, open_options options)
      : conninfo_(std::move(conninfo)), target_(std::move(target)), options_(options) {}

  /// A connection for one call; given back on destruction.
  class lease {
   public:
    lease(pool& owner, std::unique_ptr<connection> c) : pool_(&owner), c_(std::move(c)) {}
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    lease(lease&&) = delete;
    lease& operator=(lease&&) = delete;
    ~lease() { pool_->give_back(std::move(c_)); }
    connection& operator*() const noexcept { return *c_; }
    connection* operator->() const noexcept { return c_.get(); }

   private:
    pool* pool_;
    std::unique_ptr<connection> c_;
  };

  /// An idle connection that is still usable, or a new one. Throws connection_error.
  [[nodiscard]] std::unique_ptr<connection> take(std::string_view doing) {
    for (;;) {
      std::unique_ptr<connection> c;
      {
        std::lock_guard lock{mutex_};
        if (owner_ != getpid()) {  // a forked child: its parent's sessions are not its own
          owner_ = getpid();
          idle_.clear();  // connection's destructor leaves a parent's session alone
          pids_.clear();
        }
        if (idle_.empty()) break;
        c = std::move(idle_.back());
        idle_.pop_back();
      }
      if (c->reusable()) {
        c->doing(doing);
        return c;
      }
      forget(*c);
    }
    auto c = connect();
    c->doing(doing);
    return c;
  }

  /// A new connection, counted as this pool's (its notifications are not from elsewhere).
  [[nodiscard]] std::unique_ptr<connection> connect() {
    auto c = std::make_unique<connection>(conninfo_, target_, options_);
    std::lock_guard lock{mutex_};
    pids_.push_back(c->backend_pid());
    return c;
  }

  /// True when server process `pid` serves one of this pool's connections.
  [[nodiscard]] bool serves(int pid) const {
    std::lock_guard lock{mutex_};
    return std::find(pids_.begin(), pids_.end(), pid) != pids_.end();
  }

  /// Takes a connection for `doing`, runs `f(connection&)` in a transaction that `f`
  /// commits (a transaction `f` does not commit is rolled back), and returns what `f`
  /// returns. Runs `f` again, up to 5 times, after a deadlock or serialization failure.
  template <class F>
  auto in_transaction(std::string_view doing, F&& f, const char* begin = "BEGIN") {
    for (int attempt = 1;; ++attempt) {
      try {
        const lease c{*this, take(doing)};
        transaction tx{*c, begin};
        return f(*c, tx);
      } catch (const postgres_error& e) {
        if (!is_retryable_state(e.sqlstate()) || attempt >= 5) throw;
      }
    }
  }

  /// Takes a connection for `doing` and runs `f(connection&)` outside a transaction (each
  /// statement commits on its own).
  template <class F>
  auto single(std::string_view doing, F&& f) {
    for (int attempt = 1;; ++attempt) {
      try {
        const lease c{*this, take(doing)};
        return f(*c);
      } catch (const postgres_error& e) {
        if (!is_retryable_state(e.sqlstate()) || attempt >= 5) throw;
      }
    }
  }

  [[nodiscard]] const std::string& target() const noexcept { return target_; }
  [[nodiscard]] const std::string& conninfo() const noexcept { return conninfo_; }
  [[nodiscard]] const open_options& options() const noexcept { return options_; }

 private:
  void give_back(std::unique_ptr<connection> c) {
    if (!c) return;
    if (c->broken()) {
      forget(*c);
      std::vector<std::unique_ptr<connection>> dropped;
      {
        std::lock_guard lock{mutex_};
        dropped.swap(idle_);
      }
      for (const auto& d : dropped) forget(*d);
      return;
    }
    if (PQtransactionStatus(c->handle()) != PQTRANS_IDLE) {
      forget(*c);
      return;
    }
    std::lock_guard lock{mutex_};
    idle_.push_back(std::move(c));
  }

  void forget(const connection& c) {
    const int pid = c.backend_pid();
    std::lock_guard lock{mutex_};
    const auto it = std::find(pids_.begin(), pids_.end(), pid);
    if (it != pids_.end()) pids_.erase(it);
  }

  std::string conninfo_;
  std::string target_;
  open_options options_;
  mutable std::mutex mutex_;
  pid_t owner_ = getpid();  // guarded by mutex_
  std::vector<std::unique_ptr<connection>> idle_;
  std::vector<int> pids_;
};

}  // namespace durable::inline v0::detail::postgres
