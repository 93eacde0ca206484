#!/usr/bin/env python3
"""`make bench`: measures fdm and prints one table with the reference figures
beside ours, and writes bench/results.json (README.md "Performance" says what
each row measures). Benchmarks print numbers; they never fail on a timing, only
when a measurement cannot be taken (exit 1, the row says why).
    bench/bench.py [--rows election,failover,...|all] [--runs 5]
Rows: election, failover, master, isolation, core, memory, datastore, sim.
Rows that start namespaces, servers or agents take /tmp/fdm-systest.lock (the
lock every cluster test runs under) for their duration, one row at a time."""
import argparse
import fcntl
import json
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "cluster"))
from harness import netns_usable  # noqa: E402
import agent_rows  # noqa: E402
import cluster_rows  # noqa: E402
import local_rows  # noqa: E402

LOCK = "/tmp/fdm-systest.lock"
ISOLATION_RUNS = 3     # each run waits isolation_delay and a restart: fewer


def row_election(runs):
    return [cluster_rows.election_row(n, runs) for n in (4, 8, 16)]


def row_failover(runs):
    return [cluster_rows.failover_row(cluster_rows.DEFAULT_TIMING, "default", runs),
            cluster_rows.failover_row(cluster_rows.FASTEST_TIMING, "fastest", runs)]


def row_master(runs):
    return [cluster_rows.master_failover_row(cluster_rows.DEFAULT_TIMING, runs)]


def row_isolation(runs):
    return [cluster_rows.isolation_row(cluster_rows.DEFAULT_TIMING, min(runs, ISOLATION_RUNS))]


def row_memory(runs):
    return agent_rows.memory_rows(cluster_rows.DEFAULT_TIMING)


def row_core(runs):
    return local_rows.core_rows()


def row_datastore(runs):
    return local_rows.ds_rows()


def row_sim(runs):
    return [local_rows.sim_row(3)]


# name: (function, needs root and the shared lock), in the table's order.
ROWS = {
    "election": (row_election, True),
    "failover": (row_failover, True),
    "master": (row_master, True),
    "isolation": (row_isolation, True),
    "core": (row_core, False),
    "memory": (row_memory, True),
    "datastore": (row_datastore, True),
    "sim": (row_sim, False),
}


class SystestLock:
    """flock(2) on the shared lock file, as `flock /tmp/fdm-systest.lock` takes it."""

    def __enter__(self):
        self.f = open(LOCK, "a")
        try:
            fcntl.flock(self.f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("bench: waiting for %s (another test run holds it)" % LOCK,
                  file=sys.stderr, flush=True)
            fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()
        return False


def run_row(name, runs):
    fn, needs_root = ROWS[name]
    t0 = time.monotonic()
    print("bench: %s ..." % name, file=sys.stderr, flush=True)
    try:
        if needs_root:
            if not netns_usable():
                raise RuntimeError("needs root and network namespaces")
            with SystestLock():
                t0 = time.monotonic()      # the lock's wait is not the row's time
                rows = fn(runs)
        else:
            rows = fn(runs)
    except Exception as e:     # one row not measured: say why, go on with the rest
        traceback.print_exc()
        rows = [{"row": name, "error": "%s: %s" % (type(e).__name__, e)}]
    print("bench: %s took %.0f s" % (name, time.monotonic() - t0), file=sys.stderr, flush=True)
    return rows


def num(v):
    """Three significant figures, never in exponent form."""
    if abs(v) >= 100:
        return "%.0f" % v
    return "%.3g" % v if abs(v) >= 0.001 else "%.4f" % v


def print_table(rows):
    print("%-32s %12s %10s %10s %6s  %s" % ("row", "unit", "median", "max/p99", "runs",
                                             "reference"))
    for r in rows:
        if "error" in r:
            print("%-32s NOT MEASURED: %s" % (r["row"], r["error"]))
            continue
        spread = ("%8s p99" % num(r["p99"])) if "p99" in r else ("%8s max" % num(r["max"]))
        print("%-32s %12s %10s %s %6d  %s" % (r["row"], r["unit"], num(r["median"]), spread,
                                              r["runs"], r["reference"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="all")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    names = list(ROWS) if args.rows == "all" else [n for n in args.rows.split(",") if n]
    unknown = [n for n in names if n not in ROWS]
    if unknown or args.runs < 1:
        print("bench: unknown row %s (rows: %s)" % (", ".join(unknown), ", ".join(ROWS)))
        return 2
    t0 = time.monotonic()
    rows = []
    for name in names:
        rows.extend(run_row(name, args.runs))
    sys.stderr.flush()
    print_table(rows)
    took = time.monotonic() - t0
    print("bench: %d rows in %.0f s" % (len(rows), took))
    with open(os.path.join(HERE, "results.json"), "w") as f:
        json.dump({"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": took,
                   "loadavg": os.getloadavg(), "rows": rows}, f, indent=1)
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
