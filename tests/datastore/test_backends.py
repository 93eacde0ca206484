#!/usr/bin/env python3
"""Datastore system test: the real library against file://, a real nfs-ganesha
(nfs://, libnfs, NFSv3) and a real tgtd (iscsi://, libiscsi, 512- and 4096-byte
blocks), all started here (servers.py) in a private network namespace.

For each backend: records round-trip; two processes contend for the lease and
exactly one wins; kill -9 the holder and the other takes over only after the
expiry; a holder that stops renewing loses it; a corrupted byte, a truncated
record and a record signed with another key are named by fdm-inspect (exit 1);
a hung (SIGSTOP) and a gone (SIGKILL) server give timeouts within io_timeout
while the caller's event loop keeps ticking. Then it measures lease acquire and
heartbeat write latency. io_timeout is 500 ms, so lease_expiry is 2000 ms.
Exit 0 pass, 1 fail, 77 skip (not root / no servers)."""
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
    check(r.returncode == 1 and "authentication failed" in r.stdout, "--key, wrong key: %s" % r.stdout)
    return "usage and config errors exit 2; --key finds cluster c1; a wrong key exits 1"


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

    def target(self, url, prefix=()):
        t = dstest.Target(url, prefix, self.key, self.conf, IO)
        t.other_key = self.other_key
        return t

    def case(self, backend, name, fn, t):
        start = time.monotonic()
        try:
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
            t.cleanup()

    def scenarios(self, backend, make_target, names):
        table = [("round-trip", round_trip), ("many-hosts", many_hosts),
                 ("contention", contention),
                 ("kill-holder", kill_holder), ("stop-renewing", stop_renewing),
                 ("corrupt-byte", corrupt_byte), ("truncated", truncated),
                 ("other-key", other_key), ("inspect-cli", inspect_cli)]
        for i, (name, fn) in enumerate(table):
            if name in names:
                self.case(backend, name, fn, make_target(i))
        if "measure" in names:
            figs = self.case(backend, "measure", measure, make_target(len(table)))
            if figs:
                self.figures[backend] = figs


ALL = ("round-trip", "many-hosts", "contention", "kill-holder", "stop-renewing", "corrupt-byte",
       "truncated", "other-key", "inspect-cli", "measure")


def run_file(run, names=ALL):
    root = os.path.join(run.work, "file")

    def target(i):
        d = os.path.join(root, "s%d" % i)
        os.makedirs(d, exist_ok=True)
        return run.target("file://" + d)
    run.scenarios("file", target, names)
    # A hung filesystem: the record is a FIFO, so open() blocks in the kernel
    # until the test opens the other end (file:// cannot abort a stuck call).
    t = target(20)
    d = os.path.join(root, "s20", ".fdm-ha", "c1")
    os.makedirs(d, exist_ok=True)
    fifo = os.path.join(d, "host-h9-hb")
    os.mkfifo(fifo)
    fds = []

    def unblock():
        fds.append(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        fds.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    try:
        run.case("file", "stall", lambda t: stall(t, lambda: None, unblock,
                                                  "hung (blocked open)", recovers=False), t)
    finally:
        for fd in fds:
            os.close(fd)


def run_nfs(run, ns):
    g = servers.Ganesha(os.path.join(run.work, "nfs"), ns, exports=["ds1"]).start()
    try:
        def target(i):
            return run.target(g.url("ds1", "s%d" % i), ns.prefix())
        run.scenarios("nfs", target, ALL)
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
        run.scenarios("iscsi-4k", lambda i: run.target(tg.url("b4096", i + 1), ns.prefix()),
                      ("round-trip", "many-hosts", "contention", "corrupt-byte", "other-key",
                       "measure"))

        def target(i):
            return run.target(tg.url("b512", i + 1), ns.prefix())
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


def main(backends=None, file_names=ALL):
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
