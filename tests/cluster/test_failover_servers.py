#!/usr/bin/env python3
"""HA part 1 on the real storage servers: four hosts, each with its own fdm and
hostd-shim, one NFS datastore (nfs-ganesha through libnfs) and one iSCSI
datastore (tgtd through libiscsi) on a storage network of their own, so that the
cluster link and the storage link of a host can be cut separately.

  - host-1's cluster link cut, its storage link whole: the master no longer hears
    it, but its heartbeats on both datastores go on, so it is never dead (point 2)
    and its protected VM is not restarted; healed, it is connected again;
  - host-3's storage link cut, its cluster link whole: it stays connected, its
    VM is not restarted;
  - kill -9 of every process of host-2 (fdm and shim), which runs one protected
    VM homed on nfs1 and one on iscsi1: both run again on another host, once
    each, seen by a monitor that polls every shim every 200 ms."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, scenario  # noqa: E402
from monitor import DoubleRunMonitor  # noqa: E402

HOSTS = ["host-1", "host-2", "host-3", "host-4"]
TIMING = (500, 1000)    # io 1 s: host_dead 7 s
HOST_DEAD_S = 7.0
PROTECTED = {"host-1-vm1": "nfs1", "host-2-vm1": "nfs1", "host-2-vm2": "iscsi1",
             "host-3-vm1": "iscsi1"}


def host_state(c, master, h):
    for row in c.status(master).get("hosts", []):
        if row["id"] == h:
            return row.get("state")
    return None


def protect_all(c, master):
    for vm, ds in sorted(PROTECTED.items()):
        c.fdmctl_ok(master, "protect", vm, "--datastore", ds)
    for vm in PROTECTED:
        owner = vm.rsplit("-", 1)[0]
        c.wait_until(lambda: (c.vm_state(master, vm) or {}).get("state") == "protected" and
                     (c.vm_state(master, vm) or {}).get("host") == owner, 20,
                     "%s protected on %s" % (vm, owner))


def cut_and_wait(c, mon, master, h, cut, heal, what):
    """Cut one link of h for twice host_dead: nothing of h may be restarted."""
    cut(h)
    try:
        time.sleep(2 * HOST_DEAD_S)
        state = host_state(c, master, h)
        check(state != "dead", "%s with its %s cut is not dead (%s)" % (h, what, state))
        for vm in PROTECTED:
            if vm.startswith(h + "-"):
                check(mon.hosts_running(vm) == [h], "%s still only on %s" % (vm, h))
                check((c.vm_state(master, vm) or {}).get("restarts", 0) == 0,
                      "%s not restarted" % vm)
    finally:
        heal(h)
    c.wait_until(lambda: host_state(c, master, h) == "connected", 30,
                 "%s connected again" % h)
    print("%s's %s cut for %.0f s: shown %s, never dead, its VM left alone" %
          (h, what, 2 * HOST_DEAD_S, state))


def body():
    with Cluster(HOSTS, datastores=(), nfs=("nfs1",), iscsi=("iscsi1",), timing=TIMING,
                 shims=True) as c:
        c.start_all()
        master, _ = c.wait_for_agreement(timeout=15, expect="host-4")
        c.wait_until(lambda: c.holds_every_lease(master), 20, "%s holding both leases" % master)
        protect_all(c, master)
        with DoubleRunMonitor(c, vms=sorted(PROTECTED)) as mon:
            cut_and_wait(c, mon, master, "host-1", c.cut, c.heal, "cluster link")
            cut_and_wait(c, mon, master, "host-3", c.cut_storage, c.heal_storage,
                         "storage link")

            c.kill("host-2", signal.SIGKILL)
            c.kill_shim("host-2", signal.SIGKILL)
            t0 = time.monotonic()
            for vm in ("host-2-vm1", "host-2-vm2"):
                where, since = mon.wait_running_elsewhere(vm, not_on="host-2", timeout=60)
                c.wait_until(lambda: (c.vm_state(master, vm) or {}).get("host") == where, 10,
                             "the master showing %s on %s" % (vm, where))
                v = c.vm_state(master, vm)
                check(v["state"] == "protected" and v["restarts"] == 1,
                      "%s protected on %s, restart 1: %s" % (vm, where, v))
                print("kill -9 of host-2 (fdm + shim): %s (home %s) running on %s %.2f s "
                      "later (host_dead %.1f s)" % (vm, PROTECTED[vm], where, since - t0,
                                                     HOST_DEAD_S))
            time.sleep(3)
            for vm in PROTECTED:
                check(len(mon.hosts_running(vm)) == 1, "%s runs once" % vm)


if __name__ == "__main__":
    sys.exit(scenario(body))
