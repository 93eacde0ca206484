#!/usr/bin/env python3
"""Cluster test harness: real `fdm` agents, one per network namespace, on one bridge.

    with Cluster(["host-1", "host-2", "host-9", "host-10"]) as c:
        c.start_all()
        master, secs = c.wait_for_agreement(timeout=10)

Layout of one run (names carry the harness's PID so concurrent runs never clash and
a later run can tell a crashed run's leftovers from a live one):
    namespaces  fdmt<pid>-h1 .. -hN   one per host, eth0 = 10.251.<k>.<i>/24, no route out
                fdmt<pid>-gw          the isolation address 10.251.<k>.254 (answers ICMP)
    bridge      fbr<pid>              the cluster network, in the root namespace, no IP on it
    veths       fv<pid>h<i>           root side of each host's cluster link (cut/heal act here)
    storage     fsb<pid>, fs<pid>h<i> with nfs/iscsi datastores: a second network, each host's
                fdmt<pid>-st          eth1 10.252.<k>.<i>, and the storage namespace at .253
                                      running nfs-ganesha and tgtd (tests/datastore/servers.py);
                                      cut_storage/heal_storage act on fs<pid>h<i>
    temp dir    /tmp/fdmt<pid>-XXXX/  key, datastores, one dir per host (config, log, socket)

Everything started is recorded by PID and torn down in __exit__, on SIGINT/SIGTERM/SIGHUP
and when setup fails half-way; `sweep()` removes what a crashed earlier run left.
Python 3 standard library only.  `python3 harness.py demo start|stop|status` runs the
demo cluster of tests/demo/demo.sh (state kept in /var/tmp/fdm-demo/).
"""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shim"))
from libvirtd import Libvirtd  # noqa: E402

TEST_PREFIX = "fdmt"
DEFAULT_TIMING = (500, 1000)        # heartbeat_interval_ms, io_timeout_ms: quick tests
STOP_TIMEOUT = 5.0                  # SIGTERM -> SIGKILL
LOG_TAIL_LINES = 25


class HarnessError(Exception):
    """A setup step or a bounded wait failed; the message says which and why."""


class Interrupted(Exception):
    """SIGINT/SIGTERM/SIGHUP arrived; raised so that `with` blocks unwind and clean up."""


# ----------------------------------------------------------------------------- helpers

def timing_from_env(default=DEFAULT_TIMING):
    """(heartbeat_ms, io_ms) from FDM_TEST_TIMING="HB,IO", else the quick default:
    FDM_TEST_TIMING=1000,2000 runs a scenario at the shipped default timing."""
    text = os.environ.get("FDM_TEST_TIMING")
    if not text:
        return default
    try:
        hb, io = (int(x) for x in text.split(","))
    except ValueError:
        sys.exit("FDM_TEST_TIMING=%r: want HEARTBEAT_MS,IO_MS (e.g. 1000,2000)" % text)
    return hb, io


def report_recovery(scenario, seconds, timing, what="running again", after="the fault"):
    """One grep-able line per scenario: the time from the fault to recovery."""
    print("recovery: %s: %s %.2f s after %s (heartbeat %d ms, io %d ms)"
          % (scenario, what, seconds, after, timing[0], timing[1]), flush=True)


def src_dir():
    return os.environ.get("FDM_SRC") or os.path.abspath(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def build_dir():
    b = os.environ.get("FDM_BUILD")
    return os.path.abspath(b) if b else os.path.join(src_dir(), "build")


def binary(name):
    return os.path.join(build_dir(), name)


def run(cmd, check=True, timeout=30, quiet=False):
    """Run a command (list), return CompletedProcess; raise HarnessError on failure."""
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise HarnessError("timed out after %ss: %s" % (timeout, " ".join(cmd)))
    except OSError as e:
        raise HarnessError("cannot run %s: %s" % (cmd[0], e))
    if check and r.returncode != 0:
        raise HarnessError("%s: exit %d: %s" % (" ".join(cmd), r.returncode,
                                                (r.stderr or r.stdout).strip()))
    if not quiet and r.returncode != 0:
        log("(ignored) %s: exit %d: %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
    return r


def log(msg):
    print("harness: " + msg, file=sys.stderr, flush=True)


def pid_alive(pid):
    """True while the process exists and is not a zombie (orphans are reaped late)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    # state is the field after the parenthesised command name
    return stat[stat.rfind(")") + 2:][:1] not in ("Z", "X", "")


def pid_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def stop_pid(pid, popen=None, timeout=STOP_TIMEOUT, sig=signal.SIGTERM):
    """Stop one process we started: `sig`, wait up to `timeout`, then SIGKILL and wait.
    Returns its exit status when it is our child (popen given), else None."""
    def gone(t):
        if popen is not None:
            try:
                popen.wait(timeout=t)
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = time.monotonic() + t
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return True
            time.sleep(0.05)
        return not pid_alive(pid)

    if popen is not None and popen.poll() is not None:
        return popen.returncode
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return popen.wait() if popen is not None else None
    if not gone(timeout):
        log("pid %d ignored %s for %.0fs: SIGKILL" % (pid, signal.Signals(sig).name, timeout))
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        gone(10)
    return popen.returncode if popen is not None else None


def predict_master(bids):
    """The election rule (DESIGN.md): most reachable datastores, ties to the host id
    greatest as a string compared left to right (byte order, like strcmp)."""
    return max(bids, key=lambda h: (bids[h], h.encode()))


def iptables_forward_policy():
    """'ACCEPT', 'DROP', or None when iptables is not usable."""
    if shutil.which("iptables") is None:
        return None
    r = run(["iptables", "-S", "FORWARD"], check=False, quiet=True)
    if r.returncode != 0:
        return None
    for line in r.stdout.splitlines():
        if line.startswith("-P FORWARD "):
            return line.split()[2]
    return None


def netns_list():
    r = run(["ip", "netns", "list"], check=False, quiet=True)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def link_names():
    r = run(["ip", "-o", "link", "show"], check=False, quiet=True)
    names = []
    for line in r.stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            names.append(parts[1].strip().split("@")[0])
    return names


# ----------------------------------------------------------------------------- cluster

class Host:
    """One simulated host: its namespace, address, files and agent process."""

    def __init__(self, cluster, index, host_id):
        self.index = index                      # 1-based, also the address's last byte
        self.id = host_id
        self.ns = "%sh%d" % (cluster.ns_prefix, index)
        self.veth = "fv%sh%d" % (cluster.tag, index)
        self.storage_veth = "fs%sh%d" % (cluster.tag, index)
        self.address = "%s.%d" % (cluster.net, index)
        self.dir = os.path.join(cluster.workdir, host_id)
        self.config = os.path.join(self.dir, "fdm.conf")
        self.socket = os.path.join(self.dir, "fdm.sock")
        self.hostd_socket = os.path.join(self.dir, "hostd.sock")
        self.log = os.path.join(self.dir, "fdm.log")
        self.readonly = set()                   # datastores this host cannot write
        self.popen = None                       # our child, when the harness started it
        self.pid = None
        self.started_at = None                  # time.monotonic() of the last start
        self.returncode = None
        self.node_xml = os.path.join(self.dir, "node.xml")
        self.shim_log = os.path.join(self.dir, "hostd-shim.log")
        self.shim_popen = None                  # its hostd-shim, when the cluster runs shims
        self.shim_pid = None
        self.libvirtd = None                    # its libvirtd.Libvirtd, with libvirtd=True


class Cluster:
    """N hosts in network namespaces running real fdm agents.

    hosts: list of host ids (the address of the i-th is .i), or a count n (host-1..n).
    datastores: names of file:// datastores shared by all hosts (dirs in the temp dir).
    readonly: {host_id: {ds, ...}} datastores a host cannot write (read-only bind
        mount in that agent's private mount namespace), i.e. reaches fewer of them.
    ghosts: extra host ids listed in [peers] (addresses after the real hosts) that
        never run an agent; tests use them as the sender of injected packets.
    shims: run a hostd-shim per host on libvirt's test driver, with a node file of
        two running test domains per host (<host id>-vm1, -vm2, 128 MiB each);
        start() starts it.
    node_memory: {host_id: KiB} the memory of that host's test-driver node (8 GiB
        unless given): what its shim reports as its total.
    extra_domains: {host_id: {name: n}} more running test domains on that host,
        each with a <description> of n bytes (a domain XML of a chosen size).
    libvirtd: with shims, a real libvirtd per host (tests/shim/libvirtd.py) in the
        host's network namespace and its own mount namespace, started before its
        shim; [hostd] libvirt_uri is its qemu+unix socket (no test-driver domains).
    restart: {key: value} of the [restart] section (e.g. host_failures_tolerated).
    nfs, iscsi: names of datastores served by a real nfs-ganesha (NFSv3 export) and a
        real tgtd (one 64 MiB LUN each, 512-byte blocks) in a storage namespace that
        every host reaches over its own storage link.
    timing: (heartbeat_interval_ms, io_timeout_ms).
    """

    def __init__(self, hosts=4, datastores=("ds1", "ds2"), readonly=None, ghosts=(),
                 timing=DEFAULT_TIMING, isolation_response="none", tag=None,
                 ns_prefix=None, workdir=None, cluster_id=None, subnet=None, verbose=True,
                 nfs=(), iscsi=(), shims=False, node_memory=None, restart=None,
                 extra_domains=None, libvirtd=False):
        if isinstance(hosts, int):
            hosts = ["host-%d" % i for i in range(1, hosts + 1)]
        if len(set(hosts) | set(ghosts)) != len(hosts) + len(ghosts):
            raise HarnessError("host ids must be unique")
        # tag names the links (at most 15 characters: "fv" + tag + "h64"), ns_prefix
        # the namespaces; both default to this process's PID, which sweep() checks.
        self.tag = tag or str(os.getpid())
        self.ns_prefix = ns_prefix or "%s%s-" % (TEST_PREFIX, self.tag)
        self.bridge = "fbr%s" % self.tag
        self.gw_ns = self.ns_prefix + "gw"
        self.net = subnet or "10.251.%d" % (os.getpid() % 250 + 1)
        self.gw_address = self.net + ".254"
        self.storage_bridge = "fsb%s" % self.tag
        self.storage_ns = self.ns_prefix + "st"
        self.storage_net = self.net.replace("10.251.", "10.252.", 1)
        self.storage_address = self.storage_net + ".253"
        self.shims = shims
        self.use_libvirtd = libvirtd
        self.node_memory = dict(node_memory or {})
        self.extra_domains = {h: dict(d) for h, d in (extra_domains or {}).items()}
        self.restart = dict(restart or {})
        self.nfs_names = list(nfs)
        self.iscsi_names = list(iscsi)
        self.nfs = None                          # servers.Ganesha once started
        self.tgt = None                          # servers.Tgtd once started
        self.fixed_workdir = workdir
        self.workdir = workdir
        self.cluster_id = cluster_id or "fdmt%s" % self.tag
        self.datastore_names = list(datastores)
        self.timing = timing
        self.isolation_response = isolation_response
        self.verbose = verbose
        self.ghost_ids = list(ghosts)
        self._host_ids = list(hosts)
        self._readonly = {h: set(v) for h, v in (readonly or {}).items()}
        self.hosts = {}
        self.created_ns = []
        self.created_links = []
        self.iptables_rules = []
        self.key_file = None
        self.ds_dirs = {}
        self._old_handlers = {}
        self._cleaned = False

    # ------------------------------------------------------------------ context manager

    def __enter__(self):
        self._install_signal_handlers()
        try:
            sweep(quiet=not self.verbose)
            self.setup()
        except BaseException:
            self.cleanup(failed=True)
            self._restore_signal_handlers()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self.cleanup(failed=exc_type is not None)
        finally:
            self._restore_signal_handlers()
        return False

    def _install_signal_handlers(self):
        def handler(signum, frame):
            raise Interrupted("got %s" % signal.Signals(signum).name)
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._old_handlers[s] = signal.signal(s, handler)

    def _restore_signal_handlers(self):
        for s, h in self._old_handlers.items():
            signal.signal(s, h)
        self._old_handlers = {}

    # ------------------------------------------------------------------ setup

    def setup(self):
        for b in ("fdm", "fdmctl"):
            if not os.access(binary(b), os.X_OK):
                raise HarnessError("%s not built (FDM_BUILD=%s)" % (binary(b), build_dir()))
        if self.workdir is None:
            self.workdir = tempfile.mkdtemp(prefix="%s%s-" % (TEST_PREFIX, self.tag))
        else:
            os.makedirs(self.workdir, exist_ok=True)
        for i, h in enumerate(self._host_ids, start=1):
            host = Host(self, i, h)
            host.readonly = set(self._readonly.get(h, ()))
            if self.use_libvirtd:
                host.libvirtd = Libvirtd(h, base=os.path.join(self.workdir, h, "libvirtd"),
                                         netns=host.ns)
            self.hosts[h] = host
        unknown = set(self._readonly) - set(self.hosts)
        if unknown:
            raise HarnessError("readonly names unknown hosts: %s" % sorted(unknown))
        self._make_key_and_datastores()
        self._make_network()
        self._start_storage_servers()
        for host in self.hosts.values():
            os.makedirs(host.dir, exist_ok=True)
            self.write_config(host)
            self.write_node_xml(host)
        self._init_datastores()

    def _init_datastores(self):
        """`fdmctl datastore init` once per datastore, as an operator does before
        the first agent starts (agents never create or format one themselves).
        Run in the first host's namespace: NFS and iSCSI are on its storage network."""
        first = next(iter(self.hosts.values()))
        for ds in self.datastore_names + self.nfs_names + self.iscsi_names:
            r = self.netns_exec(first.id, [binary("fdmctl"), "datastore", "init",
                                           self.datastore_url(ds), "--config", first.config],
                                check=False, timeout=60)
            if r.returncode != 0:
                raise HarnessError("fdmctl datastore init %s: %s%s" % (
                    self.datastore_url(ds), r.stdout, r.stderr))

    def _make_key_and_datastores(self):
        self.key_file = os.path.join(self.workdir, "authkey")
        if not os.path.exists(self.key_file):
            run([binary("fdmctl"), "keygen", self.key_file])
        for ds in self.datastore_names:
            d = os.path.join(self.workdir, "ds", ds)
            os.makedirs(d, exist_ok=True)
            self.ds_dirs[ds] = d

    def _make_bridge(self, bridge):
        run(["ip", "link", "add", bridge, "type", "bridge"])
        self.created_links.append(bridge)
        run(["ip", "link", "set", bridge, "up"])
        if iptables_forward_policy() == "DROP":
            # Bridged frames go through FORWARD (bridge-nf-call-iptables).
            rule = ["FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"]
            run(["iptables", "-I"] + rule)
            self.iptables_rules.append(rule)

    def _plug(self, ns, veth, bridge, ifname, addr):
        """A veth from the bridge into ns, named ifname there, with addr/24."""
        peer = "fp" + veth[2:] if veth.startswith("fv") else "fq" + veth[2:]
        run(["ip", "link", "add", veth, "type", "veth", "peer", "name", peer])
        self.created_links.append(veth)
        run(["ip", "link", "set", peer, "netns", ns])
        run(["ip", "link", "set", veth, "master", bridge])
        run(["ip", "link", "set", veth, "up"])
        nsx = ["ip", "netns", "exec", ns]
        run(nsx + ["ip", "link", "set", peer, "name", ifname])
        run(nsx + ["ip", "addr", "add", addr + "/24", "dev", ifname])
        run(nsx + ["ip", "link", "set", ifname, "up"])
        run(nsx + ["ip", "link", "set", "lo", "up"])

    def _make_network(self):
        self._make_bridge(self.bridge)
        for h in self.hosts.values():
            self._add_namespace(h.ns)
            self._plug(h.ns, h.veth, self.bridge, "eth0", h.address)
        self._add_namespace(self.gw_ns)
        self._plug(self.gw_ns, "fv%sgw" % self.tag, self.bridge, "eth0", self.gw_address)
        if not (self.nfs_names or self.iscsi_names):
            return
        self._make_bridge(self.storage_bridge)
        for h in self.hosts.values():
            self._plug(h.ns, h.storage_veth, self.storage_bridge, "eth1",
                       "%s.%d" % (self.storage_net, h.index))
        self._add_namespace(self.storage_ns)
        self._plug(self.storage_ns, "fs%sst" % self.tag, self.storage_bridge, "eth0",
                   self.storage_address)

    def _start_storage_servers(self):
        if not (self.nfs_names or self.iscsi_names):
            return
        sys.path.insert(0, os.path.join(src_dir(), "tests", "datastore"))
        import servers
        ns = servers.Netns(self.storage_ns)
        base = os.path.join(self.workdir, "storage")
        if self.nfs_names:
            self.nfs = servers.Ganesha(os.path.join(base, "nfs"), ns, exports=self.nfs_names,
                                       address=self.storage_address).start()
        if self.iscsi_names:
            self.tgt = servers.Tgtd(os.path.join(base, "iscsi"), ns,
                                    luns=[(n, 512, 64, 1) for n in self.iscsi_names],
                                    address=self.storage_address).start()

    def _stop_storage_servers(self):
        for server in (self.nfs, self.tgt):
            if server is not None:
                try:
                    server.stop()
                except Exception as e:  # keep cleaning whatever happens
                    log("stopping a storage server: %s" % e)
        self.nfs = self.tgt = None

    def datastore_url(self, ds):
        if ds in self.ds_dirs:
            return "file://%s" % self.ds_dirs[ds]
        if ds in self.nfs_names:
            return self.nfs.url(ds)
        return self.tgt.url(ds, 1)

    def _add_namespace(self, ns):
        run(["ip", "netns", "add", ns])
        self.created_ns.append(ns)

    def config_text(self, host, only=None):
        """host's config; `only`: list [peers] as just these host ids."""
        peers = [(h.id, h.address) for h in self.hosts.values() if only is None or h.id in only]
        peers += [(g, "%s.%d" % (self.net, len(self.hosts) + i))
                  for i, g in enumerate(self.ghost_ids, start=1)]
        lines = [
            "; written by tests/cluster/harness.py for %s" % host.id,
            "[cluster]",
            "id = %s" % self.cluster_id,
            "key_file = %s" % self.key_file,
            "",
            "[host]",
            "id = %s" % host.id,
            "address = %s" % host.address,
            "port = 8182",
            "",
            "[peers]",
        ]
        lines += ["%s = %s" % p for p in peers]
        lines += ["", "[datastores]"]
        lines += ["%s = %s" % (ds, self.datastore_url(ds))
                  for ds in self.datastore_names + self.nfs_names + self.iscsi_names]
        lines += [
            "",
            "[isolation]",
            "addresses = %s" % self.gw_address,
            "response = %s" % self.isolation_response,
            "",
            # Never a host's real watchdog: the tests kill agents with -9.
            "[watchdog]",
            "device = none",
            "",
            "[timing]",
            "heartbeat_interval_ms = %d" % self.timing[0],
            "io_timeout_ms = %d" % self.timing[1],
            "",
        ]
        if self.restart:
            lines += ["[restart]"] + ["%s = %s" % kv for kv in sorted(self.restart.items())]
            lines += [""]
        lines += [
            "[hostd]",
            "socket = %s" % host.hostd_socket,
            "libvirt_uri = %s" % (host.libvirtd.uri if host.libvirtd else
                                  "test://" + host.node_xml),
            "",
            "[control]",
            "socket = %s" % host.socket,
            "",
        ]
        return "\n".join(lines)

    def write_node_xml(self, host):
        """The libvirt test driver's node file of host: two running test domains."""
        doms = ""
        names = [("%s-vm%d" % (host.id, n), 0) for n in (1, 2)]
        names += sorted(self.extra_domains.get(host.id, {}).items())
        for name, size in names:
            desc = "<description>%s</description>" % ("x" * size) if size else ""
            doms += ("<domain type='test'><name>%s</name><uuid>%s</uuid>%s"
                     "<memory>131072</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>"
                     % (name, uuid.uuid5(uuid.NAMESPACE_DNS, self.cluster_id + name), desc))
        with open(host.node_xml, "w") as f:
            f.write("<node><cpu><mhz>2000</mhz><model>test</model><active>4</active><nodes>1"
                    "</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads></cpu>"
                    "<memory>%d</memory>%s</node>"
                    % (self.node_memory.get(host.id, 8388608), doms))

    def start_shim(self, h, detach=False):
        """Start host h's hostd-shim in its namespace (test driver, its node file)."""
        host = self.host(h)
        if host.libvirtd is not None and (host.libvirtd.proc is None or
                                          host.libvirtd.proc.poll() is not None):
            host.libvirtd.start()
        with open(host.shim_log, "a") as logf:
            host.shim_popen = subprocess.Popen(
                ["ip", "netns", "exec", host.ns, binary("hostd-shim"), "--config", host.config],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                start_new_session=True)
        host.shim_pid = host.shim_popen.pid
        self.wait_until(lambda: os.path.exists(host.hostd_socket) or
                        host.shim_popen.poll() is not None, 10, "%s's hostd-shim socket" % h)
        if host.shim_popen.poll() is not None:
            raise HarnessError("%s's hostd-shim exited: %s" % (h, "".join(self.log_tail(h)[-3:])))
        if detach:
            host.shim_popen = None
        return host.shim_pid

    def shim_running(self, h):
        host = self.host(h)
        if host.shim_popen is not None:
            return host.shim_popen.poll() is None
        return host.shim_pid is not None and pid_alive(host.shim_pid)

    def kill_shim(self, h, sig=signal.SIGKILL):
        """Send a signal to h's hostd-shim (by its PID); a shim killed this way is
        not stopped again, nor its exit status checked, at cleanup."""
        host = self.host(h)
        if host.shim_pid is None:
            raise HarnessError("%s's hostd-shim was never started" % h)
        os.kill(host.shim_pid, sig)

    def shim_cli(self, h, *args):
        """hostd-shim-cli against h's shim; the JSON lines it printed, parsed."""
        r = run([binary("hostd-shim-cli"), "--socket", self.host(h).hostd_socket] + list(args))
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def write_config(self, host, only=None, text=None):
        """Write host's config file (`only`: peers subset; `text`: verbatim)."""
        with open(host.config, "w") as f:
            f.write(text if text is not None else self.config_text(host, only))

    # ------------------------------------------------------------------ agents

    def host(self, h):
        try:
            return self.hosts[h]
        except KeyError:
            raise HarnessError("no host %r in this cluster" % h)

    def start(self, h, detach=False):
        """Start host h's agent in its namespace. Datastores it must not reach are made
        read-only by a bind mount in the agent's own mount namespace (ip netns exec
        gives every process a private one), then the shell execs fdm: same PID."""
        host = self.host(h)
        if host.pid is not None and pid_alive(host.pid):
            raise HarnessError("%s already running (pid %d)" % (h, host.pid))
        if self.shims and (host.shim_pid is None or not pid_alive(host.shim_pid)):
            self.start_shim(h, detach=detach)
        fdm = [binary("fdm"), "--config", host.config]
        if host.readonly:
            script = "set -e; "
            for ds in sorted(host.readonly):
                d = shlex.quote(self.ds_dirs[ds])
                script += "mount --bind %s %s; mount -o remount,bind,ro %s; " % (d, d, d)
            script += "exec " + " ".join(shlex.quote(a) for a in fdm)
            cmd = ["ip", "netns", "exec", host.ns, "sh", "-c", script]
        else:
            cmd = ["ip", "netns", "exec", host.ns] + fdm
        with open(host.log, "a") as logf:
            logf.write("=== harness: %s starting %s\n" % (time.strftime("%H:%M:%S"), " ".join(fdm)))
            logf.flush()
            host.popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        host.pid = host.popen.pid
        host.started_at = time.monotonic()
        host.returncode = None
        if detach:
            host.popen = None   # demo: the agent outlives this process
        return host.pid

    def start_all(self, hosts=None):
        """Start every agent (or the listed ones); returns the monotonic start time."""
        t0 = time.monotonic()
        for h in hosts or self.hosts:
            self.start(h)
        return t0

    def running(self, h):
        host = self.host(h)
        if host.popen is not None:
            return host.popen.poll() is None
        return host.pid is not None and pid_alive(host.pid)

    def running_hosts(self):
        return [h for h in self.hosts if self.running(h)]

    def kill(self, h, sig=signal.SIGKILL):
        """Send a signal to h's agent (by its PID)."""
        host = self.host(h)
        if host.pid is None:
            raise HarnessError("%s was never started" % h)
        os.kill(host.pid, sig)

    def wait_exit(self, h, timeout=10):
        """Wait for h's agent to exit; returns its exit status (negative: signal)."""
        host = self.host(h)
        if host.popen is None:
            raise HarnessError("%s is not a child of this harness" % h)
        try:
            host.returncode = host.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise HarnessError("%s (pid %d) still running %ss after being told to stop"
                               % (h, host.pid, timeout))
        return host.returncode

    def stop(self, h, timeout=STOP_TIMEOUT):
        """SIGTERM, then SIGKILL after timeout; returns the exit status."""
        host = self.host(h)
        if host.pid is None:
            return None
        host.returncode = stop_pid(host.pid, host.popen, timeout)
        return host.returncode

    def set_datastore_readonly(self, h, ds, readonly=True):
        """While h's agent runs: make ds unwritable (or writable again) for it only."""
        host = self.host(h)
        d = self.ds_dirs[ds]
        if readonly:
            script = "mount --bind %s %s && mount -o remount,bind,ro %s" % ((shlex.quote(d),) * 3)
        else:
            script = "umount %s" % shlex.quote(d)
        run(["nsenter", "--target", str(host.pid), "--mount", "sh", "-c", script])
        (host.readonly.add if readonly else host.readonly.discard)(ds)

    # ------------------------------------------------------------------ network faults

    def cut(self, h):
        """Take h's link down on the root side: h hears nobody and nobody hears h."""
        run(["ip", "link", "set", self.host(h).veth, "down"])

    def heal(self, h):
        run(["ip", "link", "set", self.host(h).veth, "up"])

    def partition(self, *groups):
        """Split the cluster network into groups of host ids: a host drops every
        packet from or to a host of another group (iptables in its namespace), and
        still reaches the isolation address and its own group: partitioned, not
        isolated. heal_partition() undoes it."""
        placed = [h for g in groups for h in g]
        if sorted(placed) != sorted(self.hosts) or len(set(placed)) != len(placed):
            raise HarnessError("partition: every host in exactly one group")
        for g in groups:
            for h in g:
                nsx = ["ip", "netns", "exec", self.host(h).ns, "iptables"]
                for o in placed:
                    if o in g:
                        continue
                    a = self.host(o).address
                    run(nsx + ["-A", "INPUT", "-s", a, "-j", "DROP"])
                    run(nsx + ["-A", "OUTPUT", "-d", a, "-j", "DROP"])

    def heal_partition(self):
        for h in self.hosts.values():
            nsx = ["ip", "netns", "exec", h.ns, "iptables"]
            run(nsx + ["-F", "INPUT"])
            run(nsx + ["-F", "OUTPUT"])

    def cut_storage(self, h):
        """Take h's storage link down: its NFS and iSCSI I/O hangs, then times out."""
        run(["ip", "link", "set", self.host(h).storage_veth, "down"])

    def heal_storage(self, h):
        run(["ip", "link", "set", self.host(h).storage_veth, "up"])

    def netns_exec(self, h, cmd, **kw):
        """Run a command inside h's namespace (e.g. the packet injector)."""
        return run(["ip", "netns", "exec", self.host(h).ns] + list(cmd), **kw)

    # ------------------------------------------------------------------ queries

    def fdmctl(self, h, *args, json_out=True, check=True, timeout=10):
        cmd = [binary("fdmctl"), "--socket", self.host(h).socket]
        if json_out:
            cmd.append("--json")
        cmd += list(args)
        r = run(cmd, check=check, timeout=timeout, quiet=True)
        if not json_out or r.returncode != 0:
            return r
        try:
            return json.loads(r.stdout)
        except ValueError as e:
            raise HarnessError("fdmctl %s for %s printed no JSON (%s): %r"
                               % (" ".join(args), h, e, r.stdout[:200]))

    def vm_state(self, h, name):
        """VM `name` as host h's `fdmctl --json status` shows it, or None."""
        for v in self.status(h).get("vms", []):
            if v["name"] == name:
                return v
        return None

    def fdmctl_ok(self, h, *args):
        """fdmctl on host h that must succeed ({"ok": true}); its message."""
        r = self.fdmctl(h, *args, check=False, timeout=40)
        check(isinstance(r, dict) and r.get("ok") is True,
              "fdmctl %s on %s: %s" % (" ".join(args), h,
                                        r if isinstance(r, dict) else r.stderr.strip()))
        return r["message"]

    def status(self, h):
        """`fdmctl --json status` of h, parsed; HarnessError when the agent does not answer."""
        return self.fdmctl(h, "status")

    def try_status(self, h):
        """Like status(), None when the agent does not answer (yet)."""
        try:
            return self.status(h)
        except HarnessError:
            return None

    def inspect(self, ds, via=None):
        """`fdm-inspect --json` of datastore ds, run in host `via`'s namespace (the
        first host by default: NFS and iSCSI servers are on the storage network)."""
        via = via or next(iter(self.hosts))
        r = self.netns_exec(via, [binary("fdm-inspect"), "--json", "--key", self.key_file,
                                  self.datastore_url(ds)], check=False, timeout=20)
        try:
            return json.loads(r.stdout)
        except ValueError:
            return {}

    def lease_holders(self):
        """{datastore: lock holder}, read by fdm-inspect straight from the storage."""
        return {ds: (self.inspect(ds).get("protectedlist") or {}).get("lock_holder")
                for ds in list(self.ds_dirs) + self.nfs_names + self.iscsi_names}

    def holds_every_lease(self, h):
        """h acts as owner of every datastore's lease (its acquisition survived the
        write-wait-read) and the storage names it as the lock holder."""
        st = self.try_status(h)
        if not st or not all(d["acting"] for d in st["datastores"]):
            return False
        return all(who == h for who in self.lease_holders().values())

    def host_state(self, viewer, h):
        """The state of host h as viewer's agent reports it, or None."""
        st = self.try_status(viewer)
        for entry in (st or {}).get("hosts", []):
            if entry.get("id") == h:
                return entry.get("state")
        return None

    def agreed_master(self, hosts=None):
        """The master every listed running host reports, when they all agree and that
        master calls itself master and every other one calls itself slave; else None."""
        hosts = list(hosts) if hosts is not None else self.running_hosts()
        statuses = {}
        for h in hosts:
            st = self.try_status(h)
            if st is None:
                return None
            statuses[h] = st
        masters = {st.get("master") for st in statuses.values()}
        if len(masters) != 1:
            return None
        m = masters.pop()
        if not m or m not in statuses:
            return None
        for h, st in statuses.items():
            if st.get("role") != ("master" if h == m else "slave"):
                return None
        return m

    def describe(self, hosts=None):
        """One line per host: role, master, term (for messages and progress)."""
        out = []
        for h in hosts or self.hosts:
            st = self.try_status(h)
            if st is None:
                out.append("%s: %s" % (h, "no answer" if self.running(h) else "not running"))
            else:
                out.append("%s: role=%s master=%s term=%s" % (h, st.get("role"), st.get("master"),
                                                              st.get("term")))
        return "; ".join(out)

    def wait_until(self, predicate, timeout, what, interval=0.1):
        """Poll predicate() until it returns something truthy or timeout seconds pass.
        Returns (value, seconds waited); raises HarnessError naming `what`."""
        t0 = time.monotonic()
        while True:
            value = predicate()
            elapsed = time.monotonic() - t0
            if value:
                return value, elapsed
            if elapsed >= timeout:
                raise HarnessError("timed out after %.1fs waiting for %s (%s)"
                                   % (timeout, what, self.describe()))
            time.sleep(interval)

    def wait_for_agreement(self, timeout=10, hosts=None, expect=None, interval=0.1):
        """Wait until the hosts agree on one master (and it is `expect`, if given)."""
        def agreed():
            m = self.agreed_master(hosts)
            return m if m and (expect is None or m == expect) else None
        what = "agreement on master %s" % expect if expect else "agreement on one master"
        return self.wait_until(agreed, timeout, what, interval=interval)

    def hold(self, predicate, seconds, what, interval=0.2):
        """Check that predicate() stays truthy for `seconds`; raises at the first miss."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            if not predicate():
                raise HarnessError("%s stopped holding after %.1fs (%s)"
                                   % (what, time.monotonic() - t0, self.describe()))
            time.sleep(interval)

    def log_tail(self, h, n=LOG_TAIL_LINES):
        try:
            with open(self.host(h).log, errors="replace") as f:
                return f.readlines()[-n:]
        except OSError:
            return []

    def log_text(self, h):
        try:
            with open(self.host(h).log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # ------------------------------------------------------------------ teardown

    def cleanup(self, failed=False):
        """Stop every agent by PID, then remove links, bridge, namespaces, temp dir.
        Runs once; further signals are ignored meanwhile so a second Ctrl-C cannot
        leave half a cluster behind."""
        if self._cleaned:
            return
        self._cleaned = True
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        if failed:
            self.print_logs()
        unclean = []
        for host in self.hosts.values():
            if host.pid is not None and self.running(host.id):
                try:
                    host.returncode = stop_pid(host.pid, host.popen)
                    # A clean stop exits 0; under ASan a leak or error does not.
                    if host.returncode not in (0, None):
                        unclean.append("%s exited %s on SIGTERM" % (host.id, host.returncode))
                except Exception as e:  # keep cleaning whatever happens
                    log("stopping %s: %s" % (host.id, e))
        for host in self.hosts.values():
            if host.shim_pid is not None and self.shim_running(host.id):
                rc = stop_pid(host.shim_pid, host.shim_popen)
                if rc not in (0, None):
                    unclean.append("%s's hostd-shim exited %s on SIGTERM" % (host.id, rc))
        for host in self.hosts.values():
            if host.libvirtd is not None:
                try:        # libvirtd, virtlogd and guests by PID, then their cgroups
                    host.libvirtd.cleanup()
                except Exception as e:  # keep cleaning whatever happens
                    log("stopping %s's libvirtd: %s" % (host.id, e))
        if unclean and not failed:
            self.print_logs()
        self.teardown_network()
        if self.workdir and self.fixed_workdir is None and os.environ.get("FDM_KEEP") != "1":
            shutil.rmtree(self.workdir, ignore_errors=True)
        elif self.workdir and failed:
            log("kept %s (FDM_KEEP=1)" % self.workdir)
        if unclean and not failed:
            raise HarnessError("; ".join(unclean))

    def teardown_network(self):
        self._stop_storage_servers()
        for rule in self.iptables_rules:
            run(["iptables", "-D"] + rule, check=False)
        self.iptables_rules = []
        for ns in self.created_ns:
            # No agent may outlive its namespace (`ip netns del` would leave links).
            kill_namespace_processes(ns)
        for link in reversed(self.created_links):
            run(["ip", "link", "del", link], check=False, quiet=True)
        for ns in self.created_ns:
            run(["ip", "netns", "del", ns], check=False)
        self.created_links = []
        self.created_ns = []

    def print_logs(self):
        for h in self.hosts:
            tail = self.log_tail(h)
            print("----- last %d lines of %s's log (%s)" % (len(tail), h, self.host(h).log),
                  file=sys.stderr)
            for line in tail:
                print("  " + line.rstrip("\n"), file=sys.stderr)
        sys.stderr.flush()

    # ------------------------------------------------------------------ demo state

    def save_state(self, path):
        state = {
            "tag": self.tag, "bridge": self.bridge, "workdir": self.workdir,
            "namespaces": self.created_ns, "links": self.created_links,
            "iptables_rules": self.iptables_rules,
            "hosts": {h.id: {"pid": h.pid, "shim_pid": h.shim_pid, "ns": h.ns,
                             "address": h.address, "config": h.config, "socket": h.socket,
                             "hostd_socket": h.hostd_socket, "log": h.log}
                      for h in self.hosts.values()},
            "storage_ns": self.storage_ns if (self.nfs_names or self.iscsi_names) else None,
        }
        with open(path, "w") as f:
            json.dump(state, f, indent=1)


def kill_namespace_processes(ns):
    r = run(["ip", "netns", "pids", ns], check=False, quiet=True)
    for pid in [int(p) for p in r.stdout.split() if p.isdigit()]:
        if pid != os.getpid():
            stop_pid(pid, timeout=2)


def sweep(quiet=False):
    """Remove namespaces, links, iptables rules and temp dirs of earlier test runs whose
    harness process is gone (crashed, SIGKILLed). Live runs are left alone."""
    pat = re.compile(r"^%s(\d+)-" % TEST_PREFIX)
    dead = set()
    for ns in netns_list():
        m = pat.match(ns)
        if m and not pid_alive(int(m.group(1))):
            dead.add(int(m.group(1)))
    for link in link_names():
        m = re.match(r"^f(?:br|sb|v|s)(\d+)", link)
        if m and not pid_alive(int(m.group(1))):
            dead.add(int(m.group(1)))
    tmp = tempfile.gettempdir()
    for name in os.listdir(tmp):
        m = pat.match(name)
        if m and not pid_alive(int(m.group(1))):
            dead.add(int(m.group(1)))
    for pid in sorted(dead):
        if not quiet:
            log("sweeping leftovers of dead run %d" % pid)
        nss = [ns for ns in netns_list() if ns.startswith("%s%d-" % (TEST_PREFIX, pid))]
        for ns in nss:
            kill_namespace_processes(ns)
        if iptables_forward_policy() is not None:
            r = run(["iptables", "-S", "FORWARD"], check=False, quiet=True)
            for line in r.stdout.splitlines():
                if line.startswith("-A ") and any("-i %s%d " % (b, pid) in line + " " for b in ("fbr", "fsb")):
                    run(["iptables", "-D"] + line.split()[1:], check=False)
        for link in link_names():
            if link in ("fbr%d" % pid, "fsb%d" % pid) or re.match(r"^f[vs]%d(h\d+|gw|st)$" % pid, link):
                run(["ip", "link", "del", link], check=False, quiet=True)
        for ns in nss:
            run(["ip", "netns", "del", ns], check=False, quiet=True)
        for name in os.listdir(tmp):
            if name.startswith("%s%d-" % (TEST_PREFIX, pid)):
                shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)


def netns_usable():
    """True when we are root and can create a network namespace with a veth pair."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    probe = "%sprobe%d" % (TEST_PREFIX, os.getpid())
    try:
        r = subprocess.run(["ip", "netns", "add", probe], capture_output=True)
        if r.returncode != 0:
            return False
        r = subprocess.run(["ip", "netns", "exec", probe, "ip", "link", "set", "lo", "up"],
                           capture_output=True)
        return r.returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)


# ----------------------------------------------------------------------------- scenarios

def scenario(body):
    """Run one scenario file's body(): exit 0 when it returns, 77 (skip) when this
    machine cannot make network namespaces, 1 with the reason on any failure. The
    Cluster's `with` block has cleaned up by the time this reports."""
    if not netns_usable():
        print("skip: needs root, iproute2 and network namespaces")
        return 77
    t0 = time.monotonic()
    try:
        body()
    except (HarnessError, AssertionError, Interrupted) as e:
        print("FAILED: %s" % e, flush=True)
        return 1
    print("passed in %.1f s" % (time.monotonic() - t0), flush=True)
    return 0


def check(cond, what):
    """Assert with a message that names what was expected (kept under python -O)."""
    if not cond:
        raise AssertionError(what)


# ----------------------------------------------------------------------------- demo

# Not under /run: the storage servers mount a private tmpfs on /run.
DEMO_DIR = "/var/tmp/fdm-demo"
DEMO_STATE = os.path.join(DEMO_DIR, "state.json")
DEMO_HOSTS = ["host-1", "host-2", "host-3", "host-4"]


def demo_start():
    if os.path.exists(DEMO_STATE):
        print("a demo cluster is already running (%s); stopping it first" % DEMO_STATE)
        demo_stop()
    os.makedirs(DEMO_DIR, exist_ok=True)
    c = Cluster(DEMO_HOSTS, datastores=(), nfs=("nfs1",), iscsi=("iscsi1",), shims=True,
                timing=(1000, 2000), tag="demo", ns_prefix="fdmdemo-", workdir=DEMO_DIR,
                cluster_id="demo", subnet="10.251.250", verbose=False)
    c._install_signal_handlers()
    try:
        c.setup()
        print("storage: nfs-ganesha (%s) and tgtd (%s) in namespace %s"
              % (c.datastore_url("nfs1"), c.datastore_url("iscsi1"), c.storage_ns))
        for h in c.hosts:
            c.start(h, detach=True)
        c.save_state(DEMO_STATE)
        print("started 4 agents and 4 hostd-shims (libvirt test driver, 2 domains each) in "
              "network namespaces %s .. %s" % (c.hosts["host-1"].ns, c.hosts["host-4"].ns))
        master, secs = c.wait_for_agreement(timeout=30)
        print("all 4 agree on master %s after %.1f s" % (master, secs))
        c.wait_until(lambda: all(c.host_state("host-1", h) in ("master", "connected")
                                 for h in c.hosts), 10, "every host connected")
        # An iSCSI host slot is claimed with a write-wait-read before the first hb.
        c.wait_until(lambda: all(d["heartbeat"] and d["lock_holder"] == master
                                 for d in c.status("host-1")["datastores"]), 30,
                     "heartbeats on every datastore, leases held")
    except BaseException as e:
        print("demo: %s" % e, file=sys.stderr)
        c.print_logs()
        c.save_state(DEMO_STATE)
        c._restore_signal_handlers()
        demo_stop()
        return 1
    c._restore_signal_handlers()
    return 0


def demo_stop():
    try:
        with open(DEMO_STATE) as f:
            state = json.load(f)
    except OSError:
        print("no demo cluster running (no %s)" % DEMO_STATE)
        state = None
    except ValueError as e:
        print("demo state unreadable (%s): removing what can be found" % e)
        state = None
    if state:
        for h, info in state["hosts"].items():
            pid = info.get("pid")
            # The pid must still be an fdm agent: never signal a reused pid.
            if pid and pid_alive(pid) and any(a.endswith(b"fdm") for a in pid_cmdline(pid)[:1]):
                stop_pid(pid)
                print("stopped %s (pid %d)" % (h, pid))
            pid = info.get("shim_pid")
            if pid and pid_alive(pid) and any(a.endswith(b"hostd-shim") for a in pid_cmdline(pid)[:1]):
                stop_pid(pid)
        for rule in state.get("iptables_rules") or []:
            run(["iptables", "-D"] + rule, check=False)
    nss = (state or {}).get("namespaces") or [ns for ns in netns_list() if ns.startswith("fdmdemo-")]
    for ns in nss:
        kill_namespace_processes(ns)
    links = (state or {}).get("links") or [l for l in link_names() if l in ("fbrdemo", "fsbdemo")
                                             or l.startswith(("fvdemo", "fsdemo"))]
    for link in reversed(links):
        run(["ip", "link", "del", link], check=False, quiet=True)
    for ns in nss:
        run(["ip", "netns", "del", ns], check=False, quiet=True)
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    print("demo stopped: namespaces and %s removed" % DEMO_DIR)
    return 0


def demo_status():
    try:
        with open(DEMO_STATE) as f:
            state = json.load(f)
    except OSError:
        print("no demo cluster running")
        return 1
    for h, info in state["hosts"].items():
        alive = info.get("pid") and pid_alive(info["pid"])
        print("%-8s pid %-7s %-8s ns %-14s %s  socket %s" % (
            h, info.get("pid"), "running" if alive else "stopped", info["ns"], info["address"],
            info["socket"]))
    return 0


def demo_pid(host, key="pid"):
    """Print the PID of one demo agent, or of its hostd-shim (key shim_pid), for
    kill -9 experiments."""
    try:
        with open(DEMO_STATE) as f:
            print(json.load(f)["hosts"][host][key])
        return 0
    except (OSError, ValueError, KeyError):
        print("no demo agent %s" % host, file=sys.stderr)
        return 1


def main(argv):
    if len(argv) == 3 and argv[:2] == ["demo", "pid"]:
        return demo_pid(argv[2])
    if len(argv) == 3 and argv[:2] == ["demo", "shimpid"]:
        return demo_pid(argv[2], "shim_pid")
    if len(argv) >= 2 and argv[0] == "demo":
        return {"start": demo_start, "stop": demo_stop, "status": demo_status}.get(
            argv[1], lambda: usage())()
    if argv == ["sweep"]:
        sweep()
        return 0
    return usage()


def usage():
    print("usage: harness.py demo start|stop|status|pid HOST | harness.py sweep", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
