#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/ (checked in; run again after changing
proto/fdm.proto's wire messages): signed datagrams for fuzz_wire, packet
sequences for fuzz_core, config files for fuzz_config, framed requests for
fuzz_shim_request. Python stdlib only: the
protobuf encoding is done by hand, field by field."""
import hashlib
import hmac
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = b"\x5a" * 32


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def field(num, value):
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint(num << 3 | 2) + varint(len(value)) + value


def packet(sender, seq, body_field, body, ack=1):
    # Timing (1000 ms, 2000 ms) as fuzz_core's; the ack names fuzz_core's first
    # datagram (incarnation 77, seq `ack`), so the core takes the packet in.
    return (field(1, "fuzz") + field(2, sender) + field(3, 77) + field(4, seq)
            + field(5, 1000) + field(6, 2000) + field(7, echo(77, ack))
            + field(body_field, body))


def bid(term, ds):
    return field(1, term) + field(2, ds)


def echo(inc, seq):
    return field(1, inc) + field(2, seq)


def master_hb(term, ds, hosts):
    out = field(1, term) + field(2, ds) + field(3, echo(77, 1)) + field(7, 99)  # sent -50 ms
    for h, state in hosts:
        out += field(5, field(1, h) + field(2, state) + field(4, 100) + field(5, "ds1"))
    return out


def slave_hb(master, term):
    return field(1, master) + field(2, term) + field(3, echo(77, 3)) + field(4, "ds1")


def slave_hb_vms(master, term):
    """With the VM report: running VMs (one name over 63 bytes), memory, a stop,
    an order result, listed."""
    out = slave_hb(master, term) + field(5, "db1") + field(5, "web-2") + field(5, "x" * 64)
    out += field(6, 4096) + field(7, 8192)
    out += field(8, field(1, "db3") + field(2, 1) + field(3, 5))
    out += field(9, field(1, "db4") + field(2, 2) + field(3, 0) + field(4, "no memory"))
    return out + field(10, 1)


def master_hb_orders(term, ds):
    """With power-on orders (one for a datastore the receiver lacks) and a stop ack."""
    out = master_hb(term, ds, [("host-2", "connected"), ("host-9", "master")])
    out += field(8, field(1, "db1") + field(2, "ds1") + field(3, 3))
    out += field(8, field(1, "db2") + field(2, "ds7") + field(3, 0))
    return out + field(9, 5)


def forward(req_id, request):
    return field(1, req_id) + field(2, request)


def forward_reply(req_id, ok, message):
    return field(1, req_id) + field(2, 1 if ok else 0) + field(3, message)


def define_request(req_id, vm):
    return field(1, req_id) + field(2, vm)


def define_reply(req_id, vm, xml):
    """Found, with a domain XML, its first disk's datastore, and runs set."""
    return (field(1, req_id) + field(2, vm) + field(3, 1)
            + field(5, "6f1c2b3a-0000-4000-8000-000000000001") + field(6, 1048576)
            + field(7, 2) + field(8, "ds1") + field(9, xml) + field(10, 1))


def signed(p):
    frame = b"FDM1" + struct.pack(">I", len(p)) + p
    return frame + hmac.new(KEY, frame, hashlib.sha256).digest()


def write(kind, name, data):
    d = os.path.join(HERE, "corpus", kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    pkts = {
        "bid": packet("host-9", 1, 10, bid(0, 2)),
        "master_hb": packet("host-9", 2, 11, master_hb(1, 2, [("host-1", "connected"),
                                                              ("host-2", "connected"),
                                                              ("host-9", "master")])),
        "slave_hb": packet("host-1", 3, 12, slave_hb("host-2", 1)),
        "step_down": packet("host-9", 4, 13, field(1, 2) + field(2, "operator")),
        "leaving": packet("host-10", 5, 14, field(1, "stop")),
        "slave_hb_vms": packet("host-1", 6, 12, slave_hb_vms("host-2", 1)),
        "master_hb_orders": packet("host-9", 7, 11, master_hb_orders(1, 2)),
        # Operators' requests between hosts (fdm/ha_net.c, fdm/core/forward.c).
        "forward": packet("host-1", 8, 15, forward(
            3, '{"command":"protect","vm":"db1","priority":"high","datastore":"ds1"}')),
        "forward_reply": packet("host-9", 9, 16, forward_reply(3, False, "db1 runs on no "
                                                               "connected host")),
        "define_request": packet("host-9", 10, 17, define_request(1 << 62, "db1")),
        "define_reply": packet("host-1", 11, 18, define_reply(
            1 << 62, "db1", "<domain type='kvm'><name>db1</name><devices><disk><source "
            "file='/srv/ds1/db1.qcow2'/></disk></devices></domain>")),
    }
    for name, p in pkts.items():
        write("wire", name, signed(p))
        write("wire", "raw_" + name, p)     # fuzz_wire also signs its input as a body
    senders = {"bid": 2, "master_hb": 2, "slave_hb": 0, "step_down": 2, "leaving": 3,
               "slave_hb_vms": 0, "master_hb_orders": 2, "forward": 0, "forward_reply": 2,
               "define_request": 2, "define_reply": 0}
    seq = b""
    recs = {}
    for name, p in pkts.items():
        rec = bytes([senders[name]]) + struct.pack(">H", len(p)) + p
        recs[name] = rec
        write("core", name, rec)
        seq += rec
    # Storage completions (kind >= 0x80): a free lease read, an hb write, a write.
    storage = b""
    for kind, payload in ((0x82, bytes([0]) + b"\0" * 13), (0x80, b"\0" * 14),
                          (0x84, b"\0" * 14), (0x82, bytes([1]) + b"host-2\0" + bytes(7))):
        storage += bytes([kind]) + struct.pack(">H", len(payload)) + payload
    write("core", "storage", storage)
    write("core", "sequence", seq + storage)
    # VM reports: host-2 wins its election alone (hb writes as ticks, 137 ms
    # each), then takes host-1's report as its master; then host-9, reaching
    # more datastores, makes it a slave and sends it orders.
    ticks = (bytes([0x80]) + struct.pack(">H", 14) + b"\0" * 14) * 12
    write("core", "ha_reports", ticks + recs["slave_hb_vms"] + recs["master_hb_orders"])
    ref = field(1, "vm1")
    reqs = {
        "list": field(1, 1) + field(10, b""),
        "power_off": field(1, 2) + field(12, field(1, ref)),
        "set_deadlines": field(1, 3) + field(17, field(1, field(1, ref) + field(2, 123456))
                                             + field(1, field(1, field(2, "0f6a2b3c-0000-4000-8000-000000000001"))
                                                     + field(2, 99))),
        "shutdown": field(1, 4) + field(13, field(1, ref) + field(2, 1500)),
    }
    stream = b""
    for name, r in reqs.items():
        frame = struct.pack(">I", len(r)) + r
        write("shim_request", name, frame)
        stream += frame
    write("shim_request", "pipelined", stream)
    with open(os.path.join(HERE, "..", "..", "packaging", "fdm.conf.example"), "rb") as f:
        example = f.read()
    write("config", "example", example.replace(b"/etc/fdm/authkey", b"/dev/null"))
    write("config", "minimal", b"[cluster]\nid = c\nkey_file = /dev/zero\n[host]\nid = h\n"
                               b"address = 127.0.0.1\n[peers]\nh = 127.0.0.1\n")
    # What the value and line checks look at: every URL form, peers sharing an
    # endpoint, a header without its ], NUL bytes, a long socket path.
    write("config", "datastores", b"[datastores]\na = nfs://10.0.0.5/export/a\n"
                                  b"b = nfs://[fd00::5]/x\nc = nfs://nas-1.example/x/y\n"
                                  b"d = iscsi://10.0.0.6:3260/iqn.2026-01.lan.example:d/1\n"
                                  b"e = iscsi://[fd00::6]:3260/eui.0123/0\nf = file:///srv/f\n"
                                  b"g = nfs://10.0.0.5:2049/x\n")
    write("config", "peers", b"[peers]\nh1 = 10.0.0.1\nh2 = [fd00::1]:9000\nh3 = 10.0.0.1:8182\n"
                             b"h4 = 0.0.0.0\n[host]\naddress = ::\n")
    write("config", "header", b"[cluster\nid = c\n[control]\nsocket = /" + b"s" * 120 + b"\n")
    write("config", "nul", b"[cluster]\nid = c\x00d\n\x00\x00\n")


if __name__ == "__main__":
    main()
