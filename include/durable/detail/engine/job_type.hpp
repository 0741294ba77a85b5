// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Recording a job type's description in the database, so tools without the C++ type can
/// render payloads: Queue and DeadLetterQueue call record_job_type when they open.

#include <concepts>
#include <string>

#include "durable/clock.hpp"
#include "durable/database.hpp"

namespace durable::inline v0::detail {

/// True when `Codec` describes `Job` in text: `static std::string description<Job>()`,
/// as pfr_codec does (docs/codecs.md#describing-the-job-type).
template <class Codec, class Job>
concept describes_job_type = requires {
  { Codec::template description<Job>() } -> std::convertible_to<std::string>;
};

/// Stores `Codec`'s description of `Job` once per (codec, fingerprint) in `db`, when the
/// codec has one; does nothing otherwise.
template <class Codec, class Job>
void record_job_type(const database& db, const clock_function& clock) {
  if constexpr (describes_job_type<Codec, Job>) {
    db.storage().record_job_type(Codec::name, Codec::template fingerprint<Job>(),
                                 Codec::template description<Job>(), to_unix_ms(now(clock)));
  }
}

}  // namespace durable::inline v0::detail
