// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// RAII prepared statement. Part of the SQLite layer, the only place SQL lives.

#include <fmt/format.h>
#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "durable/detail/sqlite/error.hpp"

namespace durable::inline v0::detail::sqlite {

/// A prepared statement. Text and blob parameters are bound without copying, so the
/// bound data must outlive the step that uses it (every caller binds and steps within
/// one expression or scope).
class statement {
 public:
  statement(sqlite3* db, std::string_view sql, const std::string& path) : path_(&path) {
    const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
    if (rc != SQLITE_OK) throw_error(db, rc, fmt_prepare(sql), path);
  }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  statement(statement&& other) noexcept
      : stmt_(std::exchange(other.stmt_, nullptr)), path_(other.path_) {}
  statement& operator=(statement&&) = delete;
  ~statement() { sqlite3_finalize(stmt_); }

  void bind(int index, std::int64_t value) { check_bind(sqlite3_bind_int64(stmt_, index, value)); }
  void bind(int index, int value) { check_bind(sqlite3_bind_int64(stmt_, index, value)); }
  void bind(int index, bool value) { check_bind(sqlite3_bind_int(stmt_, index, value ? 1 : 0)); }
  void bind(int index, double value) { check_bind(sqlite3_bind_double(stmt_, index, value)); }
  void bind(int index, std::nullopt_t /*null*/) { check_bind(sqlite3_bind_null(stmt_, index)); }
  void bind(int index, std::string_view text) {
    // An empty view may have a null data pointer, which SQLite would bind as NULL.
    check_bind(sqlite3_bind_text64(stmt_, index, text.data() != nullptr ? text.data() : "",
                                   text.size(), SQLITE_STATIC, SQLITE_UTF8));
  }
  void bind(int index, const std::string& text) { bind(index, std::string_view{text}); }
  void bind(int index, const char* text) { bind(index, std::string_view{text}); }
  void bind(int index, std::span<const std::byte> blob) {
    // A zero-length blob must still be a BLOB, not NULL: pass a non-null pointer.
    static constexpr std::byte empty{};
    check_bind(sqlite3_bind_blob64(stmt_, index, blob.empty() ? &empty : blob.data(), blob.size(),
                                   SQLITE_STATIC));
  }
  template <class T>
  void bind(int index, const std::optional<T>& value) {
    if (value) {
      bind(index, *value);
    } else {
      bind(index, std::nullopt);
    }
  }

  /// Binds `args` to parameters 1, 2, ... in order.
  template <class... Args>
  void bind_all(const Args&... args) {
    int index = 0;
    (bind(++index, args), ...);
  }

  /// Binds `args` to parameters first, first + 1, ... in order.
  template <class... Args>
  void bind_all_from(int first, const Args&... args) {
    int index = first - 1;
    (bind(++index, args), ...);
  }

  /// Advances: true when a row is available, false when done. Throws on error.
  [[nodiscard]] bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw_error(sqlite3_db_handle(stmt_), rc, fmt::format("running \"{:.60}\"", sqlite3_sql(stmt_)),
                *path_);
  }

  /// Runs to completion, ignoring rows. Call it on a fresh statement or on one whose last
  /// step returned a row: SQLite runs a statement that is done again from the start.
  void run() {
    while (step()) {
    }
  }

  [[nodiscard]] bool is_null(int column) const noexcept {
    return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
  }
  [[nodiscard]] int type(int column) const noexcept { return sqlite3_column_type(stmt_, column); }
  [[nodiscard]] std::int64_t int64(int column) const noexcept {
    return sqlite3_column_int64(stmt_, column);
  }
  [[nodiscard]] double real(int column) const noexcept {
    return sqlite3_column_double(stmt_, column);
  }
  /// Valid until the next step, reset or column access of another type.
  [[nodiscard]] std::string_view text(int column) const noexcept {
    const auto* p = sqlite3_column_text(stmt_, column);
    const auto n = static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column));
    if (p == nullptr) return {};
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): SQLite text is UTF-8 bytes
    return std::string_view{reinterpret_cast<const char*>(p), n};
  }
  /// Valid until the next step, reset or column access of another type.
  [[nodiscard]] std::span<const std::byte> blob(int column) const noexcept {
    const void* p = sqlite3_column_blob(stmt_, column);
    const auto n = static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column));
    return p == nullptr ? std::span<const std::byte>{}
                        : std::span<const std::byte>{static_cast<const std::byte*>(p), n};
  }

  /// Ends the current execution so the statement can run again; keeps bindings.
  void reset() noexcept { sqlite3_reset(stmt_); }

 private:
  static std::string fmt_prepare(std::string_view sql) {
    return "preparing statement \"" + std::string{sql.substr(0, 60)} + "\"";
  }
  void check_bind(int rc) const {
    if (rc != SQLITE_OK) throw_error(sqlite3_db_handle(stmt_), rc, "binding a parameter", *path_);
  }

  sqlite3_stmt* stmt_ = nullptr;
  const std::string* path_;
};

/// A borrowed statement from a connection's cache, reset when this handle dies so the
/// next user starts clean (and read transactions are not held open).
class statement_use {
 public:
  explicit statement_use(statement& s) noexcept : s_(&s) {}
  statement_use(const statement_use&) = delete;
  statement_use& operator=(const statement_use&) = delete;
  statement_use(statement_use&& other) noexcept : s_(std::exchange(other.s_, nullptr)) {}
  statement_use& operator=(statement_use&&) = delete;
  ~statement_use() {
    if (s_ != nullptr) s_->reset();
  }
  statement* operator->() const noexcept { return s_; }
  statement& operator*() const noexcept { return *s_; }

 private:
  statement* s_;
};

}  // namespace durable::inline v0::detail::sqlite
