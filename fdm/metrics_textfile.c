/* [metrics] textfile: the metrics text written to a file every few seconds for
 * node_exporter's textfile collector, which reads *.prom files and must never
 * see half a file: the text goes to PATH.tmp in the same directory (the
 * collector ignores the name), is fsynced, then renamed over PATH. The write
 * runs in a thread of its own, so that a stalled disk never delays a heartbeat;
 * the event loop only starts writes and reads their outcome. */
#include "fdm/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"

static int fail(char *err, size_t errlen, const char *path, const char *what)
{
	snprintf(err, errlen, "%s: %s: %s", path, what, strerror(errno));
	return -1;
}

static int write_all(int fd, const char *text, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, text, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		text += n;
		len -= (size_t)n;
	}
	return 0;
}

int fdm_metrics_write_file(const char *path, const char *text, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	struct stat st;
	int fd;

	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: exists and is not a regular file: not replaced", path);
		return -1;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	/* O_NONBLOCK: a FIFO planted as PATH.tmp must not hang the writer; it is
	 * refused below, as anything but a regular file is. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail(err, errlen, tmp, "cannot open");
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "%s: not a regular file", tmp);
		return -1;
	}
	if (ftruncate(fd, 0) < 0 || write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0) {
		fail(err, errlen, tmp, "cannot write");
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) < 0) {
		unlink(tmp);
		return fail(err, errlen, tmp, "cannot write");
	}
	if (rename(tmp, path) < 0) {
		fail(err, errlen, path, "cannot rename the new file into place");
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Shared by the agent and the write in flight; the last to let go frees it. */
struct fdm_textfile {
	pthread_mutex_t lock;
	int refs;
	bool busy;              /* a write runs */
	int result;             /* of the last finished write, not yet taken: 1, -1, 0 */
	char why[512];
	char path[PATH_MAX];
	char *text;
};

static void unref_locked(struct fdm_textfile *t)
{
	bool last = --t->refs == 0;

	pthread_mutex_unlock(&t->lock);
	if (last) {
		pthread_mutex_destroy(&t->lock);
		free(t->text);
		free(t);
	}
}

static void *write_thread(void *arg)
{
	struct fdm_textfile *t = arg;
	char why[512];
	int rc = fdm_metrics_write_file(t->path, t->text, why, sizeof(why));

	pthread_mutex_lock(&t->lock);
	free(t->text);
	t->text = NULL;
	t->busy = false;
	t->result = rc < 0 ? -1 : 1;
	if (rc < 0)
		fdm_strlcpy(t->why, why, sizeof(t->why));
	unref_locked(t);
	return NULL;
}

struct fdm_textfile *fdm_textfile_new(void)
{
	struct fdm_textfile *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	t->refs = 1;
	return t;
}

bool fdm_textfile_start(struct fdm_textfile *t, const char *path, char *text)
{
	pthread_attr_t attr;
	pthread_t th;
	int rc;

	pthread_mutex_lock(&t->lock);
	if (t->busy) {
		pthread_mutex_unlock(&t->lock);
		free(text);
		return false;
	}
	fdm_strlcpy(t->path, path, sizeof(t->path));
	t->text = text;
	t->busy = true;
	t->refs++;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&th, &attr, write_thread, t);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		free(t->text);
		t->text = NULL;
		t->busy = false;
		t->refs--;
		t->result = -1;
		snprintf(t->why, sizeof(t->why), "%s: cannot start the writer: %s", path,
			 strerror(rc));
	}
	pthread_mutex_unlock(&t->lock);
	return rc == 0;
}

int fdm_textfile_result(struct fdm_textfile *t, char *why, size_t whylen)
{
	int result;

	pthread_mutex_lock(&t->lock);
	result = t->result;
	t->result = 0;
	if (result < 0)
		fdm_strlcpy(why, t->why, whylen);
	pthread_mutex_unlock(&t->lock);
	return result;
}

void fdm_textfile_free(struct fdm_textfile *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->lock);
	unref_locked(t);
}
