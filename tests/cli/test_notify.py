#!/usr/bin/env python3
"""The agent speaks systemd's notify protocol (Type=notify): READY=1 once it
serves, STATUS= with its role, WATCHDOG=1 pings when WatchdogSec is set, and
STOPPING=1 on SIGTERM, after which it exits 0. A unix datagram socket stands in
for systemd (NOTIFY_SOCKET, WATCHDOG_USEC), as sd_notify(3) describes."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time


def main():
    build = os.environ.get("FDM_BUILD") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
    tmp = tempfile.mkdtemp(prefix="fdm-notify-")
    key, conf, sock = (os.path.join(tmp, n) for n in ("key", "fdm.conf", "notify.sock"))
    subprocess.run([os.path.join(build, "fdmctl"), "keygen", key], check=True,
                   stdout=subprocess.DEVNULL)
    with open(conf, "w") as f:
        f.write("[cluster]\nid = n\nkey_file = %s\n[host]\nid = host-1\naddress = 127.0.0.1\n"
                "port = 18998\n[peers]\nhost-1 = 127.0.0.1:18998\n[watchdog]\ndevice = none\n[control]\nsocket = %s/fdm.sock\n"
                % (key, tmp))
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(sock)
    srv.settimeout(0.2)
    env = dict(os.environ, NOTIFY_SOCKET=sock, WATCHDOG_USEC="1000000")
    env.pop("WATCHDOG_PID", None)
    agent = subprocess.Popen([os.path.join(build, "fdm"), "--config", conf], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen = []
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                seen += srv.recv(4096).decode().split("\n")
            except socket.timeout:
                pass
            if "READY=1" in seen and seen.count("WATCHDOG=1") >= 3:
                break
        agent.send_signal(signal.SIGTERM)
        rc = agent.wait(timeout=10)
        try:
            while True:
                seen += srv.recv(4096).decode().split("\n")
        except socket.timeout:
            pass
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        srv.close()
        for n in os.listdir(tmp):
            os.unlink(os.path.join(tmp, n))
        os.rmdir(tmp)
    status = [s for s in seen if s.startswith("STATUS=")]
    print("notifications: READY=1 %s, WATCHDOG=1 x%d, %s, STOPPING=1 %s, exit %d" % (
        "READY=1" in seen, seen.count("WATCHDOG=1"), status[:1], "STOPPING=1" in seen, rc))
    ok = ("READY=1" in seen and seen.count("WATCHDOG=1") >= 3 and status
          and "STOPPING=1" in seen and rc == 0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
