#!/usr/bin/env python3
"""A VM protected while its host cannot read the home datastore's protectedlist
(DESIGN.md safety points 2 and 3). A slave learns that a VM it runs is protected
only from its own read of the protectedlist, and keeps no deadline for a VM it
does not know is protected; the master counts a host dead for d from its silence
on the network and on d. Three hosts with their hostd-shims (libvirt test
driver), nfs1 on nfs-ganesha on the storage network:
  - host-1's storage link is cut, then host-1-vm1 is protected on nfs1 (the
    master asks host-1 for its definition over the cluster network, which is
    whole, and writes the list itself);
  - host-1's cluster link is cut too: to the master host-1 is dead for nfs1
    host_dead later, and it restarts host-1-vm1 elsewhere;
  - host-1 knew nothing, so it cannot have stopped host-1-vm1: the master must
    not restart it (fdm_runs_check, fdm/core/restart.c: a dead host counts only
    if its poweron record listed the VM, or its last heartbeat said it does not
    run it); every shim is polled every 200 ms and the test fails at a double
    run; after the heal host-1 learns it, with a deadline, and nothing was
    restarted.
Found by this test (2026-11-30): before that rule the master restarted the VM on
host-2 host_dead after the cut while host-1 still ran it."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, scenario  # noqa: E402
from monitor import DoubleRunMonitor, MonitorError  # noqa: E402
from outage import datastore_rows  # noqa: E402

HOSTS = ["host-1", "host-2", "host-3"]
H, IO = 0.5, 1.0
TIMING = (int(H * 1000), int(IO * 1000))
HOST_DEAD = 7 * IO
VM = "host-1-vm1"


def body():
    with Cluster(HOSTS, datastores=(), nfs=("nfs1",), timing=TIMING, shims=True) as c:
        c.start_all()
        master, _ = c.wait_for_agreement(timeout=15, expect="host-3")
        c.wait_until(lambda: c.holds_every_lease(master), 30, "%s holding nfs1" % master)
        with DoubleRunMonitor(c, vms=[VM]) as mon:
            c.cut_storage("host-1")
            c.wait_until(lambda: not datastore_rows(c, "host-1")["nfs1"]["reachable"], 10,
                         "host-1 finding nfs1 unreachable")
            c.fdmctl_ok(master, "protect", VM, "--datastore", "nfs1")
            c.wait_until(lambda: (c.vm_state(master, VM) or {}).get("state") == "protected",
                         10, "%s protected" % VM)
            time.sleep(2 * IO)
            dl = datastore_rows(c, "host-1")["nfs1"].get("deadline_ms")
            print("%s protected on nfs1 while host-1 cannot read nfs1: host-1's nfs1 "
                  "deadline_ms %s" % (VM, dl))
            c.cut("host-1")
            t0 = time.monotonic()
            try:
                end = t0 + 4 * HOST_DEAD
                while time.monotonic() < end:
                    try:
                        mon.check()
                    except MonitorError as e:
                        check(False, "%s %.1f s after host-1's cluster link was cut"
                              % (e, time.monotonic() - t0))
                    time.sleep(0.2)
                v = c.vm_state(master, VM) or {}
            finally:
                c.heal("host-1")
                c.heal_storage("host-1")
            print("host-1 cut from network and storage for %.0f s: %s ran on %s; the "
                  "master shows it %s" % (4 * HOST_DEAD, VM, mon.hosts_running(VM), v))
            check(mon.hosts_running(VM) == ["host-1"], "%s runs on host-1 only" % VM)
            check(v.get("restarts") == 0 and "no deadline" in (v.get("waiting") or ""),
                  "%s not restarted, the master saying why: %s" % (VM, v))
            c.wait_until(lambda: datastore_rows(c, "host-1")["nfs1"].get("deadline_ms")
                         is not None, 20, "host-1 showing a deadline for nfs1 after the heal")
            c.wait_until(lambda: (c.vm_state(master, VM) or {}).get("state") == "protected",
                         20, "%s protected again" % VM)
            check(mon.hosts_running(VM) == ["host-1"], "%s still on host-1 only" % VM)


if __name__ == "__main__":
    sys.exit(scenario(body))
