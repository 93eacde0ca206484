/* nfs://address/export[/dir]: NFSv3 through libnfs's async API, nothing mounted
 * in the kernel. Records are files under [/dir]/.fdm-ha/<cluster>/, as for file://.
 *
 * Bounded I/O (DESIGN.md safety point 2): every call runs libnfs's event loop
 * here until the answer or the deadline. At the deadline, or when the connection
 * fails, the whole libnfs context is destroyed: its socket is closed, its queued
 * requests are cancelled, and libnfs's own reconnect-and-resend is switched off,
 * so a write that missed its deadline is never sent again later on a new
 * connection; an answer that comes after the deadline is a timeout too. The next
 * call connects afresh (and ds.c checks the identity again). Writes are
 * FILE_SYNC (O_SYNC).
 *
 * The address is numeric (IPv4, or IPv6 in brackets): libnfs would resolve a
 * name with a synchronous getaddrinfo that no deadline bounds.
 * The URL's path may name an export or a directory below one: the longest
 * prefix the server mounts is the export, and the rest of the path must exist
 * in it. A missing directory is an error naming it; it is never created and no
 * other export is used in its place. Only fdm_ds_init creates anything (the
 * .fdm-ha/<cluster> folder below the URL's directory). */
#include "datastore/ds_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw-nfs.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/util.h"

struct nfs_be {
	char server[256];             /* numeric, no brackets */
	char path[512];               /* from the URL, "/export/dir" */
	size_t export_len;            /* path[0..export_len) is the export (connected) */
	struct nfs_context *nfs;      /* NULL: not connected */
};

/* One asynchronous call: the callback fills it in. */
struct call {
	bool done;
	int status;                   /* >= 0 ok (bytes for read/write), -errno */
	void *data;                   /* open: nfsfh, opendir: nfsdir */
	uint8_t *rbuf;                /* read: copy the data here */
	size_t rlen;
	struct nfs_stat_64 *st;       /* stat: copy the attributes here */
	char err[160];
};

static struct nfs_be *be_of(struct fdm_ds *ds) { return ds->priv; }

static void call_cb(int status, struct nfs_context *nfs, void *data, void *priv)
{
	struct call *c = priv;

	(void)nfs;
	c->done = true;
	c->status = status;
	if (status < 0) {
		snprintf(c->err, sizeof(c->err), "%s", data != NULL ? (const char *)data : strerror(-status));
		return;
	}
	if (c->rbuf != NULL) {
		size_t n = (size_t)status < c->rlen ? (size_t)status : c->rlen;

		memcpy(c->rbuf, data, n);
		c->status = (int)n;
	} else if (c->st != NULL) {
		*c->st = *(const struct nfs_stat_64 *)data;
	} else {
		c->data = data;
	}
}

static void ignore_cb(int status, struct nfs_context *nfs, void *data, void *priv)
{
	(void)status; (void)nfs; (void)data; (void)priv;
}

static int nfs_be_init(struct fdm_ds *ds, const char *rest, char *err, size_t errlen)
{
	const char *slash = strchr(rest, '/');
	char server[256];
	struct nfs_be *b;

	if (slash == NULL || slash == rest || slash[1] == '\0' || strchr(rest, '?') != NULL ||
	    (size_t)(slash - rest) >= sizeof(server) || strlen(slash) >= sizeof(b->path) - 200) {
		snprintf(err, errlen, "%s: want nfs://address/export[/dir] (NFSv3, no options)",
			 ds->url);
		return -1;
	}
	memcpy(server, rest, (size_t)(slash - rest));
	server[slash - rest] = '\0';
	if (!fdm_ds_numeric_host(server)) {
		snprintf(err, errlen, "%s: \"%s\" is not a numeric address (IPv4, or IPv6 in "
			 "brackets): host names are not resolved, the lookup could not be bounded",
			 ds->url, server);
		return -1;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		snprintf(err, errlen, "%s: out of memory", ds->url);
		return -1;
	}
	if (server[0] == '[') {
		memcpy(b->server, server + 1, strlen(server) - 2);
	} else {
		fdm_strlcpy(b->server, server, sizeof(b->server));
	}
	fdm_strlcpy(b->path, slash, sizeof(b->path));
	while (strlen(b->path) > 1 && b->path[strlen(b->path) - 1] == '/')
		b->path[strlen(b->path) - 1] = '\0';
	ds->priv = b;
	return 0;
}

/* Abort everything in flight: destroy the context (cancelling its calls, whose
 * callbacks run now, while their struct call is still on our stack). */
static void drop(struct fdm_ds *ds, struct nfsfh *open_fh)
{
	struct nfs_be *b = be_of(ds);

	if (b->nfs == NULL)
		return;
	if (open_fh != NULL)
		nfs_close_async(b->nfs, open_fh, ignore_cb, NULL);   /* frees it */
	nfs_destroy_context(b->nfs);
	b->nfs = NULL;
}

/* Run libnfs until c is answered or the deadline passes. */
static enum fdm_ds_status wait_call(struct fdm_ds *ds, struct call *c, uint64_t deadline,
				    struct nfsfh *open_fh, const char *what,
				    struct fdm_ds_result *res)
{
	struct nfs_be *b = be_of(ds);

	while (!c->done) {
		uint64_t left = fdm_ds_left(deadline);
		struct pollfd pfd;
		int n;

		if (left == 0) {
			drop(ds, open_fh);
			return fdm_ds_fail(ds, res, FDM_DS_TIMEOUT,
					   "%s: no answer within the deadline: connection dropped", what);
		}
		pfd.fd = nfs_get_fd(b->nfs);
		pfd.events = (short)nfs_which_events(b->nfs);
		pfd.revents = 0;
		n = poll(&pfd, 1, (int)(left < 100 ? left : 100));
		if (n < 0 && errno != EINTR) {
			drop(ds, open_fh);
			return fdm_ds_fail(ds, res, FDM_DS_IO, "%s: poll: %s", what, strerror(errno));
		}
		if (nfs_service(b->nfs, n > 0 ? pfd.revents : 0) < 0) {
			char why[160];

			/* The context is unusable now, answered or not. */
			snprintf(why, sizeof(why), "%s", nfs_get_error(b->nfs));
			drop(ds, open_fh);
			return fdm_ds_fail(ds, res, FDM_DS_IO, "%s: connection failed: %s", what, why);
		}
	}
	if (fdm_ds_past(deadline)) {
		/* Answered, but too late to count (DESIGN.md point 1). */
		drop(ds, open_fh);
		return fdm_ds_fail(ds, res, FDM_DS_TIMEOUT,
				   "%s: answered after the deadline: connection dropped", what);
	}
	return FDM_DS_OK;
}

/* Wait for a call libnfs accepted (rc 0), or report why it did not. */
static enum fdm_ds_status run_call(struct fdm_ds *ds, int rc, struct call *c, uint64_t deadline,
				   struct nfsfh *open_fh, const char *what,
				   struct fdm_ds_result *res)
{
	if (rc != 0)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "%s: %s", what, nfs_get_error(be_of(ds)->nfs));
	return wait_call(ds, c, deadline, open_fh, what, res);
}

/* *refused: the server answered that this path is not an export (as opposed
 * to not answering at all). */
static enum fdm_ds_status mount_one(struct fdm_ds *ds, size_t export_len, uint64_t deadline,
				    bool *refused, struct fdm_ds_result *res)
{
	struct nfs_be *b = be_of(ds);
	char export[512];
	struct call c = { 0 };
	enum fdm_ds_status st;

	*refused = false;
	memcpy(export, b->path, export_len);
	export[export_len] = '\0';
	b->nfs = nfs_init_context();
	if (b->nfs == NULL)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "cannot create an NFS context");
	nfs_set_version(b->nfs, NFS_V3);
	/* libnfs would otherwise reconnect by itself and resend what was queued. */
	nfs_set_autoreconnect(b->nfs, 0);
	st = run_call(ds, nfs_mount_async(b->nfs, b->server, export, call_cb, &c), &c, deadline,
		      NULL, "mount", res);
	*refused = st == FDM_DS_OK && c.status < 0 && strstr(c.err, "Mount failed") != NULL;
	if (st == FDM_DS_OK && c.status < 0)
		st = fdm_ds_fail(ds, res, FDM_DS_IO, "mount %s:%s: %s", b->server, export, c.err);
	if (st != FDM_DS_OK)
		drop(ds, NULL);
	return st;
}

/* The rest of the URL's path below the export must be a directory there. */
static enum fdm_ds_status check_dir(struct fdm_ds *ds, uint64_t deadline,
				    struct fdm_ds_result *res)
{
	struct nfs_be *b = be_of(ds);
	const char *below = b->path + b->export_len;
	struct nfs_stat_64 attr;
	struct call c = { .st = &attr };
	enum fdm_ds_status st;

	if (below[0] == '\0')
		return FDM_DS_OK;
	st = run_call(ds, nfs_stat64_async(b->nfs, below, call_cb, &c), &c, deadline, NULL,
		      below, res);
	if (st == FDM_DS_OK && c.status < 0)
		st = fdm_ds_fail(ds, res, FDM_DS_IO, "%s does not exist in export %.*s of %s (%s): "
				 "fdm never creates it nor uses another export", b->path,
				 (int)b->export_len, b->path, b->server, c.err);
	else if (st == FDM_DS_OK && (attr.nfs_mode & S_IFMT) != S_IFDIR)
		st = fdm_ds_fail(ds, res, FDM_DS_IO, "%s is not a directory on %s", b->path,
				 b->server);
	return st;
}

/* Mount the export: the whole path, or the longest prefix the server exports
 * (found afresh on each connection); the rest must exist in it. */
static enum fdm_ds_status nfs_be_connect(struct fdm_ds *ds, bool for_init, uint64_t deadline,
					 struct fdm_ds_result *res)
{
	struct nfs_be *b = be_of(ds);
	enum fdm_ds_status st = FDM_DS_IO;
	bool refused = true;
	size_t len;

	(void)for_init;
	if (b->nfs != NULL)
		return FDM_DS_OK;
	ds->stats.reconnects++;
	for (len = strlen(b->path); len > 0 && refused; ) {
		st = mount_one(ds, len, deadline, &refused, res);
		if (st == FDM_DS_OK)
			break;
		/* Refused: "no such export"; anything else (no answer) ends it. */
		while (len > 0 && b->path[len - 1] != '/')
			len--;
		if (len > 0)
			len--;          /* drop the slash too */
	}
	if (st != FDM_DS_OK)
		return st;
	b->export_len = len;
	st = check_dir(ds, deadline, res);
	if (st != FDM_DS_OK) {
		drop(ds, NULL);
		return st;
	}
	ds->conn_gen++;
	return FDM_DS_OK;
}

static void file_path(struct fdm_ds *ds, const char *name, char *out, size_t len)
{
	struct nfs_be *b = be_of(ds);
	const char *below = b->path + b->export_len;

	if (name != NULL)
		snprintf(out, len, "%s/.fdm-ha/%s/%s", below, ds->auth.cluster, name);
	else
		snprintf(out, len, "%s/.fdm-ha/%s", below, ds->auth.cluster);
}

/* ds.c connected us at the start of the call; a call that lost the connection
 * half-way does not make a new one (the identity would go unchecked). */
static enum fdm_ds_status connected(struct fdm_ds *ds, struct fdm_ds_result *res)
{
	if (be_of(ds)->nfs == NULL)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "connection lost during the call");
	return FDM_DS_OK;
}

static enum fdm_ds_status open_file(struct fdm_ds *ds, const char *path, int flags,
				    uint64_t deadline, struct nfsfh **fh, int *err,
				    struct fdm_ds_result *res)
{
	struct call c = { 0 };
	enum fdm_ds_status st;

	*fh = NULL;
	st = run_call(ds, nfs_open2_async(be_of(ds)->nfs, path, flags, 0600, call_cb, &c), &c,
		      deadline, NULL, path, res);
	if (st != FDM_DS_OK)
		return st;
	*err = c.status < 0 ? -c.status : 0;
	if (c.status < 0)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "open %s: %s", path, c.err);
	*fh = c.data;
	return FDM_DS_OK;
}

static enum fdm_ds_status close_file(struct fdm_ds *ds, struct nfsfh *fh, uint64_t deadline,
				     struct fdm_ds_result *res)
{
	struct call c = { 0 };
	enum fdm_ds_status st;

	st = run_call(ds, nfs_close_async(be_of(ds)->nfs, fh, call_cb, &c), &c, deadline, NULL,
		      "close", res);
	if (st == FDM_DS_OK && c.status < 0)
		st = fdm_ds_fail(ds, res, FDM_DS_IO, "close: %s", c.err);
	return st;
}

static enum fdm_ds_status nfs_be_read(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				      uint64_t off, void *buf, size_t len, size_t *got,
				      uint64_t deadline, struct fdm_ds_result *res)
{
	char name[128], path[768];
	struct nfsfh *fh;
	enum fdm_ds_status st;
	uint64_t base;
	int err = 0;

	memset(buf, 0, len);
	*got = 0;
	st = connected(ds, res);
	if (st != FDM_DS_OK)
		return st;
	fdm_ds_file_of(rec, host, name, sizeof(name), &base);
	file_path(ds, name, path, sizeof(path));
	st = open_file(ds, path, O_RDONLY, deadline, &fh, &err, res);
	if (st != FDM_DS_OK) {
		if (err == ENOENT) {
			fdm_ds_result_clear(res);   /* never written */
			return FDM_DS_OK;
		}
		return st;
	}
	while (*got < len) {
		struct call c = { .rbuf = (uint8_t *)buf + *got, .rlen = len - *got };

		st = run_call(ds, nfs_pread_async(be_of(ds)->nfs, fh, base + off + *got, len - *got,
						  call_cb, &c), &c, deadline, fh, path, res);
		if (st != FDM_DS_OK)
			return st;         /* fh went with the connection */
		if (c.status < 0) {
			st = fdm_ds_fail(ds, res, FDM_DS_IO, "read %s: %s", path, c.err);
			break;
		}
		if (c.status == 0)
			break;
		*got += (size_t)c.status;
	}
	if (close_file(ds, fh, deadline, res) != FDM_DS_OK && st == FDM_DS_OK)
		st = res->status;
	/* The file is there: fdm-inspect names an empty record (ds.h). */
	if (st == FDM_DS_OK && (*got > 0 || (base == 0 && off == 0)))
		res->present = true;
	return st;
}

static enum fdm_ds_status mkdir_one(struct fdm_ds *ds, const char *path, uint64_t deadline,
				    struct fdm_ds_result *res)
{
	struct call c = { 0 };
	enum fdm_ds_status st;

	st = run_call(ds, nfs_mkdir_async(be_of(ds)->nfs, path, call_cb, &c), &c, deadline, NULL,
		      path, res);
	if (st == FDM_DS_OK && c.status < 0 && c.status != -EEXIST)
		st = fdm_ds_fail(ds, res, FDM_DS_IO, "mkdir %s: %s", path, c.err);
	return st;
}

/* fdm_ds_init: .fdm-ha and .fdm-ha/<cluster> below the URL's directory, which
 * exists (connect checked it); EEXIST is fine. */
static enum fdm_ds_status nfs_be_prepare(struct fdm_ds *ds, uint64_t deadline,
					 struct fdm_ds_result *res)
{
	char path[768];
	enum fdm_ds_status st = connected(ds, res);

	if (st != FDM_DS_OK)
		return st;
	snprintf(path, sizeof(path), "%s/.fdm-ha", be_of(ds)->path + be_of(ds)->export_len);
	st = mkdir_one(ds, path, deadline, res);
	file_path(ds, NULL, path, sizeof(path));
	if (st == FDM_DS_OK)
		st = mkdir_one(ds, path, deadline, res);
	return st;
}

static enum fdm_ds_status nfs_be_write(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				       uint64_t off, const void *buf, size_t len,
				       uint64_t deadline, struct fdm_ds_result *res)
{
	char name[128], path[768];
	struct call c = { 0 };
	struct nfsfh *fh;
	enum fdm_ds_status st;
	uint64_t base;
	int err = 0;

	st = connected(ds, res);
	if (st != FDM_DS_OK)
		return st;
	fdm_ds_file_of(rec, host, name, sizeof(name), &base);
	file_path(ds, name, path, sizeof(path));
	/* Look up first: a CREATE on every write would cost a round trip. The
	 * folder exists (identity checked); it is never created here. */
	st = open_file(ds, path, O_WRONLY | O_SYNC, deadline, &fh, &err, res);
	if (st != FDM_DS_OK && err == ENOENT) {
		fdm_ds_result_clear(res);
		st = open_file(ds, path, O_WRONLY | O_CREAT | O_SYNC, deadline, &fh, &err, res);
	}
	if (st != FDM_DS_OK)
		return st;
	st = run_call(ds, nfs_pwrite_async(be_of(ds)->nfs, fh, base + off, len, buf, call_cb, &c),
		      &c, deadline, fh, path, res);
	if (st != FDM_DS_OK)
		return st;
	if (c.status < 0 || (size_t)c.status != len)
		st = fdm_ds_fail(ds, res, FDM_DS_IO, "write %s: %s", path,
				 c.status < 0 ? c.err : "short write");
	if (close_file(ds, fh, deadline, res) != FDM_DS_OK && st == FDM_DS_OK)
		st = res->status;
	return st;
}

static enum fdm_ds_status nfs_be_truncate(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
					  uint64_t len, uint64_t deadline, struct fdm_ds_result *res)
{
	char name[128], path[768];
	struct call c = { 0 };
	enum fdm_ds_status st;
	uint64_t base;

	st = connected(ds, res);
	if (st != FDM_DS_OK)
		return st;
	fdm_ds_file_of(rec, host, name, sizeof(name), &base);
	file_path(ds, name, path, sizeof(path));
	st = run_call(ds, nfs_truncate_async(be_of(ds)->nfs, path, base + len, call_cb, &c),
		      &c, deadline, NULL, path, res);
	if (st == FDM_DS_OK && c.status < 0)
		st = fdm_ds_fail(ds, res, FDM_DS_IO, "truncate %s: %s", path, c.err);
	return st;
}

static enum fdm_ds_status list_dir(struct fdm_ds *ds, const char *dir, bool hosts,
				   uint64_t deadline, struct fdm_ds_hostlist *out,
				   struct fdm_ds_result *res)
{
	struct nfs_be *b;
	struct call c = { 0 };
	struct nfsdirent *e;
	enum fdm_ds_status st;
	char id[FDM_DS_ID_MAX];

	st = connected(ds, res);
	if (st != FDM_DS_OK)
		return st;
	b = be_of(ds);
	st = run_call(ds, nfs_opendir_async(b->nfs, dir, call_cb, &c), &c, deadline, NULL, dir, res);
	if (st != FDM_DS_OK)
		return st;
	if (c.status == -ENOENT)
		return FDM_DS_OK;
	if (c.status < 0)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "list %s: %s", dir, c.err);
	while ((e = nfs_readdir(b->nfs, c.data)) != NULL) {
		if (hosts && fdm_ds_host_of_file(e->name, id, sizeof(id)))
			fdm_ds_list_add(out, id);
		else if (!hosts && e->name[0] != '.' && fdm_ds_valid_id(e->name))
			fdm_ds_list_add(out, e->name);
	}
	nfs_closedir(b->nfs, c.data);
	return FDM_DS_OK;
}

static enum fdm_ds_status nfs_be_list_hosts(struct fdm_ds *ds, uint64_t deadline,
					    struct fdm_ds_hostlist *out, struct fdm_ds_result *res)
{
	char dir[768];

	file_path(ds, NULL, dir, sizeof(dir));
	return list_dir(ds, dir, true, deadline, out, res);
}

static enum fdm_ds_status nfs_be_list_clusters(struct fdm_ds *ds, uint64_t deadline,
					       struct fdm_ds_hostlist *out,
					       struct fdm_ds_result *res)
{
	char dir[768];
	enum fdm_ds_status st = nfs_be_connect(ds, true, deadline, res);

	if (st != FDM_DS_OK)
		return st;
	snprintf(dir, sizeof(dir), "%s/.fdm-ha", be_of(ds)->path + be_of(ds)->export_len);
	return list_dir(ds, dir, false, deadline, out, res);
}

static void nfs_be_disconnect(struct fdm_ds *ds)
{
	drop(ds, NULL);
}

static void nfs_be_destroy(struct fdm_ds *ds)
{
	drop(ds, NULL);
	free(ds->priv);
	ds->priv = NULL;
}

const struct fdm_ds_backend fdm_ds_nfs_backend = {
	.scheme = "nfs://",
	.init = nfs_be_init,
	.connect = nfs_be_connect,
	.prepare = nfs_be_prepare,
	.read = nfs_be_read,
	.write = nfs_be_write,
	.truncate = nfs_be_truncate,
	.list_hosts = nfs_be_list_hosts,
	.list_clusters = nfs_be_list_clusters,
	.disconnect = nfs_be_disconnect,
	.destroy = nfs_be_destroy,
};
