/* The minicluster's fake hostd-shim per host: which VMs run there, power-ons
 * that take a while and may fail, stops with their reason, and a double-run
 * check after every step (a VM on two up hosts at once). The real core decides;
 * this only plays libvirt. */
#include <stdio.h>
#include <string.h>

#include "lib/util.h"
#include "tests/unit/minicluster.h"

static int find_vm(const struct mc_host *h, const char *name)
{
	for (size_t i = 0; i < h->n_vms; i++)
		if (strcmp(h->vms[i], name) == 0)
			return (int)i;
	return -1;
}

void mc_shim_on(struct minicluster *mc, size_t host, uint64_t free_kib, uint64_t total_kib)
{
	mc->hosts[host].shim = true;
	mc->hosts[host].free_kib = free_kib;
	mc->hosts[host].total_kib = total_kib;
}

bool mc_vm_runs(const struct minicluster *mc, size_t host, const char *name)
{
	return mc->hosts[host].up && find_vm(&mc->hosts[host], name) >= 0;
}

void mc_vm_start(struct minicluster *mc, size_t host, const char *name)
{
	struct mc_host *h = &mc->hosts[host];

	if (find_vm(h, name) < 0 && h->n_vms < MC_MAX_VMS)
		fdm_strlcpy(h->vms[h->n_vms++], name, sizeof(h->vms[0]));
}

void mc_vm_stop(struct minicluster *mc, size_t host, const char *name, enum fdm_stop_reason why)
{
	struct mc_host *h = &mc->hosts[host];
	int i = find_vm(h, name);

	if (i < 0)
		return;
	h->vms[i][0] = '\0';
	memmove(&h->vms[i], &h->vms[i + 1], (h->n_vms - (size_t)i - 1) * sizeof(h->vms[0]));
	h->n_vms--;
	if (h->up) {
		fdm_ha_on_local_stop(&h->core, name, why, mc_clock(mc, host), &mc->actions);
		mc_execute(mc, host);
	}
}

int mc_vm_where(const struct minicluster *mc, const char *name, int *count)
{
	int where = -1;

	*count = 0;
	for (size_t h = 0; h < mc->n; h++)
		if (mc_vm_runs(mc, h, name)) {
			where = (int)h;
			(*count)++;
		}
	return where;
}

/* FDM_ACT_POWER_ON: it ends mc->power_on_ms later (mc_vms_step). */
void mc_vms_power_on(struct minicluster *mc, size_t host, const struct fdm_action *a)
{
	struct mc_power_on *p;

	if (mc->n_power_ons == MC_MAX_POWER_ONS)
		return;
	p = &mc->power_ons[mc->n_power_ons++];
	memset(p, 0, sizeof(*p));
	p->host = host;
	p->incarnation = mc->hosts[host].incarnation;
	fdm_strlcpy(p->name, a->vm, sizeof(p->name));
	p->restarts = a->restarts;
	p->done_at = mc->now + mc->power_on_ms;
	mc->power_ons_asked++;
	if (mc->on_power_on != NULL)
		mc->on_power_on(mc, host, a->vm);
}

static void finish_power_on(struct minicluster *mc, const struct mc_power_on *p)
{
	struct mc_host *h = &mc->hosts[p->host];
	bool ok = !h->power_on_fails;

	/* The agent that asked is gone (killed, restarted): its shim still
	 * starts the domain, nobody hears about it. */
	if (ok)
		mc_vm_start(mc, p->host, p->name);
	if (!h->up || h->incarnation != p->incarnation)
		return;
	fdm_ha_on_power_on_done(&h->core, p->name, p->restarts, ok, ok,
				ok ? NULL : "test: power-on refused", mc_clock(mc, p->host), &mc->actions);
	mc_execute(mc, p->host);
}

/* Every step: finished power-ons, each up host's listing, the double-run check. */
void mc_vms_step(struct minicluster *mc)
{
	for (size_t i = 0; i < mc->n_power_ons;) {
		if (mc->power_ons[i].done_at > mc->now) {
			i++;
			continue;
		}
		struct mc_power_on p = mc->power_ons[i];

		mc->power_ons[i] = mc->power_ons[--mc->n_power_ons];
		finish_power_on(mc, &p);
	}
	for (size_t h = 0; h < mc->n; h++) {
		struct mc_host *host = &mc->hosts[h];
		struct fdm_local_view v;

		if (!host->up || host->paused || !host->shim ||
		    (host->list_every_ms && mc->now < host->listed_ms + host->list_every_ms))
			continue;
		host->listed_ms = mc->now;
		memset(&v, 0, sizeof(v));
		v.connected = true;
		v.listed_ms = mc_clock(mc, h);
		v.free_kib = host->free_kib;
		v.total_kib = host->total_kib;
		v.n_runs = host->n_vms;
		v.runs = (const char (*)[FDM_VM_NAME_MAX])host->vms;
		fdm_ha_on_local(&host->core, &v, mc_clock(mc, h), &mc->actions);
		mc_execute(mc, h);
	}
	for (size_t h = 0; h < mc->n; h++)
		for (size_t i = 0; i < mc->hosts[h].n_vms; i++) {
			int n;

			mc_vm_where(mc, mc->hosts[h].vms[i], &n);
			if (n > 1)
				mc->double_runs++;
		}
}
