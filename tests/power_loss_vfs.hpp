// SPDX-License-Identifier: MIT
#pragma once
// A SQLite VFS that simulates a disk with a volatile write cache, for power-loss tests.
// Writes to a database or WAL file (and size changes) stay in this process's memory
// until the file is synced; reads see them. A sync writes what the file has in memory to
// the real file, in random order. Killing the process is then a power cut: everything
// not synced is gone, exactly what a disk that loses its cache leaves. With `cut_at_sync`
// = k, the k-th sync writes a random part of what it should (whole ranges, and possibly a
// torn piece of one) and ends the process with exit code `power_cut_exit`: power lost in
// the middle of a sync. Install it in a child process only (fork, then install).

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "vfs_shim.hpp"

namespace durable_test {

/// The exit code of a process whose power_loss_vfs cut the power inside a sync.
inline constexpr int power_cut_exit = 77;

class power_loss_vfs final : public vfs_shim {
 public:
  /// `cut_at_sync` < 1: never cut the power from inside; the test kills the process.
  power_loss_vfs(std::uint64_t seed, std::int64_t cut_at_sync)
      : vfs_shim("durable-test-power-loss"), rng_(seed), cut_at_sync_(cut_at_sync) {
    install();
  }

 protected:
  void opened(shim_file& f) override {
    if ((f.flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL)) == 0) return;
    auto [it, created] = images_.try_emplace(*f.path);
    auto& image = it->second;
    if (created) {  // what the disk holds now
      sqlite3_int64 size = 0;
      if (vfs_shim::file_size(f, &size) == SQLITE_OK && size > 0) {
        image.data.resize(static_cast<std::size_t>(size));
        (void)vfs_shim::read(f, image.data.data(), static_cast<int>(size), 0);
      }
      image.on_disk = size;
    }
    f.state = &image;
  }

  int read(shim_file& f, void* buffer, int amount, sqlite3_int64 offset) override {
    auto* image = cached(f);
    if (image == nullptr) return vfs_shim::read(f, buffer, amount, offset);
    const auto size = static_cast<sqlite3_int64>(image->data.size());
    const auto available = std::clamp<sqlite3_int64>(size - offset, 0, amount);
    if (available > 0) {
      std::memcpy(buffer, image->data.data() + offset, static_cast<std::size_t>(available));
    }
    if (available == amount) return SQLITE_OK;
    std::memset(static_cast<char*>(buffer) + available, 0,
                static_cast<std::size_t>(amount - available));
    return SQLITE_IOERR_SHORT_READ;
  }

  int write(shim_file& f, const void* buffer, int amount, sqlite3_int64 offset) override {
    auto* image = cached(f);
    if (image == nullptr) return vfs_shim::write(f, buffer, amount, offset);
    const auto end = static_cast<std::size_t>(offset + amount);
    if (image->data.size() < end) image->data.resize(end);
    std::memcpy(image->data.data() + offset, buffer, static_cast<std::size_t>(amount));
    image->dirty.emplace_back(offset, offset + amount);
    return SQLITE_OK;
  }

  int truncate(shim_file& f, sqlite3_int64 size) override {
    auto* image = cached(f);
    if (image == nullptr) return vfs_shim::truncate(f, size);
    image->data.resize(static_cast<std::size_t>(size));
    return SQLITE_OK;
  }

  int file_size(shim_file& f, sqlite3_int64* size) override {
    auto* image = cached(f);
    if (image == nullptr) return vfs_shim::file_size(f, size);
    *size = static_cast<sqlite3_int64>(image->data.size());
    return SQLITE_OK;
  }

  int sync(shim_file& f, int /*flags*/) override {
    auto* image = cached(f);
    if (image == nullptr) return SQLITE_OK;
    const bool cut = ++syncs_ == cut_at_sync_;
    auto ranges = std::move(image->dirty);
    image->dirty.clear();
    std::shuffle(ranges.begin(), ranges.end(), rng_);
    const auto size = static_cast<sqlite3_int64>(image->data.size());
    auto real_size = image->on_disk;
    for (auto [begin, end] : ranges) {
      end = std::min(end, size);
      if (begin >= end) continue;
      if (cut) {
        const auto fate = rng_() % 4;  // 0 and 1: lost, 2: written, 3: torn
        if (fate < 2) continue;
        if (fate == 3)
          end =
              begin + static_cast<sqlite3_int64>(rng_() % static_cast<std::uint64_t>(end - begin));
        if (begin >= end) continue;
      }
      const int rc =
          vfs_shim::write(f, image->data.data() + begin, static_cast<int>(end - begin), begin);
      if (rc != SQLITE_OK) return rc;
      real_size = std::max(real_size, end);
    }
    if (cut) _exit(power_cut_exit);
    if (real_size != size) {
      const int rc = vfs_shim::truncate(f, size);
      if (rc != SQLITE_OK) return rc;
    }
    image->on_disk = size;
    return SQLITE_OK;
  }

  int remove(const char* name, int sync_dir) override {
    images_.erase(name);
    return vfs_shim::remove(name, sync_dir);
  }

 private:
  struct file_image {
    std::vector<char> data;                                      // the file as this process sees it
    std::vector<std::pair<sqlite3_int64, sqlite3_int64>> dirty;  // [begin, end) not synced
    sqlite3_int64 on_disk = 0;                                   // the real file's size
  };

  static file_image* cached(shim_file& f) { return static_cast<file_image*>(f.state); }

  std::map<std::string, file_image> images_;  // by path: every connection to a file shares it
  std::mt19937_64 rng_;
  std::int64_t syncs_ = 0;
  std::int64_t cut_at_sync_;
};

}  // namespace durable_test
