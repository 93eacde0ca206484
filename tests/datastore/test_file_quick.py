#!/usr/bin/env python3
"""The quick part of the datastore system test: file:// only (no servers), so
that `make check` can run it against the sanitizer build: nothing is used
before `fdmctl datastore init`, init refuses another key, records round-trip,
the lease is contended, corruption is named, FIFOs in place of records are bad
records and never waited on."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_backends  # noqa: E402

if __name__ == "__main__":
    sys.exit(test_backends.main(backends=["file"],
                                file_names=("uninitialized", "refuse-foreign", "round-trip",
                                            "many-hosts", "contention", "corrupt-byte",
                                            "truncated", "other-key", "inspect-cli", "fifo")))
