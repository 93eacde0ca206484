#!/usr/bin/env python3
"""A crashed domain is reported STOP_CRASHED: in its event and in the listing,
also by a shim that starts after the crash (the reason then comes from
virDomainGetState). fdm restarts a protected VM that stopped so, and leaves
one an operator destroyed off: an outside `virsh destroy` is STOP_DESTROYED.

A real crash report, not a mock: a private libvirtd (libvirtd.py) serves its
test driver to the shim and to virsh; `virsh dump --crash` makes the test
driver stop the domain with VIR_DOMAIN_EVENT_STOPPED_CRASHED and state
reason VIR_DOMAIN_SHUTOFF_CRASHED, as a guest panic with on_crash=destroy
does. (A QEMU killed with SIGKILL is in test_qemu.py.) Skips (77) when
libvirtd cannot start here (not root)."""
import os
import select
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from libvirtd import Libvirtd, LibvirtdError  # noqa: E402
from shimtest import Failure, Shim, check, log, run_main  # noqa: E402

DOM = "test"    # the domain test:///default starts with


def virsh(uri, *args):
    p = subprocess.run(["virsh", "-c", uri] + list(args), capture_output=True, text=True,
                       timeout=60)
    if p.returncode != 0:
        raise Failure("virsh %s: %s" % (" ".join(args), p.stderr.strip()))
    return p.stdout


def read_until(f, text, timeout):
    """Read lines of f until one contains text, at most timeout seconds."""
    end = time.monotonic() + timeout
    buf = ""
    while time.monotonic() < end:
        ready, _, _ = select.select([f], [], [], max(0.0, end - time.monotonic()))
        if not ready:
            break
        chunk = os.read(f.fileno(), 4096).decode()
        if not chunk:
            break
        buf += chunk
        if text in buf:
            return True
    return False


def run(shim, uri, d):
    with shim.spawn_cli("subscribe") as sub:
        sub.wait_line(lambda o: o.get("kind") == "reply", 10, "subscribe reply")
        check(shim.state_of(DOM) == "DOMAIN_RUNNING", "%s runs" % DOM)
        mark = sub.mark()
        virsh(uri, "dump", "--crash", DOM, os.path.join(d, "test.core"))
        _, ev = sub.wait_event("EVENT_CRASHED", DOM, timeout=15, start=mark)
        check(ev.get("stop_reason") == "STOP_CRASHED" and ev.get("detail") == "crashed" and
              ev["domain"]["state"] == "DOMAIN_SHUTOFF",
              "virsh dump --crash: EVENT_CRASHED, STOP_CRASHED, shut off")
        check(shim.domains()[DOM].get("stop_reason") == "STOP_CRASHED",
              "list: %s STOP_CRASHED" % DOM)

    # A shim that starts after the crash reads the reason from libvirt. The
    # test driver forgets its state when its last connection closes: a virsh
    # holds one meanwhile.
    holder = subprocess.Popen(["virsh", "-q", "-c", uri], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        holder.stdin.write("domstate %s\n" % DOM)
        holder.stdin.flush()
        check(read_until(holder.stdout, "shut off", 10), "a virsh session holds the test driver")
        shim.stop()
        shim.start()
        check(shim.domains()[DOM].get("stop_reason") == "STOP_CRASHED",
              "a restarted shim lists %s STOP_CRASHED (virDomainGetState)" % DOM)
    finally:
        holder.kill()
        holder.wait(10)
        holder.stdin.close()
        holder.stdout.close()

    with shim.spawn_cli("subscribe") as sub:
        sub.wait_line(lambda o: o.get("kind") == "reply", 10, "subscribe reply")
        path = os.path.join(d, "test.xml")
        with open(path, "w") as f:
            f.write(shim.call("get-xml", DOM)["xml"])
        r = shim.call("poweron", path)
        check(r["result"] == "RESULT_OK" and "stop_reason" not in r["domain"],
              "restarted from its XML (as fdm would): running, no stop reason")
        mark = sub.mark()
        virsh(uri, "destroy", DOM)
        _, ev = sub.wait_event("EVENT_STOPPED", DOM, timeout=15, start=mark)
        check(ev.get("stop_reason") == "STOP_DESTROYED",
              "an operator's virsh destroy: EVENT_STOPPED, STOP_DESTROYED")


def main():
    if os.geteuid() != 0:
        log("needs root to start libvirtd")
        return 77
    d = tempfile.mkdtemp(prefix="shim-crash-%d-" % os.getpid())
    with Libvirtd("crash") as lv:
        try:
            lv.start()
        except LibvirtdError as e:
            log("libvirtd cannot start here: %s" % e)
            return 77
        uri = "test+unix:///default?socket=" + lv.socket
        with Shim(uri, d) as shim:
            shim.start()
            run(shim, uri, d)
            check(shim.stop() == 0, "SIGTERM: clean exit 0")
            if "ERROR: AddressSanitizer" in shim.log() or "runtime error" in shim.log():
                raise Failure("sanitizer report in the shim's log")
    return 0


if __name__ == "__main__":
    run_main(main)
