#!/usr/bin/env python3
"""Two agents whose io_timeout_ms differ (a rolling change, a typo) never form one
cluster (DESIGN.md safety point 1): each drops the other's packets, counts them
under dropped.timing_mismatch, shows the other `init-error` with the reason, and
logs it once a minute. Fixing the config (and restarting) joins them."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, scenario  # noqa: E402

HOSTS = ["host-1", "host-2"]
TIMING = (1000, 2000)
ODD_IO = 3000


def entry(c, viewer, h):
    for e in (c.try_status(viewer) or {}).get("hosts", []):
        if e["id"] == h:
            return e
    return None


def body():
    with Cluster(HOSTS, datastores=(), timing=TIMING) as c:
        odd = c.host("host-2")
        text = c.config_text(odd).replace("io_timeout_ms = %d" % TIMING[1],
                                          "io_timeout_ms = %d" % ODD_IO)
        check("io_timeout_ms = %d" % ODD_IO in text, "host-2's config has the odd timing")
        c.write_config(odd, text=text)
        c.start_all()

        def refused():
            a, b = entry(c, "host-1", "host-2"), entry(c, "host-2", "host-1")
            return (a, b) if a and b and a["state"] == b["state"] == "init-error" else None
        (a, b), secs = c.wait_until(refused, 10, "each host showing the other init-error")
        print("after %.1f s: host-1 shows host-2 %s (%s); host-2 shows host-1 %s (%s)"
              % (secs, a["state"], a.get("reason"), b["state"], b.get("reason")))
        check(a.get("reason") == "timing differs: io_timeout %d ms, ours %d ms" % (ODD_IO, TIMING[1]),
              "host-1 gives the reason: %r" % a)
        check(b.get("reason") == "timing differs: io_timeout %d ms, ours %d ms" % (TIMING[1], ODD_IO),
              "host-2 gives the reason: %r" % b)

        def alone():
            return all(c.status(h)["role"] == "master" and c.status(h)["master"] == h
                       for h in HOSTS)
        c.wait_until(alone, 10, "each host master of itself")
        first = {h: c.status(h)["dropped"]["timing_mismatch"] for h in HOSTS}
        c.hold(alone, 6, "each host its own master, no common cluster")
        last = {h: c.status(h)["dropped"]["timing_mismatch"] for h in HOSTS}
        for h in HOSTS:
            check(last[h] > first[h], "%s's dropped.timing_mismatch rises: %d -> %d"
                  % (h, first[h], last[h]))
            print("%s: master of itself only; dropped.timing_mismatch %d -> %d in 6 s"
                  % (h, first[h], last[h]))
            lines = [l for l in c.log_text(h).splitlines() if "timing differs" in l]
            check(len(lines) == 1, "%s logged it once (once a minute): %r" % (h, lines))

        c.stop("host-2")
        c.write_config(odd)          # the cluster's timing again
        c.start("host-2")
        t0 = time.monotonic()
        master, _ = c.wait_for_agreement(timeout=10)
        other = [h for h in HOSTS if h != master][0]
        c.wait_until(lambda: (entry(c, master, other) or {}).get("state") == "connected", 10,
                     "%s connected" % other)
        print("timing fixed: host-2 restarted and the two agree on %s after %.1f s"
              % (master, time.monotonic() - t0))


if __name__ == "__main__":
    sys.exit(scenario(body))
