#!/usr/bin/env python3
"""Datastore system test: the real library against file://, a real nfs-ganesha
(nfs://, libnfs, NFSv3) and a real tgtd (iscsi://, libiscsi, 512- and 4096-byte
blocks), all started here (servers.py) in a private network namespace.

For each backend: nothing is used or created before `fdmctl datastore init`
(a blank LUN is not formatted, an NFS path that is not on the server is an
error, no fallback to its export); init refuses a datastore of another cluster
or key; records round-trip; the master's batched read of other hosts' hb and
poweron records reads each host's own; two processes contend for the lease and
exactly one wins; kill -9 the holder and the other takes over only after the
expiry; a holder that stops renewing loses it; a corrupted byte, a truncated
record and a record signed with another key are named by fdm-inspect (exit 1);
a hung (SIGSTOP) and a gone (SIGKILL) server give timeouts within io_timeout
while the caller's event loop keeps ticking, and no result reported ok came
after its deadline; on file://, FIFOs in place of records are bad records,
never waited on. fdm-inspect: a missing path exits 1 whatever the options, an
empty record is an error, --json has one shape for one cluster or several. Then it measures lease acquire and
heartbeat write latency. io_timeout is 500 ms, so lease_expiry is 2000 ms.
Exit 0 pass, 1 fail, 77 skip (not root / no servers)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dstest  # noqa: E402
import servers  # noqa: E402

IO = 500
EXPIRY = 4 * IO
SLACK = 300          # scheduling slack on a loaded 2-core machine


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


# ------------------------------------------------------------------ scenarios

def round_trip(t):
    r = t.tool("h1", "write-records")
    check(r.returncode == 0, "write-records: %s %s" % (r.stdout, r.stderr))
    rc, data, raw = t.inspect()
    check(rc == 0, "inspect exit %d: %s %s" % (rc, raw.stdout, raw.stderr))
    check([v["name"] for v in data["protectedlist"]["vms"]] == ["db1", "web1"], "VM list")
    check(data["protectedlist"]["vms"][0]["priority"] == "high", "priority")
    hosts = {h["id"]: h for h in data["hosts"]}
    check("h1" in hosts and hosts["h1"]["counter"] >= 1, "hb of h1: %s" % data["hosts"])
    check(hosts["h1"]["poweron"]["vms"] == ["db1", "web1"], "poweron of h1")
    check(data["errors"] == [], "errors: %s" % data["errors"])
    rc, _, raw = t.inspect(json_out=False)
    check(rc == 0 and "lock holder" in raw.stdout, "human output: %s" % raw.stdout)
    return "VM list, hb and poweron read back"


def many_hosts(t):
    """Four new hosts start at once: each gets its own records (on iSCSI, its
    own host slot, claimed by write-wait-read)."""
    hosts = ["h1", "h2", "h3", "h4"]
    procs = [subprocess.Popen(t.tool_argv(h, "write-records"), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for h in hosts]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    check(all(p.returncode == 0 for p in procs), "write-records: %s" % outs)
    for h in hosts:
        r = t.tool(h, "write-hb", "3")
        check(r.returncode == 0, "write-hb %s: %s" % (h, r.stdout))
    rc, data, raw = t.inspect()
    check(rc == 0, "inspect exit %d: %s" % (rc, raw.stdout))
    seen = {x["id"]: x for x in data["hosts"]}
    check(sorted(seen) == hosts, "hosts listed: %s" % sorted(seen))
    check(all(seen[h]["counter"] >= 4 and seen[h]["poweron"] is not None for h in hosts),
          "every host's own hb and poweron: %s" % data["hosts"])
    return "4 hosts started at once, each reads back its own hb and poweron"


def read_hosts(t, reader, *hosts):
    """ds-tool read-hosts: {host: (hb status, fingerprint, poweron status, vms)}."""
    r = t.tool(reader, "read-hosts", *hosts)
    check(r.returncode == 0 and "hosts-read status=ok n=%d" % len(hosts) in r.stdout,
          "read-hosts: %s %s" % (r.stdout, r.stderr))
    out = {}
    for line in r.stdout.splitlines():
        f = dict(kv.split("=", 1) for kv in line.split()[2:] if "=" in kv)
        if line.split()[1:2] == ["host"]:
            out[f["id"]] = (f["hb"], int(f["fingerprint"]), f["poweron"], f["vms"])
    check(sorted(out) == sorted(hosts), "hosts read: %s" % r.stdout)
    return out


def hosts_read(t):
    """The master's batched read of the other hosts' records (dsio HOSTS_READ,
    one worker call): each host's hb fingerprint and poweron record; a host
    that never wrote reads empty, a damaged poweron is that host's alone, and
    the fingerprint moves with each hb write of its host only."""
    for h in ("h1", "h2"):
        r = t.tool(h, "write-records")
        check(r.returncode == 0, "write-records %s: %s" % (h, r.stdout))
    r = t.tool("h1", "corrupt", "poweron")
    check(r.returncode == 0, "corrupt: %s" % r.stdout)
    got = read_hosts(t, "h3", "h1", "h2", "h9")
    check(got["h1"][0] == "ok" and got["h1"][2] == "corrupt", "h1: %s" % (got["h1"],))
    check(got["h2"][0] == "ok" and got["h2"][2] == "ok" and got["h2"][3] == "db1,web1",
          "h2: %s" % (got["h2"],))
    check(got["h9"][0] == "empty" and got["h9"][2] == "empty", "h9: %s" % (got["h9"],))
    r = t.tool("h2", "write-hb", "1")
    check(r.returncode == 0, "write-hb h2: %s" % r.stdout)
    again = read_hosts(t, "h3", "h1", "h2", "h9")
    check(again["h1"][1] == got["h1"][1], "h1's fingerprint moved: %s %s" % (got, again))
    check(again["h2"][1] != got["h2"][1], "h2's fingerprint did not move: %s %s" % (got, again))
    return "3 hosts in one call: written, damaged poweron, never written; fingerprints %d -> %d" % (
        got["h2"][1], again["h2"][1])


def contention(t):
    a = t.tool_bg("h1", "acquire-and-hold", extra=["--for", "4000"])
    b = t.tool_bg("h2", "acquire-and-hold", extra=["--for", "4000"])
    a.finish(30)
    b.finish(30)
    won = [p for p in (a, b) if p.events("acquired")]
    check(len(won) == 1, "exactly one winner, got %d:\n%s\n--\n%s" % (len(won), a.text(), b.text()))
    check(not a.events("lost") and not b.events("lost"), "nobody lost it")
    winner = "h1" if won[0] is a else "h2"
    rc, data, _ = t.inspect()
    check(data["protectedlist"]["lock_holder"] == winner, "inspect shows %s" % winner)
    return "winner %s; the other saw race-lost %d time(s)" % (
        winner, len((b if won[0] is a else a).events("race-lost")))


def kill_holder(t):
    a = t.tool_bg("h1", "acquire-and-hold", extra=["--for", "30000"])
    check(a.wait_event("acquired", 10), "h1 acquires: %s" % a.text())
    b = t.tool_bg("h2", "acquire-and-hold", extra=["--for", "20000"])
    time.sleep(1.0)
    killed = dstest.now_ms()
    a.kill9()
    got = b.wait_event("acquired", 15)
    check(got, "h2 takes over: %s" % b.text())
    takeover = got[0] - killed
    # h1's last renewal landed at most one io before the kill; h2 then needs the
    # record unchanged for expiry and a write-wait(2 io)-read.
    check(takeover >= EXPIRY, "takeover after %d ms, before the expiry" % takeover)
    check(takeover <= EXPIRY + 4 * IO + SLACK * 3, "takeover took %d ms" % takeover)
    b.kill9()
    return "takeover %d ms after kill -9 (lease_expiry %d, expected >= expiry + io = %d)" % (
        takeover, EXPIRY, EXPIRY + IO)


def stop_renewing(t):
    a = t.tool_bg("h1", "hold-without-renewing", extra=["--for", "9000"])
    stopped = a.wait_event("stopped-renewing", 10)
    check(stopped, "h1 acquires then stops: %s" % a.text())
    b = t.tool_bg("h2", "acquire-and-hold", extra=["--for", "8000"])
    got = b.wait_event("acquired", 15)
    check(got, "h2 takes over: %s" % b.text())
    check(a.p.poll() is None, "h1 still alive")
    gap = got[0] - stopped[0]
    check(gap >= EXPIRY, "taken %d ms after the last write, before the expiry" % gap)
    a.kill9()
    b.kill9()
    return "h2 held it %d ms after h1's last write (holder alive, not renewing)" % gap


def local_path(t):
    """The datastore's directory on this machine (file://, and nfs:// whose
    ganesha exports local directories by their real path); None for iscsi."""
    if t.url.startswith("file://"):
        return t.url[len("file://"):]
    if t.url.startswith("nfs://"):
        return "/" + t.url.split("/", 3)[3]
    return None


def uninitialized(t):
    """Issue 14: before `fdmctl datastore init` nothing is read as free, nothing
    is created or written (no folder, no LUN format, no hb), and fdm-inspect
    says so; after it, everything works; init again is harmless."""
    r = t.tool("h1", "write-records")
    check(r.returncode == 1 and "uninitialized" in r.stdout and
          "fdmctl datastore init" in r.stdout, "write-records before init: %s" % r.stdout)
    r = t.tool("h1", "acquire-and-hold", extra=["--for", "1500"])
    check("acquired" not in r.stdout, "lease taken on an uninitialised datastore: %s" % r.stdout)
    rc, data, raw = t.inspect()
    check(rc == 1 and data["identity"] is None and
          any(e["record"] == "identity" for e in data["errors"]),
          "inspect before init: exit %d %s" % (rc, raw.stdout))
    check("fdmctl datastore init" in raw.stderr, "inspect says how: %s" % raw.stderr)
    path = local_path(t)
    if path is not None:
        check(os.listdir(path) == [], "nothing created in %s: %s" % (path, os.listdir(path)))
    else:
        # A blank LUN stays blank: no cluster found on it.
        r = subprocess.run(t.prefix + [dstest.INSPECT, "--key", t.keyfile, t.url],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 1 and "no fdm cluster found" in r.stderr,
              "blank LUN not formatted: %s %s" % (r.stdout, r.stderr))
    if t.url.startswith("file://"):
        for argv, code in ((["datastore"], 2), (["datastore", "init"], 2),
                           (["datastore", "init", t.url, "--config", "/nonexistent.conf"], 2),
                           (["datastore", "frob", t.url], 2)):
            r = subprocess.run([dstest.FDMCTL] + argv, capture_output=True, text=True, timeout=30)
            check(r.returncode == code and r.stderr, "fdmctl %s: exit %d %r" % (
                " ".join(argv), r.returncode, r.stderr))
        check(os.listdir(path) == [], "usage errors created nothing")
    r = t.init()
    check("initialised for cluster c1" in r.stdout, "init: %s" % r.stdout)
    check(t.tool("h1", "write-records").returncode == 0, "write-records after init")
    r = t.init()
    check("already initialised" in r.stdout, "init again: %s" % r.stdout)
    rc, data, raw = t.inspect()
    check(rc == 0 and data["identity"]["uuid"], "inspect after init: %s" % raw.stdout)
    return "uninitialised: refused, nothing created; init, then records; init again harmless"


def refuse_foreign(t):
    """Init refuses a datastore that holds another cluster's identity (a LUN
    formatted by another cluster; the same cluster name with another key)."""
    work = os.path.dirname(t.conf)
    other = os.path.join(work, "other-key.conf")
    dstest.write_conf(other, "c1", t.other_key, IO)
    r = t.init(conf=other, check=False)
    check(r.returncode == 1 and "does not verify with this key" in r.stderr,
          "init with another key: exit %d %s" % (r.returncode, r.stderr))
    what = "another key refused"
    if t.url.startswith("iscsi://"):
        c2 = os.path.join(work, "c2.conf")
        dstest.write_conf(c2, "c2", t.keyfile, IO)
        r = t.init(conf=c2, check=False)
        check(r.returncode == 1 and "cluster c1" in r.stderr,
              "init of c1's LUN for c2: exit %d %s" % (r.returncode, r.stderr))
        what += "; c1's LUN refused for c2"
    check(t.tool("h1", "write-records").returncode == 0, "c1 still works")
    return what


def no_fallback(t):
    """nfs://: a path the server does not have is an error naming it; the
    export above it is not used, nothing is created."""
    missing = dstest.Target(t.url + "/not-there", t.prefix, t.keyfile, t.conf, IO)
    r = missing.tool("h1", "write-records")
    check(r.returncode == 1 and "not-there does not exist" in r.stdout,
          "write-records: %s" % r.stdout)
    r = missing.init(check=False)
    check(r.returncode == 1 and "not-there does not exist" in r.stderr,
          "init: %s" % r.stderr)
    rc, _, raw = missing.inspect()
    check(rc == 1, "inspect exit %d" % rc)
    check(os.listdir(local_path(t)) == [], "nothing created on the export: %s" %
          os.listdir(local_path(t)))
    return "missing directory below the export: error, no fallback, nothing created"


def fifo(t):
    """Issue 15: FIFOs in place of records: fdm-inspect returns (exit 1, "not a
    regular file"), a write fails at once (no block, no SIGPIPE)."""
    check(t.tool("h1", "write-records").returncode == 0, "write-records")
    d = os.path.join(local_path(t), ".fdm-ha", "c1")
    for name in ("protectedlist", "host-h1-hb"):
        os.unlink(os.path.join(d, name))
        os.mkfifo(os.path.join(d, name))
    start = time.monotonic()
    rc, data, raw = t.inspect(timeout=20)
    errs = {e["record"]: e["error"] for e in data["errors"]}
    check(rc == 1 and "not a regular file" in errs.get("host-h1-hb", "") and
          "not a regular file" in errs.get("protectedlist:lease", ""),
          "inspect: exit %d %s" % (rc, data["errors"]))
    r = t.tool("h1", "write-hb", "1", timeout=20)
    check(r.returncode == 1 and "not a regular file" in r.stdout,
          "write-hb into a FIFO: exit %d %s" % (r.returncode, r.stdout))
    return "inspect and a write returned in %.1f s" % (time.monotonic() - start)


def inspect_error(t, record):
    rc, data, raw = t.inspect()
    check(rc == 1, "inspect exit %d (want 1): %s" % (rc, raw.stdout))
    errs = {e["record"]: e["error"] for e in data["errors"]}
    check(record in errs, "%s named in %s" % (record, data["errors"]))
    return errs[record]


def corrupt_byte(t):
    check(t.tool("h1", "write-records").returncode == 0, "write-records")
    r = t.tool("h1", "corrupt", "poweron")
    check(r.returncode == 0, "corrupt: %s" % r.stdout)
    why = inspect_error(t, "host-h1-poweron")
    check(why == "checksum mismatch", "reason: %s" % why)
    return "host-h1-poweron: %s" % why


def truncated(t):
    check(t.tool("h1", "write-records").returncode == 0, "write-records")
    r = t.tool("h1", "truncate", "hb")
    check(r.returncode == 0, "truncate: %s" % r.stdout)
    why = inspect_error(t, "host-h1-hb")
    if not t.url.startswith("iscsi://"):
        check(why == "truncated", "reason: %s" % why)
    return "host-h1-hb: %s" % why


def other_key(t):
    check(t.tool("h1", "write-records").returncode == 0, "write-records")
    r = t.tool("h1", "forge", "poweron", t.other_key)
    check(r.returncode == 0, "forge: %s %s" % (r.stdout, r.stderr))
    why = inspect_error(t, "host-h1-poweron")
    check(why.startswith("authentication failed"), "reason: %s" % why)
    return "host-h1-poweron: %s" % why


def inspect_cli(t):
    """Exit codes and --key mode of fdm-inspect (no agent anywhere)."""
    check(t.tool("h1", "write-records").returncode == 0, "write-records")

    def run(*args):
        return subprocess.run(t.prefix + [dstest.INSPECT] + list(args), capture_output=True,
                              text=True, timeout=60)
    r = run()
    check(r.returncode == 2 and "usage" in r.stderr, "no URL: exit %d" % r.returncode)
    r = run("--config", t.conf, "gopher://x/y")
    check(r.returncode == 2 and "unknown scheme" in r.stderr, "bad URL: %s" % r.stderr)
    r = run("--config", "/nonexistent/fdm.conf", t.url)
    check(r.returncode == 2 and "/nonexistent/fdm.conf" in r.stderr, "missing config: %s" % r.stderr)
    r = run("--config", t.conf, "--key", t.keyfile, t.url)
    check(r.returncode == 2, "--config with --key: exit %d" % r.returncode)
    r = run("--key", t.keyfile, t.url)
    check(r.returncode == 0 and "found cluster c1" in r.stdout, "--key: %s" % r.stdout)
    r = run("--key", t.other_key, t.url)
    check(r.returncode == 1 and "does not verify" in r.stdout, "--key, wrong key: %s" % r.stdout)
    # A path that is not there: exit 1 and a message, whatever the options.
    if t.url.startswith("iscsi://"):
        gone = t.url.rsplit("/", 1)[0] + "/200"
    elif t.url.startswith("nfs://"):
        gone = t.url + "/nonexistent"
    else:
        gone = "file:///nonexistent/fdm-ds"
    for opts in (["--config", t.conf], ["--json", "--config", t.conf], ["--key", t.keyfile],
                 ["--json", "--key", t.keyfile]):
        r = run(*(opts + [gone]))
        check(r.returncode == 1 and "fdm-inspect: " in r.stderr,
              "%s %s: exit %d %r" % (" ".join(opts), gone, r.returncode, r.stderr))
        if "--json" in opts:
            j = json.loads(r.stdout)
            check(j["errors"] and "clusters" in j and "protectedlist" in j, "shape: %s" % j)
    what = "usage and config errors exit 2; --key finds cluster c1; a wrong key or a " \
        "missing path exits 1"
    path = local_path(t)
    if path is not None:
        # A second cluster in the folder: the same JSON shape, both listed.
        c0 = os.path.join(os.path.dirname(t.conf), "c0.conf")
        dstest.write_conf(c0, "c0", t.keyfile, IO)
        t.init(conf=c0)
        r = run("--json", "--key", t.keyfile, t.url)
        j = json.loads(r.stdout)
        check(r.returncode == 0 and j["cluster"] == "c0" and
              [c["cluster"] for c in j["clusters"]] == ["c0", "c1"] and
              set(j) == set(j["clusters"][0]) | {"clusters"}, "two clusters: %s" % r.stdout)
        # An empty (zeroed) record is an error.
        hb = os.path.join(path, ".fdm-ha", "c1", "host-h1-hb")
        with open(hb, "r+b") as f:
            f.write(b"\0" * 8192)
        rc, data, raw = t.inspect()
        errs = {e["record"]: e["error"] for e in data["errors"]}
        check(rc == 1 and errs.get("host-h1-hb", "").startswith("empty record"),
              "zeroed record: %s" % data["errors"])
        what += "; one JSON shape for two clusters; a zeroed record is an error"
    return what


def probe_results(p):
    """(completion ms, status, latency ms, line) of each hb write of a probe."""
    res = []
    for ms, _, text in p.events("hb-write"):
        head = text.split(' msg="')[0]
        fields = dict(kv.split("=", 1) for kv in head.split() if "=" in kv)
        res.append((ms, fields.get("status"), int(fields.get("latency_ms", "0")), text))
    return res


def tick_gap(p, start, end):
    ticks = [e[0] for e in p.events("tick") if start <= e[0] <= end]
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    return max(gaps) if gaps else 10 ** 9, len(ticks)


def stall(t, pause, resume, label, recovers=True):
    """hb writes every io through dsio while the server hangs (pause) and comes
    back (resume): timeouts at io_timeout, the loop ticks throughout."""
    p = t.tool_bg("h9", "stall-probe", "5000")
    time.sleep(1.5)
    t0 = dstest.now_ms()
    pause()
    time.sleep(2.0)
    t1 = dstest.now_ms()
    resume()
    p.finish(30)
    res = probe_results(p)
    timeouts = [r for r in res if r[1] == "timeout"]
    check(timeouts, "%s: a timeout during the stall:\n%s" % (label, p.text()))
    # A result that came after its deadline is never reported ok.
    late_ok = [r for r in res if r[1] == "ok" and r[2] > IO]
    check(not late_ok, "%s: ok after the deadline: %s" % (label, late_ok))
    worst = max(r[2] for r in timeouts)
    check(worst <= IO + SLACK, "%s: timeout reported after %d ms" % (label, worst))
    gap, n = tick_gap(p, t0 - 200, t1 + 200)
    check(gap <= 500 and n >= 15, "%s: loop ticks: max gap %d ms, %d ticks" % (label, gap, n))
    if recovers:
        # A new connection after the resume: the writes succeed again.
        check(res and res[-1][1] == "ok", "%s: writes succeed after the resume:\n%s" % (
            label, p.text()))
    return "%s: %d timeouts, reported after <= %d ms; loop max tick gap %d ms" % (
        label, len(timeouts), worst, gap)


def gone(t, kill):
    """The server is killed: every call after it fails (refused: at once), the
    loop ticks throughout."""
    p = t.tool_bg("h9", "stall-probe", "3000")
    time.sleep(1.0)
    t0 = dstest.now_ms()
    kill()
    p.finish(30)
    after = [r for r in probe_results(p) if r[0] >= t0]
    check(after and all(r[1] != "ok" for r in after), "errors after the kill:\n%s" % p.text())
    worst = max(r[2] for r in after)
    check(worst <= IO + SLACK, "gone server: reported after %d ms" % worst)
    gap, _ = tick_gap(p, t0, t0 + 1500)
    check(gap <= 500, "gone server: max tick gap %d ms" % gap)
    return "killed server: %d failed writes, each reported after <= %d ms; loop max tick gap %d ms" % (
        len(after), worst, gap)


def measure(t):
    r = t.tool("h1", "write-hb", "300", timeout=120)
    check(r.returncode == 0, "write-hb: %s" % r.stdout)
    hb = r.stdout.strip().splitlines()[-1]
    r = t.tool("h1", "measure-acquire", "5", timeout=120)
    check(r.returncode == 0, "measure-acquire: %s" % r.stdout)
    lines = r.stdout.strip().splitlines()

    def stats(line):
        f = dict(kv.split("=") for kv in line.split()[2:])
        return "median %.2f ms, p99 %.2f ms" % (int(f["median_us"]) / 1000.0,
                                                int(f["p99_us"]) / 1000.0)
    return {"hb": stats(hb), "acquire": stats(lines[-2]), "acquire_io": stats(lines[-1])}


# ------------------------------------------------------------------ backends

class Run:
    def __init__(self, work):
        self.work = work
        self.passed = 0
        self.failed = 0
        self.figures = {}
        self.key = os.path.join(work, "key")
        self.other_key = os.path.join(work, "other-key")
        for k in (self.key, self.other_key):
            with open(k, "wb") as f:
                f.write(os.urandom(32))
            os.chmod(k, 0o600)     # fdm_key_load refuses a key others can read
        self.conf = os.path.join(work, "fdm.conf")
        dstest.write_conf(self.conf, "c1", self.key, IO)

    def target(self, url, prefix=(), init=True):
        t = dstest.Target(url, prefix, self.key, self.conf, IO)
        t.other_key = self.other_key
        if init:
            t.init()
        return t

    def case(self, backend, name, fn, t):
        start = time.monotonic()
        try:
            if callable(t):
                t = t()            # made (and initialised) inside the case
            what = fn(t)
            self.passed += 1
            print("ok   %-10s %-14s %5.1fs  %s" % (backend, name, time.monotonic() - start, what),
                  flush=True)
            return what
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            self.failed += 1
            print("FAIL %-10s %-14s %5.1fs  %s" % (backend, name, time.monotonic() - start, e),
                  flush=True)
            if not isinstance(e, Failure):
                traceback.print_exc()
            return None
        finally:
            if isinstance(t, dstest.Target):
                t.cleanup()

    # (name, scenario, whether its datastore is initialised first)
    TABLE = [("uninitialized", uninitialized, False), ("refuse-foreign", refuse_foreign, True),
             ("round-trip", round_trip, True), ("many-hosts", many_hosts, True),
             ("hosts-read", hosts_read, True),
             ("contention", contention, True),
             ("kill-holder", kill_holder, True), ("stop-renewing", stop_renewing, True),
             ("corrupt-byte", corrupt_byte, True), ("truncated", truncated, True),
             ("other-key", other_key, True), ("inspect-cli", inspect_cli, True)]

    def scenarios(self, backend, make_target, names):
        for i, (name, fn, init) in enumerate(self.TABLE):
            if name in names:
                self.case(backend, name, fn, make_target(i, init))
        if "measure" in names:
            figs = self.case(backend, "measure", measure, make_target(len(self.TABLE), True))
            if figs:
                self.figures[backend] = figs


ALL = ("uninitialized", "refuse-foreign", "round-trip", "many-hosts", "hosts-read", "contention",
       "kill-holder", "stop-renewing", "corrupt-byte", "truncated", "other-key", "inspect-cli",
       "measure")
ALL_FILE = ALL + ("fifo",)


def run_file(run, names=ALL_FILE):
    root = os.path.join(run.work, "file")

    def target(i, init=True):
        d = os.path.join(root, "s%d" % i)
        os.makedirs(d, exist_ok=True)
        return lambda: run.target("file://" + d, init=init)
    run.scenarios("file", target, names)
    if "fifo" in names:
        run.case("file", "fifo", fifo, target(20))


def run_nfs(run, ns):
    g = servers.Ganesha(os.path.join(run.work, "nfs"), ns, exports=["ds1"]).start()
    try:
        def target(i, init=True):
            # The URL's directory exists on the server; fdm never creates it.
            os.makedirs(os.path.join(g.export_path("ds1"), "s%d" % i), exist_ok=True)
            return lambda: run.target(g.url("ds1", "s%d" % i), ns.prefix(), init=init)
        run.scenarios("nfs", target, ALL)
        run.case("nfs", "no-fallback", no_fallback, target(19, init=False))
        run.case("nfs", "stall", lambda t: stall(t, g.pause, g.resume, "SIGSTOP ganesha"),
                 target(20))
        run.case("nfs", "gone", lambda t: gone(t, g.kill), target(21))
    finally:
        g.stop()


def run_iscsi(run, ns):
    n = len(ALL) + 3
    tg = servers.Tgtd(os.path.join(run.work, "tgt"), ns,
                      luns=[("b512", 512, 64, n), ("b4096", 4096, 64, n)]).start()
    try:
        run.scenarios("iscsi-4k", lambda i, init=True: lambda: run.target(
            tg.url("b4096", i + 1), ns.prefix(), init=init),
                      ("uninitialized", "round-trip", "many-hosts", "hosts-read", "contention",
                       "corrupt-byte", "other-key", "measure"))

        def target(i, init=True):
            return lambda: run.target(tg.url("b512", i + 1), ns.prefix(), init=init)
        run.scenarios("iscsi", target, ALL)
        run.case("iscsi", "stall", lambda t: stall(t, tg.pause, tg.resume, "SIGSTOP tgtd"),
                 target(n - 2))
        run.case("iscsi", "gone", lambda t: gone(t, tg.kill), target(n - 1))
    finally:
        tg.stop()


def report(run, start):
    print("\nlatency (io_timeout %d ms; acquire includes the 2 x io wait):" % IO)
    for backend, f in run.figures.items():
        print("  %-9s hb write: %s | lease acquire: %s (I/O part: %s)" % (
            backend, f["hb"], f["acquire"], f["acquire_io"]))
    print("datastore system tests: %d passed, %d failed (%.0f s)" % (
        run.passed, run.failed, time.monotonic() - start))
    return 0 if run.failed == 0 else 1


def main(backends=None, file_names=ALL_FILE):
    """backends: a subset of file, nfs, iscsi (default: FDM_DS_BACKENDS or all)."""
    if os.geteuid() != 0 or not os.path.exists(dstest.DS_TOOL):
        print("skip: needs root and %s" % dstest.DS_TOOL)
        return 77
    if backends is None:
        backends = os.environ.get("FDM_DS_BACKENDS", "file,nfs,iscsi").split(",")
    # A runner's timeout sends SIGTERM: unwind, so every finally stops its servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    work = tempfile.mkdtemp(prefix="fdm-ds-system-")
    run = Run(work)
    start = time.monotonic()
    try:
        if "file" in backends:
            run_file(run, file_names)
        have = {b: shutil.which(b) for b in ("ganesha.nfsd", "rpcbind", "tgtd", "tgtadm")}
        if "nfs" in backends or "iscsi" in backends:
            with servers.Netns.create("fdmds") as ns:
                if "nfs" in backends and have["ganesha.nfsd"] and have["rpcbind"]:
                    run_nfs(run, ns)
                elif "nfs" in backends:
                    print("skip nfs: ganesha.nfsd or rpcbind missing")
                if "iscsi" in backends and have["tgtd"] and have["tgtadm"]:
                    run_iscsi(run, ns)
                elif "iscsi" in backends:
                    print("skip iscsi: tgtd missing")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report(run, start)


if __name__ == "__main__":
    sys.exit(main())
