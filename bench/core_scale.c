/* fdm-bench-core: the pure core's cost at scale, in one process, no I/O (the
 * "core scale" row of `make bench`). Prints one JSON object:
 *   placement  the master's placement decision (fdm/core/placement.c, the function
 *              failover.c calls each round) for a failed host that ran 500 VMs,
 *              in a cluster of 256 hosts (FDM_PLACE_MAX_HOSTS) and 50,000
 *              protected VMs: the 49,500 others are charged to the 255 surviving
 *              hosts' memory and power-ons in flight. Timed over --runs calls
 *              (hosts copied before each, untimed: the call charges them).
 *   memory     one master core (struct fdm_core) at the core's own limits
 *              (FDM_MAX_HOSTS peers, FDM_MAX_VMS VMs): its size (every table is
 *              fixed, nothing grows with the VMs), the heap fdm_core_init
 *              allocates (glibc mallinfo2 delta) and the RSS growth of
 *              allocating and initialising it (/proc/self/statm).
 * Exit 0, or 1 when a measurement could not be taken.
 *   fdm-bench-core [--runs N] */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fdm/core/core.h"
#include "fdm/core/ha.h"
#include "fdm/core/placement.h"
#include "lib/stats.h"
#include "lib/timing.h"
#include "lib/util.h"

#define HOSTS        256
#define CLUSTER_VMS  50000
#define FAILED_VMS   500
#define DATASTORES   8
#define GIB          (1024ull * 1024ull)   /* in KiB */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A small deterministic generator: the same cluster every run. */
static uint32_t next_rand(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* Host 0 failed; hosts 1..255 survive, 1 TiB each, carrying the cluster's
 * other VMs (2-8 GiB each) and a few power-ons of their own in flight. */
static void make_hosts(struct fdm_place_host *hosts, char (*ids)[16], uint32_t *seed)
{
	for (size_t h = 0; h < HOSTS; h++) {
		snprintf(ids[h], 16, "host-%zu", h + 1);
		hosts[h].id = ids[h];
		hosts[h].ds_mask = (1u << DATASTORES) - 1;
		hosts[h].free_kib = 1024 * GIB;
		hosts[h].inflight = 0;
	}
	hosts[0].ds_mask = 0;                  /* dead: its hb no longer renews */
	hosts[0].free_kib = 0;
	for (size_t v = 0; v < CLUSTER_VMS - FAILED_VMS; v++) {
		size_t h = 1 + v % (HOSTS - 1);
		uint64_t mem = (2 + next_rand(seed) % 7) * GIB;

		hosts[h].free_kib = hosts[h].free_kib > mem ? hosts[h].free_kib - mem : 0;
	}
	for (size_t h = 1; h < HOSTS; h++)
		hosts[h].inflight = next_rand(seed) % 4;
}

/* The failed host's 500 VMs: every priority, 1-16 GiB, on 8 datastores. */
static void make_vms(struct fdm_place_vm *vms, char (*names)[FDM_VM_NAME_MAX], uint32_t *seed)
{
	static const Fdm__Priority prio[] = {
		FDM__PRIORITY__PRIORITY_HIGHEST, FDM__PRIORITY__PRIORITY_HIGH,
		FDM__PRIORITY__PRIORITY_MEDIUM, FDM__PRIORITY__PRIORITY_LOW,
		FDM__PRIORITY__PRIORITY_LOWEST,
	};

	for (size_t v = 0; v < FAILED_VMS; v++) {
		snprintf(names[v], FDM_VM_NAME_MAX, "host-1-vm%zu", v + 1);
		vms[v].name = names[v];
		vms[v].priority = prio[next_rand(seed) % 5];
		vms[v].memory_kib = (1 + next_rand(seed) % 16) * GIB;
		vms[v].ds = (int)(v % DATASTORES);
		vms[v].avoid = -1;
		vms[v].prefer = -1;
	}
}

static int bench_placement(unsigned runs)
{
	static struct fdm_place_host hosts[HOSTS], work[HOSTS];
	static char ids[HOSTS][16], names[FAILED_VMS][FDM_VM_NAME_MAX];
	static struct fdm_place_vm vms[FAILED_VMS];
	static struct fdm_place_result out[FAILED_VMS];
	uint64_t *ns = calloc(runs, sizeof(*ns));
	uint32_t seed = 21;
	size_t placed = 0;
	struct fdm_stats st;

	if (ns == NULL)
		return -1;
	make_hosts(hosts, ids, &seed);
	make_vms(vms, names, &seed);
	for (unsigned r = 0; r < runs; r++) {
		uint64_t t0;

		memcpy(work, hosts, sizeof(work));
		t0 = now_ns();
		fdm_place(work, HOSTS, vms, FAILED_VMS, FDM_PLACE_DEFAULT_INFLIGHT, out);
		ns[r] = now_ns() - t0;
	}
	for (size_t v = 0; v < FAILED_VMS; v++)
		placed += out[v].host >= 0;
	st = fdm_stats_of(ns, runs);
	printf("\"placement\": {\"hosts\": %d, \"cluster_vms\": %d, \"failed_host_vms\": %d, "
	       "\"placed\": %zu, \"runs\": %u, \"median_ms\": %.3f, \"p99_ms\": %.3f, "
	       "\"max_ms\": %.3f}", HOSTS, CLUSTER_VMS, FAILED_VMS, placed, runs,
	       st.median / 1e6, st.p99 / 1e6, st.max / 1e6);
	free(ns);
	return placed == FAILED_VMS ? 0 : -1;
}

/* Resident pages of this process, in KiB. */
static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size, resident;

	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* A config of FDM_MAX_HOSTS peers and 8 datastores, this host the first. */
static void make_config(struct fdm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	fdm_strlcpy(cfg->path, "bench.conf", sizeof(cfg->path));
	fdm_strlcpy(cfg->cluster_id, "bench", sizeof(cfg->cluster_id));
	fdm_strlcpy(cfg->host_id, "host-1", sizeof(cfg->host_id));
	for (size_t i = 0; i < FDM_MAX_HOSTS; i++) {
		snprintf(cfg->peers[i].id, FDM_ID_MAX, "host-%zu", i + 1);
		snprintf(cfg->peers[i].address, FDM_ADDR_MAX, "10.0.%zu.%zu", i / 250, i % 250 + 1);
		cfg->peers[i].port = 8182;
	}
	cfg->n_peers = FDM_MAX_HOSTS;
	for (size_t d = 0; d < DATASTORES; d++) {
		snprintf(cfg->datastores[d].name, FDM_ID_MAX, "ds%zu", d + 1);
		snprintf(cfg->datastores[d].url, FDM_URL_MAX, "file:///ds%zu", d + 1);
	}
	cfg->n_datastores = DATASTORES;
	cfg->heartbeat_interval_ms = 1000;
	cfg->io_timeout_ms = 2000;
}

static int bench_memory(void)
{
	static struct fdm_config cfg;
	struct fdm_timing t;
	struct fdm_core *c;
	struct mallinfo2 m0, m1;
	long rss0, rss1;
	char err[256];
	int rc;

	make_config(&cfg);
	if (fdm_timing_derive(1000, 2000, &t, err, sizeof(err)) != 0) {
		fprintf(stderr, "fdm-bench-core: %s\n", err);
		return -1;
	}
	rss0 = rss_kib();
	c = malloc(sizeof(*c));
	if (c == NULL)
		return -1;
	memset(c, 0, sizeof(*c));   /* every page touched, as the agent's core is */
	m0 = mallinfo2();           /* heap in use, small chunks and mmapped ones */
	rc = fdm_core_init(c, &cfg, &t, 1, 1000000);
	m1 = mallinfo2();
	rss1 = rss_kib();
	printf("\"memory\": {\"hosts\": %d, \"vms\": %d, \"core_bytes\": %zu, "
	       "\"vm_entry_bytes\": %zu, \"init_heap_bytes\": %zd, \"rss_growth_kib\": %ld}",
	       FDM_MAX_HOSTS, FDM_MAX_VMS, sizeof(*c), sizeof(struct fdm_vm),
	       (ssize_t)((m1.uordblks + m1.hblkhd) - (m0.uordblks + m0.hblkhd)), rss1 - rss0);
	free(c);
	return rc == 0 && rss0 >= 0 && rss1 >= 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "runs", required_argument, NULL, 'r' }, { NULL, 0, NULL, 0 },
	};
	uint32_t runs = 1000;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c != 'r' || !fdm_parse_u32(optarg, 1, 1000000, &runs)) {
			fprintf(stderr, "usage: fdm-bench-core [--runs N]\n");
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: fdm-bench-core [--runs N]\n");
		return 2;
	}
	printf("{");
	if (bench_placement(runs) != 0)
		rc = 1;
	printf(", ");
	if (bench_memory() != 0)
		rc = 1;
	printf("}\n");
	return rc;
}
