#!/usr/bin/env python3
"""A whole-cluster network outage powers nothing off and starts nothing twice
(DESIGN.md safety point 4). Three hosts with their hostd-shims (libvirt test
driver), isolation response `poweroff`, one NFS datastore (nfs-ganesha) and one
iSCSI datastore (tgtd) on a storage network of their own. Every host's cluster
link is cut for 30 s (longer than isolation_delay, 3.5 s, and host_dead, 7 s, at
heartbeat 500 ms / io 1 s); the isolation address is on the cluster network, so
every host finds itself isolated; storage stays whole:
  - no protected VM is powered off, restarted or run twice at any time (every
    shim polled every 200 ms): with response `poweroff`, any lease renewed after
    a slave's isolation check would power every VM of the cluster off;
  - from the heard window + one probe + 2 x io_timeout after the cut (+ 1 s for
    scheduling) until the heal, no agent shows a lease held or acting: the
    isolated master released, and no lone host acquires one;
  - after the heal: one master, holding every lease within a bound derived from
    the timing, every VM running once where it ran."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, report_recovery, scenario, timing_from_env  # noqa: E402
from outage import StayPutMonitor, leases_held, restarts, start_protected  # noqa: E402

HOSTS = ["host-1", "host-2", "host-3"]
TIMING = timing_from_env()     # FDM_TEST_TIMING=1000,2000: the default timing
H, IO = TIMING[0] / 1000.0, TIMING[1] / 1000.0
HEARD, PROBE, CLAIM, MASTER_LOST = 2 * H, H, 2 * IO, 3 * H
ISOLATION_DELAY, HOST_DEAD = HEARD + PROBE + 2 * IO, 7 * IO
OUTAGE = 30.0
# DESIGN.md point 4: the master stops renewing after the heard window, releases
# once a probe begun after that gets no answer, within 2 x io; + 1 s scheduling.
NO_LEASE_AFTER = HEARD + PROBE + 2 * IO + 1.0
# After the heal: the hosts hear each other within a heartbeat, elect (master
# lost + one window), the winner takes each released lease at once (write, wait
# the claim, read), + io of slack, + 3 s for scheduling on a shared machine.
HEAL_BOUND = H + MASTER_LOST + H + CLAIM + IO + 3.0
PROTECTED = {"host-1-vm1": "nfs1", "host-1-vm2": "iscsi1", "host-2-vm1": "iscsi1",
             "host-3-vm1": "nfs1", "host-3-vm2": "iscsi1"}


def outage(c, mon, t0):
    """Poll every agent through the outage; returns (seconds after the cut when no
    lease was last seen held, roles seen per host)."""
    last_held, roles, late = 0.0, {}, []
    while time.monotonic() - t0 < OUTAGE:
        held = leases_held(c)
        now = time.monotonic() - t0
        if held:
            last_held = now
            if now > NO_LEASE_AFTER:
                late.append((round(now, 1), held))
        for h in HOSTS:
            st = c.try_status(h) or {}
            roles.setdefault(h, set()).add(st.get("role"))
        mon.check()
        mon.check_stayed(t0)
        time.sleep(0.25)
    check(not late, "no lease held from %.1f s after the cut: %s" % (NO_LEASE_AFTER, late[:5]))
    return last_held, roles


def body():
    with Cluster(HOSTS, datastores=(), nfs=("nfs1",), iscsi=("iscsi1",), timing=TIMING,
                 shims=True, isolation_response="poweroff") as c:
        master = start_protected(c, "host-3", PROTECTED, HOST_DEAD)
        with StayPutMonitor(c, vms=sorted(PROTECTED)) as mon:
            for h in HOSTS:
                c.cut(h)
            t0 = time.monotonic()
            try:
                last_held, roles = outage(c, mon, t0)
            finally:
                for h in HOSTS:
                    c.heal(h)
            t_heal = time.monotonic()
            print("cluster links of every host cut for %.0f s, storage whole, response "
                  "poweroff: last lease seen held %.1f s after the cut (bound %.1f s); "
                  "roles seen: %s" % (t_heal - t0, last_held, NO_LEASE_AFTER,
                                       {h: sorted(str(r) for r in v) for h, v in roles.items()}))
            mon.check_stayed(t0)

            m, took_m = c.wait_for_agreement(timeout=HEAL_BOUND + 20)
            _, took = c.wait_until(lambda: c.holds_every_lease(m), HEAL_BOUND + 20,
                                   "%s holding both leases after the heal (%s)"
                                   % (m, c.lease_holders()))
            took = time.monotonic() - t_heal
            print("after the heal: %s master after %.2f s, holding both leases %.2f s after "
                  "the heal (bound %.1f s)" % (m, took_m, took, HEAL_BOUND))
            check(took <= HEAL_BOUND, "leases back within %.1f s: took %.2f s"
                  % (HEAL_BOUND, took))
            report_recovery("whole-network outage", took_m, TIMING, what="one master",
                            after="the heal")
            report_recovery("whole-network outage", took, TIMING, what="leases held",
                            after="the heal")
            time.sleep(3 * IO)
            mon.check_stayed(t0)
            r = restarts(c, m, PROTECTED)
            check(all(n == 0 for n in r.values()), "no VM restarted: %s" % r)
            for vm in PROTECTED:
                v = c.vm_state(m, vm) or {}
                check(v.get("state") == "protected" and v.get("host") == vm.rsplit("-", 1)[0],
                      "%s protected where it ran: %s" % (vm, v))


if __name__ == "__main__":
    sys.exit(scenario(body))
