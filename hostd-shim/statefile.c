/* Reading and atomically writing the shim's state file (format in statefile.h).
 * A torn or corrupt file is reported with its reason and never trusted. */
#include "hostd-shim/statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/crc32c.h"
#include "lib/util.h"
#include "hostd-shim/frame.h"

bool shim_state_path(const char *socket_path, char *out, size_t outlen)
{
	char dir[4096];
	int n;

	if (!fdm_strlcpy(dir, socket_path, sizeof(dir)))
		return false;
	n = snprintf(out, outlen, "%s/%s", dirname(dir), SHIM_STATE_BASENAME);
	return n > 0 && (size_t)n < outlen;
}

uint8_t *shim_state_encode(const struct shim_deadlines *d, size_t *len)
{
	Fdm__ShimState st = FDM__SHIM_STATE__INIT;
	struct shim_deadlines_pb pb;
	uint8_t *buf;
	size_t body;

	if (shim_deadlines_to_pb(d, &pb) < 0)
		return NULL;
	st.n_deadlines = pb.n;
	st.deadlines = pb.deadlines;
	st.n_fenced = pb.n_fenced;
	st.fenced = pb.fenced;
	body = fdm__shim_state__get_packed_size(&st);
	buf = malloc(SHIM_STATE_HEADER + body);
	if (buf != NULL) {
		memcpy(buf, SHIM_STATE_MAGIC, 4);
		fdm_put_be32(buf + 4, SHIM_STATE_VERSION);
		fdm_put_be32(buf + 8, (uint32_t)body);
		fdm__shim_state__pack(&st, buf + SHIM_STATE_HEADER);
		fdm_put_be32(buf + 12, fdm_crc32c(0, buf + SHIM_STATE_HEADER, body));
		*len = SHIM_STATE_HEADER + body;
	}
	shim_deadlines_pb_free(&pb);
	return buf;
}

static int decode_entries(const Fdm__ShimState *st, struct shim_deadlines *d,
			  char *why, size_t whylen)
{
	unsigned changed;
	size_t i;

	if (shim_deadlines_replace(d, st->deadlines, st->n_deadlines, &changed,
				   why, whylen) < 0)
		return -1;
	for (i = 0; i < st->n_fenced; i++) {
		const Fdm__FencedDomain *f = st->fenced[i];

		if (strlen(f->name) >= SHIM_NAME_MAX || strlen(f->uuid) >= SHIM_UUID_MAX) {
			snprintf(why, whylen, "fenced entry %zu: name or uuid too long", i);
			return -1;
		}
		shim_deadlines_add_fenced(d, f->name, f->uuid, f->deadline_boottime_ms,
					  f->fenced_boottime_ms);
	}
	return 0;
}

int shim_state_decode(const uint8_t *buf, size_t len, struct shim_deadlines *d,
		      char *why, size_t whylen)
{
	Fdm__ShimState *st;
	uint32_t body;
	int rc;

	if (len < SHIM_STATE_HEADER) {
		snprintf(why, whylen, "truncated: %zu bytes, header needs %d", len,
			 SHIM_STATE_HEADER);
		return -1;
	}
	if (memcmp(buf, SHIM_STATE_MAGIC, 4) != 0) {
		snprintf(why, whylen, "bad magic (not a hostd-shim state file)");
		return -1;
	}
	if (fdm_get_be32(buf + 4) != SHIM_STATE_VERSION) {
		snprintf(why, whylen, "unknown version %u", fdm_get_be32(buf + 4));
		return -1;
	}
	body = fdm_get_be32(buf + 8);
	if (body != len - SHIM_STATE_HEADER) {
		snprintf(why, whylen, "length %u does not match the file (%zu bytes of body)",
			 body, len - SHIM_STATE_HEADER);
		return -1;
	}
	if (fdm_get_be32(buf + 12) != fdm_crc32c(0, buf + SHIM_STATE_HEADER, body)) {
		snprintf(why, whylen, "checksum mismatch");
		return -1;
	}
	st = fdm__shim_state__unpack(NULL, body, buf + SHIM_STATE_HEADER);
	if (st == NULL) {
		snprintf(why, whylen, "protobuf does not decode");
		return -1;
	}
	rc = decode_entries(st, d, why, whylen);
	fdm__shim_state__free_unpacked(st, NULL);
	if (rc < 0)
		shim_deadlines_free(d);
	return rc;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read until EOF or `cap` bytes: one read() may return less than the file. */
static ssize_t read_all(int fd, uint8_t *p, size_t cap)
{
	size_t have = 0;

	while (have < cap) {
		ssize_t n = read(fd, p + have, cap - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		have += (size_t)n;
	}
	return (ssize_t)have;
}

/* The rename makes the new content appear whole or not at all; the fsyncs make
 * it survive a crash of the machine's page cache layer (tmpfs needs neither,
 * but the directory may be configured elsewhere). */
int shim_state_save(const char *path, const struct shim_deadlines *d,
		    char *err, size_t errlen)
{
	char tmp[4200], dir[4200];
	uint8_t *buf;
	size_t len;
	int fd, dfd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp) ||
	    !fdm_strlcpy(dir, path, sizeof(dir))) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	buf = shim_state_encode(d, &len);
	if (buf == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, buf, len) < 0 || fsync(fd) < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		free(buf);
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		return -1;
	}
	free(buf);
	close(fd);
	if (rename(tmp, path) < 0) {
		snprintf(err, errlen, "%s: rename: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int shim_state_load(const char *path, struct shim_deadlines *d, char *err, size_t errlen)
{
	char why[256];
	struct stat st;
	uint8_t *buf;
	ssize_t n;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > SHIM_STATE_MAX) {
		snprintf(err, errlen, "%s: %lld bytes, larger than any state file",
			 path, (long long)st.st_size);
		close(fd);
		return -1;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		close(fd);
		return -1;
	}
	n = read_all(fd, buf, (size_t)st.st_size + 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(buf);
		return -1;
	}
	rc = shim_state_decode(buf, (size_t)n, d, why, sizeof(why));
	free(buf);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		return -1;
	}
	return 1;
}
