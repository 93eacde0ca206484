/* file:///path: a directory on a mounted shared filesystem (an NFS mount, OCFS2,
 * GFS2, CephFS). Records are files under <path>/.fdm-ha/<cluster>/. I/O uses
 * O_DIRECT where the filesystem takes it (no page cache between us and the
 * other hosts), falling back to buffered I/O where it does not (tmpfs), and
 * writes are O_DSYNC.
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

/* O_DIRECT first; filesystems without it (tmpfs) say EINVAL at open, and an
 * unaligned buffer or length (raw tool access) says EINVAL at the I/O: then
 * the caller retries buffered. */
static int open_direct(const char *path, int flags, bool direct)
{
	int fd = -1;

	if (direct)
		fd = open(path, flags | O_DIRECT | O_CLOEXEC, 0600);
	if (!direct || (fd < 0 && errno == EINVAL))
		fd = open(path, flags | O_CLOEXEC, 0600);
	return fd;
}

static bool aligned(const void *buf, uint64_t off, size_t len)
{
	return (uintptr_t)buf % FDM_REC_ALIGN == 0 && off % FDM_REC_ALIGN == 0 &&
	       len % FDM_REC_ALIGN == 0;
}

static enum fdm_ds_status late(struct fdm_ds *ds, struct fdm_ds_result *res, uint64_t deadline,
			       const char *what, const char *path)
{
	if (fdm_now_mono_ms() <= deadline)
		return FDM_DS_OK;
	return fdm_ds_fail(ds, res, FDM_DS_TIMEOUT,
			   "%s %s: done after its deadline (the kernel cannot abort it)", what, path);
}

static enum fdm_ds_status file_read(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				    uint64_t off, void *buf, size_t len, size_t *got,
				    uint64_t deadline, struct fdm_ds_result *res)
{
	char path[1024];
	size_t done = 0;
	int fd;

	off += path_of(ds, rec, host, path, sizeof(path));
	memset(buf, 0, len);
	*got = 0;
	fd = open_direct(path, O_RDONLY, aligned(buf, off, len));
	if (fd < 0 && errno == ENOENT)
		return late(ds, res, deadline, "open", path);
	if (fd < 0)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "open %s: %s", path, strerror(errno));
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

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
	return late(ds, res, deadline, "read", path);
}

static int make_dirs(struct fdm_ds *ds)
{
	char dir[768];

	snprintf(dir, sizeof(dir), "%s/.fdm-ha", be_of(ds)->root);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -1;
	cluster_dir(ds, dir, sizeof(dir));
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

static enum fdm_ds_status file_write(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				     uint64_t off, const void *buf, size_t len,
				     uint64_t deadline, struct fdm_ds_result *res)
{
	char path[1024];
	size_t done = 0;
	int fd;

	off += path_of(ds, rec, host, path, sizeof(path));
	fd = open_direct(path, O_WRONLY | O_CREAT | O_DSYNC, aligned(buf, off, len));
	if (fd < 0 && errno == ENOENT && make_dirs(ds) == 0)
		fd = open_direct(path, O_WRONLY | O_CREAT | O_DSYNC, aligned(buf, off, len));
	if (fd < 0)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "open %s: %s", path, strerror(errno));
	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));

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
	return late(ds, res, deadline, "write", path);
}

static enum fdm_ds_status file_truncate(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
					uint64_t len, uint64_t deadline, struct fdm_ds_result *res)
{
	char path[1024];
	uint64_t base = path_of(ds, rec, host, path, sizeof(path));

	if (truncate(path, (off_t)(base + len)) != 0)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "truncate %s: %s", path, strerror(errno));
	return late(ds, res, deadline, "truncate", path);
}

/* Names in dir: host ids (hosts) or cluster folders (!hosts). */
static enum fdm_ds_status list_dir(struct fdm_ds *ds, const char *dir, bool hosts,
				   uint64_t deadline, struct fdm_ds_hostlist *out,
				   struct fdm_ds_result *res)
{
	struct dirent *e;
	char id[FDM_DS_ID_MAX];
	DIR *d = opendir(dir);

	if (d == NULL && errno == ENOENT)
		return late(ds, res, deadline, "list", dir);
	if (d == NULL)
		return fdm_ds_fail(ds, res, FDM_DS_IO, "list %s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (hosts && fdm_ds_host_of_file(e->d_name, id, sizeof(id)))
			fdm_ds_list_add(out, id);
		else if (!hosts && e->d_name[0] != '.' && fdm_ds_valid_id(e->d_name))
			fdm_ds_list_add(out, e->d_name);
	}
	closedir(d);
	return late(ds, res, deadline, "list", dir);
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

	snprintf(dir, sizeof(dir), "%s/.fdm-ha", be_of(ds)->root);
	return list_dir(ds, dir, false, deadline, out, res);
}

static void file_disconnect(struct fdm_ds *ds) { (void)ds; }

static void file_destroy(struct fdm_ds *ds)
{
	free(ds->priv);
	ds->priv = NULL;
}

const struct fdm_ds_backend fdm_ds_file_backend = {
	.scheme = "file://",
	.init = file_init,
	.read = file_read,
	.write = file_write,
	.truncate = file_truncate,
	.list_hosts = file_list_hosts,
	.list_clusters = file_list_clusters,
	.disconnect = file_disconnect,
	.destroy = file_destroy,
};
