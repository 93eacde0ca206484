/* The counters only `fdmctl metrics` needs, kept by the agent: event lines by
 * kind, and storage I/O latency by datastore name (indices move on reload). Pure:
 * the time comes with each call. */
#include "fdm/metrics.h"

#include <string.h>

#include "lib/util.h"

void fdm_metrics_count_event(struct fdm_metrics_counters *mc, const char *event)
{
	if (event == NULL)
		return;
	for (size_t i = 0; i < mc->n_events; i++)
		if (strcmp(mc->events[i].label, event) == 0) {
			mc->events[i].n++;
			return;
		}
	if (mc->n_events < FDM_METRICS_EVENT_KINDS)
		mc->events[mc->n_events++] = (struct fdm_metrics_count){ .label = event, .n = 1 };
}

void fdm_metrics_observe(struct fdm_io_histogram *h, uint64_t ms)
{
	size_t b = 0;

	while (b < FDM_METRICS_BUCKETS && ms > fdm_metrics_bucket_ms[b])
		b++;
	h->in_bucket[b]++;
	h->count++;
	h->sum_ms += ms;
}

/* The entry of datastore ds; a new one takes the least recently used slot (a
 * datastore removed by a reload). */
static struct fdm_metrics_io *io_of(struct fdm_metrics_counters *mc, const char *ds)
{
	struct fdm_metrics_io *oldest = &mc->io[0];

	for (size_t i = 0; i < FDM_MAX_DATASTORES; i++) {
		if (strcmp(mc->io[i].name, ds) == 0)
			return &mc->io[i];
		if (mc->io[i].used_ms < oldest->used_ms)
			oldest = &mc->io[i];
	}
	memset(oldest, 0, sizeof(*oldest));
	fdm_strlcpy(oldest->name, ds, sizeof(oldest->name));
	return oldest;
}

void fdm_metrics_io_issued(struct fdm_metrics_counters *mc, const char *ds,
			   enum fdm_storage_op op, uint64_t now)
{
	struct fdm_metrics_io *e = io_of(mc, ds);

	if ((unsigned)op >= FDM_STORAGE_OP_COUNT)
		return;
	e->issued_ms[op] = now;
	e->used_ms = now;
}

/* The core has at most one I/O of each kind in flight per datastore, so the
 * kind tells which one ended. */
void fdm_metrics_io_done(struct fdm_metrics_counters *mc, const char *ds,
			 enum fdm_storage_op op, bool ok, uint64_t now)
{
	struct fdm_metrics_io *e = io_of(mc, ds);
	uint64_t took;

	if ((unsigned)op >= FDM_STORAGE_OP_COUNT || e->issued_ms[op] == 0)
		return;
	took = now >= e->issued_ms[op] ? now - e->issued_ms[op] : 0;
	e->issued_ms[op] = 0;
	e->used_ms = now;
	fdm_metrics_observe(&e->io, took);
	if (op == FDM_STORAGE_LEASE_WRITE && ok) {
		e->have_renewal = true;
		e->renewal_ms = took > UINT32_MAX ? UINT32_MAX : (uint32_t)took;
	}
}
