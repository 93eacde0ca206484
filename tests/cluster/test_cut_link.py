#!/usr/bin/env python3
"""Cut one slave's link: the master no longer hears it (`unreachable`, or at once
`partitioned`: its hb records still change), and once the cut slave has found
itself isolated (its isolation address is on the cut link) and written so in
its poweron records, the master shows it `isolated` (DESIGN.md "Roles and
states"); heal it: the host rejoins the master as a slave and shows `connected`
again."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, scenario  # noqa: E402

HOSTS = ["host-1", "host-2", "host-9", "host-10"]


def body():
    with Cluster(HOSTS, timing=(1000, 2000)) as c:
        c.start_all()
        master, _ = c.wait_for_agreement(timeout=10, expect="host-9")
        victim = "host-1"
        c.wait_until(lambda: c.host_state(master, victim) == "connected", 10,
                     "%s connected" % victim)
        c.cut(victim)
        t0 = time.monotonic()
        c.wait_until(lambda: c.host_state(master, victim) in ("unreachable", "partitioned",
                                                              "isolated"), 10,
                     "%s no longer hears %s" % (master, victim))
        print("cut: %s shows %s %s %.2f s after its link went down"
              % (master, victim, c.host_state(master, victim), time.monotonic() - t0))
        c.wait_until(lambda: c.host_state(master, victim) == "isolated", 30,
                     "%s shows %s isolated" % (master, victim))
        print("cut: %s shows %s isolated %.2f s after its link went down"
              % (master, victim, time.monotonic() - t0))
        others = [h for h in HOSTS if h != victim]
        check(c.agreed_master(others) == master, "the rest keep their master")
        hb = [h for h in c.status(master)["hosts"] if h["id"] == victim][0]
        check(hb["heartbeat_age_ms"] >= 3000, "heartbeat age grows: %r" % hb)

        c.heal(victim)
        t0 = time.monotonic()
        c.wait_for_agreement(timeout=15, expect=master)
        c.wait_until(lambda: c.host_state(master, victim) == "connected", 10,
                     "%s connected again" % victim)
        print("heal: %s is a connected slave of %s again after %.2f s"
              % (victim, master, time.monotonic() - t0))


if __name__ == "__main__":
    sys.exit(scenario(body))
