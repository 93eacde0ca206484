/* iscsi://address[:port]/target-iqn/lun: a raw LUN through libiscsi's async API.
 * This file: the connection and bounded SCSI I/O, and the backend's entry
 * points; the layout is in ds_iscsi.h and ds_iscsi_layout.c, host regions in
 * ds_iscsi_claims.c.
 *
 * Connecting logs in, reads the capacity and checks the format block; a blank
 * LUN is FDM_DS_UNINITIALIZED (only fdm_ds_init formats it), and so is one that
 * another cluster formatted. The portal is a numeric address (IPv4, or IPv6 in
 * brackets): libiscsi would resolve a name with a synchronous getaddrinfo that
 * no deadline bounds.
 *
 * Bounded I/O: as nfs://, the context is destroyed at the deadline, on a
 * connection error, or when an answer comes after the deadline (libiscsi's own
 * reconnect is off), so a command that missed its deadline is never resent on a
 * later connection. Writes use FUA. */
#include "datastore/ds_iscsi.h"

#include <errno.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/util.h"

struct task_call {
	bool done;
	int status;
	uint8_t *rbuf;
	size_t rlen;
	uint32_t block_len;           /* read capacity */
	uint64_t last_lba;
	char err[160];
};


/* "address[:port]" with a numeric address, IPv6 in brackets. */
static bool numeric_portal(const char *portal)
{
	char host[256];
	const char *colon;
	size_t n;
	uint32_t port;

	if (portal[0] == '[') {
		const char *close = strchr(portal, ']');

		if (close == NULL)
			return false;
		n = (size_t)(close - portal) + 1;
		colon = close[1] == ':' ? close + 1 : NULL;
		if (close[1] != '\0' && colon == NULL)
			return false;
	} else {
		colon = strchr(portal, ':');
		n = colon != NULL ? (size_t)(colon - portal) : strlen(portal);
	}
	if (n >= sizeof(host))
		return false;
	memcpy(host, portal, n);
	host[n] = '\0';
	if (colon != NULL && !fdm_parse_u32(colon + 1, 1, 65535, &port))
		return false;
	return fdm_ds_numeric_host(host);
}

static int iscsi_be_init(struct fdm_ds *ds, const char *rest, char *err, size_t errlen)
{
	const char *slash = strchr(rest, '/');
	const char *last = strrchr(rest, '/');
	struct iscsi_be *b;
	char portal[256];
	uint32_t lun;

	if (slash == NULL || slash == rest || last == slash || last[1] == '\0' ||
	    !fdm_parse_u32(last + 1, 0, 255, &lun) || (size_t)(slash - rest) >= sizeof(portal) ||
	    (size_t)(last - slash - 1) >= sizeof(b->target)) {
		snprintf(err, errlen, "%s: want iscsi://address[:port]/target-iqn/lun", ds->url);
		return -1;
	}
	memcpy(portal, rest, (size_t)(slash - rest));
	portal[slash - rest] = '\0';
	if (!numeric_portal(portal)) {
		snprintf(err, errlen, "%s: \"%s\" is not a numeric address[:port] (IPv4, or IPv6 in "
			 "brackets): host names are not resolved, the lookup could not be bounded",
			 ds->url, portal);
		return -1;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		snprintf(err, errlen, "%s: out of memory", ds->url);
		return -1;
	}
	fdm_strlcpy(b->portal, portal, sizeof(b->portal));
	memcpy(b->target, slash + 1, (size_t)(last - slash - 1));
	b->lun = (int)lun;
	b->my_slot = -1;
	ds->priv = b;
	return 0;
}

static void drop(struct fdm_ds *ds)
{
	struct iscsi_be *b = iscsi_be_of(ds);

	if (b->iscsi == NULL)
		return;
	/* Cancels every task: their callbacks run now and free them. */
	iscsi_destroy_context(b->iscsi);
	b->iscsi = NULL;
}

static void task_cb(struct iscsi_context *iscsi, int status, void *command_data, void *priv)
{
	struct task_call *c = priv;
	struct scsi_task *task = command_data;

	c->done = true;
	c->status = status;
	if (status != SCSI_STATUS_GOOD) {
		snprintf(c->err, sizeof(c->err), "%s", iscsi_get_error(iscsi));
	} else if (c->rbuf != NULL && task != NULL) {
		size_t n = (size_t)task->datain.size < c->rlen ? (size_t)task->datain.size : c->rlen;

		memcpy(c->rbuf, task->datain.data, n);
	} else if (task != NULL && task->cdb[0] == SCSI_OPCODE_SERVICE_ACTION_IN) {
		struct scsi_readcapacity16 *rc = scsi_datain_unmarshall(task);

		if (rc != NULL) {
			c->block_len = rc->block_length;
			c->last_lba = rc->returned_lba;
		}
	}
	if (task != NULL)
		scsi_free_scsi_task(task);
}

static void connect_cb(struct iscsi_context *iscsi, int status, void *command_data, void *priv)
{
	struct task_call *c = priv;

	(void)command_data;
	c->done = true;
	c->status = status;
	if (status != SCSI_STATUS_GOOD)
		snprintf(c->err, sizeof(c->err), "%s", iscsi_get_error(iscsi));
}

static enum fdm_ds_status wait_task(struct fdm_ds *ds, struct task_call *c, uint64_t deadline,
				    const char *what, struct fdm_ds_result *res)
{
	struct iscsi_be *b = iscsi_be_of(ds);

	while (!c->done) {
		uint64_t left = fdm_ds_left(deadline);
		struct pollfd pfd;
		int n;

		if (left == 0) {
			drop(ds);
			return fdm_ds_fail(ds, res, FDM_DS_TIMEOUT,
					   "%s: no answer within the deadline: connection dropped", what);
		}
		pfd.fd = iscsi_get_fd(b->iscsi);
		pfd.events = (short)iscsi_which_events(b->iscsi);
		pfd.revents = 0;
		n = poll(&pfd, 1, (int)(left < 100 ? left : 100));
		if (n < 0 && errno != EINTR) {
			drop(ds);
			return fdm_ds_fail(ds, res, FDM_DS_IO, "%s: poll: %s", what, strerror(errno));
		}
		if (iscsi_service(b->iscsi, n > 0 ? pfd.revents : 0) < 0) {
			char why[160];

			snprintf(why, sizeof(why), "%s", iscsi_get_error(b->iscsi));
			drop(ds);
			return fdm_ds_fail(ds, res, FDM_DS_IO, "%s: connection failed: %s", what, why);
		}
	}
	if (fdm_ds_past(deadline)) {
		/* Answered, but too late to count (DESIGN.md point 1). */
		drop(ds);
		return fdm_ds_fail(ds, res, FDM_DS_TIMEOUT,
				   "%s: answered after the deadline: connection dropped", what);
	}
	if (c->status != SCSI_STATUS_GOOD) {
		/* A failed command leaves the session in doubt: start afresh. */
		drop(ds);
		return fdm_ds_fail(ds, res, FDM_DS_IO, "%s: %s", what, c->err);
	}
	return FDM_DS_OK;
}

enum fdm_ds_status fdm_iscsi_lun_io(struct fdm_ds *ds, bool write, uint64_t off, void *buf,
				    size_t len, uint64_t deadline, struct fdm_ds_result *res)
{
	struct iscsi_be *b = iscsi_be_of(ds);
	struct task_call c = { 0 };
	struct scsi_task *t;
	uint32_t bs = b->block_size;

	if (b->iscsi == NULL)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "connection lost during the call");
	if (off % bs != 0 || len % bs != 0 || off + len > b->lun_bytes)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "%s of %zu bytes at %llu: outside the LUN or "
				   "not block aligned", write ? "write" : "read", len,
				   (unsigned long long)off);
	if (write) {
		t = iscsi_write16_task(b->iscsi, b->lun, off / bs, buf, (uint32_t)len, (int)bs,
				       0, 0, 1, 0, 0, task_cb, &c);
	} else {
		c.rbuf = buf;
		c.rlen = len;
		t = iscsi_read16_task(b->iscsi, b->lun, off / bs, (uint32_t)len, (int)bs,
				      0, 0, 0, 0, 0, task_cb, &c);
	}
	if (t == NULL) {
		drop(ds);
		return fdm_ds_fail(ds, res, FDM_DS_IO, "cannot queue a SCSI command");
	}
	return wait_task(ds, &c, deadline, write ? "write" : "read", res);
}

/* ------------------------------------------------------------ connect */

static enum fdm_ds_status read_capacity(struct fdm_ds *ds, uint64_t deadline,
					struct fdm_ds_result *res)
{
	struct iscsi_be *b = iscsi_be_of(ds);
	struct task_call c = { 0 };
	enum fdm_ds_status st;

	if (iscsi_readcapacity16_task(b->iscsi, b->lun, task_cb, &c) == NULL) {
		drop(ds);
		return fdm_ds_fail(ds, res, FDM_DS_IO, "cannot queue READ CAPACITY");
	}
	st = wait_task(ds, &c, deadline, "read capacity", res);
	if (st != FDM_DS_OK)
		return st;
	if (c.block_len == 0 || BLOCK % c.block_len != 0) {
		drop(ds);
		return fdm_ds_fail(ds, res, FDM_DS_IO, "block size %u not supported (512..4096)",
				   c.block_len);
	}
	b->block_size = c.block_len;
	b->lun_bytes = (c.last_lba + 1) * c.block_len;
	if (b->lun_bytes < LUN_END) {
		drop(ds);
		return fdm_ds_fail(ds, res, FDM_DS_IO, "LUN of %llu bytes is smaller than the "
				   "%llu the layout needs", (unsigned long long)b->lun_bytes,
				   (unsigned long long)LUN_END);
	}
	return FDM_DS_OK;
}

static enum fdm_ds_status iscsi_be_connect(struct fdm_ds *ds, bool for_init, uint64_t deadline,
					   struct fdm_ds_result *res)
{
	struct iscsi_be *b = iscsi_be_of(ds);
	struct task_call c = { 0 };
	char initiator[160];
	enum fdm_ds_status st;

	if (b->iscsi != NULL)
		return FDM_DS_OK;
	ds->stats.reconnects++;
	/* Unique per process: a second login with the same name and ISID would
	 * make the target drop the first session. */
	snprintf(initiator, sizeof(initiator), "iqn.2026-01.org.fdm:%s-%ld",
		 ds->host[0] ? ds->host : "inspect", (long)getpid());
	b->iscsi = iscsi_create_context(initiator);
	if (b->iscsi == NULL)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "cannot create an iSCSI context");
	iscsi_set_targetname(b->iscsi, b->target);
	iscsi_set_session_type(b->iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(b->iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	/* libiscsi would otherwise log in again by itself and resend queued tasks. */
	iscsi_set_noautoreconnect(b->iscsi, 1);
	if (iscsi_full_connect_async(b->iscsi, b->portal, b->lun, connect_cb, &c) != 0) {
		st = fdm_ds_fail(ds, res, FDM_DS_IO, "connect %s: %s", b->portal,
				 iscsi_get_error(b->iscsi));
		drop(ds);
		return st;
	}
	st = wait_task(ds, &c, deadline, "connect", res);
	if (st == FDM_DS_OK)
		st = read_capacity(ds, deadline, res);
	if (st == FDM_DS_OK)
		st = fdm_iscsi_check_format(ds, for_init, deadline, res);
	if (st != FDM_DS_OK) {
		drop(ds);
		return st;
	}
	ds->conn_gen++;
	return FDM_DS_OK;
}

static enum fdm_ds_status iscsi_be_prepare(struct fdm_ds *ds, uint64_t deadline,
					   struct fdm_ds_result *res)
{
	return fdm_iscsi_format(ds, deadline, res);
}

static enum fdm_ds_status iscsi_be_read(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
					uint64_t off, void *buf, size_t len, size_t *got,
					uint64_t deadline, struct fdm_ds_result *res)
{
	enum fdm_ds_status st;
	uint64_t base;
	bool none;

	memset(buf, 0, len);
	*got = 0;
	st = fdm_iscsi_locate(ds, rec, host, false, deadline, &base, &none, res);
	if (st != FDM_DS_OK || none)
		return st;
	st = fdm_iscsi_lun_io(ds, false, base + off, buf, len, deadline, res);
	if (st == FDM_DS_OK)
		*got = len;
	return st;
}

static enum fdm_ds_status iscsi_be_write(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
					 uint64_t off, const void *buf, size_t len,
					 uint64_t deadline, struct fdm_ds_result *res)
{
	enum fdm_ds_status st;
	uint64_t base;
	bool none;

	st = fdm_iscsi_locate(ds, rec, host, true, deadline, &base, &none, res);
	if (st == FDM_DS_OK)
		st = fdm_iscsi_lun_io(ds, true, base + off, (void *)buf, len, deadline, res);
	return st;
}

static enum fdm_ds_status iscsi_be_list_hosts(struct fdm_ds *ds, uint64_t deadline,
					      struct fdm_ds_hostlist *out,
					      struct fdm_ds_result *res)
{
	struct iscsi_be *b = iscsi_be_of(ds);
	enum fdm_ds_status st = fdm_iscsi_read_claims(ds, deadline, res);

	for (int i = 0; st == FDM_DS_OK && i < MAX_HOSTS; i++)
		if (fdm_ds_valid_id(b->owners[i]))
			fdm_ds_list_add(out, b->owners[i]);
	return st;
}

/* The LUN's owner as block 0 names it: read the block without verifying it. */
static enum fdm_ds_status iscsi_be_list_clusters(struct fdm_ds *ds, uint64_t deadline,
						 struct fdm_ds_hostlist *out,
						 struct fdm_ds_result *res)
{
	struct iscsi_be *b = iscsi_be_of(ds);
	enum fdm_ds_status st;

	drop(ds);       /* read block 0 afresh */
	st = iscsi_be_connect(ds, true, deadline, res);
	/* A key mismatch fails connect, but block 0 was read; blank: none. */
	if (b->lun_cluster[0] != '\0' && fdm_ds_valid_id(b->lun_cluster)) {
		fdm_ds_list_add(out, b->lun_cluster);
		fdm_ds_result_clear(res);
		return FDM_DS_OK;
	}
	return st;
}

static void iscsi_be_disconnect(struct fdm_ds *ds)
{
	drop(ds);
}

static void iscsi_be_destroy(struct fdm_ds *ds)
{
	drop(ds);
	free(ds->priv);
	ds->priv = NULL;
}

const struct fdm_ds_backend fdm_ds_iscsi_backend = {
	.scheme = "iscsi://",
	.init = iscsi_be_init,
	.connect = iscsi_be_connect,
	.prepare = iscsi_be_prepare,
	.read = iscsi_be_read,
	.write = iscsi_be_write,
	.truncate = NULL,
	.list_hosts = iscsi_be_list_hosts,
	.list_clusters = iscsi_be_list_clusters,
	.disconnect = iscsi_be_disconnect,
	.destroy = iscsi_be_destroy,
};
