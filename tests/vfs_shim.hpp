// SPDX-License-Identifier: MIT
#pragma once
// A SQLite VFS that forwards every call to the default ("unix") VFS, with virtual hooks
// that tests override to inject I/O faults (fault_vfs.hpp) or to simulate power loss
// (power_loss_vfs.hpp). Test-only: durable itself always uses SQLite's default VFS, and
// the tests make a shim that default with sqlite3_vfs_register(..., 1) while it is
// installed, so the library runs unchanged on top of it.

#include <sqlite3.h>

#include <cstddef>
#include <new>
#include <stdexcept>
#include <string>

namespace durable_test {

/// A file opened through a vfs_shim: SQLite's handle first, the real file after it.
struct shim_file {
  sqlite3_file base;     // must be first: SQLite sees this
  class vfs_shim* shim;  // the VFS that opened it
  sqlite3_file* real;    // the file of the wrapped VFS, in the same allocation
  std::string* path;     // the name it was opened with (empty for temp files)
  int flags;             // SQLITE_OPEN_* flags it was opened with
  void* state;           // for the shim's own use
};

/// The forwarding VFS. Subclasses override the hooks; each default forwards to the real
/// file. Install with `install()`; `uninstall()` (or the destructor) restores the previous
/// default VFS. Connections opened while it was installed must be closed first.
class vfs_shim {
 public:
  explicit vfs_shim(const char* name) : real_(sqlite3_vfs_find(nullptr)) {
    if (real_ == nullptr) throw std::runtime_error("no default SQLite VFS");
    vfs_.iVersion = real_->iVersion < 2 ? real_->iVersion : 2;
    vfs_.szOsFile = static_cast<int>(sizeof(shim_file)) + real_->szOsFile;
    vfs_.mxPathname = real_->mxPathname;
    vfs_.zName = name;
    vfs_.pAppData = this;
    vfs_.xOpen = &open_file;
    vfs_.xDelete = [](sqlite3_vfs* v, const char* n, int sync) { return self(v).remove(n, sync); };
    vfs_.xAccess = [](sqlite3_vfs* v, const char* n, int f, int* out) {
      return self(v).real_->xAccess(self(v).real_, n, f, out);
    };
    vfs_.xFullPathname = [](sqlite3_vfs* v, const char* n, int size, char* out) {
      return self(v).real_->xFullPathname(self(v).real_, n, size, out);
    };
    vfs_.xDlOpen = [](sqlite3_vfs* v, const char* n) {
      return self(v).real_->xDlOpen(self(v).real_, n);
    };
    vfs_.xDlError = [](sqlite3_vfs* v, int n, char* out) {
      self(v).real_->xDlError(self(v).real_, n, out);
    };
    vfs_.xDlSym = [](sqlite3_vfs* v, void* h, const char* s) {
      return self(v).real_->xDlSym(self(v).real_, h, s);
    };
    vfs_.xDlClose = [](sqlite3_vfs* v, void* h) { self(v).real_->xDlClose(self(v).real_, h); };
    vfs_.xRandomness = [](sqlite3_vfs* v, int n, char* out) {
      return self(v).real_->xRandomness(self(v).real_, n, out);
    };
    vfs_.xSleep = [](sqlite3_vfs* v, int us) { return self(v).real_->xSleep(self(v).real_, us); };
    vfs_.xCurrentTime = [](sqlite3_vfs* v, double* out) {
      return self(v).real_->xCurrentTime(self(v).real_, out);
    };
    vfs_.xGetLastError = [](sqlite3_vfs* v, int n, char* out) {
      return self(v).real_->xGetLastError(self(v).real_, n, out);
    };
    vfs_.xCurrentTimeInt64 = [](sqlite3_vfs* v, sqlite3_int64* out) {
      return self(v).real_->xCurrentTimeInt64(self(v).real_, out);
    };
  }
  vfs_shim(const vfs_shim&) = delete;
  vfs_shim& operator=(const vfs_shim&) = delete;
  virtual ~vfs_shim() { uninstall(); }

  /// Makes this the default VFS of the process.
  void install() {
    if (sqlite3_vfs_register(&vfs_, 1) != SQLITE_OK) throw std::runtime_error("vfs register");
    installed_ = true;
  }
  /// Restores the VFS that was the default before.
  void uninstall() {
    if (!installed_) return;
    sqlite3_vfs_unregister(&vfs_);
    sqlite3_vfs_register(real_, 1);
    installed_ = false;
  }

 protected:
  // Hooks: each forwards to the real file unless overridden.
  virtual void opened(shim_file& /*f*/) {}
  /// The flags `name` is opened with by the real VFS.
  virtual int open_flags(const char* /*name*/, int flags) { return flags; }
  virtual void closing(shim_file& /*f*/) {}
  virtual int read(shim_file& f, void* buffer, int amount, sqlite3_int64 offset) {
    return f.real->pMethods->xRead(f.real, buffer, amount, offset);
  }
  virtual int write(shim_file& f, const void* buffer, int amount, sqlite3_int64 offset) {
    return f.real->pMethods->xWrite(f.real, buffer, amount, offset);
  }
  virtual int truncate(shim_file& f, sqlite3_int64 size) {
    return f.real->pMethods->xTruncate(f.real, size);
  }
  virtual int sync(shim_file& f, int flags) { return f.real->pMethods->xSync(f.real, flags); }
  virtual int file_size(shim_file& f, sqlite3_int64* size) {
    return f.real->pMethods->xFileSize(f.real, size);
  }
  virtual int lock(shim_file& f, int level) { return f.real->pMethods->xLock(f.real, level); }
  virtual int shm_lock(shim_file& f, int offset, int n, int flags) {
    return f.real->pMethods->xShmLock(f.real, offset, n, flags);
  }
  virtual int remove(const char* name, int sync_dir) {
    return real_->xDelete(real_, name, sync_dir);
  }
  virtual int file_control(shim_file& f, int op, void* arg) {
    return f.real->pMethods->xFileControl(f.real, op, arg);
  }

  [[nodiscard]] sqlite3_vfs* real_vfs() const noexcept { return real_; }

 private:
  static vfs_shim& self(sqlite3_vfs* v) { return *static_cast<vfs_shim*>(v->pAppData); }
  static shim_file& file(sqlite3_file* f) { return *reinterpret_cast<shim_file*>(f); }

  static int open_file(sqlite3_vfs* v, sqlite3_filename name, sqlite3_file* handle, int flags,
                       int* out_flags) {
    auto& shim = self(v);
    auto* f = reinterpret_cast<shim_file*>(handle);
    f->base.pMethods = nullptr;
    f->shim = &shim;
    f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(handle) + sizeof(shim_file));
    flags = shim.open_flags(name, flags);
    f->flags = flags;
    f->state = nullptr;
    const int rc = shim.real_->xOpen(shim.real_, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK) return rc;
    f->path = new (std::nothrow) std::string(name != nullptr ? name : "");
    if (f->path == nullptr) {
      if (f->real->pMethods != nullptr) f->real->pMethods->xClose(f->real);
      return SQLITE_NOMEM;
    }
    f->base.pMethods = &methods_;
    shim.opened(*f);
    return SQLITE_OK;
  }

  // Trampolines from SQLite's C calls to the hooks. (Plain static functions: g++ 12 calls
  // the base hooks non-virtually from lambdas in a constexpr member's initializer.)
  static int x_close(sqlite3_file* h) {
    auto& f = file(h);
    f.shim->closing(f);
    const int rc = f.real->pMethods != nullptr ? f.real->pMethods->xClose(f.real) : SQLITE_OK;
    delete f.path;
    f.path = nullptr;
    return rc;
  }
  static int x_read(sqlite3_file* h, void* buffer, int amount, sqlite3_int64 offset) {
    return file(h).shim->read(file(h), buffer, amount, offset);
  }
  static int x_write(sqlite3_file* h, const void* buffer, int amount, sqlite3_int64 offset) {
    return file(h).shim->write(file(h), buffer, amount, offset);
  }
  static int x_truncate(sqlite3_file* h, sqlite3_int64 size) {
    return file(h).shim->truncate(file(h), size);
  }
  static int x_sync(sqlite3_file* h, int flags) { return file(h).shim->sync(file(h), flags); }
  static int x_file_size(sqlite3_file* h, sqlite3_int64* size) {
    return file(h).shim->file_size(file(h), size);
  }
  static int x_lock(sqlite3_file* h, int level) { return file(h).shim->lock(file(h), level); }
  static int x_unlock(sqlite3_file* h, int level) {
    return file(h).real->pMethods->xUnlock(file(h).real, level);
  }
  static int x_check_reserved_lock(sqlite3_file* h, int* out) {
    return file(h).real->pMethods->xCheckReservedLock(file(h).real, out);
  }
  static int x_file_control(sqlite3_file* h, int op, void* arg) {
    return file(h).shim->file_control(file(h), op, arg);
  }
  static int x_sector_size(sqlite3_file* h) {
    return file(h).real->pMethods->xSectorSize(file(h).real);
  }
  static int x_device_characteristics(sqlite3_file* h) {
    return file(h).real->pMethods->xDeviceCharacteristics(file(h).real);
  }
  static int x_shm_map(sqlite3_file* h, int page, int size, int extend, void volatile** out) {
    return file(h).real->pMethods->xShmMap(file(h).real, page, size, extend, out);
  }
  static int x_shm_lock(sqlite3_file* h, int offset, int n, int flags) {
    return file(h).shim->shm_lock(file(h), offset, n, flags);
  }
  static void x_shm_barrier(sqlite3_file* h) { file(h).real->pMethods->xShmBarrier(file(h).real); }
  static int x_shm_unmap(sqlite3_file* h, int remove) {
    return file(h).real->pMethods->xShmUnmap(file(h).real, remove);
  }

  // Version 2: shared memory, no memory-mapped reads that would bypass xRead.
  static inline const sqlite3_io_methods methods_ = {
      2,
      &x_close,
      &x_read,
      &x_write,
      &x_truncate,
      &x_sync,
      &x_file_size,
      &x_lock,
      &x_unlock,
      &x_check_reserved_lock,
      &x_file_control,
      &x_sector_size,
      &x_device_characteristics,
      &x_shm_map,
      &x_shm_lock,
      &x_shm_barrier,
      &x_shm_unmap,
      nullptr,
      nullptr,
  };

  sqlite3_vfs* real_;
  sqlite3_vfs vfs_{};
  bool installed_ = false;
};

}  // namespace durable_test
