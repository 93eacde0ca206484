#!/usr/bin/env python3
"""Writes tests/fuzz/corpus/record/: datastore records framed as
datastore/record.h describes (cluster "fuzz", key 0x5a x 32), one per kind, plus
a torn and an empty one. Python stdlib only; protobuf encoded by hand."""
import hashlib
import hmac
import os
import struct

from make_seeds import field  # protobuf by hand, as for the other corpora

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = b"\x5a" * 32


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def frame(kind, gen, body, cluster=b"fuzz"):
    head = b"FDMR" + struct.pack(">HHII", 1, kind, len(body), 0) + struct.pack(">Q", gen)
    head += cluster.ljust(64, b"\0")
    data = head + body
    data += struct.pack(">I", crc32c(data))
    data += hmac.new(KEY, data, hashlib.sha256).digest()
    return data.ljust(4096, b"\0")


def main():
    out = os.path.join(HERE, "corpus", "record")
    os.makedirs(out, exist_ok=True)
    vm = field(1, "db1") + field(3, "<domain/>") + field(4, 4)
    seeds = {
        "lease": frame(1, 3, field(1, "host-1") + field(2, 7) + field(3, 2) + field(4, 99)),
        "vmlist": frame(2, 1, field(1, 7) + field(2, vm) + field(2, vm)),
        "hb": frame(3, 9, field(1, "host-1") + field(2, 41) + field(3, 5)),
        "poweron": frame(4, 2, field(1, "host-2") + field(2, 1) + field(4, "db1") +
                         field(6, field(1, "db1") + field(2, 3))),
        "layout": frame(5, 1, field(1, 1) + field(2, 128) + field(3, 1 << 20)),
        "claim": frame(6, 1, field(1, "host-3") + field(2, 12345)),
        "identity": frame(7, 1, field(1, "fuzz") + field(2, bytes(range(16))) +
                          field(3, 1795980894068) + field(4, 1) + field(5, "fdmctl")),
    }
    seeds["torn"] = seeds["hb"][:120] + b"\0" * (4096 - 120)
    seeds["empty"] = b"\0" * 4096
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
