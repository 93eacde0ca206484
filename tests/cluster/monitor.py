"""The double-run monitor of the HA scenarios: polls every host's hostd-shim (not
fdm: the check must not trust the code it checks) every `interval` seconds and
fails the scenario the moment one watched VM runs on two hosts. It also records,
per VM, where and since when it runs, so a scenario can measure fault-to-running.

    with DoubleRunMonitor(cluster, vms=["host-1-vm1"]) as mon:
        cluster.kill_host("host-1")
        t = mon.wait_running_elsewhere("host-1-vm1", not_on="host-1", timeout=60)
    # leaving the block raises MonitorError if a double run was ever seen

Hosts whose shim is gone (killed with their host) simply list nothing. A listing
that fails (shim restarting) is retried at the next poll and counted."""
import json
import subprocess
import threading
import time

import harness

RUNNING = ("running", "blocked", "paused", "DOMAIN_RUNNING", "DOMAIN_BLOCKED",
           "DOMAIN_PAUSED")


class MonitorError(Exception):
    pass


def domain_running(d):
    """A domain counts as running while QEMU (or the test driver) has it up in any
    form: paused still holds its disks."""
    state = str(d.get("state", "")).lower()
    return any(s.lower() in state for s in RUNNING) or state in ("1", "2", "3")


class DoubleRunMonitor:
    def __init__(self, cluster, vms=None, interval=0.2):
        self.cluster = cluster
        self.vms = set(vms) if vms is not None else None   # None: every domain
        self.interval = interval
        self.lock = threading.Lock()
        self.where = {}            # vm -> set of hosts it runs on (last poll)
        self.since = {}            # (vm, host) -> monotonic time first seen running
        self.violations = []       # (time, vm, hosts)
        self.polls = 0
        self.list_errors = 0
        self.stop_event = threading.Event()
        self.thread = None

    # --------------------------------------------------------------- polling
    def list_host(self, h):
        host = self.cluster.host(h)
        if host.shim_pid is None or not harness.pid_alive(host.shim_pid):
            return []
        try:
            r = subprocess.run([harness.binary("hostd-shim-cli"), "--socket", host.hostd_socket,
                                "--timeout", "2000", "list"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=5)
        except subprocess.TimeoutExpired:
            self.list_errors += 1
            return None
        if r.returncode != 0:
            self.list_errors += 1
            return None
        names = []
        for line in r.stdout.splitlines():
            if not line.strip():
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            for d in msg.get("domains", []):
                if domain_running(d):
                    names.append(d.get("name"))
        return names

    def poll_once(self):
        now = time.monotonic()
        seen = {}
        for h in list(self.cluster.hosts):
            names = self.list_host(h)
            if names is None:
                # Unknown this round: keep what we knew, a double run must not
                # hide behind a slow listing.
                with self.lock:
                    for vm, hosts in self.where.items():
                        if h in hosts:
                            seen.setdefault(vm, set()).add(h)
                continue
            for vm in names:
                if self.vms is None or vm in self.vms:
                    seen.setdefault(vm, set()).add(h)
        with self.lock:
            self.polls += 1
            for vm, hosts in seen.items():
                for h in hosts:
                    self.since.setdefault((vm, h), now)
                if len(hosts) > 1:
                    self.violations.append((now, vm, sorted(hosts)))
            for (vm, h) in list(self.since):
                if h not in seen.get(vm, ()):
                    del self.since[(vm, h)]
            self.where = seen

    def run(self):
        while not self.stop_event.is_set():
            start = time.monotonic()
            try:
                self.poll_once()
            except Exception as e:          # keep polling; report at the end
                self.list_errors += 1
                harness.log("monitor: poll failed: %s" % e)
            left = self.interval - (time.monotonic() - start)
            if left > 0:
                self.stop_event.wait(left)

    # --------------------------------------------------------------- control
    def start(self):
        self.poll_once()
        self.thread = threading.Thread(target=self.run, name="double-run-monitor", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.check()

    def check(self):
        with self.lock:
            if self.violations:
                t, vm, hosts = self.violations[0]
                raise MonitorError("%s ran on %s at once (%d double-run polls of %d)"
                                   % (vm, " and ".join(hosts), len(self.violations), self.polls))

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
        if exc_type is None:
            self.check()
        return False

    # --------------------------------------------------------------- queries
    def hosts_running(self, vm):
        with self.lock:
            return sorted(self.where.get(vm, ()))

    def wait_running_elsewhere(self, vm, not_on, timeout):
        """Wait until vm runs on a host other than not_on; returns (host, monotonic
        time it was first seen there). Fails at once on a double run."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.check()
            with self.lock:
                for h in self.where.get(vm, ()):
                    if h != not_on:
                        return h, self.since[(vm, h)]
            time.sleep(self.interval / 2)
        raise MonitorError("%s not running on another host than %s within %ss (now on: %s)"
                           % (vm, not_on, timeout, ", ".join(self.hosts_running(vm)) or "none"))
