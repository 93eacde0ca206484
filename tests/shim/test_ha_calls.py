#!/usr/bin/env python3
"""What HA protection asks of hostd-shim, against libvirt's test driver:
- get-xml: the persistent definition, which defines and starts the domain
  again after it was undefined (the round trip fdm makes through the
  protectedlist), by name and by UUID; NOT_FOUND for an unknown domain; an
  error reply when the definition does not fit in a frame;
- why a domain stopped, in the event (stop_reason) and in the listing:
  destroy (also the shim's own power-off at a deadline) is STOP_DESTROYED, a
  guest shutdown STOP_SHUTDOWN; a start clears it;
- host resources: total memory is the node file's <memory>, free is total
  less the running domains' memory, and follows power-on and power-off.
A crash needs libvirtd (test_crash.py); a killed QEMU is in test_qemu.py."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shimtest import Failure, Shim, check, log, node_xml, run_main  # noqa: E402

DOMS = [("vm-a", "55555555-2222-3333-4444-000000000001"),
        ("vm-b", "55555555-2222-3333-4444-000000000002"),
        ("vm-c", "55555555-2222-3333-4444-000000000003")]
NODE_MEMORY_KIB = 8388608        # node_xml's <memory>
DOM_MEMORY_KIB = 131072          # test_domain_xml's default


def test_get_xml(shim, sub):
    r = shim.call("get-xml", "vm-a")
    xml = r.get("xml", "")
    check(r["result"] == "RESULT_OK" and "<name>vm-a</name>" in xml and DOMS[0][1] in xml,
          "get-xml vm-a: its definition (%d bytes): %s" % (len(xml), r["message"]))
    check(r["domain"]["uuid"] == DOMS[0][1], "get-xml: the reply names the domain")
    r = shim.call("get-xml", DOMS[1][1])
    check(r["result"] == "RESULT_OK" and "<name>vm-b</name>" in r.get("xml", ""),
          "get-xml by UUID")
    # A definition that cannot travel in one frame: an error reply, not none.
    # (libvirt writes each '"' of the description as &quot;: 6 times longer.)
    big = os.path.join(shim.dir, "vm-big.xml")
    with open(big, "w") as f:
        f.write("<domain type='test'><name>vm-big</name><description>%s</description>"
                "<memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>"
                % ('"' * 200000))
    check(shim.call("poweron", big)["result"] == "RESULT_OK", "vm-big defined (200 KB request)")
    r = shim.call("get-xml", "vm-big", "--timeout", "5000")
    check(r["result"] == "RESULT_ERROR" and "1 MiB" in r["message"],
          "get-xml of a 1.2 MB definition: RESULT_ERROR (%s)" % r["message"])
    shim.call("poweroff", "vm-big")
    shim.call("undefine", "vm-big")
    r = shim.call("get-xml", "nosuch")
    check(r["result"] == "RESULT_NOT_FOUND" and "xml" not in r, "get-xml of an unknown domain: NOT_FOUND")

    # The round trip: off, undefined, gone; then defined and started from the XML.
    check(shim.call("poweroff", "vm-a")["result"] == "RESULT_OK", "vm-a powered off")
    check(shim.call("undefine", "vm-a")["result"] == "RESULT_OK", "vm-a undefined")
    check("vm-a" not in shim.domains(), "vm-a is gone")
    path = os.path.join(shim.dir, "vm-a-from-get-xml.xml")
    with open(path, "w") as f:
        f.write(xml)
    mark = sub.mark()
    r = shim.call("poweron", path)
    check(r["result"] == "RESULT_OK" and r["domain"]["state"] == "DOMAIN_RUNNING" and
          r["domain"]["uuid"] == DOMS[0][1] and r["domain"]["persistent"] is True,
          "power on from get-xml's XML: defined and running, same UUID")
    sub.wait_event("EVENT_STARTED", "vm-a", start=mark)
    a = shim.domains()["vm-a"]
    check("stop_reason" not in a, "a running domain has no stop reason")


def test_stop_reasons(shim, sub):
    mark = sub.mark()
    check(shim.call("poweroff", "vm-b")["result"] == "RESULT_OK", "poweroff vm-b (virsh destroy)")
    _, ev = sub.wait_event("EVENT_STOPPED", "vm-b", start=mark)
    check(ev.get("stop_reason") == "STOP_DESTROYED" and
          ev["domain"].get("stop_reason") == "STOP_DESTROYED",
          "event: vm-b stopped, STOP_DESTROYED (%s)" % ev.get("detail"))
    check(shim.domains()["vm-b"].get("stop_reason") == "STOP_DESTROYED",
          "list: vm-b STOP_DESTROYED")

    mark = sub.mark()
    check(shim.call("shutdown", "vm-c", 5000)["result"] == "RESULT_OK", "guest shutdown of vm-c")
    _, ev = sub.wait_event("EVENT_STOPPED", "vm-c", start=mark)
    check(ev.get("stop_reason") == "STOP_SHUTDOWN", "event: vm-c stopped, STOP_SHUTDOWN")
    check(shim.domains()["vm-c"].get("stop_reason") == "STOP_SHUTDOWN",
          "list: vm-c STOP_SHUTDOWN")

    # The shim's own power-off at a deadline: DESTROYED too (fdm knows its orders).
    path = os.path.join(shim.dir, "vm-c.xml")
    with open(path, "w") as f:
        f.write(shim.call("get-xml", "vm-c")["xml"])
    mark = sub.mark()
    r = shim.call("poweron", path, "--deadline-in", "1000")
    check(r["result"] == "RESULT_OK", "vm-c on again with a deadline 1 s away")
    _, ev = sub.wait_event("EVENT_FENCED", "vm-c", timeout=15, start=mark)
    check(ev.get("stop_reason") == "STOP_DESTROYED", "fenced at its deadline: STOP_DESTROYED")
    _, ev = sub.wait_event("EVENT_STOPPED", "vm-c", start=mark)
    check(ev.get("stop_reason") == "STOP_DESTROYED", "and its stopped event: STOP_DESTROYED")
    shim.call("clean-stop")
    shim.call("fenced")


def resources(shim):
    r = shim.call("resources")
    if r["result"] != "RESULT_OK":
        raise Failure("resources: %s" % r)
    return r["resources"]


def test_resources(shim):
    res = resources(shim)
    running = sum(1 for d in shim.domains().values() if d["state"] == "DOMAIN_RUNNING")
    check(res["total_memory_kib"] == NODE_MEMORY_KIB and res["cpus"] == 4,
          "resources: total memory and CPUs of the node file (%s)" % res)
    check(res["running_domains"] == running and
          res["running_memory_kib"] == running * DOM_MEMORY_KIB and
          res["free_memory_kib"] == NODE_MEMORY_KIB - running * DOM_MEMORY_KIB,
          "free = total - running domains' memory: %d running, free %d KiB"
          % (running, res["free_memory_kib"]))
    check("host_free_memory_kib" in res, "the kernel's figure beside it (test driver: %d)"
          % res["host_free_memory_kib"])
    shim.call("poweroff", "vm-a")
    after = resources(shim)
    check(after["free_memory_kib"] == res["free_memory_kib"] + DOM_MEMORY_KIB,
          "a power-off frees its memory: %d -> %d KiB" % (res["free_memory_kib"],
                                                          after["free_memory_kib"]))


def main():
    d = tempfile.mkdtemp(prefix="shim-ha-%d-" % os.getpid())
    node = os.path.join(d, "node.xml")
    with open(node, "w") as f:
        f.write(node_xml(DOMS))
    with Shim("test://" + node, d) as shim:
        shim.start()
        with shim.spawn_cli("subscribe") as sub:
            sub.wait_line(lambda o: o.get("kind") == "reply", 10, "subscribe reply")
            test_get_xml(shim, sub)
            test_stop_reasons(shim, sub)
        test_resources(shim)
        check(shim.stop() == 0, "SIGTERM: clean exit 0")
        if "ERROR: AddressSanitizer" in shim.log() or "runtime error" in shim.log():
            raise Failure("sanitizer report in the shim's log")
    log("done")
    return 0


if __name__ == "__main__":
    run_main(main)
