#!/usr/bin/env python3
"""The agent itself dies or pauses (DESIGN.md safety point 5), on real agents and
shims, with an NFS and an iSCSI datastore on a storage network of their own:

  - host-2 is cut off from the cluster and storage networks; its fdm is then
    killed with -9 and started again (its hostd-shim lives on). The new agent can
    read no protectedlist, so it does not know host-2-vm1 is protected: it must
    still leave the shim the deadline the old agent handed it, and the shim
    powers the VM off by then, before the master restarts it elsewhere (a new
    agent that handed the shim its own empty list would lift the deadline: the VM
    would run twice);
  - host-3's fdm is paused (SIGSTOP) for 10 s and loses both links meanwhile; the
    master heartbeats that reach it before the cut wait in its socket. Its VM is
    off (by the shim, at the deadline it held) before the master restarts it, and
    the resumed agent, reading the queued heartbeats, does not bring it back.
  - host-1's fdm is stopped cleanly (SIGTERM): the master shows it `stopped`, its
    VM keeps running there and is not restarted, even past 2 x host_dead; its
    fdm started again, host-1 is connected and the VM protected as before.
A monitor polls every shim every 200 ms and fails the test on any double run."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, report_recovery, scenario, timing_from_env  # noqa: E402
from monitor import DoubleRunMonitor  # noqa: E402
import outage  # noqa: E402

HOSTS = ["host-1", "host-2", "host-3", "host-4"]
TIMING = timing_from_env()    # quick: io 1 s: host_dead 7 s
HOST_DEAD_S = 7 * TIMING[1] / 1000.0
PROTECTED = {"host-1-vm1": "nfs1", "host-2-vm1": "nfs1", "host-3-vm1": "iscsi1"}


def protect_all(c, master):
    outage.protect_all(c, master, PROTECTED, timeout=5 * HOST_DEAD_S)
    # Each host has read the protectedlist and handed its shim the deadline.
    outage.wait_shim_deadlines(c, PROTECTED, timeout=5 * HOST_DEAD_S)


def boottime_ms():
    return time.clock_gettime(time.CLOCK_BOOTTIME) * 1000.0


def wait_off(mon, vm, h, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        mon.check()
        if h not in mon.hosts_running(vm):
            return boottime_ms()
        time.sleep(0.05)
    return None


def restarted_agent(c, mon, master):
    h, vm = "host-2", "host-2-vm1"
    c.cut(h)
    c.cut_storage(h)
    t0 = time.monotonic()
    time.sleep(1.0)
    c.kill(h, signal.SIGKILL)
    c.wait_exit(h)
    held = outage.shim_deadline(c, h, vm)
    check(held is not None, "after kill -9 the shim still holds %s's deadline" % vm)
    c.start(h)
    killed_at = boottime_ms()
    off = wait_off(mon, vm, h, timeout=(held - killed_at) / 1000.0 + 10)
    check(off is not None, "%s powered off on %s" % (vm, h))
    check(off <= held + 500, "%s off %.2f s after the old agent's deadline (bound 0.5 s)"
          % (vm, (off - held) / 1000.0))
    where, since = mon.wait_running_elsewhere(vm, not_on=h, timeout=10 * HOST_DEAD_S)
    print("kill -9 + restart of host-2's fdm while cut off: %s off %+.2f s from the "
          "deadline the old agent handed the shim, then running on %s" %
          (vm, (off - held) / 1000.0, where))
    report_recovery("fdm killed and restarted while cut off, %s" % vm, since - t0, TIMING,
                    after="the cut")
    c.heal_storage(h)
    c.heal(h)
    c.wait_until(lambda: c.host_state(master, h) == "connected", 5 * HOST_DEAD_S,
                 "%s connected again" % h)


def paused_slave(c, mon, master):
    h, vm = "host-3", "host-3-vm1"
    c.kill(h, signal.SIGSTOP)
    t0 = time.monotonic()
    time.sleep(1.0)              # master heartbeats queue in its socket
    c.cut(h)
    c.cut_storage(h)
    time.sleep(9.0)
    c.kill(h, signal.SIGCONT)
    where, since = mon.wait_running_elsewhere(vm, not_on=h, timeout=10 * HOST_DEAD_S)
    time.sleep(3.0)
    check(mon.hosts_running(vm) == [where], "%s runs only on %s after host-3's resume" %
          (vm, where))
    print("host-3's fdm paused 10 s, links cut meanwhile: %s off there and running on %s "
          "once" % (vm, where))
    report_recovery("fdm paused 10 s, links cut meanwhile, %s" % vm, since - t0, TIMING,
                    after="the SIGSTOP")
    c.heal_storage(h)
    c.heal(h)
    c.wait_until(lambda: c.host_state(master, h) == "connected", 5 * HOST_DEAD_S,
                 "%s connected again" % h)


def clean_stop(c, mon, master):
    h, vm = "host-1", "host-1-vm1"
    check(c.stop(h) == 0, "%s's fdm stops cleanly on SIGTERM" % h)
    c.wait_until(lambda: c.host_state(master, h) == "stopped", 3 * HOST_DEAD_S,
                 "%s shown stopped" % h)
    time.sleep(2 * HOST_DEAD_S)
    if mon.hosts_running(vm) != [h]:
        with open(c.host(h).shim_log) as f:
            print("".join(l for l in f if "client" not in l))
    check(mon.hosts_running(vm) == [h], "%s still runs on %s only: %s" %
          (vm, h, mon.hosts_running(vm)))
    check(c.host_state(master, h) == "stopped", "%s still shown stopped" % h)
    check((c.vm_state(master, vm) or {}).get("restarts", 0) == 0, "%s not restarted" % vm)
    c.start(h)
    t0 = time.monotonic()
    c.wait_until(lambda: c.host_state(master, h) == "connected", 5 * HOST_DEAD_S,
                 "%s connected again" % h)
    c.wait_until(lambda: (c.vm_state(master, vm) or {}).get("state") == "protected",
                 5 * HOST_DEAD_S, "%s protected again" % vm)
    print("clean stop of host-1's fdm: shown stopped, %s left running there for %.0f s "
          "(2 x host_dead), protected again once fdm is back" % (vm, 2 * HOST_DEAD_S))
    report_recovery("clean stop (SIGTERM) then start", time.monotonic() - t0, TIMING,
                    what="connected and protected again", after="the start")


def body():
    with Cluster(HOSTS, datastores=(), nfs=("nfs1",), iscsi=("iscsi1",), timing=TIMING,
                 shims=True) as c:
        c.start_all()
        master, _ = c.wait_for_agreement(timeout=30, expect="host-4")
        c.wait_until(lambda: c.holds_every_lease(master), 6 * HOST_DEAD_S,
                     "%s holding both leases" % master)
        protect_all(c, master)
        with DoubleRunMonitor(c, vms=sorted(PROTECTED)) as mon:
            clean_stop(c, mon, master)
            restarted_agent(c, mon, master)
            paused_slave(c, mon, master)
            time.sleep(2)
            for vm in PROTECTED:
                check(len(mon.hosts_running(vm)) == 1, "%s runs once" % vm)


if __name__ == "__main__":
    sys.exit(scenario(body))
