#!/usr/bin/env python3
"""A protected VM that stops while its host stays up, on real processes: four
hosts, each with its own fdm and hostd-shim, file:// datastores, and a monitor
that polls every shim (not fdm) for a VM running twice.

A crash behind fdm's back: host-2's shim talks to a private libvirtd
(tests/shim/libvirtd.py) serving the test driver's test:///default (3 GiB), where
the test defines and starts host-2-crashy (128 MiB; the driver's own domain
`test`, 8 GiB, is destroyed: it would fit nowhere), which is protected; `virsh dump --crash` makes the test driver stop it
as a guest panic with on_crash=destroy does (STOP_CRASHED, as in
tests/shim/test_crash.py). fdm powers it on again, on its own host first.

An operator's stop: host-1-vm1 (host-1's shim on its in-process test driver) is
destroyed with `hostd-shim-cli poweroff`: it stays off and shows `stopped`;
started again by the operator (`hostd-shim-cli poweron` of its own XML) it is
protected again.

Stops whose reason used to be lost: host-3-vm1 powered off right after its
`fdmctl protect` returned, before host-3 read the protectedlist that names it
(host-3 keeps the reason and reports it once it has), and host-4-vm1 on the
master's own host: both stay off as `stopped`, past host_dead."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shim"))
from harness import Cluster, HarnessError, check, scenario  # noqa: E402
from libvirtd import Libvirtd, LibvirtdError  # noqa: E402
from monitor import DoubleRunMonitor, MonitorError  # noqa: E402

HOSTS = ["host-1", "host-2", "host-3", "host-4"]
TIMING = (500, 1000)    # io 1 s: host_dead 7 s
CRASHING = "host-2-crashy"  # defined in host-2's private test:///default




def virsh(uri, *args):
    r = subprocess.run(["virsh", "-c", uri] + list(args), capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise HarnessError("virsh %s: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout


def shown(c, master, vm, state, host=None):
    v = c.vm_state(master, vm) or {}
    return v if v.get("state") == state and (host is None or v.get("host") == host) else None


def crash(c, mon, master, uri, workdir):
    before = c.vm_state(master, CRASHING)["restarts"]
    virsh(uri, "dump", "--crash", CRASHING, os.path.join(workdir, "test.core"))
    t0 = time.monotonic()
    c.wait_until(lambda: mon.hosts_running(CRASHING) == [], 5, "the crashed domain seen off")
    where, since = mon.wait_running_elsewhere(CRASHING, not_on="none", timeout=60)
    check(where == "host-2", "the crashed VM came back on its own host, not %s" % where)
    c.wait_until(lambda: shown(c, master, CRASHING, "protected", "host-2"), 10,
                 "the master showing %s protected on host-2" % CRASHING)
    v = c.vm_state(master, CRASHING)
    check(v["restarts"] == before + 1, "one restart counted: %s" % v)
    print("crash (virsh dump --crash) of %s on host-2: running again on host-2 %.2f s later"
          % (CRASHING, since - t0))
    return since - t0


def operator_stop(c, mon, master, workdir):
    vm = "host-1-vm1"
    xml = c.shim_cli("host-1", "get-xml", vm)[0]["xml"]
    path = os.path.join(workdir, vm + ".xml")
    with open(path, "w") as f:
        f.write(xml)
    c.shim_cli("host-1", "poweroff", vm)
    t0 = time.monotonic()
    _, took = c.wait_until(lambda: shown(c, master, vm, "stopped"), 15,
                           "%s shown stopped" % vm)
    print("operator poweroff of %s: shown stopped after %.2f s: %r"
          % (vm, took, c.vm_state(master, vm).get("waiting")))
    time.sleep(10)          # longer than host_dead: it stays off
    check(mon.hosts_running(vm) == [], "%s stays off after an operator's poweroff" % vm)
    check(shown(c, master, vm, "stopped"), "%s still shown stopped: %s"
          % (vm, c.vm_state(master, vm)))
    c.shim_cli("host-1", "poweron", path)
    _, took = c.wait_until(lambda: shown(c, master, vm, "protected", "host-1"), 15,
                           "%s protected again once started by the operator" % vm)
    print("operator poweron of %s: protected again after %.2f s (stopped for %.1f s)"
          % (vm, took, time.monotonic() - t0))


def stays_stopped(c, mon, master, vm, host, what):
    """vm (on host) is powered off by an operator: shown stopped, and still off and
    stopped after more than host_dead (7 s)."""
    c.shim_cli(host, "poweroff", vm)
    t0 = time.monotonic()
    c.wait_until(lambda: shown(c, master, vm, "stopped"), 15, "%s shown stopped" % vm)
    time.sleep(9)
    check(mon.hosts_running(vm) == [], "%s (%s) stays off after an operator's poweroff"
          % (vm, what))
    check(shown(c, master, vm, "stopped"), "%s (%s) still shown stopped: %s"
          % (vm, what, c.vm_state(master, vm)))
    print("operator poweroff of %s (%s): stopped, still off %.1f s later"
          % (vm, what, time.monotonic() - t0))


def lost_reasons(c, mon, master):
    c.fdmctl_ok(master, "protect", "host-3-vm1", "--datastore", "ds2")
    stays_stopped(c, mon, master, "host-3-vm1", "host-3", "at once after its protect")
    c.fdmctl_ok(master, "protect", "host-4-vm1", "--datastore", "ds2")
    c.wait_until(lambda: shown(c, master, "host-4-vm1", "protected", "host-4"), 15,
                 "host-4-vm1 protected")
    stays_stopped(c, mon, master, "host-4-vm1", "host-4", "on the master's own host")


def body():
    workdir = tempfile.mkdtemp(prefix="fdm-vmfail-%d-" % os.getpid())
    try:
        run(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(workdir):
    with Libvirtd("vmfail") as lv:
        try:
            lv.start()
        except LibvirtdError as e:
            raise HarnessError("libvirtd cannot start here: %s" % e)
        uri = "test+unix:///default?socket=" + lv.socket
        with Cluster(HOSTS, datastores=("ds1", "ds2"), timing=TIMING, shims=True,
                     restart={"host_failures_tolerated": 0}) as c:
            h2 = c.host("host-2")
            text = c.config_text(h2).replace("libvirt_uri = test://%s" % h2.node_xml,
                                             "libvirt_uri = %s" % uri)
            c.write_config(h2, text=text)
            c.start_all()
            # The test driver keeps this state while a connection (the shim's) is open.
            xml = os.path.join(workdir, "crashy.xml")
            with open(xml, "w") as f:
                f.write("<domain type='test'><name>%s</name><memory>131072</memory><vcpu>1"
                        "</vcpu><os><type>hvm</type></os></domain>" % CRASHING)
            virsh(uri, "destroy", "test")
            virsh(uri, "define", xml)
            virsh(uri, "start", CRASHING)
            master, _ = c.wait_for_agreement(timeout=10, expect="host-4")
            c.wait_until(lambda: c.holds_every_lease(master), 20,
                         "the master holding every lease")
            time.sleep(1)
            c.fdmctl_ok(master, "protect", CRASHING, "--datastore", "ds1", "--priority", "high")
            c.fdmctl_ok(master, "protect", "host-1-vm1", "--datastore", "ds2")
            c.wait_until(lambda: shown(c, master, CRASHING, "protected", "host-2") and
                         shown(c, master, "host-1-vm1", "protected", "host-1"), 20,
                         "both VMs protected")
            with DoubleRunMonitor(c, vms=[CRASHING, "host-1-vm1", "host-3-vm1",
                                          "host-4-vm1"]) as mon:
                time.sleep(3)   # every host has learnt the protection (see the report)
                check(mon.hosts_running(CRASHING) == ["host-2"], "%s runs on host-2" % CRASHING)
                try:
                    took = crash(c, mon, master, uri, workdir)
                except MonitorError as e:
                    raise HarnessError("%s; the master shows %s" % (e, c.vm_state(master,
                                                                                CRASHING)))
                operator_stop(c, mon, master, workdir)
                lost_reasons(c, mon, master)
                time.sleep(2)
            print("fault to running after a crash: %.2f s; %d monitor polls, never two copies"
                  % (took, mon.polls))


if __name__ == "__main__":
    sys.exit(scenario(body))
