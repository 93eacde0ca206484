/* fdm-bench-ds: the latency of the three datastore operations the agent makes
 * every io_timeout, through libfdmds (datastore/ds.h, the code the agent's
 * storage workers call), against one URL. Prints one JSON object per operation:
 *   {"op": "hb_write", "n": 1000, "failed": 0, "median_us": ..., "p99_us": ..., "max_us": ...}
 * Operations, each `--count` times in a row:
 *   hb_write      this host's heartbeat record (fdm_ds_hb_write)
 *   record_read   a read of that record back (fdm_ds_hb_read: read both slots, verify)
 *   lease_renew   a renewal write of the lease record (fdm_ds_lease_write), after
 *                 an untimed lease read, as the lease state machine always reads
 *                 before it writes (so the write uses the slot the read found)
 * The datastore is initialised first (fdm_ds_init, idempotent), as `fdmctl
 * datastore init` would, and one untimed hb write claims the host's slot. Exit 0 when every measurement was taken, 1 when an
 * operation failed (the bench then reports the row as not measured), 2 usage.
 *   fdm-bench-ds --url URL --key FILE [--cluster ID] [--host ID] [--io MS] [--count N] */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "datastore/ds.h"
#include "lib/key.h"
#include "lib/stats.h"
#include "lib/util.h"

/* One JSON line: the samples sorted, p99 the 99th percentile by rank. */
static void report(const char *op, uint64_t *us, size_t n, size_t failed)
{
	struct fdm_stats st;

	if (n == 0) {
		printf("{\"op\": \"%s\", \"n\": 0, \"failed\": %zu}\n", op, failed);
		return;
	}
	st = fdm_stats_of(us, n);
	printf("{\"op\": \"%s\", \"n\": %zu, \"failed\": %zu, \"median_us\": %llu, "
	       "\"p99_us\": %llu, \"max_us\": %llu}\n", op, n, failed,
	       (unsigned long long)st.median, (unsigned long long)st.p99,
	       (unsigned long long)st.max);
	fflush(stdout);
}

enum op { OP_HB_WRITE, OP_RECORD_READ, OP_LEASE_RENEW };

/* One timed operation; 0 when it succeeded. */
static int one(struct fdm_ds *ds, enum op op, const char *host, uint64_t renewal,
	       uint64_t *took_us, struct fdm_ds_result *res)
{
	struct fdm_lease_rec rec;
	struct fdm_lease_view view;
	struct fdm_ds_hb hb;
	enum fdm_ds_status st = FDM_DS_OK;
	uint64_t t0;

	if (op == OP_LEASE_RENEW) {
		/* The untimed read that precedes every renewal in lease.c. */
		st = fdm_ds_lease_read(ds, fdm_ds_deadline(ds), &view, res);
		if (st != FDM_DS_OK && st != FDM_DS_EMPTY)
			return -1;
		memset(&rec, 0, sizeof(rec));
		fdm_strlcpy(rec.owner, host, sizeof(rec.owner));
		rec.generation = 1;
		rec.renewal = renewal;
		rec.nonce = 42;
		rec.io_timeout_ms = fdm_ds_io_timeout(ds);
	}
	t0 = fdm_now_mono_us();
	switch (op) {
	case OP_HB_WRITE:
		st = fdm_ds_hb_write(ds, fdm_ds_deadline(ds), res);
		break;
	case OP_RECORD_READ:
		st = fdm_ds_hb_read(ds, host, fdm_ds_deadline(ds), &hb, res);
		break;
	case OP_LEASE_RENEW:
		st = fdm_ds_lease_write(ds, fdm_ds_deadline(ds), &rec, res);
		break;
	}
	*took_us = fdm_now_mono_us() - t0;
	return st == FDM_DS_OK ? 0 : -1;
}

static int measure(struct fdm_ds *ds, enum op op, const char *name, const char *host,
		   size_t count)
{
	uint64_t *us = calloc(count, sizeof(*us));
	struct fdm_ds_result res;
	size_t n = 0, failed = 0;

	if (us == NULL)
		return -1;
	for (size_t i = 0; i < count; i++) {
		uint64_t took;

		if (one(ds, op, host, i + 1, &took, &res) == 0) {
			us[n++] = took;
		} else if (failed++ == 0) {
			fprintf(stderr, "fdm-bench-ds: %s: %s: %s\n", name,
				fdm_ds_status_name(res.status), res.msg);
		}
	}
	report(name, us, n, failed);
	free(us);
	return failed == 0 ? 0 : -1;
}

/* The first hb write: on iscsi:// it claims this host's slot of the LUN, and
 * answers FDM_DS_CLAIMING until the claim is confirmed (retry after 2 x io),
 * as the agent's first writes do. Not timed. */
static int first_write(struct fdm_ds *ds)
{
	struct fdm_ds_result res;

	for (int i = 0; i < 10; i++) {
		enum fdm_ds_status st = fdm_ds_hb_write(ds, fdm_ds_deadline(ds), &res);

		if (st == FDM_DS_OK)
			return 0;
		if (st != FDM_DS_CLAIMING) {
			fprintf(stderr, "fdm-bench-ds: first hb write: %s: %s\n",
				fdm_ds_status_name(st), res.msg);
			return -1;
		}
		usleep(2 * 1000 * fdm_ds_io_timeout(ds) + 100000);
	}
	fprintf(stderr, "fdm-bench-ds: first hb write: still claiming\n");
	return -1;
}

static void usage(void)
{
	fprintf(stderr, "usage: fdm-bench-ds --url URL --key FILE [--cluster ID] [--host ID] "
		"[--io MS] [--count N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' }, { "key", required_argument, NULL, 'k' },
		{ "cluster", required_argument, NULL, 'c' }, { "host", required_argument, NULL, 'H' },
		{ "io", required_argument, NULL, 'i' }, { "count", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct fdm_ds_params p = { .cluster = "bench", .host = "host-1", .io_timeout_ms = 2000 };
	uint8_t key[FDM_KEY_MAX];
	const char *url = NULL, *keyfile = NULL;
	struct fdm_ds_identity id;
	struct fdm_ds_result res;
	struct fdm_ds *ds;
	uint32_t v, count = 1000;
	bool created;
	char err[512];
	int c, len, rc = 0;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'u': url = optarg; break;
		case 'k': keyfile = optarg; break;
		case 'c': p.cluster = optarg; break;
		case 'H': p.host = optarg; break;
		case 'i': if (!fdm_parse_u32(optarg, 100, 60000, &v)) usage(); p.io_timeout_ms = v; break;
		case 'n': if (!fdm_parse_u32(optarg, 1, 1000000, &v)) usage(); count = v; break;
		default: usage();
		}
	}
	if (url == NULL || keyfile == NULL || optind != argc)
		usage();
	len = fdm_key_load(keyfile, key, err, sizeof(err));
	if (len < 0) {
		fprintf(stderr, "fdm-bench-ds: %s\n", err);
		return 2;
	}
	p.key = key;
	p.key_len = (size_t)len;
	p.incarnation = fdm_now_unix_ms();
	if (fdm_ds_open(url, &p, &ds, err, sizeof(err)) != 0) {
		fprintf(stderr, "fdm-bench-ds: %s\n", err);
		return 2;
	}
	if (fdm_ds_init(ds, "fdm-bench-ds", fdm_ds_deadline(ds), &id, &created, &res) != FDM_DS_OK) {
		fprintf(stderr, "fdm-bench-ds: init %s: %s\n", url, res.msg);
		fdm_ds_close(ds);
		return 1;
	}
	if (first_write(ds) != 0) {
		fdm_ds_close(ds);
		return 1;
	}
	if (measure(ds, OP_HB_WRITE, "hb_write", p.host, count) != 0)
		rc = 1;
	if (measure(ds, OP_RECORD_READ, "record_read", p.host, count) != 0)
		rc = 1;
	if (measure(ds, OP_LEASE_RENEW, "lease_renew", p.host, count) != 0)
		rc = 1;
	fdm_ds_close(ds);
	return rc;
}
