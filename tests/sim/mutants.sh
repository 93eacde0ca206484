#!/bin/sh
# `make sim-mutants`: each mutant binary (the core with one rule removed) runs
# its batch, mode after mode, until a schedule breaks an invariant. A mutant
# that no batch catches fails the target: an invariant that does not bite.
set -u
dir=$1; shift
survived=0
batch() {  # the modes tried for one mutant, most likely first
	case $1 in
	NO_2IO_WAIT) echo "race:300 chaos:300 stormy:300" ;;
	RESTART_UNREACHABLE) echo "chaos:100 lossy:100 stormy:100" ;;
	DEAD_NOT_FROM_ACQUISITION) echo "handover:300 chaos:300" ;;
	STALE_PLACEMENT) echo "handover:300 chaos:300" ;;
	LATE_IO_OK) echo "lateio:100" ;;
	NO_FULL_HOUSE) echo "blip:100" ;;
	RELEASE_KEEPS_BOUND) echo "isomaster:50" ;;
	NO_STEP_DOWN) echo "mds:100" ;;
	SLAVE_NOW) echo "stale:200 stormy:300" ;;
	RECEIVE_TIME) echo "stale:200" ;;
	ASSUME_WRITE) echo "cutkill:200" ;;
	PING_WATCHDOG) echo "cutkill:200" ;;
	ISO_NO_LIVE_HOLDER) echo "netout:50" ;;
	*) echo "chaos:300" ;;
	esac
}
for m in "$@"; do
	caught=""
	for ms in $(batch "$m"); do
		line=$("$dir/fdm-sim-$m" --mode "${ms%%:*}" --seeds "${ms##*:}" --expect-violation \
			--quiet | grep '^VIOLATION' | head -1)
		if [ -n "$line" ]; then
			caught="$line"
			break
		fi
	done
	if [ -n "$caught" ]; then
		echo "mutant $m caught: $caught"
	else
		echo "mutant $m SURVIVED $(batch "$m")"
		survived=1
	fi
done
exit $survived
