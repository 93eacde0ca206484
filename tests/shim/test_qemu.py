#!/usr/bin/env python3
"""hostd-shim against a real libvirtd with QEMU (KVM when /dev/kvm is usable,
TCG otherwise), started here without systemd (libvirtd.py). Powers on a small
diskless guest through the shim, measures how long that takes, shuts it down
with a short timeout (it has no OS, so it is forced off), powers it on again,
kills its QEMU with SIGKILL (reported EVENT_CRASHED, STOP_CRASHED: fdm restarts
such a VM) and with SIGTERM (a clean exit: STOP_SHUTDOWN), restarts libvirtd under the shim (disconnected, reconnected, state
right), and kills the guest while libvirtd is down (the shim reports it
stopped, with the reason libvirt gives after its restart).
Skips (77) only if libvirtd cannot start here."""
import os
import signal
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from libvirtd import Libvirtd, LibvirtdError, guest_pids, guest_xml, kvm_usable, kill_pid  # noqa: E402
from shimtest import Failure, Shim, boottime_ms, check, log, run_main, wait_for  # noqa: E402


def power_on_timed(shim, sub, name, xml_path, what, *extra):
    mark = sub.mark()
    t0 = boottime_ms()
    r = shim.call("poweron", xml_path, *extra, timeout=120)
    t_reply = boottime_ms() - t0
    check(r["result"] == "RESULT_OK" and r["domain"]["state"] == "DOMAIN_RUNNING",
          "%s: power on through the shim (%s)" % (what, r["message"]))
    t_ev, _ = sub.wait_event("EVENT_STARTED", name, timeout=30, start=mark)
    t_running = t_ev - t0
    log("measured: %s power-on: request -> reply %d ms, request -> running (event) %d ms"
        % (what, t_reply, t_running))
    return t_reply, t_running


def one_qemu(name):
    return wait_for(lambda: len(guest_pids(name)) == 1, 10, "exactly one QEMU for " + name)


def no_qemu(name):
    return wait_for(lambda: len(guest_pids(name)) == 0, 20, "no QEMU left for " + name)


def run(lv, shim, name, xml_path):
    with shim.spawn_cli("subscribe") as sub:
        sub.wait_line(lambda o: o.get("kind") == "reply", 10, "subscribe reply")
        cold = power_on_timed(shim, sub, name, xml_path, "first (cold libvirtd)")
        lv.record_guest(name)
        check(shim.state_of(name) == "DOMAIN_RUNNING", "list: %s running" % name)
        one_qemu(name)
        check(True, "pgrep -f guest=%s: one QEMU" % name)

        t0 = time.monotonic()
        r = shim.call("shutdown", name, 1500, timeout=60)
        took = time.monotonic() - t0
        check(r["result"] == "RESULT_OK" and r.get("forced") is True and
              r["domain"]["state"] == "DOMAIN_SHUTOFF",
              "guest shutdown, 1.5 s timeout: ignored by the diskless guest, forced off "
              "(%.1f s)" % took)
        no_qemu(name)
        check(True, "no QEMU left after the forced power-off")

        warm = power_on_timed(shim, sub, name, xml_path, "second (warm)")
        pid = lv.record_guest(name)
        one_qemu(name)

        # QEMU dies (kill -9): a crash, which fdm restarts; not a shutdown.
        mark = sub.mark()
        os.kill(pid, signal.SIGKILL)
        _, ev = sub.wait_event("EVENT_CRASHED", name, timeout=30, start=mark)
        check(ev.get("stop_reason") == "STOP_CRASHED" and ev["domain"]["state"] == "DOMAIN_SHUTOFF",
              "QEMU killed with SIGKILL: EVENT_CRASHED, STOP_CRASHED (libvirt: %s)"
              % ev.get("detail"))
        no_qemu(name)
        check(shim.domains()[name].get("stop_reason") == "STOP_CRASHED",
              "list: %s STOP_CRASHED (virDomainGetState)" % name)
        power_on_timed(shim, sub, name, xml_path, "after the crash")
        pid = lv.record_guest(name)
        one_qemu(name)

        # QEMU asked to quit (SIGTERM): it exits cleanly, libvirt says shutdown.
        mark = sub.mark()
        os.kill(pid, signal.SIGTERM)
        _, ev = sub.wait_line(
            lambda o: o.get("kind") == "event" and o.get("type") in ("EVENT_STOPPED", "EVENT_CRASHED")
            and o.get("domain", {}).get("name") == name, 30, "%s stopped" % name, mark)
        check(ev.get("stop_reason") == "STOP_SHUTDOWN",
              "QEMU sent SIGTERM: %s, %s (hostd-shim(8) says STOP_SHUTDOWN)"
              % (ev["type"], ev.get("stop_reason")))
        no_qemu(name)
        power_on_timed(shim, sub, name, xml_path, "after the SIGTERM")
        lv.record_guest(name)
        one_qemu(name)

        # libvirtd restarts under the shim; the guest keeps running.
        mark = sub.mark()
        check(lv.stop() is not None, "libvirtd stopped (SIGTERM)")
        sub.wait_event("EVENT_DISCONNECTED", timeout=30, start=mark)
        check(True, "event: disconnected")
        r = shim.call("list")
        check(r["result"] == "RESULT_DISCONNECTED", "a request while libvirtd is down: DISCONNECTED")
        check(len(guest_pids(name)) == 1, "the guest runs on without libvirtd")
        lv.start()
        sub.wait_event("EVENT_CONNECTED", timeout=40, start=mark)
        check(True, "event: connected again (backoff reconnect)")
        check(shim.state_of(name) == "DOMAIN_RUNNING", "after reconnect: %s reported running" % name)

        # A hung libvirtd (SIGSTOP): keepalive notices, the shim reports it.
        mark = sub.mark()
        t0 = time.monotonic()
        os.kill(lv.proc.pid, signal.SIGSTOP)
        try:
            sub.wait_event("EVENT_DISCONNECTED", timeout=30, start=mark)
            check(True, "hung libvirtd: disconnected after %.1f s (keepalive)"
                  % (time.monotonic() - t0))
        finally:
            os.kill(lv.proc.pid, signal.SIGCONT)
        sub.wait_event("EVENT_CONNECTED", timeout=40, start=mark)
        check(shim.state_of(name) == "DOMAIN_RUNNING", "resumed libvirtd: reconnected, running")

        # The guest dies while libvirtd is down: reported as stopped after reconnect.
        mark = sub.mark()
        pid = lv.record_guest(name)
        lv.stop()
        sub.wait_event("EVENT_DISCONNECTED", timeout=30, start=mark)
        kill_pid(pid)
        no_qemu(name)
        lv.start()
        sub.wait_event("EVENT_CONNECTED", timeout=40, start=mark)
        _, ev = sub.wait_line(
            lambda o: o.get("kind") == "event" and o.get("type") in ("EVENT_STOPPED", "EVENT_CRASHED")
            and o.get("domain", {}).get("name") == name, 20, "%s stopped" % name, mark)
        check("stop_reason" in ev, "guest killed while libvirtd was down: %s after reconnect, %s"
              % (ev["type"], ev.get("stop_reason")))
        check(shim.state_of(name) == "DOMAIN_SHUTOFF", "after reconnect: %s reported shut off" % name)
        stats = shim.stats()
        check(stats["libvirt_disconnects"] == 3 and stats["libvirt_connects"] == 4,
              "counted: 3 disconnects, 4 connects")
        check(stats["fence_late"] == 0, "nothing fenced late so far")

        # A deadline passes while libvirtd is down: fenced, late, once it is back.
        power_on_timed(shim, sub, name, xml_path, "third (with a 3 s deadline)",
                       "--deadline-in", "3000")
        lv.record_guest(name)
        mark = sub.mark()
        lv.stop()
        sub.wait_event("EVENT_DISCONNECTED", timeout=30, start=mark)
        deadline = max(d["boottime_ms"] for d in shim.call("get-deadlines")["deadlines"])
        wait_for(lambda: boottime_ms() > deadline + 500, 10, "the deadline to pass")
        check(len(guest_pids(name)) == 1, "deadline passed while libvirtd is down: guest runs")
        lv.start()
        sub.wait_event("EVENT_FENCED", name, timeout=40, start=mark)
        no_qemu(name)
        check(shim.stat("fence_late") == 1, "fenced as soon as libvirtd is back, counted late")
        shim.call("clean-stop")
        shim.call("fenced")

        r = shim.call("undefine", name)
        check(r["result"] == "RESULT_OK", "undefine")
    return cold, warm


def main():
    if os.geteuid() != 0:
        log("needs root to start libvirtd")
        return 77
    name = "shimtest-%d" % os.getpid()
    log("guest %s, %s" % (name, "KVM" if kvm_usable() else "TCG (no usable /dev/kvm)"))
    with Libvirtd("shim") as lv:
        try:
            lv.start()
        except LibvirtdError as e:
            log("libvirtd cannot start here: %s" % e)
            return 77
        xml_path = os.path.join(lv.dir, name + ".xml")
        with open(xml_path, "w") as f:
            f.write(guest_xml(name, str(uuid.uuid4())))
        with Shim(lv.uri) as shim:
            shim.start()
            cold, warm = run(lv, shim, name, xml_path)
            check(shim.stop() == 0, "shim: clean exit 0")
            if "ERROR: AddressSanitizer" in shim.log() or "runtime error" in shim.log():
                raise Failure("sanitizer report in the shim's log")
        log("measured: power-on through hostd-shim, request -> reply / -> running: "
            "cold %d / %d ms, warm %d / %d ms" % (cold + warm))
    check(not guest_pids(name), "cleanup: no QEMU left")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))   # run cleanups on SIGTERM
    run_main(main)
