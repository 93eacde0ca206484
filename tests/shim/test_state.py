#!/usr/bin/env python3
"""The shim's state file (hostd-shim(8) FILES), against the libvirt test driver:
named after the socket, so two shims whose sockets share a directory keep their
own deadlines; a second shim on the same socket refuses to start (the lock);
a version 1 file under the old shared name is migrated once; the file records
the boot id and a file of another boot is dropped and logged; a state file that
cannot be saved makes set-deadlines and clean-stop answer RESULT_ERROR (the
deadlines are enforced all the same) until a save succeeds again."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shimtest import (SHIM, Failure, Shim, boottime_ms, check, log, node_xml, run_main,  # noqa: E402
                      shim_state_body, state_file, state_file_boot_id, this_boot_id, wait_for)

DOMS = [("vm-a", "33333333-2222-3333-4444-000000000001"),
        ("vm-b", "33333333-2222-3333-4444-000000000002")]


def deadlines_of(shim):
    r = shim.call("get-deadlines")
    return {d["domain"].get("name") or d["domain"].get("uuid"): d["boottime_ms"]
            for d in r.get("deadlines", [])}


def read(path):
    with open(path, "rb") as f:
        return f.read()


def no_sanitizer_report(shim):
    if "ERROR: AddressSanitizer" in shim.log() or "runtime error" in shim.log():
        raise Failure("sanitizer report in the log of %s" % shim.name)


def test_two_shims_one_directory(d, uri):
    """Issue 15: both used <dir>/hostd-shim.state, each overwriting the other's."""
    far = boottime_ms() + 3600 * 1000
    with Shim(uri, d, "alpha") as a, Shim(uri, d, "beta") as b:
        a.start()
        b.start()
        check(a.call("set-deadlines", "vm-a=@%d" % far)["result"] == "RESULT_OK",
              "shim alpha: deadline for vm-a")
        check(b.call("set-deadlines", "vm-b=@%d" % (far + 1))["result"] == "RESULT_OK",
              "shim beta: deadline for vm-b")
        check(os.path.exists(a.state) and os.path.exists(b.state) and a.state != b.state,
              "two state files, named after the sockets: %s, %s"
              % (os.path.basename(a.state), os.path.basename(b.state)))
        check(not os.path.exists(os.path.join(d, "hostd-shim.state")),
              "no shared hostd-shim.state")
        check(a.stop() == 0 and b.stop() == 0, "both stopped")
        a.start()
        b.start()
        check(deadlines_of(a) == {"vm-a": far} and deadlines_of(b) == {"vm-b": far + 1},
              "restarted, each shim holds its own deadlines only")

        # A second shim on alpha's socket (and so its state file) refuses.
        p = subprocess.run([SHIM, "--config", a.config], capture_output=True, text=True,
                           timeout=30)
        held = [l for l in (p.stdout + p.stderr).splitlines()
                if "held by another hostd-shim (pid %d)" % a.proc.pid in l and a.lock in l]
        check(p.returncode == 1 and held,
              "a second shim on the same socket exits 1: %s" % (held or [p.stderr.strip()])[0])
        check(a.call("stats")["result"] == "RESULT_OK" and deadlines_of(a) == {"vm-a": far},
              "the first shim still serves, deadlines intact")
        a.call("clean-stop")
        b.call("clean-stop")
        for s in (a, b):
            check(s.stop() == 0, "%s: clean exit" % s.name)
            no_sanitizer_report(s)


def test_migration(d, uri):
    """A version 1 file under the old shared name is read once: an upgrade
    forgets no deadline."""
    far = boottime_ms() + 3600 * 1000
    legacy = os.path.join(d, "hostd-shim.state")
    with open(legacy, "wb") as f:
        f.write(state_file(shim_state_body({"vm-a": far, "vm-b": far + 5})))
    with Shim(uri, d) as shim:
        shim.start()
        check(deadlines_of(shim) == {"vm-a": far, "vm-b": far + 5},
              "deadlines of the old hostd-shim.state are held")
        check(not os.path.exists(legacy) and os.path.exists(shim.state),
              "the old file is gone, the new one written")
        check("state migrated" in shim.log(), "the migration is logged")
        check(state_file_boot_id(read(shim.state)) == this_boot_id(),
              "the new file records this boot's id")
        shim.call("clean-stop")
        check(shim.stop() == 0, "clean exit")
        no_sanitizer_report(shim)


def test_other_boot(d, uri):
    """CLOCK_BOOTTIME values of another boot are never trusted: dropped, logged."""
    far = boottime_ms() + 3600 * 1000
    with Shim(uri, d) as shim:
        shim.start()
        shim.call("set-deadlines", "vm-a=@%d" % far)
        check(shim.stop() == 0, "stopped with a deadline held")
        data = read(shim.state)
        check(state_file_boot_id(data) == this_boot_id(), "the state file records the boot id")
        other = "00000000-1111-2222-3333-444444444444"
        with open(shim.state, "wb") as f:
            f.write(state_file(data[52:], other))
        shim.start()
        check(deadlines_of(shim) == {}, "a state file of another boot: its deadlines dropped")
        check("STATE OF ANOTHER BOOT DROPPED" in shim.log() and other in shim.log(),
              "and that is logged, naming both boots")
        check(state_file_boot_id(read(shim.state)) == this_boot_id(),
              "the file is rewritten for this boot")
        check(shim.stop() == 0, "clean exit")
        no_sanitizer_report(shim)


def test_save_fails(d, uri):
    """Issue 14: set_deadlines answered OK though the state could not be saved."""
    far = boottime_ms() + 3600 * 1000
    with Shim(uri, d) as shim:
        shim.start()
        check(shim.call("set-deadlines", "vm-a=@%d" % far)["result"] == "RESULT_OK",
              "set a deadline: saved, OK")
        # The state file's name taken by a directory: rename() onto it fails
        # (tests run as root, so a read-only mode would not stop the shim).
        os.unlink(shim.state)
        os.makedirs(os.path.join(shim.state, "in-the-way"))
        rc, out = shim.cli("set-deadlines", "vm-a=@%d" % (far + 1))
        r = out[0] if out else {}
        check(rc == 1 and r.get("result") == "RESULT_ERROR" and "NOT SAVED" in r.get("message", "")
              and shim.state in r.get("message", ""),
              "set-deadlines while the state cannot be saved: RESULT_ERROR (%s)"
              % r.get("message", "")[:110])
        check(deadlines_of(shim) == {"vm-a": far + 1}, "the new deadline is enforced all the same")
        r = shim.call("set-deadlines", "vm-a=@%d" % (far + 1))
        check(r["result"] == "RESULT_ERROR", "the same set again: still an error (tried again)")
        r = shim.call("clean-stop")
        check(r["result"] == "RESULT_ERROR" and "NOT SAVED" in r["message"],
              "clean-stop while the state cannot be saved: RESULT_ERROR")
        st = shim.stats()
        check(st["state_write_errors"] >= 3 and st["state_unsaved"] == 1,
              "counted: state_write_errors=%d, state_unsaved=%d"
              % (st["state_write_errors"], st["state_unsaved"]))
        check("STATE NOT SAVED" in shim.log(), "logged")
        shutil.rmtree(shim.state)
        r = shim.call("set-deadlines", "vm-a=@%d" % far)
        check(r["result"] == "RESULT_OK" and os.path.isfile(shim.state) and
              shim.stat("state_unsaved") == 0, "the obstacle gone: saved again, OK")
        shim.call("clean-stop")
        check(shim.stop() == 0, "clean exit")
        no_sanitizer_report(shim)


def main():
    d = tempfile.mkdtemp(prefix="shim-state-%d-" % os.getpid())
    node = os.path.join(d, "node.xml")
    with open(node, "w") as f:
        f.write(node_xml(DOMS))
    uri = "test://" + node
    try:
        for test in (test_two_shims_one_directory, test_migration, test_other_boot,
                     test_save_fails):
            sub = os.path.join(d, test.__name__)
            os.mkdir(sub)
            t0 = time.monotonic()
            test(sub, uri)
            log("%s: %.1f s" % (test.__name__, time.monotonic() - t0))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    run_main(main)
