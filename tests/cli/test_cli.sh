#!/usr/bin/env bash
# The programs' command-line contract (INTERFACE.md): exit 0/1/2, and one error
# line naming file, line and key for every kind of bad config file.
set -u
B=${FDM_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
T=$(mktemp -d /tmp/fdm-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0

check() {   # check NAME WANT_EXIT WANT_OUTPUT_REGEX -- CMD...
	local name=$1 want=$2 re=$3 out rc
	shift 4
	out=$("$@" 2>&1); rc=$?
	if [ "$rc" != "$want" ] || ! grep -Eq -- "$re" <<<"$out"; then
		echo "FAIL $name: exit $rc (want $want), output: $out"
		fails=$((fails + 1))
	else
		echo "ok   $name: exit $rc: $(head -n1 <<<"$out")"
	fi
}

"$B/fdmctl" keygen "$T/key" >/dev/null
good() {
	cat <<EOC
[cluster]
id = cli
key_file = $T/key
[host]
id = host-1
address = 127.0.0.1
port = 18999
[peers]
host-1 = 127.0.0.1:18999
host-2 = 127.0.0.2
[datastores]
ds1 = file://$T
[timing]
heartbeat_interval_ms = 1000
io_timeout_ms = 2000
[control]
socket = $T/fdm.sock
EOC
}
conf() { good | sed "$1" > "$T/c.conf"; }

conf 's/^id = cli$//'
check "missing key" 2 "^fdm: $T/c.conf:1: id: missing in \[cluster\]" -- "$B/fdm" --config "$T/c.conf"
conf 's/^io_timeout_ms = 2000/io_timeout_ms = fast/'
check "bad number" 2 "^fdm: $T/c.conf:15: io_timeout_ms: must be a whole number between 500 and 60000" -- "$B/fdm" --config "$T/c.conf"
conf 's/^\[control\]/[controll]/'
check "unknown section" 2 "^fdm: $T/c.conf:17: socket: unknown section \[controll\]" -- "$B/fdm" --config "$T/c.conf"
conf 's/^heartbeat_interval_ms = 1000/heartbeat_interval_ms = 4000/'
check "inconsistent timeouts" 2 "^fdm: $T/c.conf:14: timing: heartbeat_interval_ms too large" -- "$B/fdm" --config "$T/c.conf"
conf "s|^key_file = .*|key_file = $T/nokey|"
check "unreadable key file" 2 "^fdm: $T/c.conf:3: key_file: $T/nokey: cannot read key file" -- "$B/fdm" --config "$T/c.conf"
check "missing config file" 2 "^fdm: $T/none.conf: cannot open config file" -- "$B/fdm" --config "$T/none.conf"
check "bad option" 2 "usage: fdm" -- "$B/fdm" --bogus

conf 's/x/x/'
check "print timing" 0 "^host_dead_ms +14000" -- "$B/fdm" --config "$T/c.conf" --print-timing
SRC=${FDM_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
sed "s|/etc/fdm/authkey|$T/key|" "$SRC/packaging/fdm.conf.example" > "$T/example.conf"
check "example config is valid" 0 "^lease_expiry_ms +8000" -- "$B/fdm" --config "$T/example.conf" --print-timing
check "fdm version" 0 "^fdm [0-9]" -- "$B/fdm" --version

check "fdmctl no agent" 1 "^fdmctl: cannot reach the fdm agent at $T/fdm.sock: .*is fdm running" -- "$B/fdmctl" --config "$T/c.conf" status
check "fdmctl unknown command" 2 "unknown command" -- "$B/fdmctl" --socket "$T/fdm.sock" frobnicate
check "fdmctl no command" 2 "usage: fdmctl" -- "$B/fdmctl"
check "fdmctl bad config" 2 "^fdmctl: $T/none.conf: cannot open" -- "$B/fdmctl" --config "$T/none.conf" status
check "fdmctl bad duration" 2 "expected a duration" -- "$B/fdmctl" --socket "$T/fdm.sock" events --since soon
check "keygen refuses to overwrite" 1 "File exists" -- "$B/fdmctl" keygen "$T/key"
mode=$(stat -c %a "$T/key"); size=$(stat -c %s "$T/key")
if [ "$mode" = 600 ] && [ "$size" = 32 ]; then echo "ok   keygen: mode 600, 32 bytes"
else echo "FAIL keygen: mode $mode size $size"; fails=$((fails + 1)); fi

# A running agent: status answers, the socket is 0660, SIGTERM exits 0.
conf 's/x/x/'
"$B/fdm" --config "$T/c.conf" 2>"$T/agent.log" &
pid=$!
for _ in $(seq 50); do [ -S "$T/fdm.sock" ] && break; sleep 0.1; done
check "fdmctl status" 0 '"role"' -- "$B/fdmctl" --socket "$T/fdm.sock" --json status
check "fdmctl hosts" 0 '^\{' -- "$B/fdmctl" --config "$T/c.conf" --json hosts
sockmode=$(stat -c %a "$T/fdm.sock")
[ "$sockmode" = 660 ] && echo "ok   control socket mode 660" || { echo "FAIL socket mode $sockmode"; fails=$((fails + 1)); }
check "second agent refused" 1 "another fdm agent is running" -- "$B/fdm" --config "$T/c.conf"
reply=$(printf 'not json\n' | timeout 5 python3 -c '
import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read()); print(s.recv(4096).decode())' "$T/fdm.sock")
grep -q '"error"' <<<"$reply" && echo "ok   malformed control request answered: $reply" || { echo "FAIL malformed request: $reply"; fails=$((fails + 1)); }
kill -TERM "$pid"; wait "$pid"; rc=$?
[ "$rc" = 0 ] && echo "ok   SIGTERM: exit 0" || { echo "FAIL SIGTERM: exit $rc"; cat "$T/agent.log"; fails=$((fails + 1)); }
[ ! -e "$T/fdm.sock" ] && echo "ok   socket removed on exit" || { echo "FAIL socket left behind"; fails=$((fails + 1)); }

echo "cli: $fails failure(s)"
[ "$fails" = 0 ]
