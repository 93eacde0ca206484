#!/usr/bin/env python3
"""4 agents with one NFS datastore (nfs-ganesha, NFSv3 through libnfs) and one
iSCSI datastore (tgtd, through libiscsi), served from a storage namespace on a
storage network of its own:
  - the master holds both leases (fdm-inspect reads them from the servers);
  - kill -9 the master: the new master holds both, after the lease expiry;
  - a hung NFS server, then a hung iSCSI target (SIGSTOP) makes that datastore
    unreachable within io_timeout, and the agents keep heartbeating on the
    network meanwhile (no election, every host stays connected); after SIGCONT
    it is reachable again;
  - a host whose storage link is cut reaches fewer datastores and loses the next
    election, though its id ranks first."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, predict_master, scenario  # noqa: E402

HOSTS = ["host-1", "host-2", "host-9", "host-10"]
TIMING = (500, 1000)      # heartbeat 0.5 s, io_timeout 1 s: lease_expiry 4 s


def master_hb_ages(c, hosts, master):
    ages = []
    for h in hosts:
        if h == master:
            continue
        st = c.try_status(h)
        for e in (st or {}).get("hosts", []):
            if e["id"] == master:
                ages.append(e["heartbeat_age_ms"])
    return ages


def reachable(c, h, ds):
    return [d for d in c.status(h)["datastores"] if d["name"] == ds][0]["reachable"]


def hung_server(c, master, server, ds):
    term = c.status(master)["term"]
    server.pause()
    t0 = time.monotonic()
    worst = 0
    try:
        c.wait_until(lambda: not any(reachable(c, h, ds) for h in HOSTS), 10,
                     "%s unreachable everywhere" % ds)
        down = time.monotonic() - t0
        end = time.monotonic() + 5
        while time.monotonic() < end:
            worst = max([worst] + master_hb_ages(c, HOSTS, master))
            time.sleep(0.2)
        check(c.agreed_master() == master and c.status(master)["term"] == term,
              "no election while %s hangs" % ds)
        check(all(c.host_state(master, h) == "connected" for h in HOSTS if h != master),
              "every slave stays connected")
    finally:
        server.resume()
    check(worst < 2000, "network heartbeats kept flowing (worst age %d ms)" % worst)
    t0 = time.monotonic()
    c.wait_until(lambda: all(reachable(c, h, ds) for h in HOSTS), 15,
                 "%s reachable again" % ds)
    print("%s server stopped (SIGSTOP): unreachable on every host after %.2f s; no election, "
          "worst master heartbeat age seen by a slave %d ms; reachable %.2f s after SIGCONT"
          % (ds, down, worst, time.monotonic() - t0))


def body():
    with Cluster(HOSTS, datastores=(), nfs=("nfs1",), iscsi=("iscsi1",), timing=TIMING) as c:
        c.start_all()
        master, secs = c.wait_for_agreement(timeout=15, expect="host-9")
        c.wait_until(lambda: c.holds_every_lease(master), 20, "%s holding both leases" % master)
        info = c.inspect("nfs1")
        print("start: %s master after %.2f s and holds nfs1 and iscsi1; nfs1 shows %d host "
              "heartbeats" % (master, secs, len(info.get("hosts", []))))
        check(len(info.get("hosts", [])) == 4, "every host heartbeats on nfs1: %r" % info)

        c.kill(master, signal.SIGKILL)
        t0 = time.monotonic()
        rest = [h for h in HOSTS if h != master]
        nxt, _ = c.wait_for_agreement(timeout=15, hosts=rest, expect="host-2")
        c.wait_until(lambda: c.holds_every_lease(nxt), 30, "%s holding both leases" % nxt)
        took = time.monotonic() - t0
        check(took >= 4.0 - 1.0 + 2.0, "waited for the expiry: %.2f s" % took)
        print("kill -9 %s: %s holds nfs1 and iscsi1 %.2f s later (expiry 4 s + wait 2 s)"
              % (master, nxt, took))
        c.wait_exit(master)
        c.start(master)
        c.wait_for_agreement(timeout=15, expect=nxt)

        # A hung server (SIGSTOP): its datastore's I/O times out on every host,
        # network heartbeats go on, nobody elects; SIGCONT brings it back.
        for server, ds in ((c.nfs, "nfs1"), (c.tgt, "iscsi1")):
            hung_server(c, nxt, server, ds)

        # Fewer datastores, lower rank: host-9 (the best id) loses its storage link.
        c.cut_storage("host-9")
        c.wait_until(lambda: not any(d["reachable"] for d in c.status("host-9")["datastores"]),
                     15, "host-9 reaching no datastore")
        c.fdmctl(nxt, "election", "--force", json_out=False)
        want = predict_master({"host-1": 2, "host-2": 2, "host-9": 0, "host-10": 2})
        best, _ = c.wait_for_agreement(timeout=15, expect=want)
        bids = c.status("host-9")["election"]["bids"]
        print("storage link of host-9 cut, election forced: %s wins over host-9 (bids seen by "
              "host-9: %s)" % (best, {b["host"]: b["datastores"] for b in bids}))
        c.heal_storage("host-9")

if __name__ == "__main__":
    sys.exit(scenario(body))
