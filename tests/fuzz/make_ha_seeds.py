#!/usr/bin/env python3
"""Writes the seed corpora of the VM protection side's fuzz targets (checked in;
run again after changing proto/fdm.proto or a target's input format):
control (one client's bytes on the control socket), vmrecords (VM list and
poweron records on a datastore), shim_client (the shim's byte stream to the
agent), forward (operators' requests between agents). Python stdlib only; the
protobuf encoding is done by hand, as in make_seeds.py."""
import json
import os
import struct

from make_seeds import (define_reply, field, forward, forward_reply, master_hb, packet,
                        slave_hb, slave_hb_vms)

HERE = os.path.dirname(os.path.abspath(__file__))


def write(kind, name, data):
    d = os.path.join(HERE, "corpus", kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def line(obj):
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def control():
    """fuzz_control: what fdmctl writes, and what it never would."""
    seeds = {
        "status": line({"command": "status"}),
        "events": line({"command": "events", "since_ms": 123456}),
        "election": line({"command": "election-force"}),
        # "db1": answered later; "a...": answered inside the handler.
        "protect": line({"command": "protect", "vm": "db1", "priority": "high",
                         "datastore": "ds1"}),
        "protect_now": line({"command": "protect", "vm": "app-3", "priority": "disabled"}),
        "unprotect": line({"command": "unprotect", "vm": "web-2", "datastore": "nfs-a"}),
        "maintenance": line({"command": "maintenance", "action": "enter"}),
        "maintenance_host": line({"command": "maintenance", "action": "exit",
                                  "host": "host-9"}),
        "long_name": line({"command": "protect", "vm": "v" * 63}),
        "too_long_name": line({"command": "protect", "vm": "v" * 64}),
        "escapes": b'{"command":"protect","vm":"d\\u00e9\\u0000x","priority":"low"}\n',
        "not_object": b'["command","status"]\n',
        "no_newline": b'{"command":"status"}',
        "two_lines": line({"command": "status"}) + line({"command": "protect", "vm": "db1"}),
        "numbers": b'{"command":"events","since_ms":1e400}\n',
        "nested": b'{"command":"protect","vm":{"a":[1,2,{"b":null}]}}\n',
        "nul": b'{"command":"status"}\x00garbage\n',
        "empty_line": b"\n",
        "unknown": line({"command": "reboot-everything"}),
    }
    for name, data in seeds.items():
        write("control", name, data)
    # Over FDM_CONTROL_REQUEST_MAX on one line: refused, the rest drained.
    write("control", "oversized", b'{"command":"status","pad":"' + b"x" * 66000 + b'"}\n')


# ------------------------------------------------------------ vmrecords

def rec(kind, payload, steps=0):
    """One record of fuzz_vmrecords' input: kind % 4 says what payload is,
    kind >> 2 how many more 137 ms steps the core takes after it."""
    return bytes([kind | steps << 2]) + struct.pack(">H", len(payload)) + payload


def pvm(name, priority=None, restarts=None, memory=None, stopped=None, uuid=None,
        xml=True, vcpus=None):
    out = field(1, name)
    if uuid:
        out += field(2, uuid)
    if xml:
        out += field(3, "<domain type='kvm'><name>%s</name></domain>" % name)
    if priority is not None:
        out += field(4, priority)
    if restarts is not None:
        out += field(5, restarts)
    if memory is not None:
        out += field(6, memory)
    if vcpus is not None:
        out += field(7, vcpus)
    if stopped is not None:
        out += field(8, 1 if stopped else 0)
    return out


def vmlist(generation, vms, maintenance=(), written=1795980894068):
    out = field(1, generation)
    for v in vms:
        out += field(2, v)
    out += field(3, written)
    for h in maintenance:
        out += field(4, h)
    return out


def poweron(host, vms=(), seen=(), generation=1, stopped=None, isolated=None, counter=5):
    out = field(1, host)
    if isolated is not None:
        out += field(2, 1 if isolated else 0)
    if stopped is not None:
        out += field(3, 1 if stopped else 0)
    for v in vms:
        out += field(4, v)
    out += field(5, generation)
    for name, count in seen:
        out += field(6, field(1, name) + field(2, count))
    return out + field(8, counter)


def identity(cluster, uuid=bytes(range(16)), version=1):
    return (field(1, cluster) + field(2, uuid) + field(3, 1795980894068) + field(4, version)
            + field(5, "fdmctl datastore init"))


HOST = {"host-1": 0, "host-2": 1, "host-9": 2, "host-10": 3}


def po_rec(writer, body, steps=0):
    return rec(1, bytes([HOST[writer]]) + body, steps)


def vmrecords():
    uuid = "6f1c2b3a-0000-4000-8000-000000000001"
    three = vmlist(1, [pvm("db1", 4, 0, 1048576, uuid=uuid, vcpus=2),
                       pvm("web-2", 3, 1, 524288), pvm("batch", 1, 0, 262144, stopped=True)],
                   maintenance=["host-10"])
    seeds = {
        "list": rec(0, three, 4),
        # host-1 runs db1, host-9 runs web-2: the master sees them placed.
        "placed": rec(0, three, 2) + rec(2, bytes([0])) + rec(2, bytes([2]))
        + po_rec("host-1", poweron("host-1", ["db1"], [("db1", 0)]), 3)
        + po_rec("host-9", poweron("host-9", ["web-2"], [("web-2", 1)]), 3),
        # Then host-1's record no longer lists db1, and it stopped cleanly.
        "gone": rec(0, three, 2) + po_rec("host-1", poweron("host-1", ["db1"]), 4)
        + po_rec("host-1", poweron("host-1", [], stopped=True, counter=6), 8),
        # A record that names another host than its file's; an isolated host.
        "wrong_host": rec(0, three) + po_rec("host-9", poweron("host-1", ["db1"]), 4)
        + po_rec("host-10", poweron("host-10", ["batch"], isolated=True), 4),
        # Written under an older and a newer lease generation.
        "generations": rec(0, vmlist(0, [pvm("db1", 4)]), 3) + rec(0, vmlist(7, [pvm("db1")]), 3),
        # Names empty, over 63 bytes, a uuid too long, a VM without XML,
        # maintenance hosts not configured, an unknown priority.
        "odd_names": rec(0, vmlist(1, [pvm(""), pvm("x" * 64), pvm("y" * 63, uuid="u" * 40),
                                       pvm("noxml", xml=False), pvm("p9", 9)],
                                   maintenance=["host-77", "", "host-9"]), 4)
        + po_rec("host-1", poweron("host-1", ["", "z" * 70, "y" * 63],
                                   [("", 3), ("y" * 63, 2 ** 32 - 1)]), 4),
        # More VMs than the core keeps (FDM_MAX_VMS), in one list and one record.
        "many": rec(0, vmlist(1, [pvm("vm%d" % i, xml=False) for i in range(4000)]), 2)
        + po_rec("host-9", poweron("host-9", ["vm%d" % i for i in range(2000)]), 2),
        # Torn and foreign bytes in the slots: payload[0] picks the record
        # (bit 0: poweron, bits 1-2: host), payload[1] the slot.
        "raw": rec(0, three, 1) + rec(3, bytes([0, 1]) + b"FDMR" + b"\xff" * 60, 2)
        + rec(3, bytes([1, 0]) + b"\0" * 100, 2) + rec(3, bytes([5, 1]) + b"garbage", 2),
        "quiet": rec(2, bytes([1]), 15),
        # The identity record replaced (signed): another cluster's, a uuid of
        # the wrong length, another format, then a good one again.
        "identity": rec(0, three) + rec(3, bytes([8, 0]) + identity("other"), 2)
        + rec(3, bytes([8, 0]) + identity("fuzz", uuid=bytes(5)), 2)
        + rec(3, bytes([8, 0]) + identity("fuzz", version=2), 2)
        + rec(3, bytes([8, 0]) + identity("fuzz"), 4),
    }
    for name, data in seeds.items():
        write("vmrecords", name, data)


# ------------------------------------------------------------ shim_client

def frame(body):
    return struct.pack(">I", len(body)) + body


def dom(name, uuid, state, memory=None, vcpus=None, reason=None):
    out = field(1, name) + field(2, uuid) + field(3, state)
    if memory is not None:
        out += field(4, memory)
    if vcpus is not None:
        out += field(5, vcpus)
    out += field(6, 1)
    if reason is not None:
        out += field(7, reason)
    return out


def reply(rid, result, message=None, domains=(), domain=None, resources=None, xml=None):
    out = field(1, rid) + field(2, result)
    if message is not None:
        out += field(3, message)
    for d in domains:
        out += field(4, d)
    if domain is not None:
        out += field(5, domain)
    if resources is not None:
        out += field(6, resources)
    out += field(11, 123456789)
    if xml is not None:
        out += field(12, xml)
    return frame(field(1, out))


def event(etype, domain=None, detail=None, reason=None):
    out = field(1, etype)
    if domain is not None:
        out += field(2, domain)
    if detail is not None:
        out += field(3, detail)
    if reason is not None:
        out += field(4, reason)
    return frame(field(2, out))


def shim_client():
    """fuzz_shim_client: the ids are the client's: 1 subscribe, 2 list,
    3 resources, then the target's 4 power-on, 5 power-off, 6 get-xml; an
    event makes the client list again (7, 8, ...)."""
    u1 = "6f1c2b3a-0000-4000-8000-000000000001"
    u2 = "6f1c2b3a-0000-4000-8000-000000000002"
    db1 = dom("db1", u1, 1, 1048576, 2)
    web = dom("web-2", u2, 5, 524288, 1, reason=3)
    res = field(1, 16777216) + field(2, 8388608) + field(3, 8) + field(4, 4194304) + field(5, 2)
    xml = "<domain type='kvm'><name>db1</name><devices><disk><source file='/srv/ds1/db1.qcow2'/></disk></devices></domain>"
    seeds = {
        "replies": reply(1, 0) + reply(2, 0, domains=[db1, web]) + reply(3, 0, resources=res)
        + reply(4, 0, domain=db1) + reply(5, 1, "domain not running") + reply(6, 0, domain=db1, xml=xml),
        "events": reply(2, 0, domains=[db1]) + event(1, dom("db1", u1, 5), "destroyed", 2)
        + event(2, dom("web-2", u2, 5), "crashed", 3) + event(6) + event(7)
        + event(0, dom("db1", u1, 1)) + reply(7, 0, domains=[db1, web]) + reply(8, 0, resources=res),
        # A second listing where db1 is gone and web-2 is off: stops learnt from it.
        "relist": reply(2, 0, domains=[db1]) + event(4, dom("x", u2, 5)) + reply(7, 0, domains=[web]),
        "disconnected": reply(2, 4, "libvirt is not connected") + reply(3, 4)
        + reply(4, 7, "deadline passed") + reply(6, 2, "no such domain"),
        "unmatched": reply(99, 0) + reply(2, 0) + reply(2, 0) + frame(b"") + frame(b"\xff\xff"),
        "long_names": reply(2, 0, domains=[dom("n" * 300, u1, 1), dom("m", "u" * 40, 5),
                                           dom("", "", 6)])
        + event(1, dom("n" * 300, u1, 5), "d" * 100, 0),
        "oversized_frame": struct.pack(">I", 0x7FFFFFFF) + b"abc",
        "split": (reply(2, 0, domains=[db1, web]) + reply(3, 0, resources=res))[:-7],
    }
    for name, data in seeds.items():
        write("shim_client", name, data)


# ------------------------------------------------------------ forward

def fwd_rec(sender_index, p):
    return bytes([sender_index]) + struct.pack(">H", len(p)) + p


def local(obj):
    p = json.dumps(obj, separators=(",", ":")).encode()
    return bytes([0x80]) + struct.pack(">H", len(p)) + p


def ticks(n):
    """n steps of 137 ms (at most 64 per record)."""
    out = b""
    while n > 0:
        k = min(n, 64)
        out += bytes([0xC0 | (k - 1)]) + struct.pack(">H", 0)
        n -= k
    return out


def forward_seeds():
    """fuzz_forward: host-2 alone becomes master (ticks), or the slave of
    host-9 (its master heartbeat); peers' Forwards, ForwardReplies and
    DefineReplies, and local requests. Peer indices: host-1 0, host-9 2,
    host-10 3."""
    protect = '{"command":"protect","vm":"db1","priority":"high","datastore":"ds1"}'
    master = ticks(100)
    h1 = lambda seq, f, body: fwd_rec(0, packet("host-1", seq, f, body))
    seeds = {
        "master_forward": master + h1(1, 12, slave_hb("host-2", 1)) + ticks(3)
        + h1(2, 15, forward(7, protect)) + ticks(10) + h1(3, 15, forward(7, protect))
        + h1(4, 15, forward(8, '{"command":"maintenance","action":"enter"}')) + ticks(20),
        "bad_forwards": master + h1(1, 12, slave_hb("host-2", 1))
        + h1(2, 15, forward(1, "not json")) + h1(3, 15, forward(2, '["protect"]'))
        + h1(4, 15, forward(3, '{"command":"protect","vm":"' + "v" * 80 + '"}'))
        + h1(5, 15, forward(4, '{"command":"unprotect","vm":"db1","datastore":"nope"}'))
        + h1(6, 15, forward(4, protect)) + ticks(5),
        "slave_forward": ticks(3) + fwd_rec(2, packet("host-9", 1, 11, master_hb(
            1, 2, [("host-1", "connected"), ("host-2", "connected"), ("host-9", "master")])))
        + ticks(2) + local({"command": "protect", "vm": "db1", "priority": "low"})
        + local({"command": "maintenance", "action": "exit"}) + ticks(10)
        + fwd_rec(2, packet("host-9", 2, 16, forward_reply(1, True, "db1 protected\x07\n")))
        + fwd_rec(2, packet("host-9", 3, 16, forward_reply(1, True, "again"))) + ticks(40),
        "define": master + h1(1, 12, slave_hb_vms("host-2", 1)) + ticks(3)
        + local({"command": "protect", "vm": "db1", "datastore": "ds1"}) + ticks(5)
        + h1(2, 18, define_reply(1, "db1", "<domain type='kvm'><name>db1</name><devices>"
                                 "<disk><source file='/srv/ds1/db1.qcow2'/></disk></devices>"
                                 "</domain>")) + ticks(30),
    }
    for name, data in seeds.items():
        write("forward", name, data)


def main():
    control()
    vmrecords()
    shim_client()
    forward_seeds()


if __name__ == "__main__":
    main()
