#!/bin/sh
# The CI batch of `make sim`: every mode, 3,100 schedules in all
# (mds with 4 and with 6 hosts), in two processes (this machine has 2 cores).
# Fails if any schedule breaks an invariant; each failure prints its seed and
# shortest trace.
set -u
sim=${1:-build/fdm-sim}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run() {  # name, then mode:seeds[:hosts:vms] ...
	name=$1; shift
	rc=0
	for spec in "$@"; do
		mode=${spec%%:*}; rest=${spec#*:}
		seeds=${rest%%:*}; hosts=4; vms=8
		if [ "$rest" != "$seeds" ]; then
			rest=${rest#*:}; hosts=${rest%%:*}; vms=${rest#*:}
		fi
		"$sim" --mode "$mode" --seeds "$seeds" --first 1 --hosts "$hosts" --vms "$vms" || rc=1
	done >"$out/$name" 2>&1
	echo $rc >"$out/$name.rc"
}

run a chaos:500 lossy:300 blip:150 mds:150 mds:50:6:16 fencing:300 isoslave:150 &
pa=$!
run b stormy:400 crash:200 race:150 handover:150 lateio:100 stale:150 netout:100 isomaster:100 \
	cutkill:150 &
pb=$!
wait $pa $pb
cat "$out/a" "$out/b" | grep -v '^ ' | grep -v '^[+-]' || true
if [ "$(cat "$out/a.rc")" != 0 ] || [ "$(cat "$out/b.rc")" != 0 ]; then
	cat "$out/a" "$out/b"
	echo "sim: FAILED"
	exit 1
fi
echo "sim: 3100 schedules, every invariant held"
