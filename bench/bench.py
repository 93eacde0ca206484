#!/usr/bin/env python3
"""`make bench`: measures fdm and prints one table with the reference figures
beside ours, and writes bench/results.json. Benchmarks print numbers; they never
fail on a timing. Rows so far: election time with 4, 8 and 16 agents.
    bench/bench.py [--rows election] [--runs 5]"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "cluster"))
from harness import Cluster, netns_usable, predict_master  # noqa: E402


def election_row(n, runs):
    """All n agents started at once -> every agent reports the same master."""
    times = []
    for _ in range(runs):
        hosts = ["host-%d" % i for i in range(1, n + 1)]
        with Cluster(hosts, datastores=("ds1",), timing=(1000, 2000), verbose=False) as c:
            t0 = c.start_all()
            want = predict_master({h: 1 for h in hosts})
            c.wait_for_agreement(timeout=60, expect=want, interval=0.02)
            times.append(time.monotonic() - t0)
    return {"row": "election time, %d agents" % n, "unit": "s", "runs": runs,
            "median": statistics.median(times), "max": max(times),
            "reference": "vSphere HA: 15 s"}


def print_table(rows):
    print("%-30s %10s %10s %6s  %s" % ("row", "median", "max", "runs", "reference"))
    for r in rows:
        print("%-30s %8.2f %s %8.2f %s %6d  %s" % (r["row"], r["median"], r["unit"], r["max"],
                                                 r["unit"], r["runs"], r["reference"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="election")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if not netns_usable():
        print("bench: needs root and network namespaces")
        return 2
    rows = []
    if "election" in args.rows.split(","):
        for n in (4, 8, 16):
            rows.append(election_row(n, args.runs))
    print_table(rows)
    with open(os.path.join(HERE, "results.json"), "w") as f:
        json.dump({"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
