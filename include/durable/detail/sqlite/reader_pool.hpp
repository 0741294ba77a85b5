// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Reader connections: queries and stats of one database file in one process run on
/// their own connections, each in a read transaction on a WAL snapshot, so a reader never
/// waits for the writer and the writer never waits for a reader. Part of the SQLite layer.

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "durable/detail/sqlite/connection.hpp"
#include "durable/open_options.hpp"

namespace durable::inline v0::detail::sqlite {

/// A pool of read-only connections to one file, created on demand; at most `keep` idle
/// ones are kept.
class reader_pool {
 public:
  reader_pool(std::string path, const open_options& options, std::size_t keep = 4)
      : path_(std::move(path)), options_(options), keep_(keep) {}

  /// Runs `f(connection&)` in one read transaction (one consistent snapshot) on a reader.
  template <class F>
  auto read(F&& f) {
    lease reader{*this, acquire()};
    read_transaction snapshot{reader.get()};
    return f(reader.get());
  }

 private:
  class lease {
   public:
    lease(reader_pool& pool, std::unique_ptr<connection> c) : pool_(pool), c_(std::move(c)) {}
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    lease(lease&&) = delete;
    lease& operator=(lease&&) = delete;
    ~lease() { pool_.release(std::move(c_)); }
    [[nodiscard]] connection& get() const noexcept { return *c_; }

   private:
    reader_pool& pool_;
    std::unique_ptr<connection> c_;
  };

  std::unique_ptr<connection> acquire() {
    {
      std::lock_guard lock{mutex_};
      if (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        return c;
      }
    }
    auto c = std::make_unique<connection>(path_, options_);
    c->exec("PRAGMA query_only = 1");
    return c;
  }

  void release(std::unique_ptr<connection> c) noexcept {
    std::lock_guard lock{mutex_};
    if (idle_.size() >= keep_) return;  // closed here
    try {
      idle_.push_back(std::move(c));
    } catch (...) {  // no memory to keep it: close it
    }
  }

  std::string path_;
  open_options options_;
  std::size_t keep_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<connection>> idle_;
};

}  // namespace durable::inline v0::detail::sqlite
