"""The "agent memory" row of `make bench`: a 16-host cluster of real agents (each
with its hostd-shim on libvirt's test driver, one protected VM per host), left
alone for 60 s; then the resident memory (VmRSS of /proc/PID/status) of the
master and of the slaves, and each agent's CPU use while idle: utime + stime of
/proc/PID/stat over a measured interval, as a percentage of one core."""
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "cluster"))
from harness import Cluster, HarnessError  # noqa: E402

HOSTS = 16
SETTLE_S = 60.0        # from the start to the memory reading
CPU_INTERVAL_S = 20.0  # the idle CPU measurement after it
TICKS = os.sysconf("SC_CLK_TCK")


def rss_kib(pid, field="VmRSS"):
    """A memory field of /proc/PID/status in KiB: VmRSS (all resident pages,
    the shared libraries' included) or RssAnon (this agent's own heap, stacks
    and tables)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise HarnessError("no %s for pid %d" % (field, pid))


def cpu_ticks(pid):
    """utime + stime of pid: fields 14 and 15 of /proc/PID/stat, counted after
    the command name's closing parenthesis (which may hold spaces)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def memory_rows(timing):
    hosts = ["host-%d" % i for i in range(1, HOSTS + 1)]
    with Cluster(hosts, datastores=("ds1",), timing=timing, shims=True, verbose=False) as c:
        t0 = c.start_all()
        master, _ = c.wait_for_agreement(timeout=60, interval=0.1)
        for h in hosts:
            c.fdmctl_ok(master, "protect", h + "-vm1", "--datastore", "ds1")
        left = SETTLE_S - (time.monotonic() - t0)
        if left > 0:
            time.sleep(left)
        master, _ = c.wait_for_agreement(timeout=30, interval=0.1)
        pids = {h: c.host(h).pid for h in hosts}
        rss = {h: rss_kib(pid) for h, pid in pids.items()}
        anon = {h: rss_kib(pid, "RssAnon") for h, pid in pids.items()}
        before = {h: cpu_ticks(pid) for h, pid in pids.items()}
        w0 = time.monotonic()
        time.sleep(CPU_INTERVAL_S)
        after = {h: cpu_ticks(pid) for h, pid in pids.items()}
        wall = time.monotonic() - w0
    cpu = {h: 100.0 * (after[h] - before[h]) / TICKS / wall for h in hosts}
    slaves = [h for h in hosts if h != master]
    slave_rss = [rss[h] / 1024.0 for h in slaves]
    print("  agent memory: master %s %d KiB, slaves %d..%d KiB; CPU %% over %.0f s: %s"
          % (master, rss[master], min(rss[h] for h in slaves), max(rss[h] for h in slaves),
             wall, " ".join("%s=%.2f" % (h, cpu[h]) for h in hosts)),
          file=sys.stderr, flush=True)
    return [
        {"row": "agent RSS, master (16 hosts)", "unit": "MiB", "runs": 1,
         "median": rss[master] / 1024.0, "max": rss[master] / 1024.0,
         "rss_anon_kib": anon[master],
         "reference": "target < 5 MiB; VmRSS after %.0f s, one protected VM per host; "
         "RssAnon (own pages) %.1f MiB" % (SETTLE_S, anon[master] / 1024.0)},
        {"row": "agent RSS, slave (16 hosts)", "unit": "MiB", "runs": len(slaves),
         "median": statistics.median(slave_rss), "max": max(slave_rss),
         "rss_anon_kib": {h: anon[h] for h in slaves},
         "reference": "target < 5 MiB; VmRSS of the %d slaves; RssAnon (own pages) median "
         "%.1f MiB" % (len(slaves), statistics.median(anon[h] for h in slaves) / 1024.0)},
        {"row": "agent CPU, idle (16 hosts)", "unit": "%", "runs": HOSTS,
         "median": statistics.median(cpu.values()), "max": max(cpu.values()),
         "reference": "target < 0.5 %% of a core; over %.0f s, master %.2f %%"
         % (wall, cpu[master])},
    ]
