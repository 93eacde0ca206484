#!/usr/bin/env python3
"""The isolation response on real agents and shims (DESIGN.md safety point 4,
issue 19 scenario 1): four hosts, two file:// datastores, the isolation address
on the cluster network. Run once per `[isolation] response`, each on a fresh
cluster:

poweroff, shutdown: host-2's cluster link is cut; its storage stays. It hears no
peer and its isolation address does not answer, so after isolation_delay it
declares itself isolated; the master (host-4, still holding and renewing the
leases) goes on renewing, so host-2 sees each lease record change twice after its
declaration and powers off (or shuts down: the test driver's guests stop at
once) host-2-vm1 (ds1) and host-2-vm2 (ds2), writes them in its poweron records'
`isolated_off`, and the master restarts them elsewhere (state `isolated-off` in
between). The master shows host-2 `isolated`.
none: host-2 declares itself isolated and keeps its VMs; its storage heartbeat
lives, so the master shows it `isolated` and restarts nothing, for 2 x host_dead.

After the heal host-2 is a slave again and starts nothing itself: every VM runs
once. A monitor polls every shim every 200 ms and fails the test on any double
run. FDM_TEST_TIMING=1000,2000 runs it at the default timing."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, report_recovery, scenario, timing_from_env  # noqa: E402
from monitor import DoubleRunMonitor  # noqa: E402
from outage import StayPutMonitor, start_protected  # noqa: E402

HOSTS = ["host-1", "host-2", "host-3", "host-4"]
TIMING = timing_from_env()   # quick: H 0.5 s, io 1 s: isolation_delay 3.5 s, host_dead 7 s
HOST_DEAD_S = 7 * TIMING[1] / 1000.0
PROTECTED = {"host-2-vm1": "ds1", "host-2-vm2": "ds2", "host-3-vm1": "ds1"}
CUT_OFF = ("host-2-vm1", "host-2-vm2")


def restarted_elsewhere(c, master, mon, response):
    """poweroff/shutdown: host-2's VMs off there and running elsewhere, once."""
    c.cut("host-2")
    t0 = time.monotonic()
    offs = {}
    for vm in CUT_OFF:
        where, since = mon.wait_running_elsewhere(vm, not_on="host-2",
                                                  timeout=20 * HOST_DEAD_S)
        offs[vm] = (where, since - t0)
    c.wait_until(lambda: c.host_state(master, "host-2") == "isolated", 5 * HOST_DEAD_S,
                 "%s shows host-2 isolated" % master)
    for vm, (where, took) in sorted(offs.items()):
        c.wait_until(lambda: (c.vm_state(master, vm) or {}).get("state") == "protected",
                     5 * HOST_DEAD_S, "%s protected again" % vm)
        print("response %s: %s (home %s) off on host-2 and running on %s %.2f s after "
              "the cut" % (response, vm, PROTECTED[vm], where, took))
        report_recovery("isolation response %s, %s" % (response, vm), took, TIMING)
    verb = "shutting down" if response == "shutdown" else "powering off"
    for vm in CUT_OFF:
        check("isolated: %s vm %s" % (verb, vm) in c.log_text("host-2"),
              "host-2 logs its response to %s: %s" % (vm, verb))
    check(mon.hosts_running("host-3-vm1") == ["host-3"], "host-3-vm1 left alone")


def kept_running(c, master):
    """none: host-2 isolated, its VMs stay; nothing restarted while it heartbeats."""
    with StayPutMonitor(c, vms=sorted(PROTECTED)) as stay:
        c.cut("host-2")
        t0 = time.monotonic()
        c.wait_until(lambda: c.host_state(master, "host-2") == "isolated", 10 * HOST_DEAD_S,
                     "%s shows host-2 isolated" % master)
        shown = time.monotonic() - t0
        c.wait_until(lambda: "ISOLATED" in c.log_text("host-2"), 5 * HOST_DEAD_S,
                     "host-2 logs that it is isolated")
        time.sleep(max(0.0, 2 * HOST_DEAD_S - (time.monotonic() - t0)))
        stay.check_stayed(t0)
        for vm in PROTECTED:
            st = (c.vm_state(master, vm) or {}).get("state")
            check(st == "protected", "%s still protected, not restarted (state %s)" % (vm, st))
        print("response none: %s shows host-2 isolated %.2f s after the cut; every VM ran "
              "where it was for %.1f s (%d polls)" % (master, shown, time.monotonic() - t0,
                                                      stay.polls))


def run(response):
    with Cluster(HOSTS, datastores=("ds1", "ds2"), timing=TIMING, shims=True,
                 isolation_response=response) as c:
        master = start_protected(c, "host-4", PROTECTED, HOST_DEAD_S)
        if response == "none":
            kept_running(c, master)
        with DoubleRunMonitor(c, vms=sorted(PROTECTED)) as mon:
            if response != "none":
                restarted_elsewhere(c, master, mon, response)
            c.heal("host-2")
            c.wait_for_agreement(timeout=5 * HOST_DEAD_S, expect=master)
            c.wait_until(lambda: c.host_state(master, "host-2") == "connected",
                         5 * HOST_DEAD_S, "host-2 connected again")
            time.sleep(3 * TIMING[1] / 1000.0)
            for vm in PROTECTED:
                check(len(mon.hosts_running(vm)) == 1, "%s runs once after the heal: %s"
                      % (vm, mon.hosts_running(vm)))
                if vm in CUT_OFF and response != "none":
                    check("host-2" not in mon.hosts_running(vm),
                          "%s not started again on host-2" % vm)
            print("response %s, healed: host-2 connected, every VM runs once" % response)


def body():
    for response in ("poweroff", "shutdown", "none"):
        run(response)


if __name__ == "__main__":
    sys.exit(scenario(body))
