/* Thread-to-main-loop FIFO with an eventfd wake-up (mailbox.h). */
#include "hostd-shim/mailbox.h"

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

int shim_mailbox_init(struct shim_mailbox *mb)
{
	mb->head = mb->tail = NULL;
	mb->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (mb->efd < 0)
		return -errno;
	pthread_mutex_init(&mb->lock, NULL);
	return 0;
}

void shim_mailbox_destroy(struct shim_mailbox *mb)
{
	if (mb->efd >= 0)
		close(mb->efd);
	mb->efd = -1;
	pthread_mutex_destroy(&mb->lock);
}

void shim_mailbox_post(struct shim_mailbox *mb, struct shim_mail *m)
{
	uint64_t one = 1;

	m->next = NULL;
	pthread_mutex_lock(&mb->lock);
	if (mb->tail)
		mb->tail->next = m;
	else
		mb->head = m;
	mb->tail = m;
	pthread_mutex_unlock(&mb->lock);
	/* Cannot fail but on counter overflow, which leaves it readable anyway. */
	if (write(mb->efd, &one, sizeof(one)) < 0)
		return;
}

struct shim_mail *shim_mailbox_take(struct shim_mailbox *mb)
{
	struct shim_mail *all;
	uint64_t n;

	if (read(mb->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return NULL;
	pthread_mutex_lock(&mb->lock);
	all = mb->head;
	mb->head = mb->tail = NULL;
	pthread_mutex_unlock(&mb->lock);
	return all;
}
