/* The libvirt operations the shim performs for its clients and for itself,
 * each run on a pool thread as one job: the job carries its inputs in and its
 * result (a ResultCode, a one-line message, domain data) back to the main loop.
 * Result codes: NOT_FOUND for an unknown domain, INVALID_STATE for an operation
 * the domain's state forbids (start of a running domain), DISCONNECTED when
 * libvirt is not reachable, ERROR for anything else libvirt refused (bad XML). */
#ifndef FDM_SHIM_OPS_H
#define FDM_SHIM_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "hostd-shim/deadlines.h"
#include "hostd-shim/pool.h"
#include "hostd-shim/virt.h"
#include "proto/fdm.pb-c.h"

enum shim_op {
	SHIM_OP_LIST,
	SHIM_OP_DEFINE,          /* power-on, step 1: define from xml */
	SHIM_OP_START,           /* power-on, step 2: start what step 1 defined */
	SHIM_OP_DESTROY,
	SHIM_OP_SHUTDOWN,        /* ask the guest; state after asking */
	SHIM_OP_SHUTDOWN_FORCE,  /* the timeout passed: destroy unless already off */
	SHIM_OP_UNDEFINE,
	SHIM_OP_RESOURCES,
	SHIM_OP_FENCE,           /* deadline passed: destroy if running */
	SHIM_OP_GET_XML,         /* the persistent definition, into xml */
};

#define SHIM_JOB_MAIL 1      /* mail kind of a finished job */

struct shim_client;

struct shim_job {
	struct shim_pool_job pj;      /* first */
	enum shim_op op;
	struct shim_client *client;   /* NULL for the shim's own jobs (fences) */
	uint64_t req_id;
	struct shim_domref ref;       /* the domain, for all but list/resources/define */
	char *xml;                    /* define: in; get-xml: out */
	bool has_deadline;            /* power-on */
	uint64_t deadline_ms;
	uint32_t timeout_ms;          /* shutdown */
	uint64_t started_ms;          /* boottime when the job was created */

	Fdm__ResultCode result;
	char message[512];
	bool has_dom;
	struct shim_dom dom;          /* the domain after the operation */
	bool was_running;             /* fence / shutdown-force: it ran before */
	struct shim_dom *doms;        /* list */
	int n_doms;
	uint64_t total_kib, free_kib; /* resources */
	uint64_t running_kib, host_free_kib;
	uint32_t cpus, running_domains;
};

/* Run one job against the live connection (a pool's run function; ctx is the
 * struct shim_virt). */
void shim_ops_run(struct shim_pool_job *pj, void *ctx);

struct shim_job *shim_job_new(enum shim_op op, struct shim_client *client, uint64_t req_id);
void shim_job_free(struct shim_job *job);

#endif
