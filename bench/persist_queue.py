#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""durable beside persist-queue on one workload, at the same durability and job sizes.

persist-queue is Debian's python3-persist-queue (scripts/install-deps.sh bench installs
it): SQLiteAckQueue, WAL, its default synchronous=FULL, one commit per put and per ack.
durable runs the same workload through bench_compare (one commit per call, merged by
group commit when threads call at once), at synchronous=FULL.

Workload: J jobs of S bytes pushed by T threads, then claimed and acked by T threads.
persist-queue runs with 1 thread and with T threads; its faster figure is the baseline.
Each figure is the median of R runs. Prints a Markdown table; --json writes the numbers.

  bench/persist_queue.py --durable build/release/bench/bench_compare [--jobs 5000]
      [--sizes 64 1024] [--threads 8] [--runs 5] [--json out.json]
"""

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time

import persistqueue


def persist_queue_run(jobs, size, threads):
    """Puts `jobs` items with `threads` threads, then gets and acks them; returns rates."""
    with tempfile.TemporaryDirectory() as d:
        q = persistqueue.SQLiteAckQueue(os.path.join(d, "pq"), multithreading=True,
                                        auto_commit=True)
        item = b"x" * size
        left = [jobs]
        lock = threading.Lock()

        def take():
            with lock:
                if left[0] == 0:
                    return False
                left[0] -= 1
                return True

        def producer():
            while take():
                q.put(item)

        def consumer():
            while True:
                try:
                    got = q.get(block=False)
                except persistqueue.exceptions.Empty:
                    return
                q.ack(got)

        def timed(body):
            pool = [threading.Thread(target=body) for _ in range(threads)]
            start = time.perf_counter()
            for t in pool:
                t.start()
            for t in pool:
                t.join()
            return time.perf_counter() - start

        push_s = timed(producer)
        left[0] = jobs
        claim_s = timed(consumer)
        if q.qsize() != 0:
            raise RuntimeError("persist-queue left %d items" % q.qsize())
        return jobs / push_s, jobs / claim_s


def durable_run(binary, jobs, size, threads):
    out = subprocess.run([binary, "--jobs", str(jobs), "--size", str(size), "--threads",
                          str(threads), "--durability", "full"],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    return r["push_per_s"], r["claim_ack_per_s"]


def median_of(runs, f):
    results = [f() for _ in range(runs)]
    return (statistics.median(r[0] for r in results), statistics.median(r[1] for r in results))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--durable", required=True, help="path of bench_compare")
    p.add_argument("--jobs", type=int, default=5000)
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 1024])
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--json", help="also write the figures here")
    a = p.parse_args()

    rows = []
    for size in a.sizes:
        pq1 = median_of(a.runs, lambda: persist_queue_run(a.jobs, size, 1))
        pqt = median_of(a.runs, lambda: persist_queue_run(a.jobs, size, a.threads))
        dur = median_of(a.runs, lambda: durable_run(a.durable, a.jobs, size, a.threads))
        base = (max(pq1[0], pqt[0]), max(pq1[1], pqt[1]))
        rows.append({"size": size, "jobs": a.jobs, "threads": a.threads,
                     "persist_queue_1_thread": pq1, "persist_queue_threads": pqt,
                     "durable": dur, "ratio": (dur[0] / base[0], dur[1] / base[1])})

    print("persist-queue %s (Debian), SQLiteAckQueue, WAL, synchronous=FULL; durable at FULL; "
          "%d jobs, %d threads, medians of %d runs" %
          (persistqueue.__version__, a.jobs, a.threads, a.runs))
    print()
    print("| job | operation | durable, %d threads | persist-queue, 1 thread | "
          "persist-queue, %d threads | ratio |" % (a.threads, a.threads))
    print("|---|---|---|---|---|---|")
    for r in rows:
        for i, op in enumerate(["push / put", "claim + ack / get + ack"]):
            print("| %d B | %s | %.0f /s | %.0f /s | %.0f /s | %.1f× |" %
                  (r["size"], op, r["durable"][i], r["persist_queue_1_thread"][i],
                   r["persist_queue_threads"][i], r["ratio"][i]))
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"persist_queue_version": persistqueue.__version__, "runs": a.runs,
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
