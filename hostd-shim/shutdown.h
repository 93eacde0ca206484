/* Guest shutdowns waiting for their domain to stop or their timeout (shutdown.c). */
#ifndef FDM_SHIM_SHUTDOWN_H
#define FDM_SHIM_SHUTDOWN_H

#include "hostd-shim/shim.h"

/* The guest of job was asked to shut down: wait for it to stop or for the
 * timeout; the wait takes over the job's client reference and slot. false
 * when there is nothing to wait for (failed, already off): answer now. */
bool shim_shutdown_wait(struct shim *s, struct shim_job *job);

/* A domain stopped: answer the shutdowns waiting for it. */
void shim_shutdown_domain_stopped(struct shim *s, const struct shim_dom *dom);

/* At exit: drop the waits. */
void shim_shutdown_free(struct shim *s);

#endif
