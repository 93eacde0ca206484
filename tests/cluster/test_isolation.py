#!/usr/bin/env python3
"""The isolation response on real agents and shims (DESIGN.md safety point 4):
four hosts, two file:// datastores, `[isolation] response = poweroff`, the
isolation address on the cluster network.

host-2's cluster link is cut; its storage stays. It hears no peer and its
isolation address does not answer, so after isolation_delay it declares itself
isolated; the master (host-4, still holding and renewing ds1's lease) goes on
renewing, so host-2 sees ds1's lease record change twice after its declaration
and powers host-2-vm1 off, writes it in its poweron record's `isolated_off`, and
the master restarts it elsewhere (its state `isolated-off` in between). The
master shows host-2 `isolated`. host-2-vm2 (ds2) goes the same way. After the
heal host-2 is a slave again and starts nothing itself: every VM runs once. A
monitor polls every shim every 200 ms and fails the test on any double run."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, scenario  # noqa: E402
from monitor import DoubleRunMonitor  # noqa: E402
from outage import protect_all, wait_deadlines_known  # noqa: E402

HOSTS = ["host-1", "host-2", "host-3", "host-4"]
TIMING = (500, 1000)    # H 0.5 s, io 1 s: isolation_delay 3.5 s, host_dead 7 s
PROTECTED = {"host-2-vm1": "ds1", "host-2-vm2": "ds2", "host-3-vm1": "ds1"}


def body():
    with Cluster(HOSTS, datastores=("ds1", "ds2"), timing=TIMING, shims=True,
                 isolation_response="poweroff") as c:
        c.start_all()
        master, _ = c.wait_for_agreement(timeout=15, expect="host-4")
        c.wait_until(lambda: c.holds_every_lease(master), 20, "%s holding both leases" % master)
        protect_all(c, master, PROTECTED)
        wait_deadlines_known(c, PROTECTED)
        with DoubleRunMonitor(c, vms=sorted(PROTECTED)) as mon:
            c.cut("host-2")
            t0 = time.monotonic()
            offs = {}
            for vm in ("host-2-vm1", "host-2-vm2"):
                where, since = mon.wait_running_elsewhere(vm, not_on="host-2", timeout=60)
                offs[vm] = (where, since - t0)
            c.wait_until(lambda: c.host_state(master, "host-2") == "isolated", 20,
                         "%s shows host-2 isolated" % master)
            for vm, (where, took) in sorted(offs.items()):
                c.wait_until(lambda: (c.vm_state(master, vm) or {}).get("state") == "protected",
                             20, "%s protected again" % vm)
                print("host-2 cut off: %s (home %s) off there and running on %s %.2f s after "
                      "the cut" % (vm, PROTECTED[vm], where, took))
            check(mon.hosts_running("host-3-vm1") == ["host-3"], "host-3-vm1 left alone")
            c.heal("host-2")
            c.wait_for_agreement(timeout=20, expect=master)
            c.wait_until(lambda: c.host_state(master, "host-2") == "connected", 30,
                         "host-2 connected again")
            time.sleep(3)
            for vm in PROTECTED:
                check(len(mon.hosts_running(vm)) == 1, "%s runs once after the heal: %s"
                      % (vm, mon.hosts_running(vm)))
                if vm.startswith("host-2-"):
                    check("host-2" not in mon.hosts_running(vm),
                          "%s not started again on host-2" % vm)
            print("healed: host-2 connected, every VM runs once, none back on host-2")


if __name__ == "__main__":
    sys.exit(scenario(body))
