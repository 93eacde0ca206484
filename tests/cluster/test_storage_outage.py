#!/usr/bin/env python3
"""A whole-cluster storage outage powers nothing off (DESIGN.md safety point 3, the
headline claim: sanlock kills VMs after 80 s of this; fdm never does while every
host is up and the network whole). Three hosts with their hostd-shims (libvirt
test driver), one NFS datastore (nfs-ganesha) and one iSCSI datastore (tgtd) on a
storage network of their own; protected VMs on every host, homed on both.
Every host's storage link is cut for 90 s, the cluster network stays whole:
  - no protected VM is powered off, restarted or moved at any time: every shim
    is polled every 200 ms through the outage and the heal (not fdm's view);
  - `fdmctl --json status` of every host shows deadline_ms per datastore: while
    the master's heartbeats vouch for a host it stays about host_dead - margin
    ahead and never reaches 0 (the lowest value seen is printed);
  - the master stays master, and after the heal it holds both leases again
    within a bound derived from the timing; every VM still runs where it ran."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, scenario  # noqa: E402
from outage import (StayPutMonitor, deadline_hosts, protect_all, restarts,  # noqa: E402
                    wait_deadlines_known)

HOSTS = ["host-1", "host-2", "host-3"]
H, IO = 0.5, 1.0
TIMING = (int(H * 1000), int(IO * 1000))
EXPIRY, CLAIM, HOST_DEAD, MARGIN = 4 * IO, 2 * IO, 7 * IO, IO
OUTAGE = 90.0
PROTECTED = {"host-1-vm1": "nfs1", "host-1-vm2": "iscsi1", "host-2-vm1": "iscsi1",
             "host-3-vm1": "nfs1", "host-3-vm2": "iscsi1"}
# After the heal: the I/O in flight times out (io), the backend reconnects on its
# next I/O, the master reads its own stale record and must see it unchanged for
# the lease expiry before it writes, waits the claim and reads again, + io of
# slack, + 3 s for reconnects and scheduling on a shared machine.
HEAL_BOUND = IO + EXPIRY + CLAIM + IO + 3.0


def sample_deadlines(c, seen):
    """Record every host's deadline_ms per datastore into seen[(host, ds)]."""
    for h in HOSTS:
        st = c.try_status(h)
        for d in (st or {}).get("datastores", []):
            seen.setdefault((h, d["name"]), []).append(d.get("deadline_ms"))


def body():
    with Cluster(HOSTS, datastores=(), nfs=("nfs1",), iscsi=("iscsi1",), timing=TIMING,
                 shims=True) as c:
        c.start_all()
        master, _ = c.wait_for_agreement(timeout=15, expect="host-3")
        c.wait_until(lambda: c.holds_every_lease(master), 30, "%s holding both leases" % master)
        protect_all(c, master, PROTECTED)
        wait_deadlines_known(c, PROTECTED)
        before = {}
        sample_deadlines(c, before)
        print("before the outage, deadline_ms per (host, datastore): %s"
              % {k: v[-1] for k, v in sorted(before.items())})
        with StayPutMonitor(c, vms=sorted(PROTECTED)) as mon:
            for h in HOSTS:
                c.cut_storage(h)
            t0 = time.monotonic()
            seen, masters = {}, set()
            try:
                while time.monotonic() - t0 < OUTAGE:
                    sample_deadlines(c, seen)
                    masters.add(c.agreed_master())
                    mon.check()
                    mon.check_stayed(t0)
                    time.sleep(1.0)
            finally:
                for h in HOSTS:
                    c.heal_storage(h)
            t_heal = time.monotonic()
            mon.check_stayed(t0)
            print("storage cut for every host for %.0f s, network whole: every protected VM "
                  "ran where it ran in all %d polls of every shim" % (t_heal - t0, mon.polls))
            for (h, ds), vals in sorted(seen.items()):
                shown = [v for v in vals if v is not None]
                print("  %s %s deadline_ms during the outage: %s" % (
                    h, ds, "null" if not shown else "min %d, max %d, last %d (%d samples)"
                    % (min(shown), max(shown), shown[-1], len(shown))))
                if (h, ds) in deadline_hosts(PROTECTED):
                    check(shown and len(shown) == len(vals),
                          "%s shows a deadline for %s, where its protected VMs are: %r"
                          % (h, ds, vals))
                    check(min(shown) > 0, "%s's deadline on %s never reaches 0: %r"
                          % (h, ds, shown))
            check(masters == {master}, "%s master through the outage: saw %s"
                  % (master, sorted(str(m) for m in masters)))

            _, took = c.wait_until(lambda: c.holds_every_lease(master), HEAL_BOUND + 20,
                                   "%s holding both leases after the heal (%s)"
                                   % (master, c.lease_holders()))
            print("after the heal: %s holds both leases %.2f s later (bound %.1f s)"
                  % (master, took, HEAL_BOUND))
            check(took <= HEAL_BOUND, "leases back within %.1f s: took %.2f s"
                  % (HEAL_BOUND, took))
            time.sleep(3 * IO)
            mon.check_stayed(t0)
            r = restarts(c, master, PROTECTED)
            check(all(n == 0 for n in r.values()), "no VM restarted: %s" % r)
            for vm in PROTECTED:
                v = c.vm_state(master, vm) or {}
                check(v.get("state") == "protected" and v.get("host") == vm.rsplit("-", 1)[0],
                      "%s protected where it ran: %s" % (vm, v))
            after = {}
            sample_deadlines(c, after)
            print("after the heal, deadline_ms: %s" % {k: v[-1] for k, v in sorted(after.items())})


if __name__ == "__main__":
    sys.exit(scenario(body))
