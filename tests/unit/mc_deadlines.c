/* The minicluster's fake hostd-shim, deadline part (DESIGN.md safety point 5):
 * it powers a VM off when its agent asks (FDM_ACT_POWER_OFF), takes its agent's
 * deadlines with every step, as the shell hands them over, and powers a VM off
 * itself when the deadline it holds passes, whether its agent lives or not. */
#include <string.h>

#include "fdm/core/deadline.h"
#include "lib/util.h"
#include "tests/unit/minicluster.h"

static bool runs_here(const struct mc_host *h, const char *name)
{
	for (size_t i = 0; i < h->n_vms; i++)
		if (strcmp(h->vms[i], name) == 0)
			return true;
	return false;
}

/* The domain is destroyed: reported as the real shim reports it (destroyed). */
static void power_off(struct minicluster *mc, size_t host, const char *name, bool by_shim)
{
	struct mc_host *h = &mc->hosts[host];
	char vm[FDM_VM_NAME_MAX];

	if (!runs_here(h, name) || h->power_off_fails)
		return;
	fdm_strlcpy(vm, name, sizeof(vm));
	if (by_shim)
		mc->shim_fenced++;
	else
		mc->power_offs++;
	if (mc->on_power_off != NULL)
		mc->on_power_off(mc, host, vm, by_shim);
	if (!h->up || h->paused) {
		/* No agent to tell now: it sees the VM gone in its next listing. */
		for (size_t i = 0; i < h->n_vms; i++)
			if (strcmp(h->vms[i], vm) == 0) {
				memmove(&h->vms[i], &h->vms[i + 1],
					(h->n_vms - i - 1) * sizeof(h->vms[0]));
				h->n_vms--;
				break;
			}
		return;
	}
	mc_vm_stop(mc, host, vm, FDM_STOP_USER);
}

void mc_vms_power_off(struct minicluster *mc, size_t host, const struct fdm_action *a)
{
	if (mc->hosts[host].shim && a->shutdown_ms != 0) {
		mc->shutdowns++;
		if (mc->guests_ignore_shutdown)
			return;
	}
	if (mc->hosts[host].shim)
		power_off(mc, host, a->vm, false);
}

/* The agent hands its deadlines over with every step (fdm/ha_shell.c), and the
 * shim replaces its list with it, except that a deadline that has passed stays
 * in force until its VM is off (no later deadline or omission lifts it), as
 * hostd-shim does. */
static void take_deadlines(struct mc_host *h, uint64_t now)
{
	struct fdm_vm_deadline v[MC_MAX_VMS];
	size_t n = fdm_deadline_list(&h->core, v, MC_MAX_VMS);
	size_t old = h->n_deadlines;
	struct { char name[FDM_VM_NAME_MAX]; uint64_t at; } passed[MC_MAX_VMS];
	size_t n_passed = 0;

	for (size_t k = 0; k < old; k++)
		if (now >= h->deadlines[k].at && runs_here(h, h->deadlines[k].name) &&
		    n_passed < MC_MAX_VMS) {
			fdm_strlcpy(passed[n_passed].name, h->deadlines[k].name, FDM_VM_NAME_MAX);
			passed[n_passed++].at = h->deadlines[k].at;
		}
	for (size_t i = 0; i < n && i < MC_MAX_VMS; i++) {
		fdm_strlcpy(h->deadlines[i].name, v[i].name, sizeof(h->deadlines[i].name));
		h->deadlines[i].at = v[i].deadline_ms;
	}
	h->n_deadlines = n < MC_MAX_VMS ? n : MC_MAX_VMS;
	for (size_t p = 0; p < n_passed; p++) {
		size_t k;

		for (k = 0; k < h->n_deadlines; k++)
			if (strcmp(h->deadlines[k].name, passed[p].name) == 0)
				break;
		if (k == h->n_deadlines) {
			if (h->n_deadlines == MC_MAX_VMS)
				continue;
			fdm_strlcpy(h->deadlines[k].name, passed[p].name, FDM_VM_NAME_MAX);
			h->n_deadlines++;
		} else if (h->deadlines[k].at <= passed[p].at) {
			continue;
		}
		h->deadlines[k].at = passed[p].at;
	}
}

/* The watchdog: fdm pets it only while every deadline is in the future or its
 * VM is off, so a VM that cannot be powered off resets the host watchdog_ms
 * after its deadline (shorter than the margin). */
static void watchdog(struct minicluster *mc, size_t i, bool late)
{
	struct mc_host *h = &mc->hosts[i];

	if (!late || mc->watchdog_ms == 0) {
		h->deadline_late_since = 0;
		return;
	}
	if (h->deadline_late_since == 0)
		h->deadline_late_since = mc->now;
	if (mc->now < h->deadline_late_since + mc->watchdog_ms)
		return;
	h->deadline_late_since = 0;
	mc->watchdog_resets++;
	mc_kill(mc, i);
	if (mc->on_reset != NULL)
		mc->on_reset(mc, i);
}

void mc_deadlines_step(struct minicluster *mc)
{
	for (size_t i = 0; i < mc->n; i++) {
		struct mc_host *h = &mc->hosts[i];
		uint64_t now = mc_clock(mc, i);
		bool late = false;

		if (!h->shim)
			continue;
		if (h->up && !h->paused) {
			take_deadlines(h, now);
			h->pinged_ms = now;
		}
#ifdef FDM_MUTANT_PING_WATCHDOG
		/* Mutant: a plain ping watchdog (DESIGN.md point 5 says why not): the
		 * shim powers its protected VMs off only once its agent has been
		 * silent for host_dead, whatever their deadlines. */
		for (size_t k = 0; k < h->n_deadlines; k++)
			if (now >= h->pinged_ms + mc->timing.host_dead_ms)
				power_off(mc, i, h->deadlines[k].name, true);
		continue;
#endif
		for (size_t k = 0; k < h->n_deadlines; k++)
			if (now >= h->deadlines[k].at && runs_here(h, h->deadlines[k].name)) {
				power_off(mc, i, h->deadlines[k].name, true);
				late |= runs_here(h, h->deadlines[k].name);
			}
		watchdog(mc, i, late);
	}
}

/* The agent's exit after a clean stop (fdm/agent.c): once its leases are
 * released and `stopped` written, it waits until the shim holds its last list,
 * in which the VMs of datastores that say `stopped` are no more (they run on
 * without a deadline); one that gives up first leaves the shim what it had. */
void mc_shim_clean_stop(struct minicluster *mc, size_t host)
{
	struct mc_host *h = &mc->hosts[host];

	if (h->shim && fdm_core_released(&h->core))
		take_deadlines(h, mc_clock(mc, host));
}

/* A new agent on a host whose shim lives on: it asks the shim for the
 * deadlines it holds before it hands over any (fdm/ha_shell.c). A host that
 * crashed comes back with a shim that holds none (its VMs died with it). */
void mc_deadlines_inherit(struct minicluster *mc, size_t i)
{
	struct mc_host *h = &mc->hosts[i];
	struct fdm_vm_deadline v[MC_MAX_VMS];

	if (!h->shim)
		return;
	for (size_t k = 0; k < h->n_deadlines; k++) {
		fdm_strlcpy(v[k].name, h->deadlines[k].name, sizeof(v[k].name));
		v[k].ds = -1;
		v[k].deadline_ms = h->deadlines[k].at;
	}
	fdm_core_inherit_deadlines(&h->core, v, h->n_deadlines, mc_clock(mc, i), &mc->actions);
	mc_execute(mc, i);
}
