#!/usr/bin/env bash
# The README's first command: on a fresh Debian 12 host, as root, install what fdm
# needs, build it, and start a demo cluster on this one machine: 4 agents and 4
# hostd-shims (libvirt test driver, 2 running test domains each), each host in its
# own network namespace, an NFS datastore (nfs-ganesha) and an iSCSI datastore
# (tgtd) on a storage network, each initialised once with `fdmctl datastore init`
# before the agents start (harness.py setup); then print `fdmctl status`.
#   tests/demo/demo.sh [start|stop|status]
# Everything lives under /var/tmp/fdm-demo; `stop` removes it all.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
state=/var/tmp/fdm-demo
export FDM_BUILD=$top/build

need_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "demo: run as root (sudo $0 $*): it installs packages and makes network namespaces" >&2
		exit 2
	fi
}

case "${1:-start}" in
start)
	need_root start
	.ci/install-deps
	make -j"$(nproc)"
	python3 tests/cluster/harness.py demo start
	echo
	build/fdmctl --socket $state/host-1/fdm.sock status
	echo
	echo "libvirt domains of host-1 (test driver), listed through its hostd-shim:"
	build/hostd-shim-cli --socket $state/host-1/hostd.sock list | python3 -c '
import json, sys
for d in json.load(sys.stdin)["domains"]:
    print("  %-12s %-14s %s  %d MiB" % (d["name"], d["state"], d["uuid"], d["memory_kib"] // 1024))'
	cat <<EOT

The demo cluster runs. Try:
  $top/build/fdmctl --socket $state/host-2/fdm.sock status
  $top/build/fdmctl --socket $state/host-1/fdm.sock election
  $top/build/fdmctl --socket $state/host-4/fdm.sock events
  ip netns exec fdmdemo-h1 $top/build/fdm-inspect --key $state/authkey \\
      \$(sed -n 's/^nfs1 = //p' $state/host-1/fdm.conf)      # the NFS datastore, read directly
  $top/build/fdmctl --socket $state/host-1/fdm.sock protect host-2-vm1 --datastore nfs1
  $top/build/fdmctl --socket $state/host-1/fdm.sock vms          # protected, runs on host-2
  kill -9 \$(python3 $top/tests/cluster/harness.py demo pid host-2)   # host-2's agent...
  kill -9 \$(python3 $top/tests/cluster/harness.py demo shimpid host-2)  # ...and its shim: its VMs die;
                                                     # host-2-vm1 runs elsewhere after host_dead
  kill -9 \$(python3 $top/tests/cluster/harness.py demo pid host-4)   # the master: watch the others re-elect
  tail -f $state/host-*/fdm.log
  $0 stop
EOT
	;;
stop)
	need_root stop
	python3 tests/cluster/harness.py demo stop
	;;
status)
	python3 tests/cluster/harness.py demo status
	;;
*)
	echo "usage: $0 [start|stop|status]" >&2
	exit 2
	;;
esac
