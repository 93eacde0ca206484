#!/bin/sh
# The CI batch of `make sim`: every mode that HA part 1 must survive, 2,100
# schedules in all, in two processes (this machine has 2 cores). Fails if any
# schedule breaks an invariant; each failure prints its seed and shortest trace.
set -u
sim=${1:-build/fdm-sim}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run() {  # name, then mode:seeds ...
	name=$1; shift
	rc=0
	for ms in "$@"; do
		"$sim" --mode "${ms%%:*}" --seeds "${ms##*:}" --first 1 || rc=1
	done >"$out/$name" 2>&1
	echo $rc >"$out/$name.rc"
}

run a chaos:600 lossy:300 blip:150 &
pa=$!
run b stormy:450 crash:200 race:150 handover:150 lateio:100 &
pb=$!
wait $pa $pb
cat "$out/a" "$out/b" | grep -v '^ ' | grep -v '^[+-]' || true
if [ "$(cat "$out/a.rc")" != 0 ] || [ "$(cat "$out/b.rc")" != 0 ]; then
	cat "$out/a" "$out/b"
	echo "sim: FAILED"
	exit 1
fi
echo "sim: 2100 schedules, every invariant held"
