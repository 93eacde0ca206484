#!/usr/bin/env python3
"""The master holds the lease on every datastore (fdm-inspect and every agent
show it); after kill -9 of the master its successor takes the leases only once
they have expired; a master that stops cleanly releases them and its successor
takes them at once. file:// datastores; tests/cluster/test_storage_servers.py
does the same on real NFS and iSCSI servers."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, scenario  # noqa: E402

HOSTS = ["host-1", "host-2", "host-9", "host-10"]
TIMING = (500, 1000)    # lease_expiry 4 s, acquire wait 2 s


def wait_holder(c, who, timeout):
    return c.wait_until(lambda: c.holds_every_lease(who), timeout,
                        "%s holding every lease (now %s)" % (who, c.lease_holders()))[1]


def body():
    with Cluster(HOSTS, datastores=("ds1", "ds2"), timing=TIMING) as c:
        c.start_all()
        master, _ = c.wait_for_agreement(timeout=10, expect="host-9")
        secs = wait_holder(c, master, 15)
        print("leases: %s holds ds1 and ds2 (fdm-inspect) %.2f s after agreement" % (master, secs))
        c.wait_until(lambda: all(d["lock_holder"] == master and d["heartbeat"]
                                 for d in c.status("host-1")["datastores"]), 10,
                     "host-1 shows the lock holder and its own heartbeat")

        c.kill(master, signal.SIGKILL)
        t0 = time.monotonic()
        rest = [h for h in HOSTS if h != master]
        nxt, _ = c.wait_for_agreement(timeout=15, hosts=rest, expect="host-2")
        wait_holder(c, nxt, 30)
        took = time.monotonic() - t0
        # The old master's last renewal was at most one io (1 s) before its death.
        check(took >= 4.0 - 1.0 + 2.0, "the successor waited for the expiry: %.2f s" % took)
        print("kill -9 %s: %s holds both leases %.2f s later (lease_expiry 4 s + wait 2 s)"
              % (master, nxt, took))
        c.wait_exit(master)

        c.stop(nxt)
        t0 = time.monotonic()
        free = c.lease_holders()
        check(all(h is None for h in free.values()), "released on SIGTERM: %s" % free)
        rest = [h for h in rest if h != nxt]
        third, _ = c.wait_for_agreement(timeout=15, hosts=rest, expect="host-10")
        wait_holder(c, third, 15)
        took = time.monotonic() - t0
        check(took < 4.0 + 2.0 + 1.5 + 0.5, "a released lease passes without expiry: %.2f s" % took)
        print("clean stop of %s: leases free at once; %s holds them %.2f s later"
              % (nxt, third, took))


if __name__ == "__main__":
    sys.exit(scenario(body))
