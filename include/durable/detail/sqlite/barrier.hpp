// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Sequential barriers, as a condition the claim statements (claim.hpp) put on each
/// candidate row. A sequential job runs alone in its queue, across every thread and
/// process on the database: it is claimable only when no older job (lower id) of its
/// queue remains in any state, and no job younger than a remaining sequential job is
/// claimable. "Remaining" is any state: a job waiting for a retry has not finished.
///
/// Cost, by index (schema.hpp, version 3): the queue's oldest sequential job is one probe
/// of the partial index durable_jobs_barrier (empty for queues without sequential jobs);
/// "is there an older job" is one probe of durable_jobs_order, made only for a sequential
/// candidate, and only the oldest sequential job can be one. Part of the SQLite layer, the
/// only place SQL lives.

// A macro, not a constant: the claim statements are built by string-literal concatenation.
// Not undefined after use, so tests can check the plans of statements built with it.
// NOLINTBEGIN(cppcoreguidelines-macro-usage)

/// The barrier condition on candidate row `j` (an alias) of queue parameter `queue` ("?5").
/// The unary `+` keeps the planner on the claim index (queue, priority, run_at, id), which
/// yields candidates in claim order; a range on durable_jobs_order would need a sort.
#define DURABLE_DETAIL_SEQUENTIAL_BARRIER(j, queue)                                        \
  "(+" j ".id <= coalesce((SELECT min(b.id) FROM durable_jobs AS b WHERE b.queue = " queue \
  " AND b.sequential <> 0), 9223372036854775807) AND (" j                                  \
  ".sequential = 0 OR NOT EXISTS (SELECT 1 FROM durable_jobs AS e WHERE e.queue = " queue  \
  " AND e.id < " j ".id)))"

// NOLINTEND(cppcoreguidelines-macro-usage)
