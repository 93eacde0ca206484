#!/usr/bin/env python3
"""`make bench`: measures fdm and prints one table with the reference figures
beside ours, and writes bench/results.json. Benchmarks print numbers; they never
fail on a timing. Rows so far: election time with 4, 8 and 16 agents; failover
(fault to running) at the default and at the fastest accepted timing.
    bench/bench.py [--rows election,failover] [--runs 5]"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "cluster"))
from harness import Cluster, binary, check, netns_usable, predict_master  # noqa: E402
from monitor import DoubleRunMonitor  # noqa: E402

DEFAULT_TIMING = (1000, 2000)
# The fastest pair `fdm --print-timing` accepts: heartbeat_interval_ms >= 100,
# io_timeout_ms >= 500 (host_dead 3.5 s); 4 x heartbeat < 6 x io holds.
FASTEST_TIMING = (100, 500)


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


def derived_timing(c, h):
    """{name: ms} from `fdm --print-timing` on host h's config (in its namespace:
    fdm checks the file is for the host it runs on)."""
    out = subprocess.run(["ip", "netns", "exec", c.host(h).ns, binary("fdm"), "--config",
                          c.host(h).config, "--print-timing"],
                         capture_output=True, text=True, check=True).stdout
    t = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 2 and f[0].endswith("_ms") and f[1].isdigit():
            t[f[0]] = int(f[1])
    return t


def protected_on(c, master, vm, host):
    for v in c.status(master).get("vms", []):
        if v["name"] == vm:
            return v.get("state") == "protected" and v.get("host") == host
    return False


# The target of issue 16: running elsewhere within this at each timing.
TARGET_S = {DEFAULT_TIMING: 15.0, FASTEST_TIMING: 5.0}

# The steps of a failover, from the kill, as the master's `fdmctl events` dates
# them: (name, text that marks its end).
STEPS = (("network hb missing", "host {victim} connected -> "),
         ("dead verdict", ": {victim} dead for "),
         ("power-on asked", ": vm {vm} power-on ordered on "))


def step_times(c, master, victim, vm, t0):
    """{step: seconds after t0} of each step the master's events show (the first
    event after t0 that matches). Event times come from their age at the query,
    so no clock is compared across processes."""
    before = time.monotonic()
    r = c.fdmctl(master, "events", check=False)
    at = (before + time.monotonic()) / 2
    found = {}
    for ev in (r.get("events", []) if isinstance(r, dict) else []):
        t = at - ev["age_ms"] / 1000.0 - t0
        for name, pattern in STEPS:
            if name not in found and t >= -0.05 and \
                    pattern.format(victim=victim, vm=vm) in ev["text"]:
                found[name] = t
    return found


def failover_once(timing, phase):
    """test_failover.py's procedure: a VM of a slave protected, kill -9 of every
    process of that host (fdm and its test-driver shim), poll every 50 ms until
    the VM runs on another host. The kill waits `phase` seconds more first: every
    agent starts at once, so without it each run would kill at the same point of
    the storage heartbeat cycle and the rows would measure one phase of it, not
    its spread (failover_row spreads the phases evenly over one io_timeout). Returns (seconds, {step: seconds}, derived timing)."""
    hosts = ["host-1", "host-2", "host-3"]
    with Cluster(hosts, datastores=("ds1",), timing=timing, shims=True, verbose=False) as c:
        t_start = c.start_all()
        master, _ = c.wait_for_agreement(timeout=60, interval=0.05)
        t_agreed = time.monotonic()
        c.wait_until(lambda: c.holds_every_lease(master), 60, "the master holding every lease")
        t_leases = time.monotonic()
        victim = next(h for h in hosts if h != master)
        vm = victim + "-vm1"
        r = c.fdmctl(master, "protect", vm, "--datastore", "ds1", check=False, timeout=40)
        check(isinstance(r, dict) and r.get("ok") is True, "protect %s: %s" % (vm, r))
        c.wait_until(lambda: protected_on(c, master, vm, victim), 30, "%s protected" % vm)
        with DoubleRunMonitor(c, vms=[vm], interval=0.05) as mon:
            time.sleep(phase)
            c.kill(victim, signal.SIGKILL)
            c.kill_shim(victim, signal.SIGKILL)
            t0 = time.monotonic()
            _, since = mon.wait_running_elsewhere(vm, not_on=victim, timeout=120)
        steps = step_times(c, master, victim, vm, t0)
        steps["running"] = since - t0
        print("  failover %d/%d: agreed %.1f s, leases %.1f s, protected %.1f s, phase "
              "%.2f s, fault to running %.2f s (%s)"
              % (timing[0], timing[1], t_agreed - t_start, t_leases - t_start, t0 - t_start,
                 phase, since - t0, describe_steps(steps)),
              file=sys.stderr, flush=True)
        return since - t0, steps, derived_timing(c, master)


def describe_steps(steps):
    """kill -> a s -> b s ...: each step's end after the kill, and (+) its own length."""
    parts, last = [], 0.0
    for name in [n for n, _ in STEPS] + ["running"]:
        if name in steps:
            parts.append("%s %.2f (+%.2f)" % (name, steps[name], steps[name] - last))
            last = steps[name]
        else:
            parts.append("%s ?" % name)
    return "kill -> " + ", ".join(parts)


def slowest_step(steps, host_dead_s):
    """The step that took the most beyond its share: the dead verdict's share is
    host_dead after the kill; asking for the power-on and the power-on itself
    have none (one storage write, one define + start)."""
    excess = {}
    if "dead verdict" in steps:
        excess["dead verdict"] = steps["dead verdict"] - host_dead_s
    for name, before in (("power-on asked", "dead verdict"), ("running", "power-on asked")):
        if name in steps and before in steps:
            excess[name] = steps[name] - steps[before]
    if not excess:
        return "running", steps.get("running", 0.0) - host_dead_s
    worst = max(excess, key=excess.get)
    return worst, excess[worst]


def failover_row(timing, name, runs):
    times, all_steps, t = [], [], {}
    # Kill phases spread evenly over one io_timeout, the same ones every time.
    for i in range(runs):
        took, steps, t = failover_once(timing, (i + 0.5) / runs * timing[1] / 1000.0)
        times.append(took)
        all_steps.append(steps)
    host_dead = t["host_dead_ms"] / 1000.0
    bound = (t["host_dead_ms"] + t["io_timeout_ms"]) / 1000.0
    median_steps = {}
    for step in [n for n, _ in STEPS] + ["running"]:
        seen = [s[step] for s in all_steps if step in s]
        if seen:
            median_steps[step] = statistics.median(seen)
    target = TARGET_S[timing]
    reference = ("target %.1f s (host_dead %.1f + one read + power-on); vSphere ~18 s, "
                 "Proxmox ~120 s; steps (median) %s"
                 % (target, host_dead, describe_steps(median_steps)))
    if statistics.median(times) > target:
        worst, excess = slowest_step(median_steps, host_dead)
        reference = "MISSED: %s took %.2f s beyond its share; %s" % (worst, excess, reference)
    return {"row": "failover, %s %d/%d" % (name, timing[0], timing[1]), "unit": "s",
            "runs": runs, "median": statistics.median(times), "max": max(times),
            "times": times, "steps": all_steps, "median_steps": median_steps,
            "target": target, "bound": bound, "reference": reference}


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
    if "failover" in args.rows.split(","):
        rows.append(failover_row(DEFAULT_TIMING, "default", args.runs))
        rows.append(failover_row(FASTEST_TIMING, "fastest", args.runs))
    print_table(rows)
    with open(os.path.join(HERE, "results.json"), "w") as f:
        json.dump({"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
