#!/usr/bin/env python3
"""4 agents elect the master the rule predicts; re-election after kill -9 of the
master; the old master returns as a slave (no flapping); `election --force` elects
anew and the best host wins again."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, predict_master, scenario  # noqa: E402

HOSTS = ["host-1", "host-2", "host-9", "host-10"]


def body():
    with Cluster(HOSTS, timing=(1000, 2000)) as c:
        want = predict_master({h: 2 for h in HOSTS})
        check(want == "host-9", "the rule picks host-9 over host-10 (strings)")
        c.start_all()
        master, secs = c.wait_for_agreement(timeout=10, expect=want)
        print("election: all 4 agents agree on %s after %.2f s (from start)" % (master, secs))
        el = c.status("host-1")["election"]
        check(el.get("winner") == want and len(el.get("bids", [])) >= 1,
              "fdmctl election shows the winner and the bids: %r" % el)
        print("election record on host-1: term %s, decided in %s ms, %d bid(s) seen"
              % (el["term"], el["duration_ms"], len(el["bids"])))

        c.kill(master, signal.SIGKILL)
        t0 = time.monotonic()
        rest = [h for h in HOSTS if h != master]
        nxt = predict_master({h: 2 for h in rest})
        new, _ = c.wait_for_agreement(timeout=15, hosts=rest, expect=nxt)
        print("re-election: kill -9 of %s -> %s agreed by the other 3 after %.2f s"
              % (master, new, time.monotonic() - t0))
        term = c.status(new)["term"]

        c.wait_exit(master)
        c.start(master)
        c.wait_for_agreement(timeout=10, expect=new)
        c.hold(lambda: c.agreed_master() == new, 6, "%s stays master after %s returns"
               % (new, master))
        check(c.status(master)["role"] == "slave", "the returning master is a slave")
        print("return: %s rejoined as a slave of %s, no flapping for 6 s" % (master, new))

        r = c.fdmctl(new, "election", "--force", json_out=False)
        print("election --force on %s: %s" % (new, r.stdout.strip()))
        t0 = time.monotonic()
        best, _ = c.wait_for_agreement(timeout=15, expect=want)
        new_term = c.status(best)["term"]
        check(new_term > term, "term rises: %s -> %s" % (term, new_term))
        print("forced election: %s won again under term %s after %.2f s"
              % (best, new_term, time.monotonic() - t0))


if __name__ == "__main__":
    sys.exit(scenario(body))
