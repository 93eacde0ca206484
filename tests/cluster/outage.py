"""Shared pieces of the outage scenarios (test_storage_outage, test_network_outage,
test_datastore_loss_nfs, test_slave_cut_off, test_agent_death): protect a set of
VMs where they run, a monitor that fails the moment a protected VM is seen
anywhere but on the host it started on (powered off, restarted elsewhere, or
both), one that keeps each VM's per-host timeline (when it went off where), the
deadlines a shim holds, and per-agent views of leases and deadlines taken from
`fdmctl --json status`."""
import time

from harness import check
from monitor import DoubleRunMonitor


def owner(vm):
    """The host a test-driver domain starts on: 'host-3-vm1' -> 'host-3'."""
    return vm.rsplit("-", 1)[0]


def protect_all(c, master, protected, timeout=20):
    """fdmctl protect each {vm: datastore}; wait until the master shows each one
    protected on the host it runs on."""
    for vm, ds in sorted(protected.items()):
        c.fdmctl_ok(master, "protect", vm, "--datastore", ds)
    for vm in sorted(protected):
        c.wait_until(lambda: (c.vm_state(master, vm) or {}).get("state") == "protected" and
                     (c.vm_state(master, vm) or {}).get("host") == owner(vm), timeout,
                     "%s protected on %s" % (vm, owner(vm)))


class StayPutMonitor(DoubleRunMonitor):
    """The double-run monitor (every shim polled, fdm not trusted), which also
    records every poll in which a watched VM does not run exactly on its first
    host: powered off, restarted elsewhere, or running twice all count."""

    def __init__(self, cluster, vms, interval=0.2):
        super().__init__(cluster, vms=vms, interval=interval)
        self.home = {vm: owner(vm) for vm in vms}
        self.moved = []            # (monotonic time, vm, hosts it ran on)

    def poll_once(self):
        super().poll_once()
        now = time.monotonic()
        with self.lock:
            for vm, h in self.home.items():
                hosts = sorted(self.where.get(vm, ()))
                if hosts != [h]:
                    self.moved.append((now, vm, hosts))

    def check_stayed(self, t0=None):
        """Fail naming the first poll where a VM was off or elsewhere."""
        with self.lock:
            if self.moved:
                t, vm, hosts = self.moved[0]
                when = " %.1f s after the fault" % (t - t0) if t0 is not None else ""
                check(False, "%s seen on [%s] instead of %s%s (%d such polls of %d)"
                      % (vm, ", ".join(hosts) or "no host", self.home[vm], when,
                         len(self.moved), self.polls))


def datastore_rows(c, h):
    """{datastore name: its entry in h's `fdmctl --json status`}, {} if no answer."""
    st = c.try_status(h)
    return {d["name"]: d for d in (st or {}).get("datastores", [])}


def leases_held(c, hosts=None):
    """[(host, datastore)] for every datastore whose lease an agent shows as held
    (state held or acting); agents that do not answer show nothing."""
    out = []
    for h in hosts or c.running_hosts():
        for name, d in datastore_rows(c, h).items():
            if d.get("lease") == "held" or d.get("acting"):
                out.append((h, name))
    return out


def restarts(c, master, vms):
    """{vm: restarts} as the master shows them."""
    return {vm: (c.vm_state(master, vm) or {}).get("restarts") for vm in vms}


def deadline_hosts(protected):
    """{(host, datastore)} where a protected VM runs from that datastore."""
    return {(owner(vm), ds) for vm, ds in protected.items()}


def wait_deadlines_known(c, protected, timeout=20):
    """Wait until every host shows a deadline_ms for each datastore it runs a
    protected VM from: a slave learns its VMs are protected from its own read of
    the datastore's protectedlist, and keeps no deadline before that."""
    def known():
        return all(datastore_rows(c, h).get(ds, {}).get("deadline_ms") is not None
                   for h, ds in deadline_hosts(protected))
    c.wait_until(known, timeout, "every host showing deadline_ms where its protected VMs are")


def start_protected(c, expect, protected, host_dead_s):
    """Start every agent, wait for master `expect` holding every lease, protect
    {vm: datastore} and wait until each VM's host holds its deadline; bounds
    scale with host_dead (seconds) so the default timing passes too."""
    c.start_all()
    master, _ = c.wait_for_agreement(timeout=max(30, 4 * host_dead_s), expect=expect)
    c.wait_until(lambda: c.holds_every_lease(master), 6 * host_dead_s,
                 "%s holding every lease" % master)
    protect_all(c, master, protected, timeout=5 * host_dead_s)
    wait_deadlines_known(c, protected, timeout=5 * host_dead_s)
    return master


class TimelineMonitor(DoubleRunMonitor):
    """The double-run monitor (every shim polled, fdm not trusted), which also
    keeps each watched VM's per-host timeline: the start of the last poll that saw
    it running on host h and the end of the first poll after that which did not
    (it went off on h between the two), and the start of the poll before the one
    that first saw it on h (it started there after that). A VM seen off on h at
    end E went off strictly before it started on h2 when E is earlier than
    started_after(vm, h2)."""

    def __init__(self, cluster, vms, interval=0.2):
        super().__init__(cluster, vms=vms, interval=interval)
        self.last_on = {}          # (vm, host) -> start of the last poll seeing it there
        self.first_off = {}        # (vm, host) -> end of the first poll since then not
        self.appeared = {}         # (vm, host) -> start of the poll before it was first seen
        self.prev_start = None

    def poll_once(self):
        start = time.monotonic()
        super().poll_once()
        end = time.monotonic()
        with self.lock:
            for vm, hosts in self.where.items():
                for h in hosts:
                    if (vm, h) not in self.last_on or (vm, h) in self.first_off:
                        self.appeared[(vm, h)] = self.prev_start
                    self.last_on[(vm, h)] = start
                    self.first_off.pop((vm, h), None)
            for (vm, h) in self.last_on:
                if h not in self.where.get(vm, ()):
                    self.first_off.setdefault((vm, h), end)
            self.prev_start = start

    def off_window(self, vm, h):
        """(last seen running on h, first seen off there after that); the second
        is None while it still runs there."""
        with self.lock:
            return self.last_on.get((vm, h)), self.first_off.get((vm, h))

    def started_after(self, vm, h):
        """The start of the last poll that did not see vm on h before it appeared
        there (None: it ran there from the first poll)."""
        with self.lock:
            return self.appeared.get((vm, h))


def shim_deadline(c, h, vm):
    """The deadline h's shim holds for vm (ms of CLOCK_BOOTTIME), or None."""
    for reply in c.shim_cli(h, "get-deadlines"):
        for d in reply.get("deadlines", []):
            if d.get("domain", {}).get("name") == vm:
                return int(d.get("boottime_ms", d.get("boottimeMs", 0)))
    return None


def boottime_to_monotonic(ms):
    """A CLOCK_BOOTTIME time in ms (the shim's deadlines) as time.monotonic()."""
    offset = time.clock_gettime(time.CLOCK_BOOTTIME) - time.monotonic()
    return ms / 1000.0 - offset


def wait_shim_deadlines(c, vms, timeout=20):
    """Wait until each VM's host's shim holds a deadline for it (its agent read
    the protectedlist and handed it over)."""
    for vm in sorted(vms):
        c.wait_until(lambda: shim_deadline(c, owner(vm), vm) is not None, timeout,
                     "%s's shim holding a deadline for %s" % (owner(vm), vm))
