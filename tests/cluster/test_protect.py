#!/usr/bin/env python3
"""fdmctl protect, unprotect and maintenance from any host, for a VM on any host
(INTERFACE.md): four hosts with their hostd-shims (libvirt's test driver), host-4
the master. A slave forwards each request to the master; the master asks every
connected host for the VM's definition over the cluster network, checks
admission control, writes the protectedlist and only then answers, through the
slave, to fdmctl. Admission control: host_failures_tolerated = 3 and a master
node of 256 MiB, so what survives the loss of the three largest hosts holds two
128 MiB VMs and no third. The domain XML travels in one datagram: host-2 also
runs a VM whose XML is 60 KB (protected) and one of 70 KB (refused, saying why)."""
import concurrent.futures
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, scenario  # noqa: E402

HOSTS = ["host-1", "host-2", "host-3", "host-4"]
TIMING = (500, 1000)


def vm_entry(c, h, name):
    for v in c.status(h).get("vms", []):
        if v["name"] == name:
            return v
    return None


def ok(c, h, *args):
    """fdmctl --json ARGS on host h must succeed: its message, and how long it took."""
    t0 = time.monotonic()
    r = c.fdmctl(h, *args, check=False, timeout=40)
    took = time.monotonic() - t0
    check(isinstance(r, dict) and r.get("ok") is True,
          "fdmctl %s on %s succeeds: %s" % (" ".join(args), h,
                                           r if isinstance(r, dict) else r.stderr.strip()))
    return r["message"], took


def fails(c, h, *args, says):
    """fdmctl ARGS on host h must exit 1 with `says` in its one-line error."""
    r = c.fdmctl(h, *args, json_out=False, check=False, timeout=40)
    err = r.stderr.strip()
    check(r.returncode == 1 and says in err,
          "fdmctl %s on %s exits 1 saying %r: exit %d, %r" % (" ".join(args), h, says,
                                                              r.returncode, err))
    return err


def through_a_cut(c, cut, h, *args):
    """fdmctl ARGS on host h while host `cut`'s link is down for 0.6 s (well less
    than the 3 heartbeat intervals, 1.5 s, after which a host counts as lost, even
    with a heartbeat interval before the cut and a loaded machine's delays; 0.8 s
    made the master mark hosts unreachable now and then in CI): what was sent
    to it meanwhile is lost, and must be sent again (what it sends waits in its
    own queue). Returns the message and the time."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        c.cut(cut)
        try:
            job = pool.submit(ok, c, h, *args)
            time.sleep(0.6)
        finally:
            c.heal(cut)
        return job.result(timeout=45)


def listed_on(c, ds):
    return [v["name"] for v in (c.inspect(ds).get("protectedlist") or {}).get("vms", [])]


def body():
    with Cluster(HOSTS, datastores=("ds1", "ds2"), timing=TIMING, shims=True,
                 node_memory={"host-4": 256 * 1024},
                 restart={"host_failures_tolerated": 3},
                 extra_domains={"host-2": {"host-2-large": 60000, "host-2-huge": 70000}}) as c:
        c.start_all()
        master, _ = c.wait_for_agreement(timeout=10, expect="host-4")
        c.wait_until(lambda: c.holds_every_lease(master), 20, "the master holding every lease")
        # Every slave heartbeats its memory to the master before admission counts it.
        time.sleep(1)

        # The domain XML comes in one datagram: 60 KB fits, 70 KB does not.
        msg, took = ok(c, "host-3", "protect", "host-2-large", "--datastore", "ds2")
        check("host-2-large" in listed_on(c, "ds2"), "host-2-large (60 KB of XML) protected")
        print("protect of a VM with 60 KB of XML on host-2, from host-3: %.2f s" % took)
        ok(c, "host-3", "unprotect", "host-2-large")
        err = fails(c, "host-1", "protect", "host-2-huge", "--datastore", "ds2",
                    says="host-2-huge runs on host-2, but its domain XML of")
        check("too large for the cluster network" in err, "the error says why: %r" % err)
        print("a VM with 70 KB of XML: %s" % err)

        # From a slave, for a VM on another slave: host-1 -> master -> host-3.
        msg, took = ok(c, "host-1", "protect", "host-3-vm1", "--datastore", "ds1")
        check("host-3-vm1 protected on ds1" in msg, "the master's answer reaches host-1: %r" % msg)
        # Shown protected once host-3's next heartbeat lists it (until then the
        # master has only the definition's word that it runs there).
        c.wait_until(lambda: (vm_entry(c, master, "host-3-vm1") or {}).get("state") ==
                     "protected", 5, "host-3-vm1 shown protected")
        v = vm_entry(c, master, "host-3-vm1")
        check(v["host"] == "host-3" and v["datastore"] == "ds1",
              "the master shows host-3-vm1 protected on host-3: %s" % v)
        check("host-3-vm1" in listed_on(c, "ds1"), "host-3-vm1 is in ds1's protectedlist")
        print("protect from slave host-1 of a VM on host-3: answered in %.2f s" % took)

        # From a slave, its own VM, with a priority.
        ok(c, "host-2", "protect", "host-2-vm1", "--datastore", "ds2", "--priority", "high")
        c.wait_until(lambda: (vm_entry(c, master, "host-2-vm1") or {}).get("priority") == "high",
                     5, "host-2-vm1 protected with priority high")
        # Protect again with another priority: the one change of a protected VM.
        ok(c, "host-3", "protect", "host-2-vm1", "--priority", "low")
        check(vm_entry(c, master, "host-2-vm1")["priority"] == "low",
              "the priority of host-2-vm1 is low now")

        # Admission control: 2 x 128 MiB fill the 256 MiB left after 3 hosts fail.
        err = fails(c, "host-3", "protect", "host-1-vm1", "--datastore", "ds1",
                    says="admission control refuses host-1-vm1")
        check(vm_entry(c, master, "host-1-vm1") is None and
              "host-1-vm1" not in listed_on(c, "ds1"), "host-1-vm1 is not protected")
        print("admission control, from slave host-3: %s" % err)

        # A VM that runs nowhere: every connected host answered no.
        err = fails(c, "host-2", "protect", "no-such-vm", "--datastore", "ds1",
                    says="no-such-vm runs on no connected host")
        print("a VM that runs nowhere, from slave host-2: %s" % err)
        fails(c, master, "protect", "no-such-vm", says="runs on no connected host")
        # Checked on the slave already, before the master hears of it.
        fails(c, "host-1", "protect", "host-1-vm1", "--datastore", "ds9",
              says="no such datastore")

        # Unprotect from a slave frees its share: host-1-vm1 fits now.
        msg, _ = ok(c, "host-2", "unprotect", "host-3-vm1")
        check("unprotected" in msg, "unprotect answered: %r" % msg)
        check(vm_entry(c, master, "host-3-vm1") is None and
              "host-3-vm1" not in listed_on(c, "ds1"), "host-3-vm1 is no longer protected")
        msg, _ = ok(c, "host-2", "unprotect", "host-3-vm1")
        check("not protected" in msg, "unprotect of an unprotected VM says so: %r" % msg)
        ok(c, "host-3", "protect", "host-1-vm1", "--datastore", "ds1")
        check((vm_entry(c, master, "host-1-vm1") or {}).get("host") == "host-1",
              "host-1-vm1 protected on host-1 once there is room")

        # A lost datagram: the slave's Forward (the master cut), then the master's
        # DefineRequest (host-3, which runs the VM, cut) are sent again.
        ok(c, "host-1", "unprotect", "host-1-vm1")
        msg, took = through_a_cut(c, master, "host-1", "protect", "host-3-vm2",
                                  "--datastore", "ds2")
        check("host-3-vm2 protected on ds2" in msg and took < 5,
              "protect from host-1 through the master's 0.6 s cut: %.2f s, %r" % (took, msg))
        print("protect from host-1 while the master's link was down for 0.6 s: answered in "
              "%.2f s" % took)
        ok(c, "host-1", "unprotect", "host-3-vm2")
        msg, took = through_a_cut(c, "host-3", "host-1", "protect", "host-3-vm2",
                                  "--datastore", "ds2")
        check("host-3-vm2 protected on ds2" in msg and took < 5,
              "protect of a VM on host-3 through host-3's 0.6 s cut: %.2f s, %r" % (took, msg))
        print("protect of a VM on host-3 while its link was down for 0.6 s: answered in %.2f s"
              % took)
        ok(c, "host-1", "unprotect", "host-3-vm2")
        ok(c, "host-3", "protect", "host-1-vm1", "--datastore", "ds1")

        # Maintenance: a slave's own host by default, any host by name, from anywhere.
        msg, _ = ok(c, "host-3", "maintenance", "enter")
        check("host-3 in maintenance" in msg, "maintenance enter on host-3 is for host-3: %r" % msg)
        msg, _ = ok(c, "host-1", "maintenance", "exit", "host-3")
        check("host-3 out of maintenance" in msg, "maintenance exit of host-3 from host-1: %r" % msg)
        fails(c, "host-2", "maintenance", "enter", "host-9", says="no host host-9 in [peers]")

        # Every protection the master answered is on its datastore, and each slave
        # took its answers from the master: nothing left waiting anywhere.
        names = sorted(listed_on(c, "ds1") + listed_on(c, "ds2"))
        check(names == ["host-1-vm1", "host-2-vm1"], "the protectedlists hold %s" % names)


if __name__ == "__main__":
    sys.exit(scenario(body))
