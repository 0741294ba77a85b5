// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// `job_upgrades<Job>`: what users specialize to declare that a job type can be built from
/// rows of older job types, and `types<...>`, the list it names them with. Standard headers
/// only: include this next to your job types. See docs/evolving-jobs.md#upgrades.

namespace durable::inline v0 {

/// A list of job types, for `job_upgrades<Job>::from`.
template <class... Ts>
struct types {};

/// Declares that rows written as older job types can be read as `Job`. Left undefined:
/// specialize it next to `Job`, listing the old types in `from` and giving one
/// `static Job upgrade(Old old)` per old type:
///
/// ```cpp
/// template <>
/// struct durable::job_upgrades<order_v2> {
///   using from = durable::types<order_v1>;
///   static order_v2 upgrade(order_v1 old) { return {old.id, std::move(old.email), "EUR"}; }
/// };
/// ```
///
/// A Queue, DeadLetterQueue or Worker of `Job` then claims and decodes rows of every listed
/// type (and of the types those upgrade from, in turn), built with `upgrade`. Each old type
/// must have another fingerprint than `Job` under the codec (a changed layout, or a
/// `job_version`). Misuse fails to compile with a `durable: job_upgrades<Job>` message.
template <class Job>
struct job_upgrades;

}  // namespace durable::inline v0
