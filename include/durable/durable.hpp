// SPDX-License-Identifier: MIT
#pragma once

/// \file
/// Umbrella include: everything a user of durable names.

#include "durable/circuit_breaker.hpp"
#include "durable/clock.hpp"
#include "durable/codec.hpp"
#include "durable/codecs/bytes_codec.hpp"
#include "durable/codecs/pfr_codec.hpp"
#include "durable/database.hpp"
#include "durable/dead_letter.hpp"
#include "durable/dead_letter_queue.hpp"
#include "durable/error_traits.hpp"
#include "durable/errors.hpp"
#include "durable/exceptions.hpp"
#include "durable/job.hpp"
#include "durable/job_context.hpp"
#include "durable/log.hpp"
#include "durable/metrics.hpp"
#include "durable/open_options.hpp"
#include "durable/queue.hpp"
#include "durable/queue_options.hpp"
#include "durable/recovery.hpp"
#include "durable/retry.hpp"
#include "durable/signals.hpp"
#include "durable/storage.hpp"
#include "durable/upgrade.hpp"
#include "durable/version.hpp"
#include "durable/worker.hpp"
