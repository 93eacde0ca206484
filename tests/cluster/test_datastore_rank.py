#!/usr/bin/env python3
"""The host that reaches the most datastores wins, whatever its id: three hosts
cannot write ds2 (read-only in their mount namespaces), so host-1 wins over host-9."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, predict_master, scenario  # noqa: E402

HOSTS = ["host-1", "host-2", "host-9", "host-10"]


def body():
    ro = {h: {"ds2"} for h in HOSTS if h != "host-1"}
    with Cluster(HOSTS, datastores=("ds1", "ds2"), readonly=ro, timing=(1000, 2000)) as c:
        want = predict_master({h: 2 if h == "host-1" else 1 for h in HOSTS})
        check(want == "host-1", "the rule puts datastores first")
        c.start_all()
        master, secs = c.wait_for_agreement(timeout=10, expect=want)
        bids = {b["host"]: b["datastores"] for b in c.status("host-9")["election"]["bids"]}
        print("election: %s (2 datastores) wins over host-9 (1) after %.2f s; bids seen by "
              "host-9: %s" % (master, secs, bids))
        ds = {d["name"]: d["reachable"] for d in c.status("host-9")["datastores"]}
        check(ds == {"ds1": True, "ds2": False}, "host-9 reports ds2 unreachable: %r" % ds)


if __name__ == "__main__":
    sys.exit(scenario(body))
