/* What the shim does with each request (ShimRequest in proto/fdm.proto), and
 * how a finished job becomes a reply. Every request gets exactly one reply,
 * with its id, a result code and a message. */
#ifndef FDM_SHIM_REQUESTS_H
#define FDM_SHIM_REQUESTS_H

#include "hostd-shim/shim.h"

void shim_request_dispatch(struct shim_client *c, const Fdm__ShimRequest *req);

/* A reply with only a result code and a message. */
void shim_reply_result(struct shim_client *c, uint64_t id, Fdm__ResultCode code,
		       const char *msg);

void shim_dom_to_pb(const struct shim_dom *d, Fdm__DomainInfo *pb);

/* server.c: a job of c finished, c may be read again. */
void shim_client_job_finished(struct shim_client *c);

#endif
