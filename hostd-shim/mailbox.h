/* The one way into the shim's main loop from its other threads (libvirt's event
 * loop, the connection keeper, the worker pools): a FIFO of mails under a mutex,
 * with an eventfd the main loop watches. One queue for everything keeps the
 * order in which libvirt events and job results happened. */
#ifndef FDM_SHIM_MAILBOX_H
#define FDM_SHIM_MAILBOX_H

#include <pthread.h>
#include <stdbool.h>

struct shim_mail {
	struct shim_mail *next;
	int kind;                  /* enum shim_mail_kind of the owner (shim.h) */
};

struct shim_mailbox {
	pthread_mutex_t lock;
	struct shim_mail *head, *tail;
	int efd;                   /* readable while mails wait */
};

int shim_mailbox_init(struct shim_mailbox *mb);
void shim_mailbox_destroy(struct shim_mailbox *mb);

/* Append (any thread). Never blocks on the main loop. */
void shim_mailbox_post(struct shim_mailbox *mb, struct shim_mail *m);

/* Take every waiting mail, oldest first (main loop), and reset the eventfd. */
struct shim_mail *shim_mailbox_take(struct shim_mailbox *mb);

#endif
