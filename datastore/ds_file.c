/* file:///path: a directory on a mounted shared filesystem (an NFS mount, OCFS2,
 * GFS2, CephFS). Records are files under <path>/.fdm-ha/<cluster>/. I/O uses
 * O_DIRECT where the filesystem takes it (no page cache between us and the
 * other hosts), falling back to buffered I/O where it does not (tmpfs), and
 * writes are O_DSYNC.
 *
 * <path> must exist; .fdm-ha/<cluster>/ is created only by fdm_ds_init. The
 * "connection" of a file:// datastore is its cluster folder as the kernel names
 * it (device and inode): every call looks at it first, and when it is another
 * folder than last time (the filesystem was unmounted, or mounted again) the
 * identity is checked again before anything is read or written.
 *
 * Every file is opened O_NONBLOCK and must be a regular file (fstat): a FIFO,
 * device or directory in a record's place is reported as a bad record
 * (FDM_REC_NOT_A_FILE), never waited on and never written to.
 * The kernel cannot be told to abandon a read or write: on a hung hard NFS mount
 * the call returns when the kernel does, and is then reported as a timeout.
 * dsio.h reports it to the agent at the deadline regardless. */
#include "datastore/ds_backend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"

struct file_be {
	char root[512];          /* <path> */
	/* The cluster folder of the current "connection" (have_folder). */
	bool have_folder;
	dev_t folder_dev;
	ino_t folder_ino;
};

static struct file_be *be_of(struct fdm_ds *ds) { return ds->priv; }

static int file_init(struct fdm_ds *ds, const char *rest, char *err, size_t errlen)
{
	struct file_be *b;

	if (rest[0] != '/' || strlen(rest) >= sizeof(b->root) - 200) {
		snprintf(err, errlen, "%s: want file:///absolute/path", ds->url);
		return -1;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		snprintf(err, errlen, "%s: out of memory", ds->url);
		return -1;
	}
	fdm_strlcpy(b->root, rest, sizeof(b->root));
	ds->priv = b;
	return 0;
}

static void cluster_dir(struct fdm_ds *ds, char *out, size_t len)
{
	snprintf(out, len, "%s/.fdm-ha/%s", be_of(ds)->root, ds->auth.cluster);
}

static uint64_t path_of(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
			char *out, size_t len)
{
	char dir[768], name[128];
	uint64_t base;

	cluster_dir(ds, dir, sizeof(dir));
	fdm_ds_file_of(rec, host, name, sizeof(name), &base);
	snprintf(out, len, "%s/%s", dir, name);
	return base;
}

static const char *kind_of(mode_t m)
{
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "a device";
	if (S_ISSOCK(m))
		return "a socket";
	return "not a regular file";
}

/* The root must be a directory; the cluster folder decides the connection. */
static enum fdm_ds_status file_connect(struct fdm_ds *ds, bool for_init, uint64_t deadline,
				       struct fdm_ds_result *res)
{
	struct file_be *b = be_of(ds);
	char dir[768];
	struct stat st;
	int rc;

	(void)for_init; (void)deadline;
	if (stat(b->root, &st) != 0)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "%s: %s", b->root, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return fdm_ds_fail(ds, res, FDM_DS_IO, "%s: not a directory", b->root);
	cluster_dir(ds, dir, sizeof(dir));
	rc = stat(dir, &st);
	if (rc != 0 && errno != ENOENT)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "%s: %s", dir, strerror(errno));
	if (rc != 0 || !S_ISDIR(st.st_mode)) {
		/* No folder: a new "connection" each time, so the identity check
		 * runs and says "uninitialized". */
		b->have_folder = false;
		ds->conn_gen++;
		return FDM_DS_OK;
	}
	if (!b->have_folder || st.st_dev != b->folder_dev || st.st_ino != b->folder_ino) {
		b->have_folder = true;
		b->folder_dev = st.st_dev;
		b->folder_ino = st.st_ino;
		ds->conn_gen++;
	}
	return FDM_DS_OK;
}

static enum fdm_ds_status file_prepare(struct fdm_ds *ds, uint64_t deadline,
				       struct fdm_ds_result *res)
{
	char dir[768];

	(void)deadline;
	snprintf(dir, sizeof(dir), "%s/.fdm-ha", be_of(ds)->root);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "mkdir %s: %s", dir, strerror(errno));
	cluster_dir(ds, dir, sizeof(dir));
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "mkdir %s: %s", dir, strerror(errno));
	return FDM_DS_OK;
}

/* O_DIRECT first; filesystems without it (tmpfs) say EINVAL at open, and an
 * unaligned buffer or length (raw tool access) says EINVAL at the I/O: then
 * the caller retries buffered. Always O_NONBLOCK: opening a FIFO must not wait
 * for its other end. */
static int open_direct(const char *path, int flags, bool direct)
{
	int fd = -1;

	flags |= O_NONBLOCK | O_CLOEXEC;
	if (direct)
		fd = open(path, flags | O_DIRECT, 0600);
	if (!direct || (fd < 0 && errno == EINVAL))
		fd = open(path, flags, 0600);
	return fd;
}

/* Open path and make sure it is a regular file. -1 with res set, or -2 when
 * it does not exist (res untouched). */
static int open_record(struct fdm_ds *ds, const char *path, int flags, bool direct,
		       struct fdm_ds_result *res)
{
	struct stat st;
	int fd = open_direct(path, flags, direct);

	if (fd < 0 && (errno == ENXIO || errno == EISDIR)) {
		/* A FIFO without a reader, a socket, a directory. */
		res->rec_err = FDM_REC_NOT_A_FILE;
		fdm_ds_fail(ds, res, FDM_DS_CORRUPT, "%s: not a regular file (%s)", path,
			    strerror(errno));
		return -1;
	}
	if (fd < 0 && errno == ENOENT)
		return -2;
	if (fd < 0) {
		fdm_ds_fail(ds, res, FDM_DS_IO, "open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		fdm_ds_fail(ds, res, FDM_DS_IO, "fstat %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		res->rec_err = FDM_REC_NOT_A_FILE;
		fdm_ds_fail(ds, res, FDM_DS_CORRUPT, "%s: not a regular file (%s)", path,
			    kind_of(st.st_mode));
		close(fd);
		return -1;
	}
	return fd;
}

static bool aligned(const void *buf, uint64_t off, size_t len)
{
	return (uintptr_t)buf % FDM_REC_ALIGN == 0 && off % FDM_REC_ALIGN == 0 &&
	       len % FDM_REC_ALIGN == 0;
}

static enum fdm_ds_status file_read(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				    uint64_t off, void *buf, size_t len, size_t *got,
				    uint64_t deadline, struct fdm_ds_result *res)
{
	char path[1024];
	uint64_t base;
	size_t done = 0;
	int fd;

	(void)deadline;
	base = path_of(ds, rec, host, path, sizeof(path));
	memset(buf, 0, len);
	*got = 0;
	fd = open_record(ds, path, O_RDONLY, aligned(buf, base + off, len), res);
	if (fd == -2)
		return FDM_DS_OK;          /* never written */
	if (fd < 0)
		return res->status;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(base + off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			close(fd);
			return fdm_ds_fail(ds, res, FDM_DS_IO, "read %s: %s", path, strerror(e));
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	close(fd);
	*got = done;
	/* The file is there: bytes of this area, or an empty file where the
	 * area starts it. fdm-inspect names such an empty record. */
	if (done > 0 || (base == 0 && off == 0))
		res->present = true;
	return FDM_DS_OK;
}

static enum fdm_ds_status file_write(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				     uint64_t off, const void *buf, size_t len,
				     uint64_t deadline, struct fdm_ds_result *res)
{
	char path[1024];
	uint64_t base;
	size_t done = 0;
	int fd;

	(void)deadline;
	base = path_of(ds, rec, host, path, sizeof(path));
	/* The folder exists (identity checked); a missing one is an error here,
	 * never created. */
	fd = open_record(ds, path, O_WRONLY | O_CREAT | O_DSYNC, aligned(buf, base + off, len), res);
	if (fd == -2)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "open %s: no such directory", path);
	if (fd < 0)
		return res->status;
	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done,
				   (off_t)(base + off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;

			close(fd);
			return fdm_ds_fail(ds, res, FDM_DS_IO, "write %s: %s", path, strerror(e));
		}
		done += (size_t)n;
	}
	close(fd);
	return FDM_DS_OK;
}

static enum fdm_ds_status file_truncate(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
					uint64_t len, uint64_t deadline, struct fdm_ds_result *res)
{
	char path[1024];
	uint64_t base = path_of(ds, rec, host, path, sizeof(path));

	(void)deadline;
	if (truncate(path, (off_t)(base + len)) != 0)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "truncate %s: %s", path, strerror(errno));
	return FDM_DS_OK;
}

/* Names in dir: host ids (hosts) or cluster folders (!hosts). */
static enum fdm_ds_status list_dir(struct fdm_ds *ds, const char *dir, bool hosts,
				   uint64_t deadline, struct fdm_ds_hostlist *out,
				   struct fdm_ds_result *res)
{
	struct dirent *e;
	char id[FDM_DS_ID_MAX];
	DIR *d = opendir(dir);

	(void)deadline;
	if (d == NULL && errno == ENOENT)
		return FDM_DS_OK;
	if (d == NULL)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "list %s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (hosts && fdm_ds_host_of_file(e->d_name, id, sizeof(id)))
			fdm_ds_list_add(out, id);
		else if (!hosts && e->d_name[0] != '.' && fdm_ds_valid_id(e->d_name))
			fdm_ds_list_add(out, e->d_name);
	}
	closedir(d);
	return FDM_DS_OK;
}

static enum fdm_ds_status file_list_hosts(struct fdm_ds *ds, uint64_t deadline,
					  struct fdm_ds_hostlist *out, struct fdm_ds_result *res)
{
	char dir[768];

	cluster_dir(ds, dir, sizeof(dir));
	return list_dir(ds, dir, true, deadline, out, res);
}

static enum fdm_ds_status file_list_clusters(struct fdm_ds *ds, uint64_t deadline,
					     struct fdm_ds_hostlist *out, struct fdm_ds_result *res)
{
	char dir[768];
	enum fdm_ds_status st = file_connect(ds, true, deadline, res);

	if (st != FDM_DS_OK)
		return st;
	snprintf(dir, sizeof(dir), "%s/.fdm-ha", be_of(ds)->root);
	return list_dir(ds, dir, false, deadline, out, res);
}

/* The next call looks at the folder afresh and checks the identity again. */
static void file_disconnect(struct fdm_ds *ds)
{
	be_of(ds)->have_folder = false;
	ds->conn_gen++;
}

static void file_destroy(struct fdm_ds *ds)
{
	free(ds->priv);
	ds->priv = NULL;
}

const struct fdm_ds_backend fdm_ds_file_backend = {
	.scheme = "file://",
	.init = file_init,
	.connect = file_connect,
	.prepare = file_prepare,
	.read = file_read,
	.write = file_write,
	.truncate = file_truncate,
	.list_hosts = file_list_hosts,
	.list_clusters = file_list_clusters,
	.disconnect = file_disconnect,
	.destroy = file_destroy,
};
