#!/usr/bin/env bash
# The programs' command-line contract (INTERFACE.md): exit 0/1/2, and one error
# line naming file, line and key for every kind of bad config file; no file
# (a FIFO, a directory), key, client or signal can hang or kill the agent.
set -u
B=${FDM_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
T=$(mktemp -d /tmp/fdm-cli-XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
fails=0

check() {   # check NAME WANT_EXIT WANT_OUTPUT_REGEX -- CMD...  (each bounded to 5 s)
	local name=$1 want=$2 re=$3 out rc
	shift 4
	out=$(timeout -k 1 5 "$@" 2>&1); rc=$?
	if [ "$rc" != "$want" ] || ! grep -Eq -- "$re" <<<"$out"; then
		echo "FAIL $name: exit $rc (want $want), output: $out"
		fails=$((fails + 1))
	else
		echo "ok   $name: exit $rc: $(head -n1 <<<"$out")"
	fi
}
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

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
[watchdog]
device = none
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
conf 's/^device = none/device = watchdog/'
check "watchdog device relative" 2 "^fdm: $T/c.conf:19: device: must be an absolute path" -- "$B/fdm" --config "$T/c.conf"
check "missing config file" 2 "^fdm: $T/none.conf: cannot open config file" -- "$B/fdm" --config "$T/none.conf"
check "bad option" 2 "usage: fdm" -- "$B/fdm" --bogus

conf 's/x/x/'
check "print timing" 0 "^host_dead_ms +14000" -- "$B/fdm" --config "$T/c.conf" --print-timing
SRC=${FDM_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
# The example is host-1's file: give it this machine's address and socket directory.
sed -e "s|/etc/fdm/authkey|$T/key|" -e "s|/run/fdm/|$T/|" -e "s/= 10\.0\.0\.1\b/= 127.0.0.1/" \
	"$SRC/packaging/fdm.conf.example" > "$T/example.conf"
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

# Config checks (fdm.conf(5)): each FILE:LINE: KEY: why, exit 2, at start and
# from --print-timing alike.
conf_check() {   # conf_check NAME SED REGEX (the regex follows "FILE:")
	conf "$2"
	check "$1" 2 "^fdm: $T/c.conf:$3" -- "$B/fdm" --config "$T/c.conf"
	check "$1 (--print-timing)" 2 "^fdm: $T/c.conf:$3" -- "$B/fdm" --config "$T/c.conf" --print-timing
}
conf_check "same peer address" 's/^host-2 = 127.0.0.2$/host-2 = 127.0.0.1:18999/' \
	"10: host-2: same address and port \(127.0.0.1:18999\) as host-1 on line 9"
conf_check "wildcard address" 's/^address = 127.0.0.1$/address = 0.0.0.0/' \
	"6: address: must be an address of this host, not the wildcard 0.0.0.0"
# A documentation address (RFC 5737) this machine does not have.
foreign=
for a in 203.0.113.77 198.51.100.77 192.0.2.177; do
	ip -o addr 2>/dev/null | grep -q " $a/" || { foreign=$a; break; }
done
conf_check "foreign address" "s/127.0.0.1\(:18999\)*\$/$foreign\1/" \
	"6: address: $foreign is not an address of this host"
conf_check "nfs URL without server" 's|^ds1 = .*|ds1 = nfs:///export/ds1|' \
	"12: ds1: no server name or address after //"
conf_check "nfs URL with port" 's|^ds1 = .*|ds1 = nfs://10.0.0.5:2049/export|' \
	"12: ds1: nfs:// takes no port"
conf_check "nfs URL bad host" 's|^ds1 = .*|ds1 = nfs://10.0.0/export|' \
	"12: ds1: \"10.0.0\" is not an IPv4 address"
conf_check "iscsi URL without LUN" 's|^ds1 = .*|ds1 = iscsi://10.0.0.6:3260/iqn.2026-01.lan.example:ds2|' \
	"12: ds1: want iscsi://portal\[:port\]/target-iqn/lun"
conf_check "iscsi URL bad port" 's|^ds1 = .*|ds1 = iscsi://10.0.0.6:x/iqn.2026-01.lan.example:ds2/1|' \
	"12: ds1: port \"x\" must be a number"
conf_check "socket path too long" "s|^socket = .*|socket = /$(printf 'd%.0s' $(seq 120))|" \
	"17: socket: too long for a unix socket \(121 characters, at most 107\)"
conf_check "socket directory missing" "s|^socket = .*|socket = $T/nodir/fdm.sock|" \
	"17: socket: cannot create the socket in $T/nodir: no such directory"
conf_check "section header without ]" 's/^\[datastores\]$/[datastores/' \
	"11: section: header \"\[datastores\" has no closing \]"
head -c 4096 /dev/zero > "$T/zero.conf"
check "file of NUL bytes" 2 "^fdm: $T/zero.conf:1: line: contains a NUL byte" -- "$B/fdm" --config "$T/zero.conf" --print-timing
good | sed 's/^id = cli$/id = c\x00li/' > "$T/nulval.conf"
check "NUL byte in a value" 2 "^fdm: $T/nulval.conf:2: id: value contains a NUL byte" -- "$B/fdm" --config "$T/nulval.conf"
conf 's/x/x/'

# A FIFO or a directory named as the config: refused at once, never waited on.
mkfifo "$T/fifo"
for f in "$T/fifo" "$T"; do
	what=$([ -p "$f" ] && echo FIFO || echo directory)
	check "$what as config: fdm" 2 "^fdm: $f: not a regular file" -- "$B/fdm" --config "$f"
	check "$what as config: fdm --print-timing" 2 "^fdm: $f: not a regular file" -- "$B/fdm" --config "$f" --print-timing
	check "$what as config: fdmctl" 2 "^fdmctl: $f: not a regular file" -- "$B/fdmctl" --config "$f" status
	check "$what as config: fdm-inspect" 2 "^fdm-inspect: $f: not a regular file" -- "$B/fdm-inspect" --config "$f" "file://$T"
	check "$what as config: hostd-shim" 2 "^hostd-shim: $f: not a regular file" -- "$B/hostd-shim" --config "$f"
	check "$what as key: fdm-inspect" 2 "^fdm-inspect: $f: cannot read key file: not a regular file" -- "$B/fdm-inspect" --key "$f" "file://$T"
done

# The key: private (as sshd wants a private key) and used whole or not at all.
cp "$T/key" "$T/key.open"; chmod 644 "$T/key.open"
conf "s|^key_file = .*|key_file = $T/key.open|"
check "key readable by others" 2 "^fdm: $T/c.conf:3: key_file: $T/key.open: key must not be readable by group or others" -- "$B/fdm" --config "$T/c.conf"
check "key readable by others: fdm-inspect" 2 "^fdm-inspect: $T/key.open: key must not be readable by group or others" -- "$B/fdm-inspect" --key "$T/key.open" "file://$T"
chmod 640 "$T/key.open"
check "key readable by group" 2 "key_file: $T/key.open: key must not be readable by group or others" -- "$B/fdm" --config "$T/c.conf"
(umask 077; head -c 65 /dev/urandom > "$T/key.long")
conf "s|^key_file = .*|key_file = $T/key.long|"
check "key too long" 2 "^fdm: $T/c.conf:3: key_file: $T/key.long: key file longer than 64 bytes: refused rather than cut" -- "$B/fdm" --config "$T/c.conf"
conf 's/x/x/'

# fdmctl: options after the command, usage errors, and why the socket is out of reach.
check "fdmctl usage: maintenance bogus" 2 "usage: fdmctl maintenance enter\|exit" -- "$B/fdmctl" --socket "$T/fdm.sock" maintenance bogus
check "fdmctl usage: unprotect" 2 "usage: fdmctl unprotect VM" -- "$B/fdmctl" --socket "$T/fdm.sock" unprotect
check "fdmctl usage: protect --priority" 2 "--priority bogus: one of" -- "$B/fdmctl" --socket "$T/fdm.sock" protect vm1 --priority bogus
check "fdmctl usage: status extra" 2 "status takes no arguments" -- "$B/fdmctl" --socket "$T/fdm.sock" status now
check "fdmctl usage: --socket without value" 2 "--socket needs a value" -- "$B/fdmctl" status --socket
check "fdmctl socket is a regular file" 1 "^fdmctl: cannot reach the fdm agent at $T/key: not a socket but a regular file" -- "$B/fdmctl" --socket "$T/key" status
check "fdmctl no socket directory" 1 "^fdmctl: cannot reach the fdm agent at $T/nodir/fdm.sock: no such socket, and no directory $T/nodir" -- "$B/fdmctl" status --socket "$T/nodir/fdm.sock"
check "fdmctl no socket" 1 "^fdmctl: cannot reach the fdm agent at $T/fdm.sock: no such socket in $T \(is fdm running" -- "$B/fdmctl" hosts --socket "$T/fdm.sock"

# A running agent: status answers, the socket is 0660, SIGTERM exits 0.
conf 's/x/x/'
"$B/fdm" --config "$T/c.conf" 2>"$T/agent.log" &
pid=$!
for _ in $(seq 50); do [ -S "$T/fdm.sock" ] && break; sleep 0.1; done
check "fdmctl status" 0 '"role"' -- "$B/fdmctl" --socket "$T/fdm.sock" --json status
check "fdmctl hosts" 0 '^\{' -- "$B/fdmctl" --config "$T/c.conf" --json hosts
check "fdmctl options after the command" 0 '"role"' -- "$B/fdmctl" status --json --socket "$T/fdm.sock"
check "fdmctl hosts --socket after" 0 '^HOST ' -- "$B/fdmctl" hosts --socket "$T/fdm.sock"
chmod 711 "$T"
check "fdmctl permission denied" 1 "^fdmctl: cannot reach the fdm agent at $T/fdm.sock: permission denied" -- \
	setpriv --reuid=65534 --regid=65534 --clear-groups "$B/fdmctl" --socket "$T/fdm.sock" status
chmod 700 "$T"

# A client that sends its request and goes away before reading the answer must
# cost the agent nothing (it died of SIGPIPE, exit 141, within about 130 runs of
# the fdmctl loop; the second loop hangs up at once, every time).
for _ in $(seq 300); do timeout -s KILL 0.05 "$B/fdmctl" --socket "$T/fdm.sock" status >/dev/null 2>&1; done
timeout 10 python3 -c '
import socket, sys
for _ in range(200):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(sys.argv[1]); s.sendall(b"{\"command\": \"status\"}\n")
    except OSError:
        pass
    s.close()' "$T/fdm.sock"
if kill -0 "$pid" 2>/dev/null && timeout 5 "$B/fdmctl" --socket "$T/fdm.sock" status >/dev/null; then
	ok "300 fdmctl killed mid-request and 200 clients gone before the answer: the agent runs and answers"
else
	bad "the agent did not survive clients gone before their answer"; cat "$T/agent.log"
fi

# A request over the size limit is answered with an error, not hung up on.
reply=$(timeout 5 python3 -c '
import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"{" + b" " * 70000 + b"}\n"); print(s.recv(4096).decode())' "$T/fdm.sock" 2>&1)
grep -q '"error":"request too long' <<<"$reply" && ok "oversized request answered: $reply" || bad "oversized request: $reply"

# SIGHUP reloads: what fails a check is refused with its line and the agent runs on.
reload_refused() {   # reload_refused NAME REGEX
	local n
	n=$(grep -c "reload refused" "$T/agent.log")
	kill -HUP "$pid"
	for _ in $(seq 50); do
		[ "$(grep -c "reload refused" "$T/agent.log")" -gt "$n" ] && break
		sleep 0.1
	done
	if grep "reload refused" "$T/agent.log" | tail -n1 | grep -Eq -- "$2" &&
	   timeout 5 "$B/fdmctl" --socket "$T/fdm.sock" status >/dev/null; then
		ok "$1: $(grep "reload refused" "$T/agent.log" | tail -n1 | sed 's/^.*fdm: //')"
	else
		bad "$1: $(grep "reload refused" "$T/agent.log" | tail -n1)"
	fi
}
conf 's/^host-2 = 127.0.0.2$/host-2 = 127.0.0.1:18999/'
reload_refused "SIGHUP, same peer address" "$T/c.conf:10: host-2: same address and port"
conf "s/127.0.0.1\(:18999\)*\$/$foreign\1/"
reload_refused "SIGHUP, foreign address" "$T/c.conf:6: address: $foreign is not an address of this host"
rm "$T/c.conf"; mkfifo "$T/c.conf"
reload_refused "SIGHUP, config replaced by a FIFO" "$T/c.conf: not a regular file"
rm "$T/c.conf"; conf 's/x/x/'
cp "$T/key" "$T/key.good"
head -c 32 /dev/urandom > "$T/key"
reload_refused "SIGHUP, key content changed" "$T/key: key_file content changed: restart fdm to use the new key"
cp "$T/key.good" "$T/key"
chmod 644 "$T/key"
reload_refused "SIGHUP, key readable by others" "key must not be readable by group or others"
chmod 600 "$T/key"
sockmode=$(stat -c %a "$T/fdm.sock")
[ "$sockmode" = 660 ] && echo "ok   control socket mode 660" || { echo "FAIL socket mode $sockmode"; fails=$((fails + 1)); }
check "second agent refused" 1 "another fdm agent is running" -- "$B/fdm" --config "$T/c.conf"
reply=$(printf 'not json\n' | timeout 5 python3 -c '
import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read()); print(s.recv(4096).decode())' "$T/fdm.sock")
grep -q '"error"' <<<"$reply" && echo "ok   malformed control request answered: $reply" || { echo "FAIL malformed request: $reply"; fails=$((fails + 1)); }
kill -TERM "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
	bad "SIGTERM: still running after 5 s"; kill -KILL "$pid"
fi
wait "$pid"; rc=$?; pid=
[ "$rc" = 0 ] && echo "ok   SIGTERM: exit 0" || { echo "FAIL SIGTERM: exit $rc"; cat "$T/agent.log"; fails=$((fails + 1)); }
[ ! -e "$T/fdm.sock" ] && echo "ok   socket removed on exit" || { echo "FAIL socket left behind"; fails=$((fails + 1)); }

echo "cli: $fails failure(s)"
[ "$fails" = 0 ]
