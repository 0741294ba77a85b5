// SPDX-License-Identifier: MIT
#pragma once
// A fault-injecting SQLite VFS for tests: while installed it is the default VFS of the
// process, so durable runs on it unchanged. Armed, it fails the N-th read, write (or
// truncate), sync or lock call (xLock, and shared-memory lock acquisitions), once or from
// then on; it can also refuse writes that grow a file past a byte budget (a full disk).

#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "vfs_shim.hpp"

namespace durable_test {

/// The kinds of I/O call a fault_vfs counts.
enum class io_call { read, write, sync, lock };

inline std::string to_string(io_call c) {
  switch (c) {
    case io_call::read: return "read";
    case io_call::write: return "write";
    case io_call::sync: return "sync";
    case io_call::lock: return "lock";
  }
  return "?";
}

/// Whether an armed fault hits one call or every call from the N-th on.
enum class fault_mode { once, persistent };

class fault_vfs final : public vfs_shim {
 public:
  fault_vfs() : vfs_shim("durable-test-fault") { install(); }

  /// From now on, the `n`-th call (1-based) of `kind` fails, and with `persistent` every
  /// later one too. Resets the counters.
  void arm(io_call kind, std::int64_t n, fault_mode mode) {
    kind_ = kind;
    n_ = n;
    mode_ = mode;
    count_ = 0;
    fired_ = false;
    armed_ = true;
  }
  /// No more faults (the disk budget stays).
  void disarm() { armed_ = false; }
  /// True when an armed fault failed a call since arm().
  [[nodiscard]] bool fired() const { return fired_; }

  /// Writes that would make a file larger than its size now plus what is left of `bytes`
  /// (shared by all files) fail with SQLITE_FULL, as on a full disk; -1: no limit.
  void limit_growth(std::int64_t bytes) { budget_ = bytes; }

  /// Failed reads report what SQLite's unix VFS reports for a read(2) failing with EIO:
  /// SQLITE_IOERR_CORRUPTFS, with EIO as the file's last error (SQLITE_FCNTL_LAST_ERRNO);
  /// SQLite returns it as SQLITE_CORRUPT.
  void reads_fail_like_eio() { eio_reads_ = true; }

 protected:
  int read(shim_file& f, void* buffer, int amount, sqlite3_int64 offset) override {
    if (hit(io_call::read)) {
      if (!eio_reads_) return SQLITE_IOERR_READ;
      last_errno_ = EIO;
      return SQLITE_IOERR_CORRUPTFS;
    }
    return vfs_shim::read(f, buffer, amount, offset);
  }
  int write(shim_file& f, const void* buffer, int amount, sqlite3_int64 offset) override {
    if (hit(io_call::write)) return SQLITE_IOERR_WRITE;
    if (budget_ >= 0) {
      sqlite3_int64 size = 0;
      if (vfs_shim::file_size(f, &size) == SQLITE_OK && offset + amount > size) {
        const auto growth = offset + amount - size;
        if (growth > budget_) return SQLITE_FULL;
        budget_ -= growth;
      }
    }
    return vfs_shim::write(f, buffer, amount, offset);
  }
  int truncate(shim_file& f, sqlite3_int64 size) override {
    if (hit(io_call::write)) return SQLITE_IOERR_TRUNCATE;
    return vfs_shim::truncate(f, size);
  }
  // A sync that is not failed does nothing: these tests need no durability from the
  // disk, and thousands of fsyncs would make them slow.
  int sync(shim_file& /*f*/, int /*flags*/) override {
    return hit(io_call::sync) ? SQLITE_IOERR_FSYNC : SQLITE_OK;
  }
  int file_control(shim_file& f, int op, void* arg) override {
    if (op == SQLITE_FCNTL_LAST_ERRNO && last_errno_ != 0) {
      *static_cast<int*>(arg) = last_errno_;
      return SQLITE_OK;
    }
    return vfs_shim::file_control(f, op, arg);
  }
  int lock(shim_file& f, int level) override {
    if (hit(io_call::lock)) return SQLITE_IOERR_LOCK;
    return vfs_shim::lock(f, level);
  }
  int shm_lock(shim_file& f, int offset, int n, int flags) override {
    if ((flags & SQLITE_SHM_LOCK) != 0 && hit(io_call::lock)) return SQLITE_IOERR_SHMLOCK;
    return vfs_shim::shm_lock(f, offset, n, flags);
  }

 private:
  bool hit(io_call kind) {
    if (!armed_ || kind != kind_) return false;
    const auto count = ++count_;
    if (count == n_ || (mode_ == fault_mode::persistent && count > n_)) {
      fired_ = true;
      return true;
    }
    return false;
  }

  std::atomic<bool> armed_{false};
  std::atomic<bool> fired_{false};
  std::atomic<std::int64_t> count_{0};
  io_call kind_ = io_call::write;
  std::int64_t n_ = 0;
  fault_mode mode_ = fault_mode::once;
  std::atomic<std::int64_t> budget_{-1};
  std::atomic<bool> eio_reads_{false};
  std::atomic<int> last_errno_{0};
};

}  // namespace durable_test
