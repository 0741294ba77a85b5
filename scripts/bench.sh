#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs durable's benchmarks and writes build/bench-report/:
#   report.md               one row per figure: durable's median, its spread over the
#                           repetitions, the baseline it is compared against and its median,
#                           the ratio (1.00 = the baseline's speed) and the target
#   threads.png / .svg      throughput against producer / consumer threads
#   table_size.png / .svg   latency of stats(), size(), a hard-limit push, DLQ size()
#                           against rows in the table
#   *.json, *.txt           the raw output of each benchmark program
#
#   scripts/bench.sh
#
# Environment: DURABLE_BENCH_REPS (repetitions, default 5), DURABLE_BENCH_WORKER_DLQ (DLQ
# entries of the Worker benchmark, default 10,000,000; the file takes ~2 GB in $TMPDIR),
# DURABLE_BENCH_RSS_JOBS (default 1,000,000), DURABLE_BENCH_PQ_RUNS (runs of the
# persist-queue comparison, default 3: persist-queue at FULL takes ~5 ms per put here),
# DURABLE_BENCH_FILTER (a Google Benchmark filter applied to every program, default: all).
#
# Installs what it needs first (scripts/install-deps.sh bench: Google Benchmark, gnuplot,
# Debian's python3-persist-queue). Benchmarks on a shared machine are noisy: run nothing
# else meanwhile. Cases run interleaved in random order so a noisy neighbour spreads over
# both sides of a ratio.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh bench
cmake --preset release >/dev/null
cmake --build --preset release --target bench_queue bench_dead_letter_queue bench_worker \
  bench_rss bench_compare

out=build/bench-report
mkdir -p "$out"
bin=build/release/bench
reps=${DURABLE_BENCH_REPS:-5}
common=(--benchmark_repetitions="$reps" --benchmark_enable_random_interleaving=true
        --benchmark_report_aggregates_only=true --benchmark_min_time=0.3
        --benchmark_out_format=json)
if [[ -n ${DURABLE_BENCH_FILTER:-} ]]; then common+=(--benchmark_filter="$DURABLE_BENCH_FILTER"); fi

{
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)," \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "system: $(. /etc/os-release && echo "$PRETTY_NAME"), $(uname -r), SQLite $(
    sqlite3 --version 2>/dev/null | cut -d' ' -f1 || echo '?')"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%FT%TZ)"
} >"$out/machine.txt"
cat "$out/machine.txt"

"$bin/bench_queue" "${common[@]}" --benchmark_out="$out/queue.json" | tee "$out/queue.txt"
"$bin/bench_dead_letter_queue" "${common[@]}" --benchmark_out="$out/dlq.json" | tee "$out/dlq.txt"
DURABLE_BENCH_WORKER_DLQ=${DURABLE_BENCH_WORKER_DLQ:-10000000} \
  "$bin/bench_worker" "${common[@]}" --benchmark_out="$out/worker.json" | tee "$out/worker.txt"
"$bin/bench_rss" "${DURABLE_BENCH_RSS_JOBS:-1000000}" | tee "$out/rss.txt"
/usr/bin/python3 bench/persist_queue.py --durable "$bin/bench_compare" \
  --runs "${DURABLE_BENCH_PQ_RUNS:-3}" \
  --json "$out/persist_queue.json" | tee "$out/persist_queue.md"
/usr/bin/python3 bench/report.py "$out" >/dev/null
echo "bench.sh: wrote $out/report.md, $out/threads.{png,svg}, $out/table_size.{png,svg}"
