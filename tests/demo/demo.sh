#!/usr/bin/env bash
# The README's first command: on a fresh Debian 12 host, as root, install what fdm
# needs, build it, and start a demo cluster on this one machine (4 agents, each in
# its own network namespace on one bridge), then print `fdmctl status`.
#   tests/demo/demo.sh [start|stop|status]
# Everything lives under /run/fdm-demo; `stop` removes it all.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
state=/run/fdm-demo
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
	cat <<EOT

The demo cluster runs. Try:
  $top/build/fdmctl --socket $state/host-2/fdm.sock status
  $top/build/fdmctl --socket $state/host-1/fdm.sock election
  $top/build/fdmctl --socket $state/host-4/fdm.sock events
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
