#!/usr/bin/env python3
"""A hostile local client cannot lock the operator out of the control socket.

100 idle connections (reopened as soon as the agent drops them) and 20 that drip
one byte every 200 ms without ever finishing a request are held open while
`fdmctl status` is called again and again: every call must be answered within a
second (before the fix, 32 idle connections left 0 of 54 calls answered over
13 s). Prints the latency (median, max) and the agent's RSS. A request over the
size limit gets a JSON error, not a closed socket."""
import json
import os
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

IDLE, DRIP, CALLS = 100, 20, 40
BOUND_S = 1.0


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


class Flood:
    """Holds IDLE + DRIP connections open, reopening each the agent closes."""

    def __init__(self, path):
        self.path = path
        self.sel = selectors.DefaultSelector()
        self.stop = threading.Event()
        self.reopened = 0
        self.open_now = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def connect(self, drip):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(self.path)
        except (BlockingIOError, InterruptedError):
            pass          # the agent's backlog is full: this one waits in it
        except OSError:
            s.close()
            return False
        self.sel.register(s, selectors.EVENT_READ, drip)
        self.open_now += 1
        return True

    def run(self):
        want = [False] * IDLE + [True] * DRIP
        next_drip = time.monotonic()
        while not self.stop.is_set():
            while want and self.connect(want[-1]):
                want.pop()
            for key, _ in self.sel.select(timeout=0.05):
                try:
                    data = key.fileobj.recv(4096)
                except OSError:
                    data = b""
                if not data:      # dropped by the agent: take its place again
                    self.sel.unregister(key.fileobj)
                    key.fileobj.close()
                    self.open_now -= 1
                    self.reopened += 1
                    want.append(key.data)
            if time.monotonic() >= next_drip:
                next_drip += 0.2
                for key in list(self.sel.get_map().values()):
                    if key.data:
                        try:
                            key.fileobj.send(b" ")
                        except OSError:
                            pass
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()


def connect_while_flooded(s, path, timeout=5.0):
    """connect(), retried while the flood keeps the listen backlog full: a Unix
    socket with a timeout (non-blocking underneath) gets EAGAIN at once where
    fdmctl's blocking connect waits for room."""
    end = time.monotonic() + timeout
    while True:
        try:
            s.connect(path)
            return
        except BlockingIOError:
            if time.monotonic() >= end:
                raise
            time.sleep(0.01)


def main():
    build = os.environ.get("FDM_BUILD") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
    tmp = tempfile.mkdtemp(prefix="fdm-flood-")
    key, conf, sock = (os.path.join(tmp, n) for n in ("key", "fdm.conf", "fdm.sock"))
    subprocess.run([os.path.join(build, "fdmctl"), "keygen", key], check=True,
                   stdout=subprocess.DEVNULL)
    with open(conf, "w") as f:
        f.write("[cluster]\nid = flood\nkey_file = %s\n[host]\nid = host-1\naddress = 127.0.0.1\n"
                "port = 18995\n[peers]\nhost-1 = 127.0.0.1:18995\n[watchdog]\ndevice = none\n[control]\nsocket = %s\n"
                % (key, sock))
    log = open(os.path.join(tmp, "agent.log"), "w")
    agent = subprocess.Popen([os.path.join(build, "fdm"), "--config", conf],
                             stdout=subprocess.DEVNULL, stderr=log)
    flood = None
    failures = []
    try:
        deadline = time.monotonic() + 5
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.05)
        rss_before = rss_kib(agent.pid)

        flood = Flood(sock)
        flood.thread.start()
        time.sleep(1.5)           # every slot taken, drops and reopens under way
        latencies, answered = [], 0
        for _ in range(CALLS):
            t0 = time.monotonic()
            r = subprocess.run([os.path.join(build, "fdmctl"), "--socket", sock, "--json",
                                "status"], capture_output=True, text=True, timeout=10)
            latencies.append(time.monotonic() - t0)
            if r.returncode == 0 and json.loads(r.stdout).get("host") == "host-1":
                answered += 1
            else:
                failures.append("fdmctl status: exit %d: %s" % (r.returncode, r.stderr.strip()))
            time.sleep(0.2)
        rss_during = rss_kib(agent.pid)
        print("fdmctl status under %d idle + %d slow-drip connections: %d/%d answered, "
              "latency median %.1f ms, max %.1f ms; agent RSS %d KiB before, %d KiB during; "
              "%d hostile connections dropped by the agent and reopened"
              % (IDLE, DRIP, answered, CALLS, statistics.median(latencies) * 1000,
                 max(latencies) * 1000, rss_before, rss_during, flood.reopened))
        if answered != CALLS:
            failures.append("only %d of %d calls answered" % (answered, CALLS))
        if max(latencies) > BOUND_S:
            failures.append("slowest answer %.2f s, over %.1f s" % (max(latencies), BOUND_S))

        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        try:
            connect_while_flooded(s, sock)
            s.sendall(b"{" + b" " * 70000 + b"}\n")
            reply = s.recv(4096).decode(errors="replace")
        except OSError as e:
            reply = "(%s)" % e
        s.close()
        print("oversized request: %s" % reply.strip())
        if '"error":"request too long' not in reply:
            failures.append("oversized request answered %r" % reply)
        if agent.poll() is not None:
            failures.append("the agent exited (%d)" % agent.returncode)
    finally:
        if flood is not None:
            flood.stop.set()
            flood.thread.join(timeout=5)
        if agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            try:
                agent.wait(timeout=10)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait()
                failures.append("the agent did not stop on SIGTERM")
        log.close()
        with open(os.path.join(tmp, "agent.log")) as f:
            agent_log = f.read()
        for n in os.listdir(tmp):
            os.unlink(os.path.join(tmp, n))
        os.rmdir(tmp)
    for f in failures:
        print("FAIL %s" % f)
    if failures:
        print(agent_log[-2000:])
        return 1
    print("ok: the control socket answered every call under the flood")
    return 0


if __name__ == "__main__":
    sys.exit(main())
