#!/usr/bin/env python3
"""4 agents with one NFS datastore (nfs-ganesha, NFSv3 through libnfs) and one
iSCSI datastore (tgtd, through libiscsi), served from a storage namespace on a
storage network of its own:
  - the master holds both leases (fdm-inspect reads them from the servers);
  - kill -9 the master: the new master holds both, after the lease expiry;
  - a hung NFS server (SIGSTOP) makes that datastore unreachable within
    io_timeout, and the agents keep heartbeating on the network meanwhile (no
    election, every host stays connected); after SIGCONT it is reachable again;
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

        # A hung NFS server: I/O times out, network heartbeats go on.
        term = c.status(nxt)["term"]
        c.nfs.pause()
        t0 = time.monotonic()
        worst = 0
        try:
            c.wait_until(lambda: all(
                not [d for d in c.status(h)["datastores"] if d["name"] == "nfs1"][0]["reachable"]
                for h in HOSTS), 10, "nfs1 unreachable everywhere")
            down = time.monotonic() - t0
            end = time.monotonic() + 5
            while time.monotonic() < end:
                worst = max([worst] + master_hb_ages(c, HOSTS, nxt))
                time.sleep(0.2)
            check(c.agreed_master() == nxt and c.status(nxt)["term"] == term,
                  "no election while NFS hangs")
            check(all(c.host_state(nxt, h) == "connected" for h in HOSTS if h != nxt),
                  "every slave stays connected")
        finally:
            c.nfs.resume()
        check(worst < 2000, "network heartbeats kept flowing (worst age %d ms)" % worst)
        print("NFS server stopped: nfs1 unreachable on every host after %.2f s; no election, "
              "worst master heartbeat age seen by a slave %d ms" % (down, worst))
        t0 = time.monotonic()
        c.wait_until(lambda: all(d["reachable"] for h in HOSTS
                                 for d in c.status(h)["datastores"]), 15,
                     "every datastore reachable again")
        print("NFS server resumed: reachable again after %.2f s" % (time.monotonic() - t0))

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
