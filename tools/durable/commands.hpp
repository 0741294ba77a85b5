// SPDX-License-Identifier: MIT
#pragma once
// The commands. Each prints its result (a table, or JSON lines with --json) and returns
// the exit status; errors are thrown (usage_error: 2, failure and durable::error: 1).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "context.hpp"

namespace durable_cli {

// Queues and jobs (queue_commands.cpp)
int stats(const context& ctx, const std::optional<std::string>& queue);
int queues(const context& ctx);
int jobs(const context& ctx, const std::string& queue, const std::optional<std::string>& state,
         std::int64_t limit);
int show_job(const context& ctx, std::int64_t id);
int cancel_job(const context& ctx, std::int64_t id, bool force);
int set_paused(const context& ctx, const std::string& queue, bool paused);
int migrate(const context& ctx);

/// The entries a DLQ command selects.
struct dlq_filter {
  std::optional<std::string> dlq;    ///< --dlq; none: every DLQ
  std::optional<std::string> since;  ///< --since T
  std::optional<std::string> until;  ///< --until T
  std::vector<std::string> types;    ///< --type E...
  std::vector<std::string> keys;     ///< --key K...
  std::optional<std::string> queue;  ///< --queue Q: the entries' source queue

  [[nodiscard]] bool empty() const {
    return !dlq && !since && !until && types.empty() && keys.empty() && !queue;
  }
};

// Dead-letter queues (dlq_commands.cpp)
int dlq_list(const context& ctx, const dlq_filter& filter, std::int64_t limit,
             const std::optional<std::string>& after);
int dlq_show(const context& ctx, std::int64_t id);
int dlq_count(const context& ctx, const dlq_filter& filter, const std::optional<std::string>& by);
int dlq_redrive(const context& ctx, const dlq_filter& filter, const std::optional<std::string>& to,
                bool dry_run, bool force, bool include_optional);
int dlq_purge(const context& ctx, const dlq_filter& filter,
              const std::optional<std::string>& older_than, bool dry_run);

}  // namespace durable_cli
