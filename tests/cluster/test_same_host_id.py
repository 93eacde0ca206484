#!/usr/bin/env python3
"""Two agents started with one [host] id (a cloned config, a host reinstalled
while the old one still runs): each reads its own hb record back every
io_timeout; the one whose writes the record shows less often finds it written
by the other's incarnation, logs it as a warning and shows this host as
`init-error`, with the reason, in `fdmctl status`. (The record is two slots
picked by generation, so the agent with the higher generation may never see
the other's writes: the storage tells at least one of them.) The second agent
runs in a namespace of its own that also carries host-2's address (the cluster
network sees that address twice; this scenario checks only what the storage
shows)."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, run, scenario  # noqa: E402

HOSTS = ["host-1", "host-2", "host-3"]
TIMING = (500, 1000)


def self_row(c, h, as_id):
    st = c.try_status(h)
    for e in (st or {}).get("hosts", []):
        if e["id"] == as_id:
            return e
    return {}


def body():
    with Cluster(HOSTS + ["twin"], datastores=("ds1", "ds2"), timing=TIMING) as c:
        for h in HOSTS:
            c.write_config(c.host(h), only=HOSTS)
        twin = c.host("twin")
        text = c.config_text(c.host("host-2"), only=HOSTS)
        text = text.replace(c.host("host-2").socket, twin.socket)
        text = text.replace(c.host("host-2").hostd_socket, twin.hostd_socket)
        c.write_config(twin, text=text)
        run(["ip", "netns", "exec", twin.ns, "ip", "addr", "add",
             c.host("host-2").address + "/24", "dev", "eth0"])

        c.start_all(HOSTS)
        c.wait_for_agreement(timeout=10, hosts=HOSTS, expect="host-3")
        time.sleep(3 * TIMING[1] / 1000.0)
        check(self_row(c, "host-2", "host-2").get("state") != "init-error",
              "one agent as host-2: no init-error")

        c.start("twin")
        t0 = time.monotonic()
        def flagged():
            return [h for h in ("host-2", "twin")
                    if self_row(c, h, "host-2").get("state") == "init-error"]
        who = c.wait_until(flagged, 30, "an agent as host-2 showing init-error")[0]
        took = time.monotonic() - t0
        reason = self_row(c, who[0], "host-2").get("reason", "")
        check("another agent writes as host-2" in reason, "the reason says why: %r" % reason)
        c.wait_until(lambda: "warning: host-2: another agent writes as host-2"
                     in c.log_text(who[0]), 5, "%s logs it as a warning" % who[0])
        time.sleep(5)
        print("second agent as host-2: %s shows init-error %.2f s after its start, %s after "
              "%.0f s more (%s)" % (who[0], took, " and ".join(flagged()) or "none", 5, reason))
        c.stop("twin")


if __name__ == "__main__":
    sys.exit(scenario(body))
