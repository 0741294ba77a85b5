// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Who holds a claim: an identity for this process that survives pid reuse and reboots,
/// and a check whether the process behind such an identity is still alive.

#include <unistd.h>

#include <array>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>

namespace durable::inline v0::detail {

/// Fields of a claimer identity "host|boot|pid|start".
struct process_identity {
  std::string host;
  std::string boot;  ///< Linux boot id; empty elsewhere
  std::string pid;
  std::string start;  ///< process start time in clock ticks since boot; empty elsewhere
};

inline std::string read_first_line(const std::string& path) {
  std::ifstream in{path};
  std::string line;
  std::getline(in, line);
  return line;
}

/// What /proc/<pid>/stat says of a process: its state letter (field 3) and its start
/// time in clock ticks since boot (field 22). Both empty when there is no such process.
struct process_status {
  char state = 0;
  std::string start;
};

inline process_status read_process_status(const std::string& pid) {
  const std::string stat = read_first_line("/proc/" + pid + "/stat");
  const auto close = stat.rfind(')');  // the command name may contain spaces and ')'
  if (close == std::string::npos) return {};
  std::istringstream fields{stat.substr(close + 2)};
  process_status status;
  std::string field;
  for (int i = 3; i <= 22 && (fields >> field); ++i) {
    if (i == 3) status.state = field.front();
  }
  status.start = field;
  return status;
}

/// Start time (field 22 of /proc/<pid>/stat) of `pid`; empty if there is no such process.
inline std::string process_start_time(const std::string& pid) {
  return read_process_status(pid).start;
}

/// This process's identity, as stored in durable_jobs.claimed_by. Recomputed after a
/// fork, so a child never claims under its parent's name.
inline std::string self_identity() {
  static std::mutex mutex;
  static pid_t cached_pid = 0;
  static std::string cached;
  const std::lock_guard lock{mutex};
  if (cached_pid != getpid()) {
    cached_pid = getpid();
    std::array<char, 256> host{};
    gethostname(host.data(), host.size() - 1);
    const std::string pid = std::to_string(cached_pid);
    cached = std::string{host.data()} + '|' + read_first_line("/proc/sys/kernel/random/boot_id") +
             '|' + pid + '|' + process_start_time(pid);
  }
  return cached;
}

/// Parses "host|boot|pid|start"; false if `s` is not of that shape.
inline bool parse_identity(std::string_view s, process_identity& out) {
  const auto next = [&s](std::string& field) {
    const auto bar = s.find('|');
    field = s.substr(0, bar);
    s.remove_prefix(bar == std::string_view::npos ? s.size() : bar + 1);
    return bar != std::string_view::npos;
  };
  return next(out.host) && next(out.boot) && next(out.pid) && !next(out.start);
}

/// True when `claimer` names a process of this host that no longer runs (it exited or was
/// killed, also while it is a zombie not yet reaped by its parent, or the host rebooted
/// since). False for other hosts and for anything unparsable.
inline bool is_dead_local_process(std::string_view claimer) {
  process_identity them;
  process_identity me;
  if (!parse_identity(claimer, them) || !parse_identity(self_identity(), me)) return false;
  if (them.host != me.host) return false;
  if (them.boot != me.boot) return !me.boot.empty();  // rebooted since: every process died
  if (them.start.empty()) return false;               // cannot tell without a start time
  const auto status = read_process_status(them.pid);
  if (status.start != them.start) return true;  // gone, or the pid was reused
  // A killed process stays a zombie until its parent reaps it: dead all the same.
  return status.state == 'Z' || status.state == 'X';
}

}  // namespace durable::inline v0::detail
