"""A private libvirtd (+ virtlogd) for tests, with QEMU/KVM guests, started
without systemd as TESTBED.md describes: its own mount namespace where
/etc/libvirt, /run/libvirt, /var/lib/libvirt and /var/log/libvirt are bind
mounts of a private directory, QEMU run as root by a private qemu.conf, and a
unix socket reached as qemu+unix:///system?socket=DIR/run/libvirt-sock.

Every process is tracked by PID (libvirtd by its Popen, virtlogd and each QEMU
by their pid files in the private directories) and stopped in cleanup(), which
also removes the guests' empty cgroup directories. Reusable by the HA tests:

    with Libvirtd("host-1", netns=NS) as lv:      # netns: optional
        lv.start()
        ... lv.uri ...
        lv.stop(); lv.start()       # a libvirtd restart; guests keep running
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

MOUNTS = (("etc", "/etc/libvirt"), ("run", "/run/libvirt"),
          ("lib", "/var/lib/libvirt"), ("log", "/var/log/libvirt"))
CGROUP_ROOT = "/sys/fs/cgroup"


class LibvirtdError(Exception):
    pass


def kvm_usable():
    """True when /dev/kvm can be opened (then guests use type='kvm')."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
        os.close(fd)
        return True
    except OSError:
        return False


def guest_xml(name, uuid, memory_mib=128, kvm=None):
    """A small diskless guest: boots into firmware and stays running; it
    ignores an ACPI shutdown request (no OS), which tests the forced path."""
    kvm = kvm_usable() if kvm is None else kvm
    return ("<domain type='%s'><name>%s</name><uuid>%s</uuid>"
            "<memory unit='MiB'>%d</memory><vcpu>1</vcpu>"
            "<os><type arch='x86_64' machine='pc'>hvm</type></os>"
            "<features><acpi/></features>"
            "<devices><console type='pty'/></devices></domain>"
            % ("kvm" if kvm else "qemu", name, uuid, memory_mib))


def pid_alive(pid):
    """Alive and not a zombie (orphans are reaped late on these machines)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def kill_pid(pid, timeout=10):
    """SIGTERM, then SIGKILL after timeout; bounded."""
    if not pid_alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    end = time.monotonic() + timeout
    while time.monotonic() < end and pid_alive(pid):
        time.sleep(0.05)
    if pid_alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def unix_socket_accepts(path):
    """True when a server accepts connections on the unix socket path."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def guest_pids(name):
    """PIDs of QEMU processes running guest NAME (in any instance)."""
    p = subprocess.run(["pgrep", "-f", "guest=%s," % name], capture_output=True, text=True)
    return [int(x) for x in p.stdout.split()]


class Libvirtd:
    def __init__(self, name, base=None, netns=None):
        self.name = name
        self.netns = netns       # run in this network namespace (a simulated host)
        self.dir = base or tempfile.mkdtemp(prefix="libvirtd-%s-%d-" % (name, os.getpid()))
        self.proc = None
        self.log = os.path.join(self.dir, "libvirtd.log")
        self.qemu_pids = set()   # every QEMU seen, for cleanup
        self.guests = set()      # guest names, for cgroup cleanup

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    @property
    def socket(self):
        return os.path.join(self.dir, "run", "libvirt-sock")

    @property
    def uri(self):
        return "qemu+unix:///system?socket=" + self.socket

    def _prepare(self):
        for sub, target in MOUNTS:
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
            os.makedirs(target, exist_ok=True)
        etc = os.path.join(self.dir, "etc")
        if not os.path.exists(os.path.join(etc, "libvirtd.conf")):
            shutil.copytree("/etc/libvirt", etc, dirs_exist_ok=True, symlinks=True)
            # QEMU as root: independent of /dev/kvm's group and of other instances.
            with open(os.path.join(etc, "qemu.conf"), "w") as f:
                f.write('user = "root"\ngroup = "root"\n')

    def start(self, timeout=30):
        """Start libvirtd (and virtlogd); wait until its socket accepts."""
        if shutil.which("libvirtd") is None or shutil.which("virtlogd") is None:
            raise LibvirtdError("libvirtd or virtlogd is not installed")
        self._prepare()
        binds = "; ".join("mount --bind %s %s" % (os.path.join(self.dir, sub), target)
                          for sub, target in MOUNTS)
        script = ("set -e; %s; virtlogd -d -p %s/virtlogd.pid || true; "
                  "exec libvirtd -p %s/libvirtd.pid"
                  % (binds, self.dir, self.dir))
        logf = open(self.log, "a")
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        self.proc = subprocess.Popen(prefix + ["unshare", "-m", "--propagation", "private",
                                               "sh", "-c", script],
                                     stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise LibvirtdError("libvirtd exited with %d: %s"
                                    % (self.proc.returncode, self.tail()))
            if unix_socket_accepts(self.socket):
                return self
            time.sleep(0.05)
        raise LibvirtdError("libvirtd socket not ready after %d s: %s" % (timeout, self.tail()))

    def tail(self, n=15):
        try:
            with open(self.log) as f:
                return " | ".join(f.read().splitlines()[-n:])
        except OSError:
            return ""

    def record_guest(self, name):
        """Remember a guest's QEMU PID (from its pid file) for cleanup."""
        self.guests.add(name)
        pidfile = os.path.join(self.dir, "run", "qemu", name + ".pid")
        try:
            with open(pidfile) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        self.qemu_pids.add(pid)
        return pid

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stop libvirtd only (QEMU guests keep running). Returns its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def virtlogd_pid(self):
        try:
            with open(os.path.join(self.dir, "virtlogd.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def cleanup(self):
        """Stop everything this instance started, by PID, and remove its files."""
        for name in self.guests:
            self.record_guest(name)
        self.stop()
        for pid in self.qemu_pids:
            kill_pid(pid)
        pid = self.virtlogd_pid()
        if pid:
            kill_pid(pid)
        self._remove_cgroups()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _remove_cgroups(self):
        """Empty machine/qemu-<id>-<guest>... directories left by our guests."""
        for ctrl in os.listdir(CGROUP_ROOT) if os.path.isdir(CGROUP_ROOT) else []:
            machine = os.path.join(CGROUP_ROOT, ctrl, "machine")
            if not os.path.isdir(machine):
                continue
            for entry in os.listdir(machine):
                if not any(entry.endswith("-%s.libvirt-qemu" % g) or
                           ("-%s" % g) in entry for g in self.guests):
                    continue
                path = os.path.join(machine, entry)
                for root, dirs, _ in os.walk(path, topdown=False):
                    for d in dirs:
                        try:
                            os.rmdir(os.path.join(root, d))
                        except OSError:
                            pass
                try:
                    os.rmdir(path)
                except OSError:
                    pass
            try:
                os.rmdir(machine)   # only when empty: other instances may use it
            except OSError:
                pass
