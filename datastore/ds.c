/* The datastore interface (ds.h): opens a handle by URL scheme, and frames every
 * call that touches records: fdm_ds_begin connects and checks the identity,
 * fdm_ds_finish turns a result that came after its deadline into a timeout.
 * Also the small helpers the backends share and the calls that only list. */
#include "datastore/ds_backend.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

static const char *const status_names[FDM_DS_STATUS_COUNT] = {
	[FDM_DS_OK] = "ok",
	[FDM_DS_EMPTY] = "never written",
	[FDM_DS_CORRUPT] = "corrupt",
	[FDM_DS_TIMEOUT] = "timeout",
	[FDM_DS_IO] = "I/O error",
	[FDM_DS_TOO_BIG] = "too big",
	[FDM_DS_CLAIMING] = "claiming host slot",
	[FDM_DS_UNINITIALIZED] = "uninitialized",
};

const char *fdm_ds_status_name(enum fdm_ds_status s)
{
	return (unsigned)s < FDM_DS_STATUS_COUNT ? status_names[s] : "?";
}

static const struct fdm_ds_rec_def recs[FDM_DS_REC_COUNT] = {
	[FDM_DS_REC_LEASE] = { "protectedlist:lease", FDM_REC_KIND_LEASE, FDM_DS_LEASE_SLOT,
			       &fdm__lease_record__descriptor, false },
	[FDM_DS_REC_VMLIST] = { "protectedlist", FDM_REC_KIND_VMLIST, FDM_DS_VMLIST_SLOT,
				&fdm__protected_list__descriptor, false },
	[FDM_DS_REC_HB] = { "hb", FDM_REC_KIND_HEARTBEAT, FDM_DS_HB_SLOT,
			    &fdm__host_heartbeat_record__descriptor, true },
	[FDM_DS_REC_POWERON] = { "poweron", FDM_REC_KIND_POWERON, FDM_DS_POWERON_SLOT,
				 &fdm__power_on_record__descriptor, true },
	[FDM_DS_REC_IDENTITY] = { "identity", FDM_REC_KIND_IDENTITY, FDM_DS_IDENTITY_SLOT,
				  &fdm__datastore_identity__descriptor, false },
};

const struct fdm_ds_rec_def *fdm_ds_rec_def(enum fdm_ds_rec rec)
{
	return &recs[rec];
}

const char *fdm_ds_rec_name(enum fdm_ds_rec rec)
{
	return (unsigned)rec < FDM_DS_REC_COUNT ? recs[rec].name : "?";
}

size_t fdm_ds_slot_size(enum fdm_ds_rec rec)
{
	return recs[rec].slot;
}

void fdm_ds_record_label(enum fdm_ds_rec rec, const char *host, char *out, size_t len)
{
	if (recs[rec].per_host)
		snprintf(out, len, "host-%s-%s", host, recs[rec].name);
	else
		snprintf(out, len, "%s", recs[rec].name);
}

/* ------------------------------------------------------------ shared helpers */

void fdm_ds_result_clear(struct fdm_ds_result *res)
{
	memset(res, 0, sizeof(*res));
	res->damaged_slot = -1;
}

enum fdm_ds_status fdm_ds_fail(const struct fdm_ds *ds, struct fdm_ds_result *res,
			       enum fdm_ds_status status, const char *fmt, ...)
{
	char why[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	res->status = status;
	snprintf(res->msg, sizeof(res->msg), "%.200s: %s", ds->url, why);
	return status;
}

void fdm_ds_file_of(enum fdm_ds_rec rec, const char *host, char *name, size_t len,
		    uint64_t *base)
{
	*base = 0;
	switch (rec) {
	case FDM_DS_REC_LEASE:
		snprintf(name, len, "protectedlist");
		break;
	case FDM_DS_REC_VMLIST:
		/* After the two lease slots, in the same file. */
		snprintf(name, len, "protectedlist");
		*base = 2 * FDM_DS_LEASE_SLOT;
		break;
	default:
		fdm_ds_record_label(rec, host, name, len);
		break;
	}
}

bool fdm_ds_host_of_file(const char *name, char *id, size_t len)
{
	static const char *const suffixes[] = { "-hb", "-poweron" };
	size_t n = strlen(name);

	if (strncmp(name, "host-", 5) != 0)
		return false;
	for (size_t i = 0; i < 2; i++) {
		size_t sl = strlen(suffixes[i]);

		if (n > 5 + sl && strcmp(name + n - sl, suffixes[i]) == 0 &&
		    n - 5 - sl < len) {
			memcpy(id, name + 5, n - 5 - sl);
			id[n - 5 - sl] = '\0';
			return fdm_ds_valid_id(id);
		}
	}
	return false;
}

void fdm_ds_list_add(struct fdm_ds_hostlist *l, const char *id)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->ids[i], id) == 0)
			return;
	if (l->n < FDM_DS_MAX_LISTED)
		fdm_strlcpy(l->ids[l->n++], id, FDM_DS_ID_MAX);
}

bool fdm_ds_valid_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= FDM_DS_ID_MAX)
		return false;
	for (; *s; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

bool fdm_ds_numeric_host(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];
	char v6[INET6_ADDRSTRLEN + 1];
	size_t n = strlen(s);

	if (inet_pton(AF_INET, s, buf) == 1)
		return true;
	if (n < 3 || s[0] != '[' || s[n - 1] != ']' || n - 2 >= sizeof(v6))
		return false;
	memcpy(v6, s + 1, n - 2);
	v6[n - 2] = '\0';
	return inet_pton(AF_INET6, v6, buf) == 1;
}

uint64_t fdm_ds_left(uint64_t deadline)
{
	uint64_t now = fdm_now_boottime_ms();

	return now < deadline ? deadline - now : 0;
}

bool fdm_ds_past(uint64_t deadline)
{
	return fdm_now_boottime_ms() > deadline;
}

void *fdm_ds_alloc_aligned(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, FDM_REC_ALIGN, len) != 0)
		return NULL;
	memset(p, 0, len);
	return p;
}

uint64_t fdm_ds_random_u64(void)
{
	uint64_t v = 0;

	if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
		v = fdm_now_boottime_ms() ^ ((uint64_t)fdm_now_unix_ms() << 20);
	return v != 0 ? v : 1;
}

/* ------------------------------------------------------------ open, close */

int fdm_ds_open(const char *url, const struct fdm_ds_params *p, struct fdm_ds **out,
		char *err, size_t errlen)
{
	static const struct fdm_ds_backend *const backends[] = {
		&fdm_ds_file_backend, &fdm_ds_nfs_backend, &fdm_ds_iscsi_backend,
	};
	struct fdm_ds *ds;

	*out = NULL;
	if (p->key_len == 0 || p->key_len > sizeof(ds->auth.key) ||
	    strlen(p->cluster) >= FDM_REC_CLUSTER_MAX || strlen(p->host) >= FDM_DS_ID_MAX) {
		snprintf(err, errlen, "%s: bad cluster id, host id or key length", url);
		return -1;
	}
	ds = calloc(1, sizeof(*ds));
	if (ds == NULL || !fdm_strlcpy(ds->url, url, sizeof(ds->url))) {
		snprintf(err, errlen, "%s: URL too long or out of memory", url);
		free(ds);
		return -1;
	}
	fdm_strlcpy(ds->auth.cluster, p->cluster, sizeof(ds->auth.cluster));
	memcpy(ds->auth.key, p->key, p->key_len);
	ds->auth.key_len = p->key_len;
	fdm_strlcpy(ds->host, p->host, sizeof(ds->host));
	ds->io_timeout_ms = p->io_timeout_ms;
	ds->incarnation = p->incarnation;
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		size_t sl = strlen(backends[i]->scheme);

		if (strncmp(url, backends[i]->scheme, sl) != 0)
			continue;
		ds->be = backends[i];
		if (ds->be->init(ds, url + sl, err, errlen) != 0) {
			OPENSSL_cleanse(ds->auth.key, sizeof(ds->auth.key));
			free(ds);
			return -1;
		}
		*out = ds;
		return 0;
	}
	snprintf(err, errlen, "%s: unknown scheme (file://, nfs://, iscsi://)", url);
	OPENSSL_cleanse(ds->auth.key, sizeof(ds->auth.key));
	free(ds);
	return -1;
}

void fdm_ds_close(struct fdm_ds *ds)
{
	if (ds == NULL)
		return;
	ds->be->destroy(ds);
	OPENSSL_cleanse(ds->auth.key, sizeof(ds->auth.key));
	free(ds);
}

const char *fdm_ds_url(const struct fdm_ds *ds) { return ds->url; }
uint32_t fdm_ds_io_timeout(const struct fdm_ds *ds) { return ds->io_timeout_ms; }

uint64_t fdm_ds_deadline(const struct fdm_ds *ds)
{
	return fdm_now_boottime_ms() + ds->io_timeout_ms;
}

void fdm_ds_get_stats(const struct fdm_ds *ds, struct fdm_ds_stats *out)
{
	*out = ds->stats;
}

void fdm_ds_disconnect(struct fdm_ds *ds)
{
	ds->be->disconnect(ds);
}

void fdm_ds_set_cluster(struct fdm_ds *ds, const char *cluster)
{
	fdm_strlcpy(ds->auth.cluster, cluster, sizeof(ds->auth.cluster));
	memset(ds->cache, 0, sizeof(ds->cache));
	ds->hb_counter_known = false;
	/* Another folder: its identity is checked afresh. */
	ds->identity_gen = 0;
}

/* ------------------------------------------------------------ every call */

enum fdm_ds_status fdm_ds_begin(struct fdm_ds *ds, uint64_t deadline, struct fdm_ds_result *res)
{
	enum fdm_ds_status st;

	fdm_ds_result_clear(res);
	/* A request that reaches us past its deadline is not started: a write
	 * must land within io_timeout of the moment its caller decided on it. */
	if (fdm_ds_past(deadline))
		return fdm_ds_fail(ds, res, FDM_DS_TIMEOUT, "deadline passed before the call began");
	st = ds->be->connect(ds, false, deadline, res);
	if (st != FDM_DS_OK)
		return st;
	if (ds->identity_gen != 0 && ds->identity_gen == ds->conn_gen)
		return FDM_DS_OK;
	return fdm_ds_check_identity(ds, deadline, NULL, res);
}

enum fdm_ds_status fdm_ds_finish(struct fdm_ds *ds, uint64_t deadline, enum fdm_ds_status st,
				 struct fdm_ds_result *res)
{
	uint64_t now = fdm_now_boottime_ms();

	/* DESIGN.md point 1: an I/O that completes later than its deadline has
	 * failed, whatever it returned; drop the connection as on any timeout. */
	if (st != FDM_DS_TIMEOUT && now > deadline) {
		ds->be->disconnect(ds);
		fdm_ds_result_clear(res);
		st = fdm_ds_fail(ds, res, FDM_DS_TIMEOUT,
				 "completed %llu ms after its deadline (%s): counted as failed",
				 (unsigned long long)(now - deadline), fdm_ds_status_name(st));
	}
	res->status = st;
	if (st == FDM_DS_TIMEOUT)
		ds->stats.timeouts++;
	else if (st == FDM_DS_IO)
		ds->stats.errors++;
	return st;
}

/* ------------------------------------------------------------ raw access */

enum fdm_ds_status fdm_ds_be_read(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				  uint64_t off, void *buf, size_t len, size_t *got,
				  uint64_t deadline, struct fdm_ds_result *res)
{
	*got = 0;
	ds->stats.reads++;
	return ds->be->read(ds, rec, host, off, buf, len, got, deadline, res);
}

enum fdm_ds_status fdm_ds_be_write(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				   uint64_t off, const void *buf, size_t len,
				   uint64_t deadline, struct fdm_ds_result *res)
{
	ds->stats.writes++;
	return ds->be->write(ds, rec, host, off, buf, len, deadline, res);
}

enum fdm_ds_status fdm_ds_raw_read(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				   uint64_t off, void *buf, size_t len, size_t *got,
				   uint64_t deadline, struct fdm_ds_result *res)
{
	enum fdm_ds_status st = fdm_ds_begin(ds, deadline, res);

	*got = 0;
	if (st == FDM_DS_OK)
		st = fdm_ds_be_read(ds, rec, host, off, buf, len, got, deadline, res);
	return fdm_ds_finish(ds, deadline, st, res);
}

enum fdm_ds_status fdm_ds_raw_write(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				    uint64_t off, const void *buf, size_t len,
				    uint64_t deadline, struct fdm_ds_result *res)
{
	enum fdm_ds_status st = fdm_ds_begin(ds, deadline, res);

	/* A raw write may overwrite our own records behind the cache's back. */
	memset(ds->cache, 0, sizeof(ds->cache));
	if (st == FDM_DS_OK)
		st = fdm_ds_be_write(ds, rec, host, off, buf, len, deadline, res);
	return fdm_ds_finish(ds, deadline, st, res);
}

enum fdm_ds_status fdm_ds_truncate(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				   uint64_t len, uint64_t deadline, struct fdm_ds_result *res)
{
	enum fdm_ds_status st = fdm_ds_begin(ds, deadline, res);

	memset(ds->cache, 0, sizeof(ds->cache));
	if (st == FDM_DS_OK && ds->be->truncate == NULL)
		st = fdm_ds_fail(ds, res, FDM_DS_IO, "truncate: not possible on this backend");
	else if (st == FDM_DS_OK)
		st = ds->be->truncate(ds, rec, host, len, deadline, res);
	return fdm_ds_finish(ds, deadline, st, res);
}

/* ------------------------------------------------------------ listing */

enum fdm_ds_status fdm_ds_list_hosts(struct fdm_ds *ds, uint64_t deadline,
				     struct fdm_ds_hostlist *out, struct fdm_ds_result *res)
{
	enum fdm_ds_status st = fdm_ds_begin(ds, deadline, res);

	memset(out, 0, sizeof(*out));
	if (st == FDM_DS_OK)
		st = ds->be->list_hosts(ds, deadline, out, res);
	return fdm_ds_finish(ds, deadline, st, res);
}

/* No identity check: the cluster is what we are looking for. */
enum fdm_ds_status fdm_ds_list_clusters(struct fdm_ds *ds, uint64_t deadline,
					struct fdm_ds_hostlist *out, struct fdm_ds_result *res)
{
	enum fdm_ds_status st;

	fdm_ds_result_clear(res);
	memset(out, 0, sizeof(*out));
	st = ds->be->list_clusters(ds, deadline, out, res);
	return fdm_ds_finish(ds, deadline, st, res);
}
