// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// `durable::database`: a handle on one database that the queues and dead-letter queues
/// of a process share: one connection, one writer path and one set of wake-ups per
/// database file per process.

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>

#include "durable/clock.hpp"
#include "durable/detail/sqlite/backend.hpp"
#include "durable/exceptions.hpp"
#include "durable/open_options.hpp"
#include "durable/storage.hpp"

namespace durable::inline v0 {

namespace detail {

/// What the objects of one process on one database share: the backend and the
/// wake-ups of waiting workers.
class database_state {
 public:
  explicit database_state(std::shared_ptr<storage::backend> backend)
      : backend_(std::move(backend)) {}
  database_state(const database_state&) = delete;
  database_state& operator=(const database_state&) = delete;
  database_state(database_state&&) = delete;
  database_state& operator=(database_state&&) = delete;
  ~database_state() {
    if (watching_) backend_->watch_pushes({});  // no call into this object after here
  }

  [[nodiscard]] storage::backend& backend() const noexcept { return *backend_; }

  /// Counts pushes (and nacks, redrives) into `queue` through this process.
  [[nodiscard]] std::uint64_t push_sequence(std::string_view queue) {
    std::lock_guard lock{mutex_};
    const auto it = sequences_.find(queue);
    return it == sequences_.end() ? 0 : it->second;
  }
  /// Wakes the waiters of `queue`; of every queue waited on for "".
  void notify_push(std::string_view queue) {
    {
      std::lock_guard lock{mutex_};
      if (queue.empty()) {
        for (auto& [name, sequence] : sequences_) ++sequence;
      } else {
        auto it = sequences_.find(queue);
        if (it == sequences_.end()) it = sequences_.emplace(std::string{queue}, 0).first;
        ++it->second;
      }
    }
    pushed_.notify_all();
  }
  /// Blocks until `queue`'s sequence moves past `seen`, `timeout` passes or `stop` is
  /// requested; true if it moved. The first wait asks the backend to report pushes of
  /// other processes (storage::backend::watch_pushes), so they wake waiters too.
  bool wait_for_push(std::string_view queue, std::uint64_t seen, std::chrono::milliseconds timeout,
                     const std::stop_token& stop) {
    std::call_once(watch_once_, [this] {
      backend_->watch_pushes([this](std::string_view q) { notify_push(q); });
      watching_ = true;
    });
    std::unique_lock lock{mutex_};
    if (!sequences_.contains(queue)) sequences_.emplace(std::string{queue}, 0);
    return pushed_.wait_until(lock, stop, steady_after(timeout), [&] {
      const auto it = sequences_.find(queue);
      return it != sequences_.end() && it->second != seen;
    });
  }

 private:
  std::shared_ptr<storage::backend> backend_;
  std::once_flag watch_once_;
  bool watching_ = false;  // set once, under watch_once_
  std::mutex mutex_;
  std::condition_variable_any pushed_;
  std::map<std::string, std::uint64_t, std::less<>> sequences_;
};

/// Opens a backend for a target that is not a SQLite file (see is_server_target).
using backend_factory = std::shared_ptr<storage::backend> (*)(const std::string& target,
                                                              const open_options& options);

/// The factory for PostgreSQL targets; set by including <durable/postgres.hpp>.
inline backend_factory& postgres_factory() noexcept {
  static backend_factory factory = nullptr;
  return factory;
}

/// True when `target` is a PostgreSQL connection string: a postgresql:// or postgres://
/// URI, or libpq key=value pairs starting with a connection keyword.
[[nodiscard]] inline bool is_postgres_target(std::string_view target) noexcept {
  if (target.starts_with("postgresql://") || target.starts_with("postgres://")) return true;
  constexpr std::array<std::string_view, 7> keywords{
      "host=", "hostaddr=", "port=", "dbname=", "user=", "service=", "password="};
  return std::ranges::any_of(keywords, [&](std::string_view k) { return target.starts_with(k); });
}

/// A new backend for `target`: the PostgreSQL factory for a connection string, else SQLite.
[[nodiscard]] inline std::shared_ptr<storage::backend> open_backend(const std::string& target,
                                                                    const open_options& options) {
  if (is_postgres_target(target)) {
    if (postgres_factory() == nullptr) {
      throw invalid_argument_error(
          "target",
          "durable: invalid argument: the target is a PostgreSQL connection string, but this "
          "program has no PostgreSQL backend; include <durable/postgres.hpp> and link "
          "durable::postgres (find_package(durable COMPONENTS postgres))");
    }
    return postgres_factory()(target, options);
  }
  return std::make_shared<sqlite::sqlite_backend>(target, options);
}

/// The process's open databases, so that objects opened by path share one. An entry
/// belongs to the process that made it: a forked child opens its own connection.
inline std::shared_ptr<database_state> open_shared(const std::string& path,
                                                   const open_options& options) {
  using key_type = std::tuple<std::string, int, std::int64_t, std::int64_t, bool, pid_t>;
  static std::mutex mutex;
  static std::map<key_type, std::weak_ptr<database_state>> open;
  std::error_code ec;
  const auto canonical = is_postgres_target(path) ? std::filesystem::path{}
                                                  : std::filesystem::weakly_canonical(path, ec);
  const key_type key{canonical.empty() || ec ? path : canonical.string(),
                     static_cast<int>(options.durability),
                     options.busy_timeout.count(),
                     options.page_cache_kib,
                     options.read_only,
                     getpid()};
  std::lock_guard lock{mutex};
  if (auto existing = open[key].lock()) return existing;
  for (auto it = open.begin(); it != open.end();) {  // forget closed databases
    it = it->second.expired() ? open.erase(it) : std::next(it);
  }
  auto state = std::make_shared<database_state>(open_backend(path, options));
  open[key] = state;
  return state;
}

}  // namespace detail

/// A handle on one database: a SQLite file, a PostgreSQL database (<durable/postgres.hpp>),
/// or any storage::backend. Copies share the database. Queues and dead-letter queues given
/// the same handle, or opened by the same target with the same options in one process,
/// share one connection (pool).
class database {
 public:
  /// Opens `target`, or shares this process's open connection to it: a PostgreSQL
  /// connection string (postgresql://... or key=value), else the path of a SQLite file,
  /// created if needed (unless open_options::read_only). Throws sqlite_error/schema_error
  /// for a file that cannot be used (not a database, read-only, missing directory, newer
  /// schema; with read_only: missing, or another schema version); for PostgreSQL
  /// connection_error (unreachable, refused), postgres_error, schema_error.
  explicit database(const std::string& target, const open_options& options = {})
      : state_(detail::open_shared(target, options)) {}

  /// Uses `backend`, e.g. one that is not built in. Give each backend to one database:
  /// a backend reports other processes' pushes to one handle (storage::backend::watch_pushes).
  explicit database(std::shared_ptr<storage::backend> backend)
      : state_(std::make_shared<detail::database_state>(std::move(backend))) {}

  /// The file path or connection target (never a password).
  [[nodiscard]] const std::string& target() const noexcept { return storage().target(); }

  /// The storage backend, for the engine and tools.
  [[nodiscard]] storage::backend& storage() const noexcept { return state_->backend(); }

  /// The shared state, for the engine.
  [[nodiscard]] detail::database_state& state() const noexcept { return *state_; }

  /// True when both handles are on the same open database.
  friend bool operator==(const database& a, const database& b) noexcept {
    return a.state_ == b.state_;
  }

 private:
  std::shared_ptr<detail::database_state> state_;
};

}  // namespace durable::inline v0
