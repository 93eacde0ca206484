/* The Prometheus text exposition format (0.0.4) of a struct fdm_metrics, for
 * `fdmctl metrics` and [metrics] textfile. Pure: no clock, no I/O but the memory
 * stream the text is built in. Every family has its HELP and TYPE lines; names
 * start with fdm_, counters end in _total, label values are escaped as the
 * format says (backslash, double quote, newline). fdmctl(8) lists the families. */
#include "fdm/metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const uint32_t fdm_metrics_bucket_ms[FDM_METRICS_BUCKETS] = {
	1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 60000,
};

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value between double quotes, escaped. */
static void label_value(FILE *f, const char *v)
{
	fputc('"', f);
	for (const char *p = v != NULL ? v : ""; *p != '\0'; p++) {
		if (*p == '\\')
			fputs("\\\\", f);
		else if (*p == '"')
			fputs("\\\"", f);
		else if (*p == '\n')
			fputs("\\n", f);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* name{k1="v1",k2="v2"} value; k2 may be NULL (one label), k1 too (none). */
static void sample(FILE *f, const char *name, const char *k1, const char *v1,
		   const char *k2, const char *v2, uint64_t value)
{
	fputs(name, f);
	if (k1 != NULL) {
		fprintf(f, "{%s=", k1);
		label_value(f, v1);
		if (k2 != NULL) {
			fprintf(f, ",%s=", k2);
			label_value(f, v2);
		}
		fputc('}', f);
	}
	fprintf(f, " %" PRIu64 "\n", value);
}

/* A duration in ms as seconds, exactly (three decimals). */
static void sample_seconds(FILE *f, const char *name, const char *k1, const char *v1,
			   uint64_t ms)
{
	fputs(name, f);
	if (k1 != NULL) {
		fprintf(f, "{%s=", k1);
		label_value(f, v1);
		fputc('}', f);
	}
	fprintf(f, " %" PRIu64 ".%03" PRIu64 "\n", ms / 1000, ms % 1000);
}

static void counts(FILE *f, const char *name, const char *type, const char *help,
		   const char *key, const struct fdm_metrics_count *c, size_t n)
{
	family(f, name, type, help);
	for (size_t i = 0; i < n; i++)
		sample(f, name, key, c[i].label, NULL, NULL, c[i].n);
}

static void agent_part(FILE *f, const struct fdm_metrics *m)
{
	family(f, "fdm_info", "gauge", "The agent: cluster, host id and version (always 1).");
	fputs("fdm_info{cluster=", f);
	label_value(f, m->cluster);
	fputs(",host=", f);
	label_value(f, m->host);
	fputs(",version=", f);
	label_value(f, m->version);
	fputs("} 1\n", f);
	family(f, "fdm_uptime_seconds", "gauge", "Time since the agent started.");
	sample_seconds(f, "fdm_uptime_seconds", NULL, NULL, m->uptime_ms);
	counts(f, "fdm_role", "gauge", "This host's role: 1 for the current one.", "role",
	       m->roles, m->n_roles);
	family(f, "fdm_term", "gauge", "The election term this host knows.");
	sample(f, "fdm_term", NULL, NULL, NULL, NULL, m->term);
	counts(f, "fdm_hosts", "gauge", "Configured hosts by state, as this host sees them.",
	       "state", m->hosts, m->n_hosts);
	counts(f, "fdm_vms", "gauge", "Protected VMs by state (the master's table).", "state",
	       m->vms, m->n_vms);
	counts(f, "fdm_vm_restarts_total", "counter",
	       "Restarts this host began as master, by reason.", "reason", m->restarts,
	       m->n_restarts);
	counts(f, "fdm_vm_poweron_failures_total", "counter",
	       "Failed power-ons this host saw as master: retried, or the VM failed.", "outcome",
	       m->failures, m->n_failures);
	counts(f, "fdm_events_total", "counter",
	       "Event lines (fdmctl events, the journal's FDM_EVENT) by kind.", "event",
	       m->events, m->n_events);
	counts(f, "fdm_dropped_packets_total", "counter", "Datagrams dropped, by reason.",
	       "reason", m->dropped, m->n_dropped);
}

static void lease_part(FILE *f, const struct fdm_metrics *m)
{
	family(f, "fdm_datastore_reachable", "gauge",
	       "1 while the datastore answers this host in time.");
	for (size_t d = 0; d < m->n_ds; d++)
		sample(f, "fdm_datastore_reachable", "datastore", m->ds[d].name, NULL, NULL,
		       m->ds[d].reachable);
	family(f, "fdm_lease_state", "gauge",
	       "This host's delta lease on the datastore: 1 for the current state.");
	for (size_t d = 0; d < m->n_ds; d++)
		for (int s = FDM_LEASE_IDLE; s <= FDM_LEASE_RELEASING; s++) {
			const char *name = fdm_lease_state_name((enum fdm_lease_state)s);

			sample(f, "fdm_lease_state", "datastore", m->ds[d].name, "state", name,
			       m->ds[d].lease_state != NULL &&
			       strcmp(m->ds[d].lease_state, name) == 0);
		}
	family(f, "fdm_lease_acting", "gauge",
	       "1 while this host may act on the lease (restart VMs of the datastore).");
	for (size_t d = 0; d < m->n_ds; d++)
		sample(f, "fdm_lease_acting", "datastore", m->ds[d].name, NULL, NULL,
		       m->ds[d].lease_acting);
	family(f, "fdm_lease_renewal_latency_seconds", "gauge",
	       "How long this host's last successful lease write took.");
	for (size_t d = 0; d < m->n_ds; d++)
		if (m->ds[d].have_renewal)
			sample_seconds(f, "fdm_lease_renewal_latency_seconds", "datastore",
				       m->ds[d].name, m->ds[d].renewal_ms);
}

static void histogram(FILE *f, const char *name, const char *ds, const struct fdm_io_histogram *h)
{
	char bucket[64], le[24];
	uint64_t cumulative = 0;

	snprintf(bucket, sizeof(bucket), "%s_bucket", name);
	for (size_t b = 0; b <= FDM_METRICS_BUCKETS; b++) {
		cumulative += h->in_bucket[b];
		if (b < FDM_METRICS_BUCKETS)
			snprintf(le, sizeof(le), "%g", fdm_metrics_bucket_ms[b] / 1000.0);
		else
			snprintf(le, sizeof(le), "+Inf");
		sample(f, bucket, "datastore", ds, "le", le, cumulative);
	}
	snprintf(bucket, sizeof(bucket), "%s_sum", name);
	sample_seconds(f, bucket, "datastore", ds, h->sum_ms);
	snprintf(bucket, sizeof(bucket), "%s_count", name);
	sample(f, bucket, "datastore", ds, NULL, NULL, h->count);
}

static void storage_part(FILE *f, const struct fdm_metrics *m)
{
	family(f, "fdm_storage_io_duration_seconds", "histogram",
	       "Storage I/O of this host, from the decision to its end (timeouts included).");
	for (size_t d = 0; d < m->n_ds; d++)
		histogram(f, "fdm_storage_io_duration_seconds", m->ds[d].name, &m->ds[d].io);
	family(f, "fdm_storage_io_total", "counter", "Storage I/O requests submitted.");
	for (size_t d = 0; d < m->n_ds; d++)
		sample(f, "fdm_storage_io_total", "datastore", m->ds[d].name, NULL, NULL,
		       m->ds[d].io_submitted);
	family(f, "fdm_storage_io_timeouts_total", "counter",
	       "Storage I/O that did not end within io_timeout (queued ones included).");
	for (size_t d = 0; d < m->n_ds; d++)
		sample(f, "fdm_storage_io_timeouts_total", "datastore", m->ds[d].name, NULL, NULL,
		       m->ds[d].io_timeouts);
	family(f, "fdm_storage_io_queued", "gauge", "Storage I/O requests waiting for the worker.");
	for (size_t d = 0; d < m->n_ds; d++)
		sample(f, "fdm_storage_io_queued", "datastore", m->ds[d].name, NULL, NULL,
		       m->ds[d].io_queued);
}

char *fdm_metrics_text(const struct fdm_metrics *m)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return NULL;
	agent_part(f, m);
	lease_part(f, m);
	storage_part(f, m);
	if (ferror(f)) {
		fclose(f);
		free(text);
		return NULL;
	}
	fclose(f);
	return text;
}
