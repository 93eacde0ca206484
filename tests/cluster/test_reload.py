#!/usr/bin/env python3
"""`systemctl reload fdm` (SIGHUP): a config that fails validation is refused with
its file:line message and the running config stays; a valid one that adds a host
applies without a restart and without a new election; a changed [host] id is
refused (it needs a restart), as is a changed key_file."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, scenario  # noqa: E402

HOSTS = ["host-1", "host-2", "host-3", "host-4"]
FIRST = HOSTS[:3]


def body():
    with Cluster(HOSTS, timing=(1000, 2000)) as c:
        for h in FIRST:
            c.write_config(c.host(h), only=FIRST)
        c.start_all(FIRST)
        master, _ = c.wait_for_agreement(timeout=10, hosts=FIRST, expect="host-3")
        term = c.status(master)["term"]

        good = c.config_text(c.host("host-2"), only=FIRST)
        c.write_config(c.host("host-2"), text=good.replace("io_timeout_ms = 2000",
                                                           "io_timeout_ms = soon"))
        c.kill("host-2", signal.SIGHUP)
        c.wait_until(lambda: "reload refused, the running config stays: %s:" % c.host("host-2").config
                     in c.log_text("host-2"), 5, "host-2 logs the refused reload")
        line = [l for l in c.log_text("host-2").splitlines() if "reload refused" in l][0]
        print("bad file: %s" % line.split("fdm: ", 1)[1])
        check(c.running("host-2") and len(c.status("host-2")["hosts"]) == 3,
              "host-2 runs on with its old config")

        for h in HOSTS:
            c.write_config(c.host(h))
        for h in FIRST:
            c.kill(h, signal.SIGHUP)
        c.wait_until(lambda: all(len(c.status(h)["hosts"]) == 4 for h in FIRST), 5,
                     "every agent knows 4 peers")
        t0 = time.monotonic()
        c.start("host-4")
        c.wait_for_agreement(timeout=10, expect=master)
        c.wait_until(lambda: c.host_state(master, "host-4") == "connected", 10,
                     "host-4 connected")
        check(c.status(master)["term"] == term, "no new election (term %s)" % term)
        print("reload adds host-4: it joined master %s as a slave after %.2f s, term still %s"
              % (master, time.monotonic() - t0, term))

        # A valid file whose key_file moved: it would split the cluster at once.
        other_key = c.key_file + ".copy"
        with open(c.key_file, "rb") as src, open(other_key, "wb") as dst:
            dst.write(src.read())
        os.chmod(other_key, 0o600)      # a key others can read is refused first
        c.write_config(c.host("host-1"), text=c.config_text(c.host("host-1")).replace(
            c.key_file, other_key))
        c.kill("host-1", signal.SIGHUP)
        c.wait_until(lambda: "[cluster] key_file changed" in c.log_text("host-1"), 5,
                     "host-1 refuses a new key_file")
        c.write_config(c.host("host-1"))
        check(c.agreed_master() == master, "the cluster is unchanged")
        print("a changed key_file is refused: restart needed")

if __name__ == "__main__":
    sys.exit(scenario(body))
