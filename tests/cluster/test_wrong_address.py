#!/usr/bin/env python3
"""Two agents with one host id (a cloned VM, a copied config): packets that are
authentic for host-1 but come from another address than host-1's configured one
are dropped, counted under dropped.wrong_address and logged once a minute. They
claim a newer incarnation and a better rank; taken into account, the master would
follow them, or (their incarnation in its replay table) drop the real host-1's
packets as replays. Here host-2's namespace sends them; host-1 stays connected."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, binary, check, scenario  # noqa: E402

HOSTS = ["host-1", "host-2", "host-9", "host-10"]
TIMING = (1000, 2000)
COUNT = 20


def body():
    with Cluster(HOSTS, timing=TIMING) as c:
        c.start_all()
        master, _ = c.wait_for_agreement(timeout=10, expect="host-9")
        c.wait_until(lambda: c.host_state(master, "host-1") == "connected", 10,
                     "host-1 connected")
        st = c.status(master)
        before, term = st["dropped"], st["term"]
        r = c.netns_exec("host-2", [binary("tests/fdm-inject"), "--key", c.key_file,
                                    "--cluster", c.cluster_id, "--sender", "host-1",
                                    "--to", c.host(master).address, "--kind", "master-hb",
                                    "--term", "1000", "--datastores", "99",
                                    "--count", str(COUNT), "--timing", "%d:%d" % TIMING])
        print("from host-2's address: %s" % r.stdout.strip())

        def counted():
            d = c.status(master)["dropped"]
            return d if d["wrong_address"] >= before["wrong_address"] + COUNT else None
        after, secs = c.wait_until(counted, 5, "%d wrong_address drops on %s" % (COUNT, master))
        print("%s: dropped.wrong_address %d -> %d within %.1f s"
              % (master, before["wrong_address"], after["wrong_address"], secs))
        c.hold(lambda: c.agreed_master() == master and c.host_state(master, "host-1") == "connected",
               6, "%s stays master and host-1 stays connected" % master)
        st = c.status(master)
        check(st["term"] == term, "no election: term %s -> %s" % (term, st["term"]))
        check(st["dropped"]["replay"] == before["replay"],
              "the real host-1's packets are not taken for replays: %r" % st["dropped"])
        lines = [l for l in c.log_text(master).splitlines()
                 if "dropping authentic packets of host-1" in l]
        check(len(lines) == 1, "logged once: %r" % lines)
        print("log: %s" % lines[0].split(" fdm: ", 1)[-1])
        print("host-1 connected and %s master (term %s) 6 s later; dropped.replay unchanged"
              % (master, term))


if __name__ == "__main__":
    sys.exit(scenario(body))
