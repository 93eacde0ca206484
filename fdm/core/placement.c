/* Placement and admission control (placement.h). The master calls fdm_place with
 * the VMs that may be restarted now (safety point 2 already checked) and the hosts
 * that may run them; it never sees a host that is not a candidate, so nothing here
 * can put a VM on a dead or fenced host. Like vSphere HA: priority order, most
 * free memory first, a bound on concurrent power-ons per host. */
#include "fdm/core/placement.h"

#include <stdio.h>
#include <string.h>

static const char *const prio_names[] = {
	[FDM__PRIORITY__PRIORITY_DISABLED] = "disabled",
	[FDM__PRIORITY__PRIORITY_LOWEST] = "lowest",
	[FDM__PRIORITY__PRIORITY_LOW] = "low",
	[FDM__PRIORITY__PRIORITY_MEDIUM] = "medium",
	[FDM__PRIORITY__PRIORITY_HIGH] = "high",
	[FDM__PRIORITY__PRIORITY_HIGHEST] = "highest",
};

const char *fdm_priority_name(Fdm__Priority p)
{
	return (unsigned)p <= FDM__PRIORITY__PRIORITY_HIGHEST ? prio_names[p] : "?";
}

int fdm_priority_parse(const char *name)
{
	for (int p = 0; p <= FDM__PRIORITY__PRIORITY_HIGHEST; p++)
		if (strcmp(name, prio_names[p]) == 0)
			return p;
	return -1;
}

static double gib(uint64_t kib)
{
	return (double)kib / (1024.0 * 1024.0);
}

/* Does vms[a] go before vms[b]? Priority, then size (large VMs are the hardest
 * to fit once memory is fragmented over hosts), then input order. */
static bool goes_first(const struct fdm_place_vm *vms, size_t a, size_t b)
{
	if (vms[a].priority != vms[b].priority)
		return vms[a].priority > vms[b].priority;
	if (vms[a].memory_kib != vms[b].memory_kib)
		return vms[a].memory_kib > vms[b].memory_kib;
	return a < b;
}

/* The order to place in, as indices: insertion sort, stable and allocation-free
 * (the caller bounds n; placement of 500 VMs is 125k comparisons at worst). */
static void order_vms(const struct fdm_place_vm *vms, size_t n, size_t *idx)
{
	for (size_t i = 0; i < n; i++) {
		size_t j = i;

		idx[i] = i;
		while (j > 0 && goes_first(vms, idx[j], idx[j - 1])) {
			size_t t = idx[j];

			idx[j] = idx[j - 1];
			idx[j - 1] = t;
			j--;
		}
	}
}

/* Why no host takes vm: the most specific reason an operator can act on. */
static void explain_no_fit(const struct fdm_place_host *hosts, size_t n,
			   const struct fdm_place_vm *vm, uint32_t max_inflight,
			   struct fdm_place_result *r)
{
	size_t fresh = 0, roomy = 0;

	for (size_t h = 0; h < n; h++) {
		if (!(hosts[h].ds_mask & (1u << vm->ds)))
			continue;
		fresh++;
		if (hosts[h].free_kib >= vm->memory_kib)
			roomy++;
	}
	if (fresh == 0)
		snprintf(r->why, sizeof(r->why), "no connected host outside maintenance "
			 "with a live heartbeat on its datastore");
	else if (roomy == 0)
		snprintf(r->why, sizeof(r->why), "no host with %.1f GiB free", gib(vm->memory_kib));
	else
		snprintf(r->why, sizeof(r->why), "every host that fits has %u power-ons "
			 "in progress", max_inflight);
}

/* The candidate with the most free memory that fits vm, or -1. */
static int best_host(const struct fdm_place_host *hosts, size_t n,
		     const struct fdm_place_vm *vm, uint32_t max_inflight, int skip)
{
	int best = -1;

	for (size_t h = 0; h < n; h++) {
		if ((int)h == skip || !(hosts[h].ds_mask & (1u << vm->ds)) ||
		    hosts[h].free_kib < vm->memory_kib || hosts[h].inflight >= max_inflight)
			continue;
		if (best < 0 || hosts[h].free_kib > hosts[best].free_kib)
			best = (int)h;
	}
	return best;
}

static void place_one(struct fdm_place_host *hosts, size_t n, const struct fdm_place_vm *vm,
		      uint32_t max_inflight, struct fdm_place_result *r)
{
	int h;

	r->host = -1;
	if (vm->priority == FDM__PRIORITY__PRIORITY_DISABLED) {
		snprintf(r->why, sizeof(r->why), "restart priority disabled");
		return;
	}
	h = -1;
	if (vm->prefer >= 0 && (size_t)vm->prefer < n && vm->prefer != vm->avoid &&
	    (hosts[vm->prefer].ds_mask & (1u << vm->ds)) &&
	    hosts[vm->prefer].free_kib >= vm->memory_kib &&
	    hosts[vm->prefer].inflight < max_inflight)
		h = vm->prefer;
	if (h < 0)
		h = best_host(hosts, n, vm, max_inflight, vm->avoid);
	if (h < 0 && vm->avoid >= 0)
		h = best_host(hosts, n, vm, max_inflight, -1);
	if (h < 0) {
		explain_no_fit(hosts, n, vm, max_inflight, r);
		return;
	}
	snprintf(r->why, sizeof(r->why), "on %s (priority %s, %.1f GiB free)", hosts[h].id,
		 fdm_priority_name(vm->priority), gib(hosts[h].free_kib));
	hosts[h].free_kib -= vm->memory_kib;
	hosts[h].inflight++;
	r->host = h;
}

void fdm_place(struct fdm_place_host *hosts, size_t n_hosts, const struct fdm_place_vm *vms,
	       size_t n_vms, uint32_t max_inflight, struct fdm_place_result *out)
{
	size_t idx[FDM_PLACE_BATCH];
	size_t n = n_vms < FDM_PLACE_BATCH ? n_vms : FDM_PLACE_BATCH;

	for (size_t i = n; i < n_vms; i++) {
		out[i].host = -1;
		snprintf(out[i].why, sizeof(out[i].why), "waiting for the next placement round");
	}
	order_vms(vms, n, idx);
	for (size_t i = 0; i < n; i++)
		place_one(hosts, n_hosts, &vms[idx[i]], max_inflight, &out[idx[i]]);
}

bool fdm_admission_ok(const uint64_t *host_kib, size_t n_hosts, uint32_t tolerated,
		      uint64_t need_kib, int64_t *spare_kib, char *why, size_t whylen)
{
	bool gone[FDM_PLACE_MAX_HOSTS] = { false };
	uint64_t left = 0;

	if (n_hosts > FDM_PLACE_MAX_HOSTS)
		n_hosts = FDM_PLACE_MAX_HOSTS;
	/* Take away the largest hosts: the worst case for the ones that remain. */
	for (uint32_t k = 0; k < tolerated && k < n_hosts; k++) {
		size_t big = n_hosts;

		for (size_t h = 0; h < n_hosts; h++)
			if (!gone[h] && (big == n_hosts || host_kib[h] > host_kib[big]))
				big = h;
		gone[big] = true;
	}
	for (size_t h = 0; h < n_hosts; h++)
		if (!gone[h])
			left += host_kib[h];
	*spare_kib = (int64_t)left - (int64_t)need_kib;
	snprintf(why, whylen, "protected VMs need %.1f GiB; after the %u largest of %zu "
		 "hosts fail, %.1f GiB remain (spare %.1f GiB)", gib(need_kib), tolerated,
		 n_hosts, gib(left), (double)*spare_kib / (1024.0 * 1024.0));
	return *spare_kib >= 0;
}
