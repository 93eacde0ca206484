#!/usr/bin/env python3
"""HA part 1 on real processes: four hosts, each with its own fdm and hostd-shim
(libvirt's test driver), file:// datastores. A VM running on a slave is
protected (asked of the master, which gets its definition from that slave over
the network); every process of that host is killed (kill -9 of fdm and of its
shim: its test-driver domains die with the shim); the VM runs again on another
host, once, seen by a monitor that polls every shim every 200 ms (not fdm).

Scenario 2, on a cluster of its own (three hosts, one datastore): kill -9 of every
process of the master host; the survivors elect a new master, which takes the
lease after its expiry and restarts the old master's VM, once.

Maintenance: host-3 has the most memory (16 GiB) and host-4, the master, none to
spare (256 MiB node), so placement prefers host-3. While host-3 is in
maintenance (entered from host-3 itself, through the master) the VM goes to
host-1; once it is out again, host-1 is killed and the VM goes to host-3."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, scenario  # noqa: E402
from monitor import DoubleRunMonitor  # noqa: E402

HOSTS = ["host-1", "host-2", "host-3", "host-4"]
TIMING = (500, 1000)    # io 1 s: host_dead 7 s



def kill_host(c, h):
    """Every process of the host: the agent and its shim (its VMs with it)."""
    c.kill(h, signal.SIGKILL)
    c.kill_shim(h, signal.SIGKILL)


def host_row(c, master, h):
    for row in c.status(master).get("hosts", []):
        if row["id"] == h:
            return row
    return {}


def fail_over(c, mon, master, vm, victim, restarts):
    """Kill victim; vm must run again elsewhere, once. Returns (host, seconds).
    Meanwhile `fdmctl hosts` on the master says why the victim is not dead yet,
    and then why it is."""
    kill_host(c, victim)
    t0 = time.monotonic()
    c.wait_until(lambda: "%s not dead for ds1 yet: " % victim in
                 (host_row(c, master, victim).get("reason") or ""), 6,
                 "the master saying why %s is not dead yet" % victim)
    where, since = mon.wait_running_elsewhere(vm, not_on=victim, timeout=60)
    took = since - t0
    # Dead for ds1 (the VM's) by now; for ds2 too within a read or so.
    check("%s dead for ds1: no network heartbeat for " % victim in
          (host_row(c, master, victim).get("reason") or ""),
          "the master says why %s is dead for ds1: %s" % (victim, host_row(c, master, victim)))
    c.wait_until(lambda: host_row(c, master, victim).get("state") == "dead", 3,
                 "the master showing %s dead" % victim)
    c.wait_until(lambda: (c.vm_state(master, vm) or {}).get("host") == where, 10,
                 "the master showing %s on %s" % (vm, where))
    v = c.vm_state(master, vm)
    check(v["state"] == "protected" and v["restarts"] == restarts,
          "the master shows %s protected on %s, restart %d: %s" % (vm, where, restarts, v))
    print("kill -9 of %s (fdm + shim): %s running on %s %.2f s later "
          "(host_dead %.1f s at io 1 s)" % (victim, vm, where, took, 7.0))
    return where, took



def master_dies():
    """kill -9 of the master host (fdm and shim): host-2 becomes master, takes ds1's
    lease, and restarts host-3-vm1 host_dead after that. Returns the seconds."""
    hosts = ["host-1", "host-2", "host-3"]
    vm = "host-3-vm1"
    with Cluster(hosts, datastores=("ds1",), timing=TIMING, shims=True) as c:
        c.start_all()
        master, _ = c.wait_for_agreement(timeout=10, expect="host-3")
        c.wait_until(lambda: c.holds_every_lease(master), 20, "the master holding every lease")
        c.fdmctl_ok(master, "protect", vm, "--datastore", "ds1")
        c.wait_until(lambda: (c.vm_state(master, vm) or {}).get("host") == "host-3", 20,
                     "%s protected on host-3" % vm)
        time.sleep(2)                           # every host has read the list
        with DoubleRunMonitor(c, vms=[vm]) as mon:
            kill_host(c, "host-3")
            t0 = time.monotonic()
            c.wait_for_agreement(timeout=10, hosts=["host-1", "host-2"], expect="host-2")
            elected = time.monotonic() - t0
            c.wait_until(lambda: c.holds_every_lease("host-2"), 20, "host-2 holding ds1")
            leased = time.monotonic() - t0
            where, since = mon.wait_running_elsewhere(vm, not_on="host-3", timeout=60)
            took = since - t0
            c.wait_until(lambda: (c.vm_state("host-2", vm) or {}).get("host") == where, 10,
                         "the new master showing %s on %s" % (vm, where))
            v = c.vm_state("host-2", vm)
            check(v["state"] == "protected" and v["restarts"] == 1,
                  "the new master shows %s protected on %s, restart 1: %s" % (vm, where, v))
            time.sleep(3)                       # and it stays at one copy
        print("kill -9 of the master host-3 (fdm + shim): host-2 master after %.2f s, holds "
              "ds1 after %.2f s, %s running on %s %.2f s after the kill (host_dead 7.0 s "
              "counted from the lease)" % (elected, leased, vm, where, took))
        return took


def body():
    took_master = master_dies()
    with Cluster(HOSTS, datastores=("ds1", "ds2"), timing=TIMING, shims=True,
                 node_memory={"host-3": 16 * 1024 * 1024, "host-4": 256 * 1024}) as c:
        c.start_all()
        master, _ = c.wait_for_agreement(timeout=10, expect="host-4")
        c.wait_until(lambda: c.holds_every_lease(master), 20, "the master holding every lease")
        vm = "host-2-vm1"
        c.fdmctl_ok(master, "protect", vm, "--datastore", "ds1", "--priority", "high")
        c.wait_until(lambda: (c.vm_state(master, vm) or {}).get("state") == "protected" and
                     (c.vm_state(master, vm) or {}).get("host") == "host-2", 20,
                     "%s protected on host-2" % vm)
        msg = c.fdmctl_ok("host-3", "maintenance", "enter")
        check("host-3 in maintenance" in msg, "host-3 in maintenance: %r" % msg)
        with DoubleRunMonitor(c, vms=[vm]) as mon:
            time.sleep(3)                       # a quiet cluster restarts nothing
            check(mon.hosts_running(vm) == ["host-2"], "%s runs on host-2 only" % vm)
            where, took1 = fail_over(c, mon, master, vm, "host-2", restarts=1)
            check(where == "host-1", "%s went to host-1 (host-3 in maintenance, host-4 "
                  "full), not %s" % (vm, where))
            msg = c.fdmctl_ok(master, "maintenance", "exit", "host-3")
            check("host-3 out of maintenance" in msg, "host-3 out of maintenance: %r" % msg)
            where, took2 = fail_over(c, mon, master, vm, "host-1", restarts=2)
            check(where == "host-3", "%s went to host-3, out of maintenance and with the "
                  "most memory, not %s" % (vm, where))
            time.sleep(5)                       # and it stays at one copy
        # Every host shows the master's table (fdmctl vms), the master its capacity.
        for h in ("host-3", "host-4"):
            st = c.status(h)
            v = c.vm_state(h, vm) or {}
            check(st.get("vms_view", {}).get("view") == "master" and
                  v.get("host") == "host-3" and v.get("restarts") == 2,
                  "%s shows the master's view of %s: %s %s" % (h, vm, st.get("vms_view"), v))
            cap = st.get("capacity") or {}
            check(cap.get("needed_kib", 0) > 0 and "spare_kib" in cap,
                  "%s shows the capacity: %s" % (h, cap))
        print("fault to running: slave %.2f s, then %.2f s, master %.2f s (host_dead 7.0 s "
              "at io 1 s); never two copies" % (took1, took2, took_master))


if __name__ == "__main__":
    sys.exit(scenario(body))
