#!/usr/bin/env python3
"""Runs tests/shim/test_vmhost.c (fdm/vmhost.c against a real hostd-shim on
the libvirt test driver; the C program starts and stops the shim itself) from
the build under test, in a private directory. Prints the shim's logs when it
fails, and stops a shim the program left behind (its PID is in shim.pid)."""
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from libvirtd import kill_pid  # noqa: E402
from shimtest import BUILD, SHIM, log, run_main, Failure  # noqa: E402

PROGRAM = os.path.join(BUILD, "tests", "shim", "test_vmhost")


def main():
    if not os.path.exists(PROGRAM):
        raise Failure("%s is not built (make)" % PROGRAM)
    d = tempfile.mkdtemp(prefix="vmhost-%d-" % os.getpid())
    ok = False
    try:
        p = subprocess.run([PROGRAM, SHIM, d], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=180)
        log(p.stdout.rstrip())
        if p.returncode != 0:
            raise Failure("test_vmhost exited with %d" % p.returncode)
        logs = "".join(open(f).read() for f in sorted(glob.glob(os.path.join(d, "shim-*.log"))))
        if "ERROR: AddressSanitizer" in logs or "runtime error" in logs:
            raise Failure("sanitizer report in the shim's log")
        ok = True
    finally:
        try:
            with open(os.path.join(d, "shim.pid")) as f:
                kill_pid(int(f.read().strip()))
        except (OSError, ValueError):
            pass
        if not ok:
            for f in sorted(glob.glob(os.path.join(d, "shim-*.log"))):
                log("--- %s (last lines):" % f)
                log("\n".join(open(f).read().splitlines()[-30:]))
        shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))   # run cleanups on SIGTERM
    run_main(main)
