/* `fdmctl metrics` and [metrics] textfile: the agent's state in the Prometheus
 * text exposition format (version 0.0.4). metrics.c turns a struct fdm_metrics
 * (plain data) into the text, purely; metrics_counters.c keeps what only the
 * metrics need (events by kind, storage I/O latency); metrics_gather.c fills a
 * struct fdm_metrics from the agent; metrics_textfile.c writes the text to a
 * file for node_exporter. */
#ifndef FDM_METRICS_H
#define FDM_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fdm/core/core.h"
#include "lib/config.h"

/* Storage I/O latency buckets, upper bounds in ms (then +Inf): from a fast
 * local disk to past the largest io_timeout (60 s). */
#define FDM_METRICS_BUCKETS 14
extern const uint32_t fdm_metrics_bucket_ms[FDM_METRICS_BUCKETS];

struct fdm_io_histogram {
	uint64_t in_bucket[FDM_METRICS_BUCKETS + 1];   /* not cumulative; last: +Inf */
	uint64_t count;
	uint64_t sum_ms;
};

/* A label value and a sample: one state and how many are in it, one reason and
 * its count. */
struct fdm_metrics_count {
	const char *label;
	uint64_t n;
};

#define FDM_METRICS_EVENT_KINDS 64    /* distinct FDM_EVENT kinds counted */
#define FDM_METRICS_STATES      24    /* label values of one enum-like family */

struct fdm_metrics_ds {
	const char *name;
	bool reachable;
	const char *state;             /* fdm_ds_state_name */
	const char *lease_state;       /* fdm_lease_state_name */
	bool lease_acting;
	bool have_renewal;             /* a lease write of ours succeeded here */
	uint32_t renewal_ms;           /* ... and took this long, the last one */
	struct fdm_io_histogram io;
	uint64_t io_submitted, io_timeouts, io_queued;
};

struct fdm_metrics {
	const char *cluster, *host, *version;
	uint64_t uptime_ms;
	uint64_t term;
	struct fdm_metrics_count roles[FDM_METRICS_STATES];    /* 1 for ours, 0 the rest */
	size_t n_roles;
	struct fdm_metrics_count hosts[FDM_METRICS_STATES];    /* hosts by state */
	size_t n_hosts;
	struct fdm_metrics_count vms[FDM_METRICS_STATES];      /* VMs by state */
	size_t n_vms;
	struct fdm_metrics_count restarts[4];                  /* restarts by reason */
	size_t n_restarts;
	struct fdm_metrics_count failures[4];                  /* power-on failures by outcome */
	size_t n_failures;
	struct fdm_metrics_count events[FDM_METRICS_EVENT_KINDS];
	size_t n_events;
	struct fdm_metrics_count dropped[FDM_METRICS_STATES];  /* datagrams by reason */
	size_t n_dropped;
	struct fdm_metrics_ds ds[FDM_MAX_DATASTORES];
	size_t n_ds;
};

/* The exposition text of m: a malloc'd string (the caller frees it), NULL when
 * out of memory. Pure. */
char *fdm_metrics_text(const struct fdm_metrics *m);

/* ------------------------------------------- metrics_counters.c: the counters */
/* What the agent counts for the metrics alone, by datastore name (indices move
 * on reload). */
struct fdm_metrics_io {
	char name[FDM_ID_MAX];          /* "" unused */
	uint64_t issued_ms[FDM_STORAGE_OP_COUNT];   /* by op: in flight since (0: none) */
	struct fdm_io_histogram io;
	bool have_renewal;
	uint32_t renewal_ms;
	uint64_t used_ms;               /* last I/O: the oldest entry is reused */
};

struct fdm_metrics_counters {
	struct fdm_metrics_count events[FDM_METRICS_EVENT_KINDS];  /* labels: static */
	size_t n_events;
	struct fdm_metrics_io io[FDM_MAX_DATASTORES];
};

/* A core event line of this kind (a static string) was logged. */
void fdm_metrics_count_event(struct fdm_metrics_counters *mc, const char *event);
/* A storage I/O (enum fdm_storage_op) on datastore ds began / ended at now. */
void fdm_metrics_io_issued(struct fdm_metrics_counters *mc, const char *ds,
			   enum fdm_storage_op op, uint64_t now);
void fdm_metrics_io_done(struct fdm_metrics_counters *mc, const char *ds,
			 enum fdm_storage_op op, bool ok, uint64_t now);
/* Into the histogram: one I/O that took ms. */
void fdm_metrics_observe(struct fdm_io_histogram *h, uint64_t ms);

/* metrics_gather.c: everything, from the agent now. The strings point into the
 * agent. */
struct fdm_agent;
void fdm_metrics_gather(const struct fdm_agent *a, uint64_t now, struct fdm_metrics *m);

/* -------------------------------------------- metrics_textfile.c: the file */
#define FDM_METRICS_TEXTFILE_MS 5000   /* written this often (fdm.conf(5)) */

/* Write text to path atomically: path.tmp in the same directory, fsync,
 * rename. Refuses a path that exists and is not a regular file (a symlink
 * included), and a path.tmp that is not one. -1 with why. Blocks: run it off
 * the event loop (fdm_textfile_start). */
int fdm_metrics_write_file(const char *path, const char *text, char *err, size_t errlen);

/* The writer the agent runs every FDM_METRICS_TEXTFILE_MS: each write in a
 * thread of its own, so that a slow disk never holds up the event loop; a
 * write still running when the next is due makes that one skipped. */
struct fdm_textfile;
struct fdm_textfile *fdm_textfile_new(void);
/* Start writing text (taken) to path, unless a write is still running (then
 * text is freed and false returned). */
bool fdm_textfile_start(struct fdm_textfile *t, const char *path, char *text);
/* The outcome of the last finished write since the last call: 1 written, -1
 * failed (why), 0 none finished. */
int fdm_textfile_result(struct fdm_textfile *t, char *why, size_t whylen);
/* The agent lets go; a write still running frees it when it ends. */
void fdm_textfile_free(struct fdm_textfile *t);

#endif
