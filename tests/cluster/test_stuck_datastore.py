#!/usr/bin/env python3
"""Stop and reload never wait on a stuck datastore (fdm(8)): with the NFS server
hung (nfs-ganesha SIGSTOPped, TCP still accepting, nothing answering) and the
master holding the lease there,
  - a clean stop (SIGTERM) of the master exits 0 by its stop deadline,
    2 x io_timeout (plus the agent's 0.5 s and one tick), though its release on
    the hung datastore never completes;
  - a SIGHUP that removes the hung datastore from a slave's config is applied at
    once: the agent answers and logs the reload within 0.5 s (io_timeout 3 s).
io_timeout is 3 s, so an agent that waited for the I/O in flight on the hung
datastore (up to io_timeout) misses both bounds."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, scenario  # noqa: E402

HOSTS = ["host-1", "host-2", "host-3"]
TIMING = (1000, 3000)
IO = TIMING[1] / 1000.0


def entry(c, h, ds):
    for d in c.status(h)["datastores"]:
        if d["name"] == ds:
            return d
    return None


def stop_master(c, master, failures):
    t0 = time.monotonic()
    c.kill(master, signal.SIGTERM)
    rc = c.wait_exit(master, timeout=4 * IO + 10)
    took = time.monotonic() - t0
    print("SIGTERM of master %s with nfs1 hung: exit %s after %.2f s (2 x io_timeout = %.0f s)"
          % (master, rc, took, 2 * IO))
    if rc != 0:
        failures.append("%s exits 0 after SIGTERM, not %s" % (master, rc))
    if took > 2 * IO + 1.0:
        failures.append("%s exits within 2 x io_timeout + 1 s of SIGTERM, not %.2f s"
                        % (master, took))


def reload_without(c, h, ds, failures):
    text = "".join(line + "\n" for line in c.config_text(c.host(h)).splitlines()
                   if not line.startswith(ds + " = "))
    c.write_config(c.host(h), text=text)
    mark = len(c.log_text(h))
    t0 = time.monotonic()
    c.kill(h, signal.SIGHUP)
    c.wait_until(lambda: "config reloaded" in c.log_text(h)[mark:], 10,
                 "%s logs the reload" % h, interval=0.02)
    took = time.monotonic() - t0
    names = [d["name"] for d in c.status(h)["datastores"]]
    check(names == ["ds1"], "%s uses ds1 only after the reload: %s" % (h, names))
    print("SIGHUP of %s removing hung %s: applied after %.2f s (io_timeout %.0f s)"
          % (h, ds, took, IO))
    if took >= 0.5:
        failures.append("SIGHUP removing hung %s applied at once, not after %.2f s" % (ds, took))


def body():
    with Cluster(HOSTS, datastores=("ds1",), nfs=("nfs1",), timing=TIMING) as c:
        c.start_all()
        master, _ = c.wait_for_agreement(timeout=15, expect="host-3")
        c.wait_until(lambda: c.holds_every_lease(master), 30, "%s holding both leases" % master)
        failures = []
        c.nfs.pause()
        try:
            # An I/O of every agent is now stuck on nfs1; the master's lease
            # there is still held (it lasts 2 x io_timeout past its last write).
            time.sleep(1.0)
            check(entry(c, master, "nfs1")["lease"] == "held",
                  "the master still holds nfs1: %r" % entry(c, master, "nfs1"))
            stop_master(c, master, failures)
            reload_without(c, "host-1", "nfs1", failures)
        finally:
            c.nfs.resume()
        check(not failures, "; ".join(failures))


if __name__ == "__main__":
    sys.exit(scenario(body))
