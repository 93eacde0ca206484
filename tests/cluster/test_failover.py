#!/usr/bin/env python3
"""HA part 1 on real processes: four hosts, each with its own fdm and hostd-shim
(libvirt's test driver), file:// datastores. A VM running on a slave is
protected; every process of that host is killed (kill -9 of fdm and of its
shim: its test-driver domains die with the shim); the VM runs again on another
host, once, seen by a monitor that polls every shim every 200 ms (not fdm)."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, scenario  # noqa: E402
from monitor import DoubleRunMonitor  # noqa: E402

HOSTS = ["host-1", "host-2", "host-3", "host-4"]
TIMING = (500, 1000)    # io 1 s: host_dead 7 s


def vm_state(c, h, name):
    for v in c.status(h).get("vms", []):
        if v["name"] == name:
            return v
    return None


def kill_host(c, h):
    """Every process of the host: the agent and its shim (its VMs with it)."""
    host = c.host(h)
    c.kill(h, signal.SIGKILL)
    os.kill(host.shim_pid, signal.SIGKILL)


def body():
    with Cluster(HOSTS, datastores=("ds1", "ds2"), timing=TIMING, shims=True) as c:
        c.start_all()
        master, _ = c.wait_for_agreement(timeout=10, expect="host-4")
        c.wait_until(lambda: c.holds_every_lease(master), 20, "the master holding every lease")
        vm = "host-2-vm1"
        r = c.fdmctl(master, "protect", vm, "--datastore", "ds1", "--priority", "high",
                     timeout=30)
        check(r.get("ok"), "protect %s: %s" % (vm, r))
        c.wait_until(lambda: (vm_state(c, master, vm) or {}).get("state") == "protected" and
                     (vm_state(c, master, vm) or {}).get("host") == "host-2", 20,
                     "%s protected on host-2" % vm)
        with DoubleRunMonitor(c, vms=[vm]) as mon:
            time.sleep(3)                       # a quiet cluster restarts nothing
            check(mon.hosts_running(vm) == ["host-2"], "%s runs on host-2 only" % vm)
            kill_host(c, "host-2")
            t0 = time.monotonic()
            where, since = mon.wait_running_elsewhere(vm, not_on="host-2", timeout=60)
            took = since - t0
            time.sleep(5)                       # and it stays at one copy
        v = vm_state(c, master, vm)
        check(v["state"] == "protected" and v["host"] == where and v["restarts"] == 1,
              "the master shows %s protected on %s, restart 1: %s" % (vm, where, v))
        print("kill -9 of host-2 (fdm + shim): %s running on %s %.2f s later "
              "(host_dead %.1f s at io 1 s); %d monitor polls, never two copies"
              % (vm, where, took, 7.0, mon.polls))


if __name__ == "__main__":
    sys.exit(scenario(body))
