"""Real storage servers for the datastore and cluster tests, started and stopped
by PID, always cleaned up, ready-polled instead of slept on.

    with servers.Netns.create("ds") as ns:          # or Netns("existing-name")
        nfs = servers.Ganesha(workdir, ns, exports=["ds1"]).start()
        tgt = servers.Tgtd(workdir, ns, luns=[("t1", 512, 64)]).start()
        nfs.url("ds1")   -> nfs://<addr>/<workdir>/exports/ds1
        tgt.url("t1", 1) -> iscsi://<addr>/<iqn>/1
        ns.run([...])    # a command inside the namespace
        nfs.pause(); nfs.resume(); nfs.kill()
        nfs.stop(); tgt.stop()

Both servers run inside the given network namespace (the caller may bring its
own, e.g. a "storage" namespace on a cluster bridge, and name the address the
clients use), under `unshare -m` with a private tmpfs on /run, so their rpcbind,
tgtd control socket and pid files are theirs alone. See shared/TESTBED.md."""
import os
import shutil
import signal
import subprocess
import time

_seq = [0]


def _unique(prefix):
    _seq[0] += 1
    return "%s-%d-%d" % (prefix, os.getpid(), _seq[0])


def _wait(pred, timeout, what, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(step)
    raise TimeoutError("%s: not ready after %.1f s" % (what, timeout))


def _reap(proc, timeout=5.0):
    """SIGTERM, then SIGKILL after timeout; always waits for the child."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    except ProcessLookupError:
        pass


class Netns:
    """A network namespace with lo up; deleted on close if we created it."""

    def __init__(self, name, owned=False):
        self.name = name
        self.owned = owned

    @classmethod
    def create(cls, prefix="fdmds"):
        name = _unique(prefix)
        subprocess.run(["ip", "netns", "add", name], check=True)
        ns = cls(name, owned=True)
        ns.run(["ip", "link", "set", "lo", "up"], check=True)
        return ns

    def prefix(self):
        return ["ip", "netns", "exec", self.name]

    def run(self, argv, **kw):
        return subprocess.run(self.prefix() + list(argv), **kw)

    def popen(self, argv, **kw):
        return subprocess.Popen(self.prefix() + list(argv), **kw)

    def close(self):
        if self.owned:
            subprocess.run(["ip", "netns", "del", self.name], check=False)
            self.owned = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Server:
    def __init__(self, workdir, ns, address):
        self.workdir = workdir
        self.ns = ns
        self.address = address
        self.proc = None
        os.makedirs(workdir, exist_ok=True)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def pause(self):
        """SIGSTOP: a hung server (TCP still accepts, nothing answers)."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def kill(self):
        """SIGKILL: a gone server (calls fail at once)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Ganesha(_Server):
    """nfs-ganesha (VFS FSAL, NFSv3 and 4) with its own rpcbind. One per
    namespace (port 2049); any number of exports."""

    def __init__(self, workdir, ns, exports=("ds1",), address="127.0.0.1"):
        super().__init__(workdir, ns, address)
        self.exports = list(exports)
        self.rpcbind_pid = None

    def export_path(self, name):
        return os.path.join(self.workdir, "exports", name)

    def url(self, name, subdir=""):
        return "nfs://%s%s%s" % (self.address, self.export_path(name),
                                 "/" + subdir if subdir else "")

    def _config(self):
        lines = ["NFS_CORE_PARAM { Protocols = 3, 4; NFS_Port = 2049; "
                 "Enable_NLM = false; Enable_RQUOTA = false; }",
                 "NFSV4 { Graceless = true; RecoveryBackend = fs; RecoveryRoot = %s; }"
                 % os.path.join(self.workdir, "v4recov"),
                 "LOG { Default_Log_Level = WARN; }"]
        for i, name in enumerate(self.exports, 1):
            lines.append("EXPORT { Export_Id = %d; Path = %s; Pseudo = /%s; Access_Type = RW; "
                         "Squash = No_Root_Squash; Protocols = 3, 4; SecType = sys; "
                         "FSAL { Name = VFS; } }" % (i, self.export_path(name), name))
        return "\n".join(lines) + "\n"

    def start(self, timeout=20.0):
        for name in self.exports:
            os.makedirs(self.export_path(name), exist_ok=True)
        os.makedirs(os.path.join(self.workdir, "v4recov"), exist_ok=True)
        conf = os.path.join(self.workdir, "ganesha.conf")
        with open(conf, "w") as f:
            f.write(self._config())
        rpcpid = os.path.join(self.workdir, "rpcbind.pid")
        # rpcbind in the background, ganesha exec'ed: the Popen pid is ganesha's.
        script = ("mount -t tmpfs tmpfs /run && mkdir -p /run/rpcbind /run/ganesha && "
                  "{ rpcbind -w -f & echo $! > %s; } && "
                  "exec ganesha.nfsd -F -f %s -L %s -p %s"
                  % (rpcpid, conf, os.path.join(self.workdir, "ganesha.log"),
                     os.path.join(self.workdir, "ganesha.pid")))
        self.proc = self.ns.popen(["unshare", "-m", "--propagation", "private",
                                   "sh", "-c", script],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(lambda: os.path.exists(rpcpid) and os.path.getsize(rpcpid) > 0, timeout,
              "rpcbind")
        with open(rpcpid) as f:
            self.rpcbind_pid = int(f.read().strip())
        try:
            _wait(self._ready, timeout, "ganesha", step=0.1)
        except Exception:
            self.stop()
            raise
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError("ganesha exited (%s)" % self.proc.returncode)
        r = self.ns.run(["nfs-ls", "nfs://%s%s" % (self.address, self.export_path(self.exports[0]))],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=5)
        return r.returncode == 0

    def stop(self):
        _reap(self.proc)
        if self.rpcbind_pid:
            try:
                os.kill(self.rpcbind_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.rpcbind_pid = None


class Tgtd(_Server):
    """tgtd with file-backed LUNs. luns: [(target_name, block_size, size_mib,
    lun_count)]; target t gets tid i+1 and LUNs 1..lun_count, sparse files."""

    IQN = "iqn.2026-11.test.fdm"

    def __init__(self, workdir, ns, luns=(("ds1", 512, 64, 1),), address="127.0.0.1"):
        super().__init__(workdir, ns, address)
        self.luns = list(luns)

    def iqn(self, target):
        return "%s:%s" % (self.IQN, target)

    def url(self, target, lun=1):
        return "iscsi://%s/%s/%d" % (self.address, self.iqn(target), lun)

    def adm(self, *args, check=True):
        # tgtadm must see tgtd's private /run: enter its mount namespace too.
        argv = ["nsenter", "--target", str(self.proc.pid), "--mount", "--net",
                "tgtadm", "--lld", "iscsi"] + list(args)
        return subprocess.run(argv, check=check, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=10)

    def start(self, timeout=20.0):
        script = "mount -t tmpfs tmpfs /run && exec tgtd -f"
        self.proc = self.ns.popen(["unshare", "-m", "--propagation", "private",
                                   "sh", "-c", script],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait(lambda: self.proc.poll() is None and
                  self.adm("--op", "show", "--mode", "target", check=False).returncode == 0,
                  timeout, "tgtd")
            for tid, (target, bs, mib, count) in enumerate(self.luns, 1):
                self.adm("--op", "new", "--mode", "target", "--tid", str(tid),
                         "-T", self.iqn(target))
                for lun in range(1, count + 1):
                    img = os.path.join(self.workdir, "%s-%d.img" % (target, lun))
                    if not os.path.exists(img):     # a restart keeps the LUN's data
                        with open(img, "wb") as f:
                            f.truncate(mib << 20)
                    self.adm("--op", "new", "--mode", "logicalunit", "--tid", str(tid),
                             "--lun", str(lun), "-b", img, "--blocksize=%d" % bs)
                self.adm("--op", "bind", "--mode", "target", "--tid", str(tid), "-I", "ALL")
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.kill(self.proc.pid, signal.SIGCONT)
            for tid in range(1, len(self.luns) + 1):
                self.adm("--mode", "target", "--op", "delete", "--force", "--tid", str(tid),
                         check=False)
            self.adm("--op", "delete", "--mode", "system", check=False)
            self.proc.wait(5)
        except (subprocess.TimeoutExpired, subprocess.SubprocessError, ProcessLookupError):
            pass
        _reap(self.proc)


def cleanup_dir(path):
    shutil.rmtree(path, ignore_errors=True)
