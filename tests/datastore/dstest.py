"""Helpers for the datastore system tests: initialise a datastore with
`fdmctl datastore init`, run ds-tool and fdm-inspect against a URL (inside a
namespace when the server lives in one), follow background ds-tool processes
line by line, and clean up every process started."""
import json
import os
import signal
import subprocess
import threading
import time

BUILD = os.environ.get("FDM_BUILD", os.path.join(os.getcwd(), "build"))
DS_TOOL = os.path.join(BUILD, "tests", "datastore", "ds-tool")
INSPECT = os.path.join(BUILD, "fdm-inspect")
FDMCTL = os.path.join(BUILD, "fdmctl")


def now_ms():
    """CLOCK_BOOTTIME in ms, the clock ds-tool prints (and the agent's)."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * 1000)


class Proc:
    """A background ds-tool: its lines as (ms, event, text), read by a thread."""

    def __init__(self, argv):
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, start_new_session=True)
        self.lines = []
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            parts = line.split(None, 2)
            with self.lock:
                if len(parts) >= 2 and parts[0].isdigit():
                    self.lines.append((int(parts[0]), parts[1], line.strip()))
                else:
                    self.lines.append((now_ms(), "?", line.strip()))

    def events(self, name=None):
        with self.lock:
            return [e for e in self.lines if name is None or e[1] == name]

    def wait_event(self, name, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ev = self.events(name)
            if ev:
                return ev[0]
            if self.p.poll() is not None and not self.t.is_alive():
                break
            time.sleep(0.02)
        return None

    def kill9(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
        self.p.wait(10)

    def finish(self, timeout):
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
        self.t.join(5)
        return self.p.returncode

    def text(self):
        return "\n".join(e[2] for e in self.events())


class Target:
    """One datastore URL with the command prefix that reaches it."""

    def __init__(self, url, prefix, keyfile, conf, io_ms, cluster="c1"):
        self.url = url
        self.prefix = list(prefix)
        self.keyfile = keyfile
        self.conf = conf
        self.io_ms = io_ms
        self.cluster = cluster
        self.procs = []

    def tool_argv(self, host, *cmd, key=None, extra=()):
        return self.prefix + [DS_TOOL, "--url", self.url, "--cluster", self.cluster,
                              "--key", key or self.keyfile, "--host", host,
                              "--io", str(self.io_ms)] + list(extra) + list(cmd)

    def tool(self, host, *cmd, timeout=60, **kw):
        return subprocess.run(self.tool_argv(host, *cmd, **kw), capture_output=True, text=True,
                              timeout=timeout)

    def tool_bg(self, host, *cmd, **kw):
        p = Proc(self.tool_argv(host, *cmd, **kw))
        self.procs.append(p)
        return p

    def init(self, conf=None, check=True, timeout=60):
        """`fdmctl datastore init URL --config CONF`: what an operator does once."""
        r = subprocess.run(self.prefix + [FDMCTL, "datastore", "init", self.url, "--config",
                                          conf or self.conf],
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError("fdmctl datastore init %s: exit %d: %s%s" % (
                self.url, r.returncode, r.stdout, r.stderr))
        return r

    def inspect(self, json_out=True, timeout=60):
        argv = self.prefix + [INSPECT] + (["--json"] if json_out else []) + \
            ["--config", self.conf, self.url]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        data = None
        if json_out and r.stdout.strip():
            data = json.loads(r.stdout)
        return r.returncode, data, r

    def cleanup(self):
        for p in self.procs:
            p.kill9()
        self.procs = []


def write_conf(path, cluster, keyfile, io_ms):
    with open(path, "w") as f:
        f.write("[cluster]\nid = %s\nkey_file = %s\n\n[timing]\nheartbeat_interval_ms = %d\n"
                "io_timeout_ms = %d\n" % (cluster, keyfile, io_ms, io_ms))
