#!/usr/bin/env bash
# `fdmctl metrics` and [metrics] textfile (fdmctl(8), fdm.conf(5)): the text
# passes `promtool check metrics` (Debian's prometheus package); the agent
# writes the same to the textfile every 5 s, replacing it by rename (a new inode
# each time, never a half-written file); a write that fails is logged once and
# the agent runs on; the config refuses a textfile path that cannot work.
# One agent on 127.0.0.1 with a file:// datastore; every wait bounded.
set -u
B=${FDM_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
T=$(mktemp -d /tmp/fdm-metrics-XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

"$B/fdmctl" keygen "$T/key" >/dev/null
mkdir "$T/ds" "$T/prom"
# host-2 never runs: the isolation address (loopback answers) tells host-1 it is
# not isolated, else it would take no lease until host-2's hb record had been
# unchanged for host_dead (DESIGN.md point 4).
conf() {   # conf TEXTFILE
	cat <<EOC
[cluster]
id = metrics
key_file = $T/key
[host]
id = host-1
address = 127.0.0.1
port = 18998
[peers]
host-1 = 127.0.0.1:18998
host-2 = 127.0.0.2:18998
[datastores]
ds1 = file://$T/ds
[isolation]
addresses = 127.0.0.1
[timing]
heartbeat_interval_ms = 1000
io_timeout_ms = 2000
[control]
socket = $T/fdm.sock
[metrics]
textfile = $1
[watchdog]
device = none
EOC
}

# Config errors: file, line and key, exit 2, before anything starts.
refused() {   # refused NAME TEXTFILE REGEX
	local out rc
	conf "$2" > "$T/bad.conf"
	out=$(timeout 5 "$B/fdm" --config "$T/bad.conf" 2>&1); rc=$?
	if [ "$rc" = 2 ] && grep -Eq -- "$3" <<<"$out"; then ok "$1: $out"; else bad "$1: exit $rc: $out"; fi
}
refused "textfile relative" "fdm.prom" "^fdm: $T/bad.conf:21: textfile: must be an absolute path"
refused "textfile a directory" "$T/prom" "^fdm: $T/bad.conf:21: textfile: $T/prom exists and is not a regular file"
refused "textfile in no directory" "$T/nodir/fdm.prom" "^fdm: $T/bad.conf:21: textfile: cannot write the file in $T/nodir: no such directory"

if command -v promtool >/dev/null; then
	promcheck() { promtool check metrics < "$1" > "$T/promtool.out" 2>&1; }
else
	# .ci/install-deps installs it; a developer's machine may not have it.
	[ "${CI:-}" = true ] && { bad "promtool missing (Debian package prometheus)"; }
	echo "promtool not installed (apt-get install prometheus): the format check is skipped"
	promcheck() { return 0; }
fi

conf "$T/prom/fdm.prom" > "$T/c.conf"
"$B/fdmctl" datastore init "file://$T/ds" --config "$T/c.conf" >/dev/null ||
	bad "datastore init failed"
"$B/fdm" --config "$T/c.conf" 2>"$T/agent.log" &
pid=$!
for _ in $(seq 50); do [ -S "$T/fdm.sock" ] && break; sleep 0.1; done
# Until it is master and holds the lease, so that every family has samples.
for _ in $(seq 100); do
	timeout 5 "$B/fdmctl" --socket "$T/fdm.sock" metrics > "$T/m.txt" 2>&1
	grep -q '^fdm_lease_state{datastore="ds1",state="held"} 1$' "$T/m.txt" && break
	sleep 0.1
done
if grep -q '^fdm_role{role="master"} 1$' "$T/m.txt" && grep -q '^fdm_term [1-9]' "$T/m.txt" &&
   grep -q '^fdm_lease_renewal_latency_seconds{datastore="ds1"} ' "$T/m.txt" &&
   grep -q '^fdm_storage_io_duration_seconds_count{datastore="ds1"} [1-9]' "$T/m.txt" &&
   grep -q '^fdm_hosts{state="unreachable"} 1$' "$T/m.txt" &&
   grep -q '^fdm_dropped_packets_total{reason="bad_mac"} 0$' "$T/m.txt" &&
   grep -q '^fdm_events_total{event="lease-acquired"} 1$' "$T/m.txt"; then
	ok "fdmctl metrics: master, term, lease, storage latency, hosts, drops, events ($(wc -l < "$T/m.txt") lines)"
else
	bad "fdmctl metrics:"; cat "$T/m.txt"
fi
if promcheck "$T/m.txt"; then ok "promtool check metrics: fdmctl metrics passes"
else bad "promtool check metrics: $(cat "$T/promtool.out")"; fi
out=$(timeout 5 "$B/fdmctl" --socket "$T/fdm.sock" metrics extra 2>&1); rc=$?
[ "$rc" = 2 ] && ok "fdmctl metrics extra: exit 2: $out" || bad "fdmctl metrics extra: exit $rc: $out"

# The textfile: there within one period, the same series as fdmctl metrics.
series() { grep -v '^#' "$1" | sed 's/ [^ ]*$//' | sort; }
for _ in $(seq 80); do [ -s "$T/prom/fdm.prom" ] && break; sleep 0.1; done
if [ -s "$T/prom/fdm.prom" ] && promcheck "$T/prom/fdm.prom"; then
	ok "textfile written, passes promtool"
else
	bad "textfile: $(ls -la "$T/prom") $(cat "$T/promtool.out" 2>/dev/null)"
fi
timeout 5 "$B/fdmctl" --socket "$T/fdm.sock" metrics > "$T/m2.txt"
if diff <(series "$T/m2.txt" | grep -v fdm_events_total) \
	<(series "$T/prom/fdm.prom" | grep -v fdm_events_total) > "$T/diff.out"; then
	ok "textfile has the series of fdmctl metrics (values are of their own time)"
else
	bad "textfile series differ from fdmctl metrics: $(cat "$T/diff.out")"
fi
# Replaced by rename: a new inode at the next write, no .tmp left behind.
ino=$(stat -c %i "$T/prom/fdm.prom")
for _ in $(seq 80); do [ "$(stat -c %i "$T/prom/fdm.prom")" != "$ino" ] && break; sleep 0.1; done
if [ "$(stat -c %i "$T/prom/fdm.prom")" != "$ino" ] && [ ! -e "$T/prom/fdm.prom.tmp" ]; then
	ok "textfile replaced atomically (inode $ino -> $(stat -c %i "$T/prom/fdm.prom"))"
else
	bad "textfile not replaced within 8 s: $(ls -lai "$T/prom")"
fi

# A path that cannot be written: logged once, the agent answers on.
rm "$T/prom/fdm.prom"; mkdir "$T/prom/fdm.prom"
sleep 11
n=$(grep -c "metrics textfile not written" "$T/agent.log")
if [ "$n" = 1 ] && grep -q "exists and is not a regular file" "$T/agent.log" &&
   timeout 5 "$B/fdmctl" --socket "$T/fdm.sock" status >/dev/null; then
	ok "textfile failing for 2 periods: logged once, the agent runs"
else
	bad "textfile failure logged $n times: $(grep textfile "$T/agent.log")"
fi
rmdir "$T/prom/fdm.prom"
# The outcome of a write is read when the next is due: up to two periods.
for _ in $(seq 120); do grep -q "written again" "$T/agent.log" && break; sleep 0.1; done
[ -f "$T/prom/fdm.prom" ] && grep -q "metrics textfile .* written again" "$T/agent.log" &&
	ok "textfile written again, and said so" || bad "textfile not written again: $(grep textfile "$T/agent.log")"

kill -TERM "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && { bad "SIGTERM: still running after 5 s"; kill -KILL "$pid"; }
wait "$pid"; rc=$?; pid=
[ "$rc" = 0 ] && ok "SIGTERM: exit 0" || { bad "SIGTERM: exit $rc"; cat "$T/agent.log"; }
echo "metrics: $fails failure(s)"
[ "$fails" = 0 ]
