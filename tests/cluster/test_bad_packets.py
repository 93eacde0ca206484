#!/usr/bin/env python3
"""Packets with a wrong key, a foreign cluster id, garbage, and a replayed packet
are dropped and counted under "dropped" in `fdmctl --json status`; the cluster
keeps its master meanwhile. The injected packets claim host-99, which is listed in
[peers] but runs nothing, and leave from host-99's own address (added in host-1's
namespace), so that only the fault under test is at fault."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, binary, check, scenario  # noqa: E402

HOSTS = ["host-1", "host-2", "host-9", "host-10"]
TIMING = (1000, 2000)
KINDS = {"wrong-key": "bad_mac", "foreign-cluster": "foreign_cluster",
         "garbage": "malformed", "replay": "replay"}


def body():
    with Cluster(HOSTS, ghosts=["host-99"], timing=TIMING) as c:
        c.start_all()
        master, _ = c.wait_for_agreement(timeout=10, expect="host-9")
        target = "host-2"
        ghost = "%s.%d" % (c.net, len(HOSTS) + 1)
        c.netns_exec("host-1", ["ip", "addr", "add", ghost + "/24", "dev", "eth0"])
        before = c.status(target)["dropped"]
        for kind in KINDS:
            c.netns_exec("host-1", [binary("tests/fdm-inject"), "--key", c.key_file,
                                    "--cluster", c.cluster_id, "--sender", "host-99",
                                    "--from", ghost + ":8182", "--timing", "%d:%d" % TIMING,
                                    "--to", c.host(target).address, "--kind", kind])

        def counted():
            d = c.status(target)["dropped"]
            return d if all(d[v] > before[v] for v in KINDS.values()) else None
        after, _ = c.wait_until(counted, 5, "every bad packet counted on %s" % target)
        for kind, reason in KINDS.items():
            print("%-16s -> dropped.%s %d -> %d" % (kind, reason, before[reason], after[reason]))
        for reason in ("wrong_address", "timing_mismatch"):
            check(after[reason] == before[reason], "nothing counted as %s: %r" % (reason, after))
        check(c.agreed_master() == master, "the master is unchanged")


if __name__ == "__main__":
    sys.exit(scenario(body))
