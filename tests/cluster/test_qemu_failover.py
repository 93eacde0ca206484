#!/usr/bin/env python3
"""HA part 1 with real QEMU/KVM: three hosts, each with its own fdm, hostd-shim and
libvirtd (tests/shim/libvirtd.py: the host's network namespace, its own mount
namespace). A diskless guest runs on host-2 and is protected; then every process
of host-2 is killed with SIGKILL (fdm, shim, libvirtd, virtlogd and the guest's
QEMU); the guest must run on another host, once: counted by its QEMU processes
(`pgrep -f guest=NAME,`), not by asking fdm. Prints fault-to-running.
Skips (77) when /dev/kvm or libvirtd is not usable here."""
import os
import signal
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "shim"))
from harness import Cluster, check, netns_usable, scenario  # noqa: E402
from libvirtd import LibvirtdError, guest_pids, guest_xml, kvm_usable, pid_alive  # noqa: E402

HOSTS = ["host-1", "host-2", "host-3"]
TIMING = (500, 1000)    # io 1 s: host_dead 7 s


class Skip(Exception):
    pass



def host_of_pid(c, pid):
    """The simulated host whose network namespace runs pid (None if unknown)."""
    r = subprocess.run(["ip", "netns", "identify", str(pid)], capture_output=True, text=True)
    ns = r.stdout.strip()
    return next((h for h, host in c.hosts.items() if host.ns == ns), None)


def kill_host(c, h, vm):
    """SIGKILL every process of host h: fdm, hostd-shim, libvirtd, virtlogd, QEMU."""
    lv = c.host(h).libvirtd
    qemu = lv.record_guest(vm)
    pids = [c.host(h).pid, c.host(h).shim_pid, lv.proc.pid, lv.virtlogd_pid(), qemu]
    for pid in pids:
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return qemu


def body(vm):
    with Cluster(HOSTS, datastores=("ds1",), timing=TIMING, shims=True, libvirtd=True) as c:
        try:
            c.start_all()
        except LibvirtdError as e:
            raise Skip("libvirtd cannot start here: %s" % e)
        master, _ = c.wait_for_agreement(timeout=20)
        check(master != "host-2", "the master is not host-2: %s" % master)
        c.wait_until(lambda: c.holds_every_lease(master), 20, "the master holding every lease")

        xml = os.path.join(c.workdir, vm + ".xml")
        with open(xml, "w") as f:
            f.write(guest_xml(vm, str(uuid.uuid4())))
        r = c.shim_cli("host-2", "poweron", xml)
        check(r and r[-1].get("result") == "RESULT_OK", "guest powered on on host-2: %s" % r)
        c.host("host-2").libvirtd.record_guest(vm)
        check(len(guest_pids(vm)) == 1, "one QEMU for %s" % vm)

        r = c.fdmctl(master, "protect", vm, "--datastore", "ds1", check=False, timeout=40)
        check(isinstance(r, dict) and r.get("ok") is True, "fdmctl protect %s: %s" % (vm, r))
        c.wait_until(lambda: (c.vm_state(master, vm) or {}).get("state") == "protected" and
                     (c.vm_state(master, vm) or {}).get("host") == "host-2", 20,
                     "%s protected on host-2" % vm)
        # host-2 has read the list and knows vm is protected (deadline, poweron
        # record): a host that dies before that keeps its VM unrestarted.
        c.wait_until(lambda: any(vm in ((h.get("poweron") or {}).get("vms") or [])
                                 for h in c.inspect("ds1").get("hosts", [])
                                 if h.get("id") == "host-2"), 10,
                     "host-2's poweron record on ds1 listing %s" % vm)

        old = kill_host(c, "host-2", vm)
        t0 = time.monotonic()
        check(old is not None, "the guest's QEMU PID from its pid file")
        c.wait_until(lambda: not pid_alive(old), 10, "host-2's QEMU gone")
        now, took, most = [], None, 0
        end = t0 + 60
        while time.monotonic() < end:
            now = guest_pids(vm)
            most = max(most, len(now))
            if now and old not in now:
                took = time.monotonic() - t0
                break
            time.sleep(0.05)
        check(took is not None, "%s running again within 60 s" % vm)
        where = host_of_pid(c, now[0])
        if where:
            c.host(where).libvirtd.record_guest(vm)
        check(where in ("host-1", "host-3"), "%s runs on host-1 or host-3: %s" % (vm, where))
        for _ in range(100):                     # 5 s: it stays at one copy
            n = len(guest_pids(vm))
            most = max(most, n)
            check(n == 1, "exactly one QEMU for %s, not %d" % (vm, n))
            time.sleep(0.05)
        c.wait_until(lambda: (c.vm_state(master, vm) or {}).get("host") == where, 10,
                     "the master showing %s on %s" % (vm, where))
        print("kill -9 of every process of host-2 (fdm, shim, libvirtd, virtlogd, QEMU): "
              "%s's QEMU running on %s %.2f s later (host_dead 7.0 s at io 1 s); "
              "never more than %d QEMU" % (vm, where, took, most), flush=True)


def main():
    if not netns_usable():
        print("skip: needs root, iproute2 and network namespaces")
        return 77
    if not kvm_usable():
        print("skip: /dev/kvm cannot be opened (no KVM here)")
        return 77
    vm = "fdmqemu-%d" % os.getpid()
    skipped = []

    def run():
        try:
            body(vm)
        except Skip as e:
            skipped.append(str(e))
    rc = scenario(run)
    if skipped:
        print("skip: %s" % skipped[0])
        return 77
    left = guest_pids(vm)
    if left:
        print("FAILED: QEMU left after cleanup: %s" % left)
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
