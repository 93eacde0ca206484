/* Loading the cluster key. A key others can read is no secret, and a key cut to
 * length would quietly differ from the one the other hosts read: both refused. */
#include "lib/key.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"

int fdm_key_load(const char *path, uint8_t key[FDM_KEY_MAX], char *err, size_t errlen)
{
	uint8_t buf[FDM_KEY_MAX + 1];
	struct stat st;
	const char *why;
	ssize_t n;
	int fd = fdm_open_regular(path, &st, &why);

	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot read key file: %s", path, why);
		return -1;
	}
	if (st.st_mode & (S_IRGRP | S_IROTH | S_IWGRP | S_IWOTH)) {
		close(fd);
		snprintf(err, errlen, "%s: key must not be %s by group or others (mode %03o: "
			 "chmod 600 %s)", path,
			 st.st_mode & (S_IRGRP | S_IROTH) ? "readable" : "writable",
			 (unsigned)(st.st_mode & 0777), path);
		return -1;
	}
	n = fdm_read_full(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%s: cannot read key file: %s", path, strerror(errno));
		return -1;
	}
	if (n > FDM_KEY_MAX) {
		memset(buf, 0, sizeof(buf));
		snprintf(err, errlen, "%s: key file longer than %d bytes: refused rather than cut "
			 "(fdmctl keygen writes %d)", path, FDM_KEY_MAX, FDM_KEY_MIN);
		return -1;
	}
	if (n < FDM_KEY_MIN) {
		memset(buf, 0, sizeof(buf));
		snprintf(err, errlen, "%s: key file holds %zd bytes, needs at least %d (fdmctl keygen)",
			 path, n, FDM_KEY_MIN);
		return -1;
	}
	memcpy(key, buf, (size_t)n);
	memset(buf, 0, sizeof(buf));
	return (int)n;
}
