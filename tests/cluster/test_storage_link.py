#!/usr/bin/env python3
"""Storage faults that must stop nothing (issue 19 scenario 4, DESIGN.md safety
point 3): four hosts with their hostd-shims (libvirt test driver), nfs1
(nfs-ganesha) and iscsi1 (tgtd) on a storage network of their own, protected VMs
on three hosts, homed on both.
  - slave host-3's storage link is cut, its cluster link whole: it logs a warning
    for each datastore, stays `connected` on the master, its VMs keep running and
    nothing is restarted, for 2 x host_dead; healed, both datastores are reachable
    again;
  - both storage servers are stopped (nfs-ganesha and its rpcbind stopped, tgtd
    killed) for 15 s, then started again on the same exports and LUN files: no VM
    anywhere is powered off or moved meanwhile; after they return, every host
    reaches both datastores again and the master holds both leases.
A monitor polls every shim every 200 ms and fails on any VM off, moved or run
twice. FDM_TEST_TIMING=1000,2000 runs it at the default timing."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, report_recovery, scenario, timing_from_env  # noqa: E402
from outage import StayPutMonitor, datastore_rows, start_protected  # noqa: E402

HOSTS = ["host-1", "host-2", "host-3", "host-4"]
TIMING = timing_from_env()     # quick: H 0.5 s, io 1 s: host_dead 7 s
IO_S = TIMING[1] / 1000.0
HOST_DEAD_S = 7 * IO_S
DATASTORES = ("nfs1", "iscsi1")
PROTECTED = {"host-1-vm1": "nfs1", "host-3-vm1": "nfs1", "host-3-vm2": "iscsi1",
             "host-4-vm1": "iscsi1"}
SERVERS_DOWN_S = 15.0


def reachable_everywhere(c):
    for h in HOSTS:
        rows = datastore_rows(c, h)
        if not all(rows.get(ds, {}).get("reachable") for ds in DATASTORES):
            return False
    return True


def storage_link_cut(c, master, stay):
    c.cut_storage("host-3")
    t0 = time.monotonic()
    for ds in DATASTORES:
        want = "warning: host-3: datastore %s unreachable" % ds
        c.wait_until(lambda: want in c.log_text("host-3"), 6 * IO_S + 5,
                     "host-3 logging %r" % want)
    print("host-3's storage cut: it warned for both datastores within %.2f s"
          % (time.monotonic() - t0))
    end = t0 + 2 * HOST_DEAD_S
    while time.monotonic() < end:
        check(c.host_state(master, "host-3") == "connected",
              "%s shows host-3 connected (its storage link alone is cut)" % master)
        stay.check_stayed(t0)
        time.sleep(0.5)
    c.heal_storage("host-3")
    t1 = time.monotonic()
    c.wait_until(lambda: reachable_everywhere(c), 10 * IO_S + 10,
                 "every host reaching both datastores again")
    stay.check_stayed(t0)
    print("host-3's storage cut for %.1f s: nothing moved (%d polls); datastores back "
          "%.2f s after the heal" % (t1 - t0, stay.polls, time.monotonic() - t1))
    report_recovery("slave storage link cut", time.monotonic() - t1, TIMING,
                    what="datastores reachable", after="the heal")


def servers_stopped(c, master, stay):
    c.nfs.stop()
    c.tgt.kill()
    t0 = time.monotonic()
    time.sleep(SERVERS_DOWN_S)
    stay.check_stayed(t0)
    c.nfs.start()
    c.tgt.start()
    t1 = time.monotonic()
    c.wait_until(lambda: reachable_everywhere(c), 10 * HOST_DEAD_S,
                 "every host reaching both datastores again")
    back = time.monotonic() - t1
    c.wait_until(lambda: c.holds_every_lease(master), 10 * HOST_DEAD_S,
                 "%s holding both leases again" % master)
    leases = time.monotonic() - t1
    time.sleep(2 * IO_S)
    stay.check_stayed(t0)
    print("storage servers down %.0f s: nothing powered off or moved (%d polls); every "
          "host reaches both %.2f s and %s holds both leases %.2f s after their return"
          % (SERVERS_DOWN_S, stay.polls, back, master, leases))
    report_recovery("storage servers stopped 15 s", leases, TIMING,
                    what="leases and heartbeats back", after="the servers' return")


def body():
    with Cluster(HOSTS, datastores=(), nfs=("nfs1",), iscsi=("iscsi1",), timing=TIMING,
                 shims=True, isolation_response="poweroff") as c:
        master = start_protected(c, "host-4", PROTECTED, HOST_DEAD_S)
        with StayPutMonitor(c, vms=sorted(PROTECTED)) as stay:
            storage_link_cut(c, master, stay)
            servers_stopped(c, master, stay)


if __name__ == "__main__":
    sys.exit(scenario(body))
