#!/usr/bin/env python3
"""HA with too little capacity, on real processes: four hosts, each with its own
fdm and hostd-shim (libvirt's test driver), 128 MiB VMs, node memory chosen so
that after host-2 dies only one of its three protected VMs fits anywhere:

    host-1  384 MiB, its 2 VMs: 128 MiB free, but in maintenance (gets nothing)
    host-2  384 MiB, vm1 (high), vm2 (low), bad (medium): the one that dies
    host-3  512 MiB, its 2 VMs and a squatter: 128 MiB free
    host-4  256 MiB, its 2 VMs: full (the master)

host-2 dies (kill -9 of fdm and shim): host-2-vm1 (high) runs on host-3; the
medium and low ones show restart-pending, waiting for memory. host-2 comes back
empty (a rebooted host: its shim and fdm started again) and both are placed
there: host-2-vm2 runs; host-2-bad's power-on fails for real (host-2 now has a
domain defined with host-2-bad's UUID under another name: the test driver
refuses the definition), is retried on the short schedule ([restart]
retry_delay_s = 2, max_attempts = 3), then shows failed with its last
failure, and stays failed (no more attempts). A monitor polls every shim (not
fdm) for a VM running twice."""
import os
import signal
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, scenario  # noqa: E402
from monitor import DoubleRunMonitor  # noqa: E402

HOSTS = ["host-1", "host-2", "host-3", "host-4"]
TIMING = (500, 1000)    # io 1 s: host_dead 7 s
MIB = 1024
VMS = ["host-2-vm1", "host-2-vm2", "host-2-bad"]


def dom_uuid(c, name):
    """The UUID the harness gives a domain of this name."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, c.cluster_id + name))


def write_node(c, h, memory_kib, doms):
    """h's test-driver node file: doms is [(name, uuid)], each running, 128 MiB."""
    text = ""
    for name, u in doms:
        text += ("<domain type='test'><name>%s</name><uuid>%s</uuid><memory>131072</memory>"
                 "<vcpu>1</vcpu><os><type>hvm</type></os></domain>" % (name, u))
    with open(c.host(h).node_xml, "w") as f:
        f.write("<node><cpu><mhz>2000</mhz><model>test</model><active>4</active><nodes>1"
                "</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads></cpu>"
                "<memory>%d</memory>%s</node>" % (memory_kib, text))


def own(c, h, *names):
    return [(n, dom_uuid(c, n)) for n in names]




def body():
    with Cluster(HOSTS, datastores=("ds1", "ds2"), timing=TIMING, shims=True,
                 restart={"host_failures_tolerated": 0, "retry_delay_s": 2,
                          "max_attempts": 3}) as c:
        write_node(c, "host-1", 384 * MIB, own(c, "host-1", "host-1-vm1", "host-1-vm2"))
        write_node(c, "host-2", 384 * MIB, own(c, "host-2", *VMS))
        write_node(c, "host-3", 512 * MIB, own(c, "host-3", "host-3-vm1", "host-3-vm2",
                                                "host-3-squat"))
        write_node(c, "host-4", 256 * MIB, own(c, "host-4", "host-4-vm1", "host-4-vm2"))
        c.start_all()
        master, _ = c.wait_for_agreement(timeout=10, expect="host-4")
        c.wait_until(lambda: c.holds_every_lease(master), 20, "the master holding every lease")
        time.sleep(1)           # every slave's memory reaches the master
        for vm, prio, ds in (("host-2-vm1", "high", "ds1"), ("host-2-vm2", "low", "ds2"),
                             ("host-2-bad", "medium", "ds1")):
            c.fdmctl_ok(master, "protect", vm, "--datastore", ds, "--priority", prio)
        c.wait_until(lambda: all((c.vm_state(master, v) or {}).get("state") == "protected"
                                 for v in VMS), 20, "the three VMs protected on host-2")
        # host-2 has read the lists and knows its VMs are protected (deadlines,
        # poweron records): a host that dies before that keeps them unrestarted.
        for vm, ds in (("host-2-vm1", "ds1"), ("host-2-vm2", "ds2"), ("host-2-bad", "ds1")):
            c.wait_until(lambda: any(vm in ((h.get("poweron") or {}).get("vms") or [])
                                     for h in c.inspect(ds).get("hosts", [])
                                     if h.get("id") == "host-2"), 20,
                         "host-2's poweron record on %s listing %s" % (ds, vm))
        msg = c.fdmctl_ok("host-1", "maintenance", "enter")
        check("host-1 in maintenance" in msg, "host-1 in maintenance: %r" % msg)

        with DoubleRunMonitor(c, vms=VMS) as mon:
            c.kill("host-2", signal.SIGKILL)
            c.kill_shim("host-2", signal.SIGKILL)
            t0 = time.monotonic()
            where, since = mon.wait_running_elsewhere("host-2-vm1", not_on="host-2", timeout=60)
            took_high = since - t0
            check(where == "host-3", "host-2-vm1 (high) went to host-3, the one host with "
                  "room outside maintenance, not %s" % where)

            def pending_for_memory():
                vs = [c.vm_state(master, v) or {} for v in ("host-2-vm2", "host-2-bad")]
                return all(v.get("state") == "restart-pending" and
                           "GiB free" in (v.get("waiting") or "") for v in vs) and vs
            vs, _ = c.wait_until(pending_for_memory, 15,
                                 "host-2-vm2 and host-2-bad pending for memory")
            print("host-2 killed: host-2-vm1 (high) running on host-3 %.2f s later; "
                  "host-2-vm2 waiting: %r, host-2-bad waiting: %r"
                  % (took_high, vs[0]["waiting"], vs[1]["waiting"]))
            time.sleep(3)       # and nothing more is started meanwhile
            check(mon.hosts_running("host-2-vm2") == [] and mon.hosts_running("host-2-bad") == [],
                  "the medium and low VMs stay off while there is no room")
            check(pending_for_memory(), "still pending for memory")

            # host-2 comes back empty, with 256 MiB free and a domain that holds
            # host-2-bad's UUID under another name (its definition is refused).
            write_node(c, "host-2", 384 * MIB, [("host-2-squat", dom_uuid(c, "host-2-bad"))])
            t1 = time.monotonic()
            c.start("host-2")
            where, since = mon.wait_running_elsewhere("host-2-vm2", not_on="none", timeout=60)
            check(where == "host-2", "host-2-vm2 started on the returned host-2, not %s" % where)
            print("host-2 back (shim + fdm started): host-2-vm2 running on it %.2f s later"
                  % (since - t1))

            # Retried on the short schedule, then failed, and it stays failed.
            c.wait_until(lambda: (c.vm_state(master, "host-2-bad") or {}).get("state") == "failed",
                         45, "host-2-bad failed after 3 power-on attempts")
            took_failed = time.monotonic() - t1
            v = c.vm_state(master, "host-2-bad") or {}
            check("already defined with uuid" in (v.get("last_failure") or ""),
                  "host-2-bad's last failure says why: %s" % v)
            attempts = c.log_text(master).count("vm host-2-bad power-on failed (define")
            time.sleep(6)
            check((c.vm_state(master, "host-2-bad") or {}).get("state") == "failed" and
                  c.log_text(master).count("vm host-2-bad power-on failed (define") == attempts,
                  "host-2-bad stays failed: no more attempts")
            print("host-2-bad: failed after 3 power-on attempts, %.2f s after host-2 came back; "
                  "last failure %r" % (took_failed, v["last_failure"]))
            check(mon.hosts_running("host-2-bad") == [], "host-2-bad runs nowhere")
            for vm in VMS:
                check("host-1" not in mon.hosts_running(vm), "host-1 (maintenance) got nothing")
            check((c.vm_state(master, "host-2-vm2") or {}).get("state") == "protected",
                  "host-2-vm2 protected on host-2")
            time.sleep(2)
        print("fault to running: high %.2f s; low after the host's return; %d monitor polls, "
              "never two copies" % (took_high, mon.polls))


if __name__ == "__main__":
    sys.exit(scenario(body))
