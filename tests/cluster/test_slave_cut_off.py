#!/usr/bin/env python3
"""A slave cut off from both networks (issue 19 scenario 5, DESIGN.md safety
points 2 and 3), on real agents and shims (libvirt test driver), with nfs1
(nfs-ganesha) and iscsi1 (tgtd) on a storage network of their own.

host-2 runs two protected VMs, host-2-vm1 homed on nfs1 and host-2-vm2 on
iscsi1; host-3-vm1 (nfs1) is a bystander. Both links of host-2 are cut at once
(cluster, then storage). host-2 hears no master and writes no hb record, so on
each datastore its deadline, the earliest moment a master could restart its
VMs there less the margin, stops moving: at most host_dead - margin after the
cut (its last hb write and its last echoed heartbeat both precede the cut). It
powers its VMs off by then (its agent, and its shim holding the same deadline).
The master sees neither a heartbeat nor an hb record change from host-2 for
host_dead, declares it dead and restarts each VM elsewhere, once. The monitor's
per-host timeline (every shim polled every 200 ms, fdm not trusted) must show
each VM off on host-2 strictly before it runs anywhere else, and never twice.
Healed, host-2 rejoins as a connected slave and starts nothing: every VM runs
once, none on host-2.

Bounds from the timing (FDM_TEST_TIMING=HB,IO; quick 500,1000): host_dead 7 io,
margin io. The deadline the shim holds for each VM, sampled until the VM is seen
off, lies in [cut + host_dead - margin - 2 io, cut + host_dead - margin]; the VM
goes off no sooner than that deadline - 0.5 s and is seen off within 0.5 s + a
poll after it; it runs elsewhere by cut + host_dead + 3 io + 3 s (dead after
host_dead of an unchanged hb record read every io, the order, the power-on,
scheduling on a shared machine)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, report_recovery, scenario, timing_from_env  # noqa: E402
from outage import (TimelineMonitor, boottime_to_monotonic, restarts,  # noqa: E402
                    shim_deadline, start_protected, wait_shim_deadlines)

HOSTS = ["host-1", "host-2", "host-3", "host-4"]
VICTIM = "host-2"
PROTECTED = {"host-2-vm1": "nfs1", "host-2-vm2": "iscsi1", "host-3-vm1": "nfs1"}
VICTIM_VMS = sorted(vm for vm in PROTECTED if vm.startswith(VICTIM + "-"))

TIMING = timing_from_env()
H, IO = TIMING[0] / 1000.0, TIMING[1] / 1000.0
HOST_DEAD, MARGIN = 7 * IO, IO
DEADLINE_LATE = HOST_DEAD - MARGIN            # after the cut
DEADLINE_EARLY = HOST_DEAD - MARGIN - 2 * IO
SLACK = 0.5                                   # the shim's timer, the power-off, a poll
RUN_LATE = HOST_DEAD + 3 * IO + 3.0


def wait_off(c, mon, t_cut):
    """Poll until every victim VM is seen off on the victim; returns {vm: the last
    deadline its shim held before that}."""
    held = {}
    end = t_cut + DEADLINE_LATE + 10 * IO + 20
    while time.monotonic() < end:
        mon.check()
        for vm in VICTIM_VMS:
            if mon.off_window(vm, VICTIM)[1] is None:
                d = shim_deadline(c, VICTIM, vm)
                if d is not None:
                    held[vm] = boottime_to_monotonic(d)
        if all(mon.off_window(vm, VICTIM)[1] is not None for vm in VICTIM_VMS):
            return held
        time.sleep(0.1)
    check(False, "%s powered off on %s within %.1f s of the cut: %s"
          % (VICTIM_VMS, VICTIM, end - t_cut,
             {vm: mon.hosts_running(vm) for vm in VICTIM_VMS}))


def check_off(mon, vm, t_cut, deadline):
    on, off = mon.off_window(vm, VICTIM)
    check(deadline is not None, "%s's shim held a deadline for %s after the cut" % (VICTIM, vm))
    d = deadline - t_cut
    check(DEADLINE_EARLY - 0.2 <= d <= DEADLINE_LATE + 0.2,
          "%s's deadline %.2f s after the cut, within [%.1f, %.1f] (host_dead - margin, "
          "less up to 2 io)" % (vm, d, DEADLINE_EARLY, DEADLINE_LATE))
    check(off >= deadline - SLACK, "%s off no sooner than its deadline (%.2f s after the "
          "cut): seen off %.2f s after it" % (vm, d, off - t_cut))
    check(on <= deadline + SLACK, "%s off by its deadline (%.2f s after the cut) + %.1f s: "
          "seen running %.2f s after the cut" % (vm, d, SLACK, on - t_cut))
    return on - t_cut, off - t_cut, d


def body():
    with Cluster(HOSTS, datastores=(), nfs=("nfs1",), iscsi=("iscsi1",), timing=TIMING,
                 shims=True) as c:
        master = start_protected(c, "host-4", PROTECTED, HOST_DEAD)
        wait_shim_deadlines(c, PROTECTED, timeout=5 * HOST_DEAD)
        # host-2's poweron records (one per io) must list its VMs as protected,
        # or the master may not restart them (a dead host that never knew).
        time.sleep(3 * IO)
        with TimelineMonitor(c, vms=sorted(PROTECTED)) as mon:
            t_cut = time.monotonic()
            c.cut(VICTIM)
            c.cut_storage(VICTIM)
            held = wait_off(c, mon, t_cut)
            offs = {vm: check_off(mon, vm, t_cut, held.get(vm)) for vm in VICTIM_VMS}

            for vm in VICTIM_VMS:
                where, since = mon.wait_running_elsewhere(vm, not_on=VICTIM,
                                                          timeout=RUN_LATE + 30)
                on, off, d = offs[vm]
                after = mon.started_after(vm, where)
                check(after is not None and t_cut + off < after,
                      "%s seen off on %s (%.2f s after the cut) before the last poll "
                      "without it on %s began (%.2f s)" % (vm, VICTIM, off, where,
                                                           (after or t_cut) - t_cut))
                took = since - t_cut
                print("%s (home %s): deadline %.2f s after the cut, off on %s between "
                      "%.2f s and %.2f s, running on %s %.2f s after the cut (bound %.1f s)"
                      % (vm, PROTECTED[vm], d, VICTIM, on, off, where, took, RUN_LATE))
                check(took <= RUN_LATE, "%s running elsewhere within %.1f s of the cut: "
                      "%.2f s" % (vm, RUN_LATE, took))
                report_recovery("slave cut off from both networks (%s)" % vm, took, TIMING)
            c.wait_until(lambda: c.host_state(master, VICTIM) == "dead", 10 * IO + 10,
                         "%s shows %s dead" % (master, VICTIM))
            for vm in VICTIM_VMS:
                c.wait_until(lambda: (c.vm_state(master, vm) or {}).get("state") ==
                             "protected", 10 * IO + 10, "%s protected again" % vm)
            check(restarts(c, master, VICTIM_VMS) == {vm: 1 for vm in VICTIM_VMS},
                  "each VM restarted once: %s" % restarts(c, master, VICTIM_VMS))
            check(mon.hosts_running("host-3-vm1") == ["host-3"], "host-3-vm1 left alone")

            c.heal_storage(VICTIM)
            c.heal(VICTIM)
            t_heal = time.monotonic()
            c.wait_for_agreement(timeout=15 * IO + 10, expect=master)
            c.wait_until(lambda: c.host_state(master, VICTIM) == "connected", 20 * IO + 10,
                         "%s connected again" % VICTIM)
            took = time.monotonic() - t_heal
            time.sleep(3 * IO)
            for vm in PROTECTED:
                check(len(mon.hosts_running(vm)) == 1, "%s runs once after the heal: %s"
                      % (vm, mon.hosts_running(vm)))
            for vm in VICTIM_VMS:
                check(VICTIM not in mon.hosts_running(vm), "%s not started again on %s"
                      % (vm, VICTIM))
            check(restarts(c, master, VICTIM_VMS) == {vm: 1 for vm in VICTIM_VMS},
                  "no restart after the heal: %s" % restarts(c, master, VICTIM_VMS))
            print("healed: %s connected %.2f s later, every VM runs once, none back on %s "
                  "(%d polls of every shim)" % (VICTIM, took, VICTIM, mon.polls))


if __name__ == "__main__":
    sys.exit(scenario(body))
