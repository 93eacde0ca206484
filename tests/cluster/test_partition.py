#!/usr/bin/env python3
"""A 2|2 network partition with storage reachable everywhere (issue 19 scenario 3,
DESIGN.md "Roles and states" and safety point 4): four hosts with their
hostd-shims (libvirt test driver), two file:// datastores, isolation response
`poweroff`, a protected VM on every host. The cluster network splits into
{host-1, host-2} and {host-3, host-4} (each host drops the other half's packets);
every host still reaches the isolation address, so each half is partitioned, not
isolated:
  - host-4 stays master of its half and goes on holding both leases; the other
    half elects its own master (host-2, or host-1 when it lost host-4 first),
    which takes no lease (they are held and renewed), so it acts on nothing;
  - host-4 shows host-1 and host-2 `partitioned` (their storage heartbeats live);
  - for 3 x host_dead no VM is powered off, moved or restarted (a monitor polls
    every shim), no datastore ever has two agents holding its lease, no host
    declares itself isolated;
  - healed: one master (host-4) within a few heartbeats, every VM runs once where
    it ran. FDM_TEST_TIMING=1000,2000 runs it at the default timing."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, report_recovery, scenario, timing_from_env  # noqa: E402
from outage import StayPutMonitor, leases_held, start_protected  # noqa: E402

HOSTS = ["host-1", "host-2", "host-3", "host-4"]
TIMING = timing_from_env()     # quick: H 0.5 s, io 1 s: host_dead 7 s
IO_S = TIMING[1] / 1000.0
HOST_DEAD_S = 7 * IO_S
PROTECTED = {"host-1-vm1": "ds1", "host-2-vm1": "ds2", "host-3-vm1": "ds1",
             "host-4-vm1": "ds2"}
LEFT, RIGHT = ("host-1", "host-2"), ("host-3", "host-4")


def one_holder_each(c):
    """No datastore whose lease two agents show as held; the holders seen."""
    held = leases_held(c)
    by_ds = {}
    for h, ds in held:
        by_ds.setdefault(ds, []).append(h)
    for ds, hs in by_ds.items():
        check(len(hs) == 1, "datastore %s held by %s at once" % (ds, ", ".join(hs)))
    return by_ds


def body():
    with Cluster(HOSTS, datastores=("ds1", "ds2"), timing=TIMING, shims=True,
                 isolation_response="poweroff") as c:
        master = start_protected(c, "host-4", PROTECTED, HOST_DEAD_S)
        with StayPutMonitor(c, vms=sorted(PROTECTED)) as stay:
            c.partition(LEFT, RIGHT)
            t0 = time.monotonic()
            # Usually host-2 (the greater id); host-1 when it lost host-4 first
            # and won an election alone: a master is not displaced by a better
            # host that joins it later (no flapping).
            minority, _ = c.wait_for_agreement(timeout=10 * HOST_DEAD_S, hosts=LEFT)
            check(minority in LEFT, "the minority's master is one of its own: %s" % minority)
            print("partitioned: host-1 and host-2 elected %s %.2f s after the split"
                  % (minority, time.monotonic() - t0))
            for h in LEFT:
                c.wait_until(lambda: c.host_state(master, h) == "partitioned",
                             5 * HOST_DEAD_S, "%s shows %s partitioned" % (master, h))
            print("%s shows host-1 and host-2 partitioned %.2f s after the split"
                  % (master, time.monotonic() - t0))
            end = t0 + 3 * HOST_DEAD_S
            while time.monotonic() < end:
                by_ds = one_holder_each(c)
                check(by_ds == {"ds1": [master], "ds2": [master]},
                      "%s alone holds both leases: %s" % (master, by_ds))
                stay.check_stayed(t0)
                time.sleep(0.5)
            for h in HOSTS:
                check("ISOLATED" not in c.log_text(h), "%s never declared itself isolated" % h)
            print("split for %.1f s: nothing moved (%d polls of every shim), %s alone held "
                  "both leases" % (time.monotonic() - t0, stay.polls, master))
            c.heal_partition()
            t1 = time.monotonic()
            c.wait_for_agreement(timeout=10 * HOST_DEAD_S, expect=master)
            merged = time.monotonic() - t1
            for h in LEFT:
                c.wait_until(lambda: c.host_state(master, h) == "connected",
                             5 * HOST_DEAD_S, "%s connected again" % h)
            time.sleep(3 * IO_S)
            one_holder_each(c)
            stay.check_stayed(t0)
            print("healed: one master (%s) %.2f s after the heal; every VM ran once where "
                  "it was throughout" % (master, merged))
            report_recovery("partition 2|2", merged, TIMING, what="one master",
                            after="the heal")


if __name__ == "__main__":
    sys.exit(scenario(body))
