#!/usr/bin/env python3
"""Master hand-over on datastore loss on real storage (issue 18, DESIGN.md
"Election"; test_datastore_loss.py does it with file:// datastores). Three hosts
with their hostd-shims (libvirt test driver); datastores nfs1 (nfs-ganesha,
NFSv3), iscsi1 (tgtd) on the storage network, and ds1 (file://) that every host
keeps. The master host-9 alone loses nfs1 and iscsi1: its storage link is cut.
Its renewals there fail, the slaves reach all three datastores, so it yields;
the slaves elect host-2, host-9 hears it and steps down, releasing ds1. Checks:
  - within a bound derived from the timing, host-2 is master and holds every
    lease (fdm-inspect --json straight from the storage);
  - no protected VM is powered off or moved at any time (every shim polled every
    200 ms), host-9's VM homed on nfs1 included: a host with network but no
    storage keeps its VMs while a master vouches for it (DESIGN.md point 3);
  - host-2 stays master for 3 x lease_expiry; healed, host-9 reaches all three
    datastores again, host-2 stays master, nothing was restarted."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, scenario  # noqa: E402
from outage import StayPutMonitor, protect_all, restarts, wait_deadlines_known  # noqa: E402

HOSTS = ["host-1", "host-2", "host-9"]
H, IO = 0.5, 1.0                 # heartbeat 500 ms, io 1 s: expiry 4 s, claim wait 2 s
TIMING = (int(H * 1000), int(IO * 1000))
EXPIRY, CLAIM, HOST_DEAD = 4 * IO, 2 * IO, 7 * IO
# As test_datastore_loss.py: the renewal in flight fails within io, 2 io + H of
# failures before the yield, its silence lets the slaves elect in one window (H)
# + the announcement, and nfs1's and iscsi1's expiry count from host-2's own
# reads of the old master's last renewal (at most io after it): max(those, io +
# expiry) + the write-wait-read + io of slack, + 2 s for scheduling.
BOUND = max(3 * IO + 4 * H, IO + EXPIRY) + CLAIM + IO + 2.0
PROTECTED = {"host-9-vm1": "nfs1", "host-9-vm2": "ds1", "host-1-vm1": "iscsi1",
             "host-2-vm1": "nfs1"}


def body():
    with Cluster(HOSTS, datastores=("ds1",), nfs=("nfs1",), iscsi=("iscsi1",), timing=TIMING,
                 shims=True) as c:
        c.start_all()
        master, _ = c.wait_for_agreement(timeout=15, expect="host-9")
        c.wait_until(lambda: c.holds_every_lease(master), 30, "host-9 holding every lease")
        protect_all(c, master, PROTECTED)
        wait_deadlines_known(c, PROTECTED)
        with StayPutMonitor(c, vms=sorted(PROTECTED)) as mon:
            c.cut_storage(master)
            t0 = time.monotonic()
            try:
                c.wait_until(lambda: c.agreed_master() == "host-2" and
                             c.holds_every_lease("host-2"), BOUND + 10,
                             "host-2 master and holding every lease (now %s)"
                             % c.lease_holders())
                took = time.monotonic() - t0
                print("storage link of master host-9 cut (nfs1, iscsi1 lost, ds1 kept): "
                      "host-2 master and holding all three leases %.2f s later (bound %.1f s)"
                      % (took, BOUND))
                check(took <= BOUND, "hand-over within %.1f s: took %.2f s" % (BOUND, took))
                ho = c.status(master)["election"].get("handover") or {}
                check(ho.get("kind") == "merge" and ho.get("from") == master and
                      ho.get("to") == "host-2",
                      "host-9's fdmctl election shows the merge into host-2: %r" % ho)
                check("yielding:" in c.log_text(master), "host-9 logged its yield")
                # Longer than host_dead: host-9's VM on nfs1 lives on the vouches
                # of its new master, not on its storage heartbeats.
                c.hold(lambda: c.agreed_master() == "host-2", 3 * EXPIRY, "host-2 stays master")
                check(c.holds_every_lease("host-2"), "host-2 still holds every lease: %s"
                      % c.lease_holders())
                dl = {d["name"]: d.get("deadline_ms") for d in c.status(master)["datastores"]}
                print("host-9 %.0f s without nfs1 and iscsi1: deadline_ms %s" %
                      (time.monotonic() - t0, dl))
                check((dl.get("nfs1") or 0) > 0, "host-9's nfs1 deadline in the future: %s" % dl)
                mon.check_stayed(t0)
            finally:
                c.heal_storage(master)
            c.wait_until(lambda: all(d["reachable"] for d in c.status(master)["datastores"]),
                         20, "host-9 reaching every datastore again")
            c.hold(lambda: c.agreed_master() == "host-2", 2 * EXPIRY,
                   "host-2 stays master after the heal")
            check(c.holds_every_lease("host-2"), "host-2 holds every lease after the heal: %s"
                  % c.lease_holders())
            mon.check_stayed(t0)
            r = restarts(c, "host-2", PROTECTED)
            check(all(n == 0 for n in r.values()), "no VM restarted: %s" % r)
            print("healed: host-2 still master with every lease; every protected VM ran where "
                  "it ran in all %d polls of every shim" % mon.polls)


if __name__ == "__main__":
    sys.exit(scenario(body))
