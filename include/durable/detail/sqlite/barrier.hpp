// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Sequential barriers, as a condition the claim statements (claim.hpp) put on each
/// candidate row. A sequential job runs alone in its queue, across every thread and
/// process on the database: it is claimable only when no older job (lower id) of its
/// queue remains in any state, and no job younger than a remaining sequential job is
/// claimable. "Remaining" is any state: a job waiting for a retry has not finished.
///
/// Cost: the queue's oldest sequential job is one probe of the partial index
/// durable_jobs_barrier (schema.hpp, the Worker's step), empty for queues without sequential
/// jobs. Only that job can be a sequential candidate, and for it alone the statement looks
/// for an older job of its queue by walking the rowid (the id) down from it: while the
/// barrier waits, the nearest older job of its queue is found after a few rows; when it is
/// claimable, the walk passes every older job of other queues once (about 20 ns each),
/// once per sequential job claimed. Jobs that are not sequential pay nothing on push or
/// ack (no index to maintain). Part of the SQLite layer, the only place SQL lives.

// A macro, not a constant: the claim statements are built by string-literal concatenation.
// Not undefined after use, so tests can check the plans of statements built with it.
// NOLINTBEGIN(cppcoreguidelines-macro-usage)

/// The barrier condition on candidate row `j` (an alias) of the queue id parameter `queue`
/// ("?5"). The unary `+` keeps the planner on the claim index (queue_id, priority DESC,
/// run_at, id, codec, fingerprint), which yields candidates in claim order.
/// NOT INDEXED and the descending order make the search for an older job walk the rowid
/// down from the candidate, nearest jobs first.
#define DURABLE_DETAIL_SEQUENTIAL_BARRIER(j, queue)                                           \
  "(+" j ".id <= coalesce((SELECT min(b.id) FROM durable_jobs AS b WHERE b.queue_id = " queue \
  " AND b.sequential <> 0), 9223372036854775807) AND (" j                                     \
  ".sequential = 0 OR (SELECT e.id FROM durable_jobs AS e NOT INDEXED WHERE e.id < " j        \
  ".id AND e.queue_id = " queue " ORDER BY e.id DESC LIMIT 1) IS NULL))"

// NOLINTEND(cppcoreguidelines-macro-usage)
