#!/usr/bin/env python3
"""A whole-cluster storage outage with one host down (issue 18, DESIGN.md safety
point 3, second half; test_storage_outage.py is the every-host-up half). Three
hosts with their hostd-shims (libvirt test driver), nfs1 (nfs-ganesha) and iscsi1
(tgtd) on a storage network of their own, protected VMs on every host, homed on
both. Slave host-1 dies first (kill -9 of its fdm and its shim; its test-driver
domains die with the shim) and its two VMs run again elsewhere. Then the storage
link of every remaining host is cut, the cluster network stays whole.

The dead host may come back alone, reach the storage, take a lease and restart
the others' VMs, so they are powered off; DESIGN.md point 3 bounds how soon.
Derivation (our clocks; the test's t_cut is taken just before the first cut):
  - no master heartbeat can vouch for host-1, so no "every host heard" clause:
    deadline = max(storage, min(same master, takeover)) - margin, and the
    takeover bound (the master's last renewal of d + lease_expiry + host_dead)
    is the smaller of the two network ones once the master keeps hearing us;
  - the storage bound (last hb write + host_dead) is below it;
  - the master issues a renewal every io, each bounded by io, and the one in
    flight at the cut may fail: the last one that landed was issued no sooner
    than t_cut - 2 io (in practice t_cut - io).
  So no protected VM may go off sooner than
      OFF_BOUND = lease_expiry + host_dead - margin - 2 io   after t_cut
  (8 s at io 1 s; the same bound as tests/unit/test_deadline.c's), and each should
  be off by lease_expiry + host_dead - margin (10 s) + a poll: the check fails
  only on a VM seen off (by the end of a poll of every shim) before OFF_BOUND, and
  every VM must be off by OFF_LATE. Measured: off 9.0-9.4 s after the cut (the
  last renewal 0.6-1.0 s before it); the storage bound alone would be 6 s.
A restart after the outage needs the lease back (HEAL_LEASE, as in
test_storage_outage.py) and host-1 dead for d again, host_dead counted from that
acquisition (DESIGN.md point 2), then, for a VM last seen on a host that is up,
host_dead more waiting for why it stopped, + a power-on: HEAL_RUN. Throughout, the monitor
(every shim polled every 200 ms, fdm not trusted) fails on any VM running twice."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, scenario  # noqa: E402
from monitor import DoubleRunMonitor  # noqa: E402
from outage import owner, protect_all, wait_deadlines_known  # noqa: E402

HOSTS = ["host-1", "host-2", "host-3"]
VICTIM = "host-1"
H, IO = 0.5, 1.0
TIMING = (int(H * 1000), int(IO * 1000))
EXPIRY, CLAIM, HOST_DEAD, MARGIN = 4 * IO, 2 * IO, 7 * IO, IO
PROTECTED = {"host-1-vm1": "nfs1", "host-1-vm2": "iscsi1", "host-2-vm1": "iscsi1",
             "host-3-vm1": "nfs1", "host-3-vm2": "iscsi1"}
OFF_BOUND = EXPIRY + HOST_DEAD - MARGIN - 2 * IO
# The latest deadline is the last renewal (<= t_cut) + expiry + host_dead - margin;
# the shim's power-off and the next poll of every shim, + 3 s of scheduling.
OFF_LATE = EXPIRY + HOST_DEAD - MARGIN + 3.0
OUTAGE = OFF_LATE + 5.0
# As test_storage_outage.py: the I/O in flight times out (io), the master sees
# its own stale record unchanged for the expiry, claims, + io, + 3 s reconnects.
HEAL_LEASE = IO + EXPIRY + CLAIM + IO + 3.0
# Then host-1 dead for d (host_dead from the acquisition) before any VM of d runs
# nowhere; a VM last seen on a host that is up then waits host_dead more for that
# host to say why it stopped (failover.c restart_due); the order and the
# power-on within io, + 3 s of scheduling.
HEAL_RUN = HEAL_LEASE + 2 * HOST_DEAD + IO + 3.0


class OffMonitor(DoubleRunMonitor):
    """The double-run monitor, which also records per watched VM the start of the
    last poll that saw it running and the end of the first poll that saw it run
    nowhere: it went off between the two."""

    def __init__(self, cluster, vms, interval=0.2):
        super().__init__(cluster, vms=vms, interval=interval)
        self.last_on = {}
        self.first_off = {}

    def poll_once(self):
        start = time.monotonic()
        super().poll_once()
        end = time.monotonic()
        with self.lock:
            for vm in self.vms:
                if self.where.get(vm):
                    self.last_on[vm] = start
                    self.first_off.pop(vm, None)
                else:
                    self.first_off.setdefault(vm, end)

    def off_window(self, vm):
        with self.lock:
            return self.last_on.get(vm), self.first_off.get(vm)

    def running(self):
        with self.lock:
            return {vm: sorted(self.where.get(vm, ())) for vm in self.vms}


def protected_on(c, master):
    """{vm: host} the master shows, for every protected VM it shows running."""
    out = {}
    for vm in PROTECTED:
        v = c.vm_state(master, vm) or {}
        out[vm] = v.get("host")
    return out


def outage(c, mon, survivors):
    """Cut every survivor's storage until every VM was seen off, or OUTAGE passed.
    Returns t_cut."""
    t_cut = time.monotonic()
    try:
        for h in survivors:
            c.cut_storage(h)
        while time.monotonic() - t_cut < OUTAGE:
            mon.check()
            if all(mon.off_window(vm)[1] is not None and mon.off_window(vm)[1] > t_cut
                   for vm in PROTECTED) and time.monotonic() - t_cut > OFF_LATE:
                break
            time.sleep(0.5)
    finally:
        for h in survivors:
            c.heal_storage(h)
    return t_cut


def check_off_times(mon, t_cut):
    print("power-offs after the cut (bound: none sooner than %.1f s, every one by %.1f s):"
          % (OFF_BOUND, OFF_LATE))
    for vm in sorted(PROTECTED):
        on, off = mon.off_window(vm)
        check(off is not None and off > t_cut, "%s seen off during the outage" % vm)
        print("  %s off between %.2f s and %.2f s after the cut" % (vm, on - t_cut, off - t_cut))
    for vm in sorted(PROTECTED):
        on, off = mon.off_window(vm)
        check(off - t_cut >= OFF_BOUND,
              "%s powered off no sooner than %.1f s after the cut (lease_expiry + host_dead "
              "- margin - 2 io): seen off %.2f s after it" % (vm, OFF_BOUND, off - t_cut))
        check(on - t_cut <= OFF_LATE, "%s off by %.1f s after the cut: seen running %.2f s "
              "after it" % (vm, OFF_LATE, on - t_cut))


def body():
    survivors = [h for h in HOSTS if h != VICTIM]
    with Cluster(HOSTS, datastores=(), nfs=("nfs1",), iscsi=("iscsi1",), timing=TIMING,
                 shims=True) as c:
        c.start_all()
        master, _ = c.wait_for_agreement(timeout=15, expect="host-3")
        c.wait_until(lambda: c.holds_every_lease(master), 30, "%s holding both leases" % master)
        protect_all(c, master, PROTECTED)
        wait_deadlines_known(c, PROTECTED)
        # host-1's poweron records (one per io) must list its VMs as protected,
        # or the master may not restart them (a dead host that never knew).
        time.sleep(3 * IO)
        with OffMonitor(c, vms=sorted(PROTECTED)) as mon:
            c.kill(VICTIM, signal.SIGKILL)
            c.kill_shim(VICTIM, signal.SIGKILL)
            t_kill = time.monotonic()
            for vm in PROTECTED:
                if owner(vm) == VICTIM:
                    try:
                        where, since = mon.wait_running_elsewhere(vm, not_on=VICTIM,
                                                                  timeout=60)
                    except Exception:
                        print("the master's view of %s: %s" % (vm, c.vm_state(master, vm)))
                        print(c.fdmctl(master, "vms", json_out=False, check=False).stdout)
                        print(c.fdmctl(master, "hosts", json_out=False, check=False).stdout)
                        raise
                    print("kill -9 of %s (fdm + shim): %s running on %s %.2f s later"
                          % (VICTIM, vm, where, since - t_kill))
            c.wait_until(lambda: all(h in survivors for h in protected_on(c, master).values()),
                         10, "the master showing every protected VM on %s" % survivors)
            wait_deadlines_known(c, {vm: ds for vm, ds in PROTECTED.items()
                                     if owner(vm) != VICTIM})
            before = mon.running()
            print("before the outage: %s" % before)
            check(all(len(h) == 1 for h in before.values()), "every VM runs once: %s" % before)

            t_cut = outage(c, mon, survivors)
            t_heal = time.monotonic()
            print("storage of %s cut for %.1f s, network whole, %s down"
                  % (" and ".join(survivors), t_heal - t_cut, VICTIM))
            check_off_times(mon, t_cut)

            _, took = c.wait_until(lambda: c.holds_every_lease(master), HEAL_LEASE + 20,
                                   "%s holding both leases after the heal (%s)"
                                   % (master, c.lease_holders()))
            print("after the heal: %s holds both leases %.2f s later (bound %.1f s)"
                  % (master, took, HEAL_LEASE))
            check(took <= HEAL_LEASE, "leases back within %.1f s: took %.2f s"
                  % (HEAL_LEASE, took))
            _, took = c.wait_until(lambda: all(len(h) == 1 for h in mon.running().values()),
                                   HEAL_RUN + 30, "every protected VM running again (%s)"
                                   % mon.running())
            took = time.monotonic() - t_heal
            print("every protected VM runs once again %.2f s after the heal (bound %.1f s): %s"
                  % (took, HEAL_RUN, mon.running()))
            check(took <= HEAL_RUN, "VMs back within %.1f s of the heal: took %.2f s"
                  % (HEAL_RUN, took))
            time.sleep(3 * IO)
            mon.check()
            after = mon.running()
            check(all(len(h) == 1 and h[0] in survivors for h in after.values()),
                  "every VM runs once, on a live host: %s" % after)
        print("no protected VM ran twice in any of %d polls of every shim" % mon.polls)


if __name__ == "__main__":
    sys.exit(scenario(body))
