#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Turns the benchmark output in a report directory into report.md and two plots.

Reads (whichever exist) queue.json, dlq.json, worker.json (Google Benchmark JSON with
aggregates), persist_queue.json (bench/persist_queue.py) and rss.txt (bench_rss), writes
report.md: one row per figure with durable's median, its spread (coefficient of
variation over the repetitions), what it is compared against, that figure's median, the
ratio and the target from issue 10; and, through gnuplot, threads.{png,svg} (throughput
against producer and consumer threads) and table_size.{png,svg} (latency against rows).

  bench/report.py build/bench-report
"""

import json
import os
import subprocess
import sys

# Ratios are always "how fast durable is relative to the baseline": baseline time /
# durable time, or durable rate / baseline rate. 1.0 is the baseline's speed.


def load(directory, name):
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    out = {}
    for b in data.get("benchmarks", []):
        if b.get("run_type") != "aggregate":
            continue
        entry = out.setdefault(b["run_name"], {})
        entry[b["aggregate_name"]] = b
    return out


def seconds(b):
    """Google Benchmark's own choice: wall time for cases that ask for it (threads,
    Worker), else the CPU time of the benchmark thread, which a busy neighbour disturbs
    less on a shared machine (with synchronous=NORMAL there is no fsync to wait for)."""
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
    return (b["real_time"] if "real_time" in b["run_name"] else b["cpu_time"]) * scale


def fmt_time(s):
    if s >= 1:
        return "%.2f s" % s
    if s >= 1e-3:
        return "%.2f ms" % (s * 1e3)
    return "%.1f µs" % (s * 1e6)


def fmt_rate(r):
    return "%.0f /s" % r if r < 10_000 else "%.1fk /s" % (r / 1000)


class report:
    def __init__(self, directory):
        self.d = directory
        self.runs = {}
        for f in ("queue.json", "dlq.json", "worker.json"):
            self.runs.update(load(directory, f))
        self.rows = []

    def get(self, name):
        return self.runs.get(name)

    def time_row(self, figure, durable, baseline, against, target=None):
        d, b = self.get(durable), self.get(baseline)
        if not d or not b:
            return
        dt, bt = seconds(d["median"]), seconds(b["median"])
        self.add(figure, fmt_time(dt), d, against, fmt_time(bt), bt / dt, target)

    def rate_row(self, figure, durable, baseline, against, target=None):
        d, b = self.get(durable), self.get(baseline)
        if not d or not b:
            return
        dr, br = d["median"]["items_per_second"], b["median"]["items_per_second"]
        self.add(figure, fmt_rate(dr), d, against, fmt_rate(br), dr / br, target, rate=True)

    def add(self, figure, value, d, against, base_value, ratio, target, rate=False):
        cv = d.get("cv")
        spread = ""
        if cv:
            field = ("items_per_second" if rate else
                     "real_time" if "real_time" in cv["run_name"] else "cpu_time")
            spread = "%.0f %%" % (100 * cv[field])
        met = "" if target is None else ("yes" if ratio >= target else "**no**")
        self.rows.append((figure, value, spread, against, base_value, "%.2f" % ratio,
                          "" if target is None else "≥ %.2f" % target, met))

    def section(self, title):
        self.rows.append(("**" + title + "**", "", "", "", "", "", "", ""))

    def build(self):
        sizes = [(64, "64 B"), (1024, "1 KiB")]
        self.section("Queue against the minimal raw SQLite queue (the ceiling)")
        for s, label in sizes:
            self.time_row("push, one commit each, %s" % label, "durable_push/%d" % s,
                          "minimal_push/%d/0" % s, "minimal push", 0.9)
        for s, label in sizes:
            self.time_row("push_many ×1000, %s" % label, "durable_push_many/%d" % s,
                          "minimal_push_many/%d/0" % s, "minimal, 1000 per transaction", 0.7)
        for s, label in sizes:
            self.time_row("claim + ack, %s" % label, "durable_claim_ack/%d" % s,
                          "minimal_claim_ack/%d/0" % s, "minimal claim + ack", 0.9)
        self.section("Queue against the minimal queue that also keeps a counter row in each "
                     "transaction (what O(1) size, stats and hard limit cost)")
        for s, label in sizes:
            self.time_row("push, one commit each, %s" % label, "durable_push/%d" % s,
                          "minimal_push/%d/1" % s, "minimal push + counter")
        for s, label in sizes:
            self.time_row("claim + ack, %s" % label, "durable_claim_ack/%d" % s,
                          "minimal_claim_ack/%d/1" % s, "minimal claim + ack + counter")
        self.section("Queue against raw SQLite running durable's own SQL (the C++ layer)")
        for name, figure in [("push", "push"), ("push_many", "push_many ×1000"),
                             ("claim_ack", "claim + ack"),
                             ("claim_batch_ack", "claim_batch(100) + 100 ack")]:
            for s, label in sizes:
                # raw_claim_ack/<size>/1: durable's claim with its sequential barrier
                raw = "raw_%s/%d%s" % (name, s, "/1" if name == "claim_ack" else "")
                self.time_row("%s, %s" % (figure, label), "durable_%s/%d" % (name, s), raw,
                              "same SQL, raw")
        self.section("Threads on one Queue, one commit per call, against the one-connection "
                     "ceiling")
        for sync, sync_label in [(0, "NORMAL"), (1, "FULL")]:
            for s, label in sizes:
                base = "minimal_push_sync/%d/%d/real_time" % (s, sync)
                for t in (1, 8):
                    self.rate_row("push, %d thread%s, %s, %s" % (t, "s" if t > 1 else "", label,
                                                                   sync_label),
                                  "durable_push_threads/%d/%d/real_time/threads:%d" % (s, sync, t),
                                  base, "minimal push, %s" % sync_label,
                                  3.0 if t == 8 else None)
        for sync, sync_label in [(0, "NORMAL"), (1, "FULL")]:
            for s, label in sizes:
                it = 1000 if sync == 0 else 100
                base = "minimal_claim_ack_sync/%d/%d/iterations:%d/real_time" % (s, sync, it)
                for t in (1, 8):
                    self.rate_row(
                        "claim + ack, %d thread%s, %s, %s" % (t, "s" if t > 1 else "", label,
                                                              sync_label),
                        "durable_claim_ack_threads/%d/%d/iterations:%d/real_time/threads:%d" %
                        (s, sync, it, t), base, "minimal claim + ack, %s" % sync_label,
                        3.0 if (t == 8 and sync == 0) else None)
        self.section("Bookkeeping at 1,000,000 rows against 1,000 rows")
        for name, figure in [("durable_stats", "Queue::stats()"), ("durable_size", "Queue::size()"),
                             ("durable_push_hard_limit", "push with a hard limit"),
                             ("BM_size_durable", "DLQ size() / count() of the whole DLQ")]:
            self.time_row("%s at 1M" % figure, "%s/1000000" % name, "%s/1000" % name,
                          "the same at 1k", 0.5)
        self.section("Dead-letter queue against the minimal raw SQLite DLQ")
        self.time_row("window query, ~1,000 of 1M", "BM_window_durable/1000000",
                      "BM_window_minimal/1000000", "minimal window", 1 / 1.5)
        self.time_row("window query, ~1,000 of 100k", "BM_window_durable/100000",
                      "BM_window_minimal/100000", "minimal window")
        self.time_row("delete_older_than, 10 % of 1M", "BM_delete_older_than_durable/iterations:1",
                      "BM_delete_older_than_minimal/iterations:1", "minimal delete", 0.5)
        self.time_row("add, one commit each", "BM_add_durable", "BM_add_minimal", "minimal add")
        self.time_row("add_many ×1000", "BM_add_many_durable", "BM_add_many_minimal",
                      "minimal, 1000 per transaction")
        self.section("Dead-letter queue against raw SQLite running durable's own SQL")
        self.time_row("window query, ~1,000 of 1M", "BM_window_durable/1000000",
                      "BM_window_raw/1000000", "same SQL, raw")
        self.time_row("count over ~100,000 of 1M", "BM_count_durable", "BM_count_raw",
                      "same SQL, raw")
        self.time_row("delete_older_than, 10 % of 1M", "BM_delete_older_than_durable/iterations:1",
                      "BM_delete_older_than_raw/iterations:1", "same SQL, raw")
        self.time_row("add, one commit each", "BM_add_durable", "BM_add_raw", "same SQL, raw")
        self.section("Worker")
        self.rate_row("jobs/s with a large DLQ", "worker_dlq/1/real_time", "worker_dlq/0/real_time",
                      "the same, empty DLQ", 0.9)
        for t in (2, 4, 8):
            self.rate_row("jobs/s, %d handler threads" % t, "worker_threads/%d/real_time" % t,
                          "worker_threads/1/real_time", "1 handler thread")
        self.persist_queue()

    def persist_queue(self):
        path = os.path.join(self.d, "persist_queue.json")
        if not os.path.exists(path):
            return
        with open(path, encoding="utf-8") as f:
            pq = json.load(f)
        self.section("persist-queue %s (SQLiteAckQueue, WAL, FULL), %d jobs; durable at FULL "
                     "with %d threads" % (pq["persist_queue_version"], pq["rows"][0]["jobs"],
                                          pq["rows"][0]["threads"]))
        for r in pq["rows"]:
            for i, op in enumerate(["push vs put", "claim + ack vs get + ack"]):
                base = max(r["persist_queue_1_thread"][i], r["persist_queue_threads"][i])
                self.rows.append(("%s, %d B" % (op, r["size"]), fmt_rate(r["durable"][i]),
                                  "", "persist-queue, best of 1 and %d threads" % r["threads"],
                                  fmt_rate(base), "%.2f" % r["ratio"][i], "≥ 5.00",
                                  "yes" if r["ratio"][i] >= 5 else "**no**"))

    def markdown(self):
        lines = ["| figure | durable (median) | spread | compared against | its median | ratio "
                 "| target | met |", "|---|---|---|---|---|---|---|---|"]
        for r in self.rows:
            lines.append("| " + " | ".join(r) + " |")
        rss = os.path.join(self.d, "rss.txt")
        if os.path.exists(rss):
            with open(rss, encoding="utf-8") as f:
                lines += ["", "RSS over a 1,000,000-job push + claim + ack cycle (bench_rss):", "",
                          "```", f.read().rstrip(), "```"]
        return "\n".join(lines) + "\n"

    def plots(self):
        threads = [1, 2, 4, 8]
        series = []
        for what, name in [("push", "durable_push_threads"),
                           ("claim+ack", "durable_claim_ack_threads")]:
            for sync, label in [(0, "NORMAL"), (1, "FULL")]:
                iters = "" if what == "push" else "iterations:%d/" % (1000 if sync == 0 else 100)
                pts = []
                for t in threads:
                    b = self.get("%s/64/%d/%sreal_time/threads:%d" % (name, sync, iters, t))
                    if b:
                        pts.append((t, b["median"]["items_per_second"]))
                if pts:
                    series.append(("durable %s, %s" % (what, label), pts))
            for sync, label in [(0, "NORMAL"), (1, "FULL")]:
                iters = "" if what == "push" else "iterations:%d/" % (1000 if sync == 0 else 100)
                base = "minimal_push_sync" if what == "push" else "minimal_claim_ack_sync"
                b = self.get("%s/64/%d/%sreal_time" % (base, sync, iters))
                if b:
                    r = b["median"]["items_per_second"]
                    series.append(("minimal raw %s, %s, 1 connection" % (what, label),
                                   [(t, r) for t in threads]))
        sizes = []
        for name, label in [("durable_stats", "Queue::stats()"), ("durable_size", "Queue::size()"),
                            ("durable_push_hard_limit", "push, hard limit"),
                            ("BM_size_durable", "DLQ size()")]:
            pts = []
            for n in (1000, 1000000):
                b = self.get("%s/%d" % (name, n))
                if b:
                    pts.append((n, seconds(b["median"]) * 1e6))
            if pts:
                sizes.append((label, pts))
        self.gnuplot("threads", "Throughput against threads on one file (64 B jobs)", "threads",
                     "operations per second", series, logx=False)
        self.gnuplot("table_size", "Latency against rows in the table", "rows",
                     "microseconds per call", sizes, logx=True)

    def gnuplot(self, name, title, xlabel, ylabel, series, logx):
        if not series:
            return
        script = []
        for i, (_, pts) in enumerate(series):
            script.append("$d%d << EOD" % i)
            script += ["%g %g" % p for p in pts]
            script.append("EOD")
        script += ['set title "%s"' % title, 'set xlabel "%s"' % xlabel,
                   'set ylabel "%s"' % ylabel, "set logscale y", "set key below",
                   "set grid"]
        if logx:
            script.append("set logscale x")
        else:
            script.append("set xtics (1, 2, 4, 8)")
        plot = ", ".join('$d%d with linespoints lw 2 title "%s"' % (i, label)
                         for i, (label, _) in enumerate(series))
        for term, ext in [("pngcairo size 900,650", "png"), ("svg size 900,650", "svg")]:
            body = ["set terminal " + term,
                    'set output "%s"' % os.path.join(self.d, name + "." + ext)]
            subprocess.run(["gnuplot"], input="\n".join(script + body + ["plot " + plot]),
                           text=True, check=True)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    r = report(sys.argv[1])
    r.build()
    with open(os.path.join(sys.argv[1], "report.md"), "w", encoding="utf-8") as f:
        f.write(r.markdown())
    r.plots()
    print(r.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
