#!/usr/bin/env python3
"""The agent alone dies or hangs (issue 19 scenario 6, DESIGN.md safety point 5),
on real agents and shims (libvirt test driver), with nfs1 (nfs-ganesha) and
iscsi1 (tgtd) on a storage network of their own; every link stays whole and
every hostd-shim keeps running.

  - kill -9 of host-2's fdm, not started again: its shim holds the deadlines the
    agent last handed it and, when they pass, powers host-2-vm1 (nfs1) and
    host-2-vm2 (iscsi1) off itself; the master sees no heartbeat and no hb record
    change from host-2 for host_dead, declares it dead and restarts each VM
    elsewhere, once;
  - SIGSTOP of host-3's fdm: the same (its shim fences host-3-vm1 and -vm2, the
    master restarts them elsewhere, once); then SIGCONT: the resumed agent, with
    the master heartbeats queued in its socket, starts nothing again, host-3
    rejoins as a connected slave, and every VM runs once.
(test_agent_restart.py covers kill -9 + restart of a cut-off host's fdm and a
10 s SIGSTOP with cut links.) host-3 gets half the memory of the others so that
placement sends host-2's VMs to host-1 and host-4 (any VM running on host-3 at
its pause is counted as its victim all the same). A monitor polls every shim
every 200 ms (fdm not trusted): its per-host timeline must show each VM off on
its host strictly before it runs elsewhere, and never on two hosts.

Bounds from the timing (FDM_TEST_TIMING=HB,IO; quick 500,1000): host_dead 7 io,
margin io. The deadline the shim holds after the signal lies in [fault +
host_dead - margin - 2 io, fault + host_dead - margin] (the agent's last hb
write and last echoed heartbeat precede the fault); the shim powers the VM off
when it passes: seen off no sooner than it - 0.5 s, and seen running no later
than it + 0.5 s; the VM runs elsewhere by fault + host_dead + 3 io + 3 s."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, report_recovery, scenario, timing_from_env  # noqa: E402
from outage import (TimelineMonitor, boottime_to_monotonic, restarts,  # noqa: E402
                    shim_deadline, start_protected, wait_shim_deadlines)

HOSTS = ["host-1", "host-2", "host-3", "host-4"]
PROTECTED = {"host-1-vm1": "iscsi1", "host-2-vm1": "nfs1", "host-2-vm2": "iscsi1",
             "host-3-vm1": "iscsi1", "host-3-vm2": "nfs1"}

TIMING = timing_from_env()
H, IO = TIMING[0] / 1000.0, TIMING[1] / 1000.0
HOST_DEAD, MARGIN = 7 * IO, IO
DEADLINE_LATE = HOST_DEAD - MARGIN            # after the fault
DEADLINE_EARLY = HOST_DEAD - MARGIN - 2 * IO
SLACK = 0.5                                   # the shim's timer, the power-off, a poll
RUN_LATE = HOST_DEAD + 3 * IO + 3.0


def running_on(mon, h):
    return sorted(vm for vm in PROTECTED if mon.hosts_running(vm) == [h])


def wait_off(mon, h, vms, t0):
    end = t0 + DEADLINE_LATE + 10 * IO + 20
    while time.monotonic() < end:
        mon.check()
        if all(mon.off_window(vm, h)[1] is not None for vm in vms):
            return
        time.sleep(0.1)
    check(False, "%s powered off on %s within %.1f s of the fault: %s"
          % (vms, h, end - t0, {vm: mon.hosts_running(vm) for vm in vms}))


def shim_fenced(c, h, vm):
    """Did h's shim log that it powered vm off at its deadline?"""
    with open(c.host(h).shim_log) as f:
        return any("DEADLINE PASSED for %s " % vm in line for line in f)


def agent_fault(c, mon, master, h, sig, what):
    """Send sig to h's fdm (links whole, its shim running): its shim powers the
    protected VMs running there off at the deadlines it holds, before the master
    restarts them elsewhere, once each. Returns the VMs it ran."""
    vms = running_on(mon, h)
    check(vms, "protected VMs run on %s" % h)
    before = restarts(c, master, vms)
    for vm in vms:
        c.wait_until(lambda: shim_deadline(c, h, vm) is not None, 20 * IO + 10,
                     "%s's shim holding a deadline for %s" % (h, vm))
    t0 = time.monotonic()
    c.kill(h, sig)
    time.sleep(0.2)                # a set_deadlines the agent had sent lands
    held = {vm: shim_deadline(c, h, vm) for vm in vms}
    wait_off(mon, h, vms, t0)

    for vm in vms:
        check(held[vm] is not None, "%s's shim held a deadline for %s after %s" % (h, vm, what))
        deadline = boottime_to_monotonic(held[vm])
        d = deadline - t0
        on, off = mon.off_window(vm, h)
        check(DEADLINE_EARLY - 0.2 <= d <= DEADLINE_LATE + 0.2,
              "%s's deadline %.2f s after the fault, within [%.1f, %.1f] (host_dead - "
              "margin, less up to 2 io)" % (vm, d, DEADLINE_EARLY, DEADLINE_LATE))
        check(off >= deadline - SLACK, "%s off no sooner than its deadline (%.2f s after "
              "the fault): seen off %.2f s after it" % (vm, d, off - t0))
        check(on <= deadline + SLACK, "%s off by its deadline (%.2f s after the fault) + "
              "%.1f s: seen running %.2f s after the fault" % (vm, d, SLACK, on - t0))
        check(shim_fenced(c, h, vm), "%s's hostd-shim logged the power-off of %s at its "
              "deadline" % (h, vm))
        where, since = mon.wait_running_elsewhere(vm, not_on=h, timeout=RUN_LATE + 30)
        after = mon.started_after(vm, where)
        check(after is not None and off < after,
              "%s seen off on %s (%.2f s after the fault) before the last poll without "
              "it on %s began (%.2f s)" % (vm, h, off - t0, where, (after or t0) - t0))
        took = since - t0
        print("%s of %s's fdm: %s (home %s) deadline %.2f s after it, off there (by the "
              "shim) between %.2f s and %.2f s, running on %s %.2f s after it (bound %.1f s)"
              % (what, h, vm, PROTECTED[vm], d, on - t0, off - t0, where, took, RUN_LATE))
        check(took <= RUN_LATE, "%s running elsewhere within %.1f s of the fault: %.2f s"
              % (vm, RUN_LATE, took))
        report_recovery("%s of a slave's fdm (%s)" % (what, vm), took, TIMING)

    c.wait_until(lambda: c.host_state(master, h) == "dead", 10 * IO + 10,
                 "%s shows %s dead" % (master, h))
    for vm in vms:
        c.wait_until(lambda: (c.vm_state(master, vm) or {}).get("state") == "protected",
                     10 * IO + 10, "%s protected again" % vm)
    want = {vm: (before[vm] or 0) + 1 for vm in vms}
    check(restarts(c, master, vms) == want, "each VM restarted once: %s (before %s)"
          % (restarts(c, master, vms), before))
    return vms, want


def check_once(c, mon, master, not_on, want):
    for vm in PROTECTED:
        check(len(mon.hosts_running(vm)) == 1, "%s runs once: %s" % (vm, mon.hosts_running(vm)))
    for vm in want:
        check(not_on not in mon.hosts_running(vm), "%s not started again on %s" % (vm, not_on))
    check(restarts(c, master, want) == want, "no further restart: %s, want %s"
          % (restarts(c, master, want), want))


def body():
    with Cluster(HOSTS, datastores=(), nfs=("nfs1",), iscsi=("iscsi1",), timing=TIMING,
                 shims=True, node_memory={"host-3": 4194304}) as c:
        master = start_protected(c, "host-4", PROTECTED, HOST_DEAD)
        wait_shim_deadlines(c, PROTECTED, timeout=5 * HOST_DEAD)
        # Each host's poweron records (one per io) must list its VMs as protected,
        # or the master may not restart them (a dead host that never knew).
        time.sleep(3 * IO)
        with TimelineMonitor(c, vms=sorted(PROTECTED)) as mon:
            _, want2 = agent_fault(c, mon, master, "host-2", signal.SIGKILL, "kill -9")
            c.wait_exit("host-2")
            check_once(c, mon, master, "host-2", want2)
            # What now runs on host-3 has its deadlines there and its records list it.
            time.sleep(3 * IO)

            try:
                vms3, want3 = agent_fault(c, mon, master, "host-3", signal.SIGSTOP, "SIGSTOP")
            finally:
                c.kill("host-3", signal.SIGCONT)
            t_cont = time.monotonic()
            c.wait_until(lambda: c.host_state(master, "host-3") == "connected", 20 * IO + 10,
                         "host-3 connected again after SIGCONT")
            took = time.monotonic() - t_cont
            time.sleep(3 * IO)
            check(c.running("host-3"), "host-3's fdm runs on after SIGCONT")
            check_once(c, mon, master, "host-3", want3)
            check_once(c, mon, master, "host-2", want2)
            check(mon.hosts_running("host-1-vm1") == ["host-1"], "host-1-vm1 left alone")
            print("SIGCONT: host-3 connected %.2f s later, started nothing again; every VM "
                  "runs once (%d polls of every shim)" % (took, mon.polls))


if __name__ == "__main__":
    sys.exit(scenario(body))
