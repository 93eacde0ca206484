#!/usr/bin/env python3
"""hostd-shim against libvirt's test driver: every call and its error paths,
events for each power change, malformed frames, 20 concurrent clients, and a
client that never reads its replies. Runs in CHECK_TESTS too (ASan shim)."""
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shimtest import (CLI, SHIM, Failure, RawClient, Shim, check, field_bytes, frame,  # noqa: E402
                      log, node_xml, request, run_main, test_domain_xml, wait_for)

DOMS = [("vm-a", "11111111-2222-3333-4444-000000000001"),
        ("vm-b", "11111111-2222-3333-4444-000000000002"),
        ("vm-c", "11111111-2222-3333-4444-000000000003")]


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def test_usage(shim):
    p = subprocess.run([SHIM, "--version"], capture_output=True, text=True)
    check(p.returncode == 0 and "hostd-shim" in p.stdout, "--version")
    p = subprocess.run([SHIM, "--help"], capture_output=True, text=True)
    check(p.returncode == 0 and "--config" in p.stdout, "--help")
    p = subprocess.run([SHIM], capture_output=True, text=True)
    check(p.returncode == 2, "no --config: exit 2")
    bad = write(os.path.join(shim.dir, "bad.conf"), "[hostd]\nsocket = relative\n")
    p = subprocess.run([SHIM, "--config", bad], capture_output=True, text=True)
    check(p.returncode == 2 and p.stderr.startswith("hostd-shim: %s:2: socket:" % bad),
          "config error: exit 2, 'hostd-shim: FILE:LINE: KEY: why' (%s)" % p.stderr.strip())


def test_calls(shim, sub):
    doms = shim.domains()
    check(sorted(doms) == ["vm-a", "vm-b", "vm-c"], "list: the three domains")
    a = doms["vm-a"]
    check(a["uuid"] == DOMS[0][1] and a["state"] == "DOMAIN_RUNNING" and
          a["memory_kib"] == 131072 and a["vcpus"] == 1 and a["persistent"] is True,
          "list: name, uuid, state, memory, vcpus, persistent")
    r = shim.call("resources")
    res = r.get("resources", {})
    check(r["result"] == "RESULT_OK" and res.get("total_memory_kib", 0) > 0 and
          res.get("cpus", 0) > 0, "host resources: %s" % res)

    r = shim.call("poweroff", "vm-a")
    check(r["result"] == "RESULT_OK" and r["domain"]["state"] == "DOMAIN_SHUTOFF",
          "power off vm-a")
    sub.wait_event("EVENT_STOPPED", "vm-a")
    check(True, "event: vm-a stopped")
    r = shim.call("poweroff", "vm-a")
    check(r["result"] == "RESULT_INVALID_STATE", "power off a stopped domain: INVALID_STATE")

    xml_a = write(os.path.join(shim.dir, "vm-a.xml"), test_domain_xml(*DOMS[0]))
    r = shim.call("poweron", xml_a)
    check(r["result"] == "RESULT_OK" and r["domain"]["state"] == "DOMAIN_RUNNING",
          "power on vm-a from its XML")
    sub.wait_event("EVENT_STARTED", "vm-a")
    check(True, "event: vm-a started")
    r = shim.call("poweron", xml_a)
    check(r["result"] == "RESULT_INVALID_STATE",
          "power on a running domain: INVALID_STATE (%s)" % r["message"])

    bad = write(os.path.join(shim.dir, "bad.xml"), "<domain type='test'><name>x</name>")
    r = shim.call("poweron", bad)
    check(r["result"] == "RESULT_ERROR" and "\n" not in r["message"],
          "power on from bad XML: ERROR, one line (%s)" % r["message"][:60])

    for op in (("poweroff", "nosuch"), ("undefine", "nosuch"), ("shutdown", "nosuch", 100),
               ("poweroff", "99999999-2222-3333-4444-000000000009")):
        r = shim.call(*op)
        check(r["result"] == "RESULT_NOT_FOUND", "%s of an unknown domain: NOT_FOUND" % op[0])

    # The test driver stops a domain inside virDomainShutdown itself: the reply
    # says so at once, without waiting for the timeout (the forced path is
    # covered against QEMU, whose diskless guest ignores ACPI).
    t0 = time.monotonic()
    r = shim.call("shutdown", "vm-b", 5000)
    took = time.monotonic() - t0
    check(r["result"] == "RESULT_OK" and not r.get("forced") and
          r["domain"]["state"] == "DOMAIN_SHUTOFF" and took < 4,
          "guest shutdown (test driver: immediate, %.2f s)" % took)
    _, ev = sub.wait_event("EVENT_STOPPED", "vm-b")
    check(ev.get("detail") == "shutdown", "event: vm-b stopped, detail shutdown")
    r = shim.call("shutdown", "vm-b", 100)
    check(r["result"] == "RESULT_INVALID_STATE", "shutdown of a stopped domain: INVALID_STATE")

    new = write(os.path.join(shim.dir, "vm-new.xml"),
                test_domain_xml("vm-new", "11111111-2222-3333-4444-0000000000ff", 65536, 2))
    r = shim.call("poweron", new)
    check(r["result"] == "RESULT_OK" and r["domain"]["vcpus"] == 2, "define + start vm-new")
    sub.wait_event("EVENT_DEFINED", "vm-new")
    sub.wait_event("EVENT_STARTED", "vm-new")
    check(True, "events: vm-new defined, started")
    r = shim.call("poweroff", "11111111-2222-3333-4444-0000000000ff")
    check(r["result"] == "RESULT_OK", "power off by UUID")
    r = shim.call("undefine", "vm-new")
    check(r["result"] == "RESULT_OK", "undefine vm-new")
    sub.wait_event("EVENT_UNDEFINED", "vm-new")
    check("vm-new" not in shim.domains(), "event: vm-new undefined; not listed")

    r = shim.call("poweron", xml_a, "--deadline-at", 1)
    check(r["result"] == "RESULT_DEADLINE_PASSED", "power on with a passed deadline: refused")


def test_bad_requests(shim):
    with RawClient(shim.socket) as c:
        # PowerOffRequest with an empty DomainRef.
        c.send(frame(request(7, "power_off", field_bytes(1, b""))))
        r = c.read_reply()
        check(r["id"] == 7 and r["result"] == "RESULT_BAD_REQUEST",
              "power off naming no domain: BAD_REQUEST (%s)" % r["message"])
        c.send(frame(request(8, "power_off", field_bytes(1, field_bytes(2, b"not-a-uuid")))))
        r = c.read_reply()
        check(r["id"] == 8 and r["result"] == "RESULT_BAD_REQUEST", "malformed UUID: BAD_REQUEST")
        c.send(frame(request(9, "stats")))
        check(c.read_reply()["id"] == 9, "the connection still works after bad fields")


def test_malformed(shim):
    before = shim.stats()
    with RawClient(shim.socket) as c:
        c.send(frame(b"\xff\xfe garbage \x00\x01"))
        r = c.read_reply()
        check(r["id"] == 0 and r["result"] == "RESULT_BAD_REQUEST", "garbage: BAD_REQUEST, id 0")
        c.send(frame(b""))
        r = c.read_reply()
        check(r["id"] == 0 and r["result"] == "RESULT_BAD_REQUEST", "empty frame: BAD_REQUEST")
        c.send(frame(b"\x08\x05"))   # id 5 and no operation
        r = c.read_reply()
        check(r["id"] == 5 and r["result"] == "RESULT_BAD_REQUEST", "no operation: BAD_REQUEST, id 5")
        c.send(frame(request(6, "stats")))
        check(c.read_reply()["id"] == 6, "the connection still works after garbage")
    with RawClient(shim.socket) as c:
        c.send(struct.pack(">I", 100) + b"0123456789")
        c.sock.shutdown(socket.SHUT_WR)
        r = c.read_reply()
        check(r is not None and r["result"] == "RESULT_BAD_REQUEST",
              "truncated frame then end of stream: BAD_REQUEST")
        check(c.read_message() is None, "truncated: then closed")
    for size in (1024 * 1024 + 1, 0xFFFFFFFF):
        with RawClient(shim.socket) as c:
            c.send(struct.pack(">I", size) + b"x" * 16)
            r = c.read_reply()
            check(r is not None and r["id"] == 0 and r["result"] == "RESULT_BAD_REQUEST",
                  "length %#x: BAD_REQUEST" % size)
            check(c.read_message() is None, "length %#x: connection closed" % size)
    after = shim.stats()
    diff = {k: after[k] - before[k] for k in ("bad_undecodable", "bad_no_op",
                                              "bad_truncated", "bad_oversized")}
    check(diff == {"bad_undecodable": 2, "bad_no_op": 1, "bad_truncated": 1, "bad_oversized": 2},
          "counted by reason: %s" % diff)


def test_concurrent(shim, n=20, per_client=50):
    """n clients at once, each with many requests in flight, plus n CLIs."""
    errors = []

    def one(k):
        try:
            with RawClient(shim.socket, timeout=30) as c:
                ids = list(range(k * 1000 + 1, k * 1000 + per_client + 1))
                c.send(b"".join(frame(request(i, "list_domains" if i % 2 else "stats"))
                                for i in ids))
                got = sorted(c.read_reply()["id"] for _ in ids)
                if got != ids:
                    errors.append("client %d: replies %s" % (k, got[:5]))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append("client %d: %r" % (k, e))

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(k,)) for k in range(n)]
    clis = [subprocess.Popen([CLI, "--socket", shim.socket, "list"], stdout=subprocess.DEVNULL)
            for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    rcs = [p.wait(60) for p in clis]
    took = time.monotonic() - t0
    check(not errors, "%d raw clients x %d requests: every reply, matching ids (%s)"
          % (n, per_client, errors[:3]))
    check(rcs == [0] * n, "%d concurrent hostd-shim-cli list: all OK" % n)
    log("measured: %d clients, %d requests in %.2f s" % (2 * n, n * per_client + n, took))


def test_bad_clients(shim):
    """A client that never reads, one that sent half a frame, one sending
    garbage: the others are served meanwhile, and the reader-less one is dropped."""
    before = shim.stat("clients_dropped_slow")
    half = RawClient(shim.socket)
    half.send(b"\x00\x00")
    junk = RawClient(shim.socket)
    junk.send(frame(b"\x01\x02\x03") * 50)
    deaf = RawClient(shim.socket, timeout=1)
    sent = 0
    burst = frame(request(1, "stats")) * 2000
    t0 = time.monotonic()
    worst = 0.0
    try:
        while time.monotonic() - t0 < 30:
            deaf.send(burst)
            sent += 2000
            t1 = time.monotonic()
            check_ok = shim.call("list")["result"] == "RESULT_OK"
            worst = max(worst, time.monotonic() - t1)
            if not check_ok:
                raise Failure("list failed while a client does not read")
            if shim.stat("clients_dropped_slow") > before:
                break
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass   # dropped by the shim (or its socket buffer full and never drained)
    wait_for(lambda: shim.stat("clients_dropped_slow") > before, 30,
             "the non-reading client to be dropped")
    check(True, "a client that never reads is dropped (after %d requests); others served, "
          "slowest list %.2f s" % (sent, worst))
    check(shim.call("stats")["result"] == "RESULT_OK", "half-frame client does not stall others")
    for c in (half, junk, deaf):
        c.close()


def main():
    if shutil.which("python3") is None:
        return 77
    d = tempfile.mkdtemp(prefix="shim-api-%d-" % os.getpid())
    node = write(os.path.join(d, "node.xml"), node_xml(DOMS))
    with Shim("test://" + node, d) as shim:
        test_usage(shim)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify_path = os.path.join(d, "notify.sock")
        notify.bind(notify_path)
        shim.start(env={"NOTIFY_SOCKET": notify_path})
        notify.settimeout(5)
        got = notify.recv(4096).decode()
        check("READY=1" in got or "READY=1" in notify.recv(4096).decode(),
              "sd_notify READY=1 under systemd (NOTIFY_SOCKET)")
        notify.close()
        mode = os.stat(shim.socket).st_mode & 0o777
        check(mode == 0o660, "socket mode 0660 (got %o)" % mode)
        with shim.spawn_cli("subscribe") as sub:
            sub.wait_line(lambda o: o.get("kind") == "reply", 10, "subscribe reply")
            test_calls(shim, sub)
        test_bad_requests(shim)
        test_malformed(shim)
        test_concurrent(shim)
        test_bad_clients(shim)
        rc = shim.stop()
        check(rc == 0, "SIGTERM: clean exit 0")
        check(not os.path.exists(shim.socket), "socket removed at exit")
        if "ERROR: AddressSanitizer" in shim.log() or "runtime error" in shim.log():
            raise Failure("sanitizer report in the shim's log")
    return 0


if __name__ == "__main__":
    run_main(main)
