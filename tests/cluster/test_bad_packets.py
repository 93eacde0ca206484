#!/usr/bin/env python3
"""Packets with a wrong key, a foreign cluster id, garbage, and a replayed packet
are dropped and counted under "dropped" in `fdmctl --json status`; the cluster
keeps its master meanwhile."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, binary, check, scenario  # noqa: E402

HOSTS = ["host-1", "host-2", "host-9", "host-10"]
KINDS = {"wrong-key": "bad_mac", "foreign-cluster": "foreign_cluster",
         "garbage": "malformed", "replay": "replay"}


def body():
    # host-99 is listed in [peers] but runs nothing: the injected packets claim it.
    with Cluster(HOSTS, ghosts=["host-99"], timing=(1000, 2000)) as c:
        c.start_all()
        master, _ = c.wait_for_agreement(timeout=10, expect="host-9")
        target = "host-2"
        before = c.status(target)["dropped"]
        for kind in KINDS:
            c.netns_exec("host-1", [binary("tests/fdm-inject"), "--key", c.key_file,
                                    "--cluster", c.cluster_id, "--sender", "host-99",
                                    "--to", c.host(target).address, "--kind", kind])

        def counted():
            d = c.status(target)["dropped"]
            return d if all(d[v] > before[v] for v in KINDS.values()) else None
        after, _ = c.wait_until(counted, 5, "every bad packet counted on %s" % target)
        for kind, reason in KINDS.items():
            print("%-16s -> dropped.%s %d -> %d" % (kind, reason, before[reason], after[reason]))
        check(c.agreed_master() == master, "the master is unchanged")


if __name__ == "__main__":
    sys.exit(scenario(body))
