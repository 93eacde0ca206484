#!/usr/bin/env python3
"""A power-off at a deadline that libvirt refuses is retried until it
completes, and nothing lifts the passed deadline meanwhile (DESIGN.md safety
point 5, issue 14): not a later deadline, not a SetDeadlines that leaves the
domain out, not a clean stop.

A real refusal, not a mock: a private libvirtd (libvirtd.py) serves its test
driver, and the shim reaches it through a small unix-socket proxy started
here. While the proxy forwards to libvirtd's read-only socket, lookups work
and virDomainDestroy fails ("read only access prevents virDomainDestroy");
switching it to the read-write socket cuts the connection, the shim
reconnects, and the retried power-off succeeds. Each case checks that the
retries go on after the client's attempt to lift the deadline (they stopped
before the fix) and that the domain is powered off once libvirt lets it.
Skips (77) when libvirtd cannot start here (not root)."""
import os
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from libvirtd import Libvirtd, LibvirtdError  # noqa: E402
from shimtest import Failure, Shim, boottime_ms, check, log, run_main, wait_for  # noqa: E402

DOM = "test"    # the domain test:///default starts with


class Proxy:
    """Forwards each connection made to `path` to the unix socket `target`.
    switch() sends later connections elsewhere and cuts the current ones.
    Every thread and socket it makes is stopped in close()."""

    def __init__(self, path, target):
        self.target = target
        self.lock = threading.Lock()
        self.pairs = []              # (client side, libvirtd side, [pump threads])
        self.stopping = threading.Event()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(16)
        self.listener.settimeout(0.1)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                u.connect(self.target)
            except OSError:
                c.close()
                u.close()
                continue
            pumps = [threading.Thread(target=self._pump, args=(a, b), daemon=True)
                     for a, b in ((c, u), (u, c))]
            with self.lock:
                self.pairs.append((c, u, pumps))
            for t in pumps:
                t.start()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _cut(self):
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for c, u, pumps in pairs:
            for s in (c, u):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            for t in pumps:
                t.join(5)
            c.close()
            u.close()

    def switch(self, target):
        self.target = target
        self._cut()

    def close(self):
        self.stopping.set()
        self.thread.join(5)
        self.listener.close()
        self._cut()


def deadlines_of(shim):
    r = shim.call("get-deadlines")
    return {d["domain"].get("name") or d["domain"].get("uuid"): d["boottime_ms"]
            for d in r.get("deadlines", [])}


def reconnect_through(shim, proxy, target):
    """Point the proxy at target and wait until the shim is connected again."""
    before = shim.stat("libvirt_connects")
    proxy.switch(target)
    wait_for(lambda: (shim.stat("libvirt_connects") or 0) > before and
             shim.stat("libvirt_connected") == 1, 20, "the shim to reconnect")


def failures_logged(shim):
    return sum(1 for l in shim.log().splitlines()
               if "POWER-OFF FAILED for %s" % DOM in l and "read only access" in l)


# What a client does to lift the passed deadline: (request, what the reply says).
LATER_DEADLINE = (("set-deadlines", "%s=+60000" % DOM), "in force")
REPLACE_WITHOUT_IT = (("set-deadlines", "other=+60000"), "in force")
CLEAN_STOP = (("clean-stop",), "in force")


def run_case(shim, proxy, lv, sub, what, action, released):
    reconnect_through(shim, proxy, lv.socket + "-ro")
    wait_for(lambda: shim.state_of(DOM) == "DOMAIN_RUNNING", 10, "%s to run" % DOM)
    f0 = shim.stat("fence_failed")
    r = shim.call("set-deadlines", "%s=+300" % DOM)
    passed = deadlines_of(shim)[DOM]
    check(r["result"] == "RESULT_OK", "%s: deadline in 300 ms, libvirt read-only" % what)
    wait_for(lambda: shim.stat("fence_failed") >= f0 + 2, 10, "two refused power-offs")
    check(shim.state_of(DOM) == "DOMAIN_RUNNING", "%s: power-off refused twice, still running"
          % what)

    request, says = action
    r = shim.call(*request)
    f1, logged = shim.stat("fence_failed"), failures_logged(shim)
    wait_for(lambda: shim.stat("fence_failed") >= f1 + 2, 6,
             "the power-off to be retried after %s" % what)
    check(failures_logged(shim) >= logged + 2,
          "%s: retried, each failure logged with libvirt's error (%d so far)"
          % (what, failures_logged(shim)))
    check(r["result"] == "RESULT_OK" and says in r["message"],
          "%s: answered OK, saying so: %s" % (what, r["message"]))
    dl = deadlines_of(shim)
    check(dl.get(DOM) == passed, "%s: the passed deadline is still held (%s)" % (what, dl))

    mark = sub.mark()
    t0 = boottime_ms()
    reconnect_through(shim, proxy, lv.socket)
    t, _ = sub.wait_event("EVENT_FENCED", DOM, timeout=15, start=mark)
    check(shim.state_of(DOM) == "DOMAIN_SHUTOFF",
          "%s: powered off %d ms after libvirt allowed it, %d ms past its deadline"
          % (what, t - t0, t - passed))
    dl = deadlines_of(shim)
    if released:
        check(DOM not in dl, "%s: once off, the released deadline is gone (%s)" % (what, dl))
    else:
        check(dl.get(DOM) == passed, "%s: once off, kept until fdm moves it" % what)
        shim.call("set-deadlines", "%s=+60000" % DOM)
        check(deadlines_of(shim)[DOM] > passed, "%s: now a later deadline moves it" % what)
    shim.call("clean-stop")
    shim.call("fenced")


def main():
    if os.geteuid() != 0:
        log("needs root to start libvirtd")
        return 77
    d = tempfile.mkdtemp(prefix="shim-retry-%d-" % os.getpid())
    with Libvirtd("retry") as lv:
        try:
            lv.start()
        except LibvirtdError as e:
            log("libvirtd cannot start here: %s" % e)
            return 77
        proxy_path = os.path.join(d, "libvirt-proxy.sock")
        with Proxy(proxy_path, lv.socket + "-ro") as proxy, \
                Shim("test+unix:///default?socket=" + proxy_path, d) as shim:
            shim.start()
            with shim.spawn_cli("subscribe") as sub:
                sub.wait_line(lambda o: o.get("kind") == "reply", 10, "subscribe reply")
                for what, action, released in (
                        ("a later deadline", LATER_DEADLINE, False),
                        ("a replace leaving it out", REPLACE_WITHOUT_IT, True),
                        ("a clean stop", CLEAN_STOP, True)):
                    t0 = time.monotonic()
                    run_case(shim, proxy, lv, sub, what, action, released)
                    log("%s: %.1f s" % (what, time.monotonic() - t0))
            check(shim.stop() == 0, "SIGTERM: clean exit 0")
            if "ERROR: AddressSanitizer" in shim.log() or "runtime error" in shim.log():
                raise Failure("sanitizer report in the shim's log")
    return 0


if __name__ == "__main__":
    run_main(main)
