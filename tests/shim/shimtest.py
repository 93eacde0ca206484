"""Helpers for the hostd-shim system tests: start and stop a shim on a private
socket, run hostd-shim-cli, talk raw frames to the socket, follow events.
Everything started here is recorded by PID and stopped in stop()/close(),
also when a test fails (use the objects as context managers)."""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from libvirtd import unix_socket_accepts

BUILD = os.environ.get("FDM_BUILD") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
SHIM = os.path.join(BUILD, "hostd-shim")
CLI = os.path.join(BUILD, "hostd-shim-cli")


def boottime_ms():
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * 1000)


def log(msg):
    print(msg, flush=True)


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)
    log("ok: " + what)


def wait_for(pred, timeout, what, interval=0.05):
    """Poll pred() until true, at most timeout seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise Failure("timed out after %.1f s waiting for %s" % (timeout, what))


# ------------------------------------------------------------------ test driver

def test_domain_xml(name, uuid, memory_kib=131072, vcpus=1):
    return ("<domain type='test'><name>%s</name><uuid>%s</uuid>"
            "<memory>%d</memory><vcpu>%d</vcpu><os><type>hvm</type></os></domain>"
            % (name, uuid, memory_kib, vcpus))


def node_xml(domains):
    """A libvirt test-driver node file: every domain in it starts running."""
    return ("<node><cpu><mhz>2000</mhz><model>test</model><active>4</active>"
            "<nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads>"
            "</cpu><memory>8388608</memory>" +
            "".join(test_domain_xml(n, u) for n, u in domains) + "</node>")


# ------------------------------------------------------------------- the shim

class Shim:
    """One hostd-shim on a private directory (socket + state file there)."""

    def __init__(self, uri, directory=None, name="hostd"):
        """name: of the socket (NAME.sock) and, when not "hostd", of the config
        file and logs, so that several shims can share one directory."""
        self.dir = directory or tempfile.mkdtemp(prefix="shim-%d-" % os.getpid())
        self.uri = uri
        self.name = name
        self.socket = os.path.join(self.dir, name + ".sock")
        self.config = os.path.join(self.dir, "fdm.conf" if name == "hostd" else name + ".conf")
        self.state = self.socket + ".state"
        self.lock = self.socket + ".lock"
        self.proc = None
        self.logfile = None
        self.logpath = None
        self.starts = 0
        with open(self.config, "w") as f:
            f.write("[hostd]\nsocket = %s\nlibvirt_uri = %s\n" % (self.socket, uri))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.stop()
        if exc_type is not None:
            log("--- last lines of the shim's log (%s):" % self.logpath)
            log("\n".join(self.log().splitlines()[-40:]))
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, wait_connected=True, env=None):
        self.starts += 1
        self.logpath = os.path.join(self.dir, "%s-%d.log" % (
            "shim" if self.name == "hostd" else self.name, self.starts))
        self.logfile = open(self.logpath, "w")
        cmd = [SHIM, "--config", self.config]
        if os.environ.get("FDM_SHIM_VALGRIND"):
            cmd = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
                   "--errors-for-leak-kinds=definite",
                   "--show-leak-kinds=definite"] + cmd
        self.proc = subprocess.Popen(cmd, stdout=self.logfile, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **(env or {})))
        wait_for(self._connectable, 20, "the shim's socket")
        if wait_connected:
            wait_for(lambda: self.stat("libvirt_connected") == 1, 30,
                     "the shim to connect to libvirt")
        return self

    def _connectable(self):
        if self.proc.poll() is not None:
            raise Failure("hostd-shim exited with %s; log:\n%s" % (self.proc.returncode,
                                                                   self.log()))
        return unix_socket_accepts(self.socket)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Stop and return the exit code (None if it was not running)."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(sig)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
                log("hostd-shim did not stop within %d s: killed" % timeout)
        self.proc = None
        self.logfile.close()
        return rc

    def log(self):
        if self.logpath is None:
            return ""
        try:
            with open(self.logpath) as f:
                return f.read()
        except OSError:
            return ""

    def cli(self, *args, timeout=60):
        """Run hostd-shim-cli; return (exit code, [JSON objects printed])."""
        p = subprocess.run([CLI, "--socket", self.socket] + [str(a) for a in args],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, text=True)
        out = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
        return p.returncode, out

    def call(self, *args, **kw):
        """Run one request, return its reply (a dict)."""
        rc, out = self.cli(*args, **kw)
        replies = [o for o in out if o.get("kind") == "reply"]
        if not replies:
            raise Failure("no reply to %s (exit %d)" % (args, rc))
        return replies[0]

    def stats(self):
        r = self.call("stats")
        return {c["name"]: c["value"] for c in r.get("counters", [])}

    def stat(self, name):
        try:
            return self.stats().get(name)
        except (Failure, subprocess.TimeoutExpired):
            return None

    def domains(self):
        r = self.call("list")
        if r["result"] != "RESULT_OK":
            return None
        return {d["name"]: d for d in r.get("domains", [])}

    def state_of(self, name):
        doms = self.domains() or {}
        return doms[name]["state"] if name in doms else None

    def spawn_cli(self, *args):
        """A long-running hostd-shim-cli (subscribe, --hold, --refresh-ms)."""
        return CliProcess([CLI, "--socket", self.socket] + [str(a) for a in args])


class CliProcess:
    """A hostd-shim-cli that runs on. A thread reads its JSON lines as they
    come and stamps each with CLOCK_BOOTTIME at arrival, so measured times do
    not depend on when the test looks."""

    def __init__(self, cmd):
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
        self.lines = []   # (boottime_ms at arrival, object)
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()

    def _read(self):
        fd = self.proc.stdout.fileno()
        partial = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                return
            partial += chunk
            while b"\n" in partial:
                line, partial = partial.split(b"\n", 1)
                if line.strip():
                    with self.cond:
                        self.lines.append((boottime_ms(), json.loads(line)))
                        self.cond.notify_all()

    def mark(self):
        """Where the lines read so far end: wait for later ones only."""
        with self.cond:
            return len(self.lines)

    def wait_line(self, pred, timeout, what, start=0):
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, o in self.lines[start:]:
                    if pred(o):
                        return t, o
                left = end - time.monotonic()
                if left <= 0:
                    raise Failure("timed out after %.1f s waiting for %s" % (timeout, what))
                self.cond.wait(min(left, 0.2))

    def events(self, type_=None, name=None):
        out = []
        with self.cond:
            lines = list(self.lines)
        for t, o in lines:
            if o.get("kind") != "event":
                continue
            if type_ and o.get("type") != type_:
                continue
            if name and o.get("domain", {}).get("name") != name:
                continue
            out.append((t, o))
        return out

    def wait_event(self, type_, name=None, timeout=10, start=0):
        return self.wait_line(
            lambda o: o.get("kind") == "event" and o.get("type") == type_ and
            (name is None or o.get("domain", {}).get("name") == name),
            timeout, "event %s %s" % (type_, name or ""), start)

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(5)
        self.proc.stdout.close()


# ---------------------------------------------------- raw frames on the socket
# A few protobuf wire-format helpers, enough to build requests and read the id
# and result of replies without a protobuf library.

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, value):
    return varint(num << 3) + varint(value)


def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def frame(body):
    return struct.pack(">I", len(body)) + body


OPS = {"list_domains": 10, "power_on": 11, "power_off": 12, "shutdown": 13,
       "undefine": 14, "host_resources": 15, "subscribe": 16, "set_deadlines": 17,
       "clean_stop": 18, "fenced": 19, "get_deadlines": 20, "stats": 21}

RESULTS = ["RESULT_OK", "RESULT_ERROR", "RESULT_NOT_FOUND", "RESULT_BAD_REQUEST",
           "RESULT_DISCONNECTED", "RESULT_INVALID_STATE", "RESULT_TIMEOUT",
           "RESULT_DEADLINE_PASSED"]


def request(req_id, op, body=b""):
    return field_varint(1, req_id) + field_bytes(OPS[op], body)


def parse_fields(data):
    """{field number: [values]} of one protobuf message (varints and bytes)."""
    out = {}
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _read_varint(data, i)
        elif wt == 2:
            n, i = _read_varint(data, i)
            v = data[i:i + n]
            i += n
        elif wt == 1:
            v = data[i:i + 8]
            i += 8
        elif wt == 5:
            v = data[i:i + 4]
            i += 4
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out


def _read_varint(data, i):
    n = shift = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


class RawClient:
    """A client that writes bytes as it likes and reads ShimMessages."""

    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def read_message(self):
        """The next ShimMessage as ('reply', {id, result, message}) or
        ('event', fields), or None at end of stream."""
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    return self._decode(body)
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk

    @staticmethod
    def _decode(body):
        top = parse_fields(body)
        if 1 in top:
            r = parse_fields(top[1][0])
            return ("reply", {"id": r.get(1, [0])[0],
                              "result": RESULTS[r.get(2, [0])[0]],
                              "message": r.get(3, [b""])[0].decode(errors="replace")})
        return ("event", parse_fields(top[2][0]))

    def read_reply(self):
        while True:
            m = self.read_message()
            if m is None or m[0] == "reply":
                return m and m[1]


# ------------------------------------------------------------- state files
# hostd-shim/statefile.h: "FDMS" | u32 version | u32 body length | u32 CRC32C |
# (version 2: 36-byte boot id) | ShimState. Tests read and craft them.

def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def this_boot_id():
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


def shim_state_body(deadlines):
    """ShimState with deadlines {name: boottime_ms} (no fenced entries)."""
    return b"".join(field_bytes(1, field_bytes(1, field_bytes(1, name.encode())) +
                                field_varint(2, at))
                    for name, at in deadlines.items())


def state_file(body, boot_id=None):
    """A state file: version 2 with boot_id, or version 1 without (boot_id None)."""
    if boot_id is None:
        return b"FDMS" + struct.pack(">III", 1, len(body), crc32c(body)) + body
    tail = boot_id.encode() + body
    return b"FDMS" + struct.pack(">III", 2, len(body), crc32c(tail)) + tail


def state_file_boot_id(data):
    """The boot id a version 2 state file records."""
    if data[:4] != b"FDMS" or struct.unpack(">I", data[4:8])[0] != 2:
        raise Failure("not a version 2 state file")
    return data[16:52].decode()


def run_main(main):
    """Run a test's main(), print PASS/FAIL, exit 0/1 (77 from main = skip)."""
    start = time.monotonic()
    try:
        rc = main()
    except Failure as e:
        log("FAIL: %s" % e)
        rc = 1
    log("%s in %.1f s" % ("PASS" if rc == 0 else "SKIP" if rc == 77 else "FAIL",
                          time.monotonic() - start))
    sys.exit(rc or 0)
