"""The rows of `make bench` that need no cluster: the pure core at scale
(fdm-bench-core), the datastore operations' latency on file://, nfs:// and
iscsi:// (fdm-bench-ds against real nfs-ganesha and tgtd, started by
tests/datastore/servers.py in a namespace of their own), and the simulator's
throughput (build/fdm-sim, two processes at once)."""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "datastore"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "cluster"))
import servers  # noqa: E402
from harness import HarnessError, binary  # noqa: E402

DS_COUNT = 1000


def run_json(argv, timeout):
    """Run a bench program; its stdout is JSON (one object, or one per line)."""
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise HarnessError("%s: exit %d: %s" % (" ".join(argv), r.returncode,
                                                r.stderr.strip()[-500:]))
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def core_rows():
    out = run_json([os.path.join(binary("bench"), "fdm-bench-core"), "--runs", "1000"], 120)[0]
    p, m = out["placement"], out["memory"]
    return [
        {"row": "core scale: placement", "unit": "ms", "runs": p["runs"],
         "median": p["median_ms"], "p99": p["p99_ms"], "max": p["max_ms"],
         "reference": "target < 50 ms; %d VMs of a failed host on %d hosts, %d protected "
         "VMs; vSphere 6.0: 64 hosts, 8,000 VMs" % (p["failed_host_vms"], p["hosts"],
                                                   p["cluster_vms"])},
        {"row": "core scale: core memory", "unit": "MiB", "runs": 1,
         "median": m["core_bytes"] / 1048576.0, "max": m["rss_growth_kib"] / 1024.0,
         "reference": "sizeof(struct fdm_core) (fixed tables: %d hosts, %d VMs, %d B per VM); "
         "max column: RSS growth; heap at init %d B" % (m["hosts"], m["vms"],
                                                        m["vm_entry_bytes"],
                                                        m["init_heap_bytes"])},
    ]


def ds_latency(prefix, url, keyfile):
    res = run_json(prefix + [os.path.join(binary("bench"), "fdm-bench-ds"), "--url", url,
                             "--key", keyfile, "--count", str(DS_COUNT)], 600)
    return {r["op"]: r for r in res}


HOW = {"file": "a directory on the root fs, O_DSYNC (O_DIRECT where taken)",
       "nfs": "nfs-ganesha on loopback, NFSv3 FILE_SYNC",
       "iscsi": "tgtd on loopback, a 64 MiB file-backed LUN, FUA"}
NAMES = (("hb_write", "hb write"), ("record_read", "record read"),
         ("lease_renew", "lease renewal"))


def ds_rows():
    """file:// in a directory of the root filesystem (the test datastores'
    place), nfs:// and iscsi:// on loopback inside one namespace."""
    work = tempfile.mkdtemp(prefix="fdm-bench-ds-", dir="/var/tmp")
    rows = []
    try:
        key = os.path.join(work, "key")
        subprocess.run([binary("fdmctl"), "keygen", key], check=True, capture_output=True)
        os.makedirs(os.path.join(work, "file"))
        results = {"file": ds_latency([], "file://" + os.path.join(work, "file"), key)}
        with servers.Netns.create("fdmbench") as ns:
            nfs = servers.Ganesha(os.path.join(work, "nfs"), ns, exports=["ds1"]).start()
            try:
                results["nfs"] = ds_latency(ns.prefix(), nfs.url("ds1"), key)
            finally:
                nfs.stop()
            tgt = servers.Tgtd(os.path.join(work, "tgt"), ns, luns=[("ds1", 512, 64, 1)]).start()
            try:
                results["iscsi"] = ds_latency(ns.prefix(), tgt.url("ds1", 1), key)
            finally:
                tgt.stop()
        for scheme in ("file", "nfs", "iscsi"):
            for op, name in NAMES:
                r = results[scheme][op]
                rows.append({"row": "%s, %s://" % (name, scheme), "unit": "ms", "runs": r["n"],
                             "median": r["median_us"] / 1000.0, "p99": r["p99_us"] / 1000.0,
                             "max": r["max_us"] / 1000.0,
                             "reference": "through libfdmds; " + HOW[scheme]})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


SIM_SEEDS = 60        # per process and run
SIM_MODES = ("chaos", "stormy")


def sim_once(first):
    """Two fdm-sim processes at once, one per mode; schedules per minute of wall time."""
    t0 = time.monotonic()
    procs = [subprocess.Popen([binary("fdm-sim"), "--mode", mode, "--seeds", str(SIM_SEEDS),
                               "--first", str(first), "--quiet"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for mode in SIM_MODES]
    try:
        outs = [p.communicate(timeout=600)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    wall = time.monotonic() - t0
    for p, out in zip(procs, outs):
        if p.returncode != 0:
            raise HarnessError("fdm-sim exit %d: %s" % (p.returncode, out[-500:]))
    return len(procs) * SIM_SEEDS / wall * 60.0


def sim_row(runs):
    rates = [sim_once(1 + i * SIM_SEEDS) for i in range(runs)]
    return {"row": "simulator, 2 processes", "unit": "sched/min", "runs": runs,
            "median": statistics.median(rates), "max": max(rates), "rates": rates,
            "reference": "%d schedules each of %s per run, 4 hosts, 8 VMs"
            % (SIM_SEEDS, " and ".join(SIM_MODES))}
