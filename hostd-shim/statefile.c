/* Reading and atomically writing the shim's state file (format in statefile.h).
 * A torn or corrupt file is reported with its reason and never trusted. */
#include "hostd-shim/statefile.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/crc32c.h"
#include "lib/util.h"
#include "hostd-shim/frame.h"

static bool with_suffix(const char *socket_path, const char *suffix, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s%s", socket_path, suffix);

	return n > 0 && (size_t)n < outlen;
}

bool shim_state_path(const char *socket_path, char *out, size_t outlen)
{
	return with_suffix(socket_path, ".state", out, outlen);
}

bool shim_state_lock_path(const char *socket_path, char *out, size_t outlen)
{
	return with_suffix(socket_path, ".lock", out, outlen);
}

bool shim_state_legacy_path(const char *socket_path, char *out, size_t outlen)
{
	char dir[4096];
	int n;

	if (!fdm_strlcpy(dir, socket_path, sizeof(dir)))
		return false;
	n = snprintf(out, outlen, "%s/%s", dirname(dir), SHIM_STATE_LEGACY);
	return n > 0 && (size_t)n < outlen;
}

static bool valid_boot_id(const char *s)
{
	size_t i;

	if (strlen(s) != SHIM_BOOT_ID_LEN)
		return false;
	for (i = 0; i < SHIM_BOOT_ID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

int shim_boot_id(const char *path, char out[SHIM_BOOT_ID_LEN + 1], char *err, size_t errlen)
{
	char line[64];
	FILE *f = fopen(path, "re");
	size_t n;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	if (!valid_boot_id(line)) {
		snprintf(err, errlen, "%s: not a boot id", path);
		return -1;
	}
	memcpy(out, line, SHIM_BOOT_ID_LEN + 1);
	return 0;
}

uint8_t *shim_state_encode(const struct shim_deadlines *d, const char *boot_id, size_t *len)
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
		memset(buf + 16, '0', SHIM_BOOT_ID_LEN);
		memcpy(buf + 16, boot_id, strnlen(boot_id, SHIM_BOOT_ID_LEN));
		fdm__shim_state__pack(&st, buf + SHIM_STATE_HEADER);
		fdm_put_be32(buf + 12, fdm_crc32c(0, buf + 16, SHIM_BOOT_ID_LEN + body));
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

	if (shim_deadlines_replace(d, st->deadlines, st->n_deadlines, 0, &changed,
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

/* The header: version, where the body starts, and the checksummed span. */
static int check_header(const uint8_t *buf, size_t len, size_t *header,
			char file_boot[SHIM_BOOT_ID_LEN + 1], char *why, size_t whylen)
{
	uint32_t version, body;

	if (len < SHIM_STATE_HEADER_V1) {
		snprintf(why, whylen, "truncated: %zu bytes, header needs %d", len,
			 SHIM_STATE_HEADER_V1);
		return -1;
	}
	if (memcmp(buf, SHIM_STATE_MAGIC, 4) != 0) {
		snprintf(why, whylen, "bad magic (not a hostd-shim state file)");
		return -1;
	}
	version = fdm_get_be32(buf + 4);
	if (version != SHIM_STATE_VERSION && version != SHIM_STATE_VERSION_1) {
		snprintf(why, whylen, "unknown version %u", version);
		return -1;
	}
	*header = version == SHIM_STATE_VERSION ? SHIM_STATE_HEADER : SHIM_STATE_HEADER_V1;
	if (len < *header) {
		snprintf(why, whylen, "truncated: %zu bytes, header needs %zu", len, *header);
		return -1;
	}
	body = fdm_get_be32(buf + 8);
	if (body != len - *header) {
		snprintf(why, whylen, "length %u does not match the file (%zu bytes of body)",
			 body, len - *header);
		return -1;
	}
	/* Version 2 checksums the boot id with the body. */
	if (fdm_get_be32(buf + 12) != fdm_crc32c(0, buf + 16, len - 16)) {
		snprintf(why, whylen, "checksum mismatch");
		return -1;
	}
	file_boot[0] = '\0';
	if (version == SHIM_STATE_VERSION) {
		memcpy(file_boot, buf + 16, SHIM_BOOT_ID_LEN);
		file_boot[SHIM_BOOT_ID_LEN] = '\0';
		if (!valid_boot_id(file_boot)) {
			snprintf(why, whylen, "boot id is not of the form 8-4-4-4-12 hex digits");
			return -1;
		}
	}
	return 0;
}

int shim_state_decode(const uint8_t *buf, size_t len, struct shim_deadlines *d,
		      char file_boot[SHIM_BOOT_ID_LEN + 1], char *why, size_t whylen)
{
	Fdm__ShimState *st;
	size_t header;
	int rc;

	if (check_header(buf, len, &header, file_boot, why, whylen) < 0)
		return -1;
	st = fdm__shim_state__unpack(NULL, len - header, buf + header);
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

/* The rename makes the new content appear whole or not at all; the fsyncs make
 * it survive a crash of the machine's page cache layer (tmpfs needs neither,
 * but the directory may be configured elsewhere). */
int shim_state_save(const char *path, const struct shim_deadlines *d, const char *boot_id,
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
	buf = shim_state_encode(d, boot_id, &len);
	if (buf == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write_all(fd, buf, len) < 0 || fsync(fd) < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		free(buf);
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
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

/* The whole file into a fresh buffer: 0, -1 with errno set (ENOENT: none), or
 * -2 when it is larger than any state file. */
static int read_file(const char *path, uint8_t **out, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	ssize_t n;
	int fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		saved = errno;
		if (fstat(fd, &st) == 0)
			saved = EINVAL;   /* a directory, a FIFO: never a state file */
		close(fd);
		errno = saved;
		return -1;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > SHIM_STATE_MAX) {
		close(fd);
		return -2;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	n = fdm_read_full(fd, buf, (size_t)st.st_size + 1);
	saved = errno;
	close(fd);
	if (n < 0) {
		free(buf);
		errno = saved;
		return -1;
	}
	*out = buf;
	*len = (size_t)n;
	return 0;
}

enum shim_state_load_result shim_state_load(const char *path, const char *boot_id,
					    struct shim_deadlines *d, char *err, size_t errlen)
{
	char why[256], file_boot[SHIM_BOOT_ID_LEN + 1];
	uint8_t *buf;
	size_t len;
	int rc;

	rc = read_file(path, &buf, &len);
	if (rc == -1 && errno == ENOENT)
		return SHIM_STATE_NONE;
	if (rc == -2) {
		snprintf(err, errlen, "%s: larger than any state file", path);
		return SHIM_STATE_CORRUPT;
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path,
			 errno == EINVAL ? "not a regular file" : strerror(errno));
		return SHIM_STATE_CORRUPT;
	}
	rc = shim_state_decode(buf, len, d, file_boot, why, sizeof(why));
	free(buf);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		return SHIM_STATE_CORRUPT;
	}
	if (file_boot[0] != '\0' && strcmp(file_boot, boot_id) != 0) {
		snprintf(err, errlen, "%s: written in boot %s, this is boot %s: its %zu "
			 "deadlines and %zu fenced entries are of a clock that no longer runs",
			 path, file_boot, boot_id, d->n, d->n_fenced);
		shim_deadlines_free(d);
		return SHIM_STATE_OTHER_BOOT;
	}
	return SHIM_STATE_LOADED;
}

int shim_state_migrate(const char *legacy, const char *path, const char *boot_id,
		       char *note, size_t notelen)
{
	struct shim_deadlines d;
	char err[4400], aside[4200];
	struct stat st;

	if (lstat(path, &st) == 0 || errno != ENOENT || lstat(legacy, &st) < 0)
		return 0;
	shim_deadlines_init(&d);
	switch (shim_state_load(legacy, boot_id, &d, err, sizeof(err))) {
	case SHIM_STATE_NONE:
		return 0;
	case SHIM_STATE_CORRUPT:
		snprintf(aside, sizeof(aside), "%s.corrupt", legacy);
		rename(legacy, aside);
		snprintf(note, notelen, "%s (kept as %s)", err, aside);
		return -1;
	case SHIM_STATE_OTHER_BOOT:
		unlink(legacy);
		snprintf(note, notelen, "%s; removed", err);
		return -1;
	case SHIM_STATE_LOADED:
		break;
	}
	if (shim_state_save(path, &d, boot_id, err, sizeof(err)) < 0) {
		snprintf(note, notelen, "%s: not migrated: %s", legacy, err);
		shim_deadlines_free(&d);
		return -1;
	}
	unlink(legacy);
	snprintf(note, notelen, "%s: %zu deadlines and %zu fenced entries moved to %s",
		 legacy, d.n, d.n_fenced, path);
	shim_deadlines_free(&d);
	return 1;
}

int shim_state_lock(const char *path, char *err, size_t errlen)
{
	char pid[32] = "";
	ssize_t n;
	int fd, len;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK) {
			n = pread(fd, pid, sizeof(pid) - 1, 0);
			pid[n > 0 ? n : 0] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
			snprintf(err, errlen, "%s: held by another hostd-shim (pid %s) serving "
				 "this socket and its state file", path, pid[0] ? pid : "?");
		} else {
			snprintf(err, errlen, "%s: flock: %s", path, strerror(errno));
		}
		close(fd);
		return -1;
	}
	/* The pid is for the message of a second shim only: the lock holds without it. */
	len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	err[0] = '\0';
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len)
		snprintf(err, errlen, "%s: pid not written: %s", path, strerror(errno));
	return fd;
}
