/* The agent's UDP socket on [host] address:port (8182): sends signed datagrams to
 * configured peers, receives, authenticates and de-duplicates them, and counts
 * every dropped datagram by reason (`fdmctl --json status` "dropped"), the ones
 * the kernel dropped for lack of room in the socket's queue included. */
#ifndef FDM_NET_H
#define FDM_NET_H

#include <stdint.h>
#include <sys/socket.h>

#include "lib/config.h"
#include "fdm/wire.h"

struct fdm_net {
	int fd;
	const struct fdm_config *cfg;
	const struct fdm_key *key;
	struct sockaddr_storage peer_addr[FDM_MAX_HOSTS];
	socklen_t peer_addrlen[FDM_MAX_HOSTS];
	struct fdm_replay replay[FDM_MAX_HOSTS];
	uint64_t wrong_address_logged_ms[FDM_MAX_HOSTS];  /* 0: never; logged once a minute */
	uint64_t dropped[FDM_DROP_COUNT];
	uint32_t kernel_drops_seen;   /* SO_RXQ_OVFL: the socket's own (wrapping) count */
	uint64_t received, sent, send_errors;
};

/* Bind the socket (non-blocking). -1 with a message in err. */
int fdm_net_open(struct fdm_net *n, const struct fdm_config *cfg, const struct fdm_key *key,
		 char *err, size_t errlen);
void fdm_net_close(struct fdm_net *n);

/* A reloaded config (same [host] address and port): peer addresses anew, replay
 * state kept for the hosts that stay, matched by id. Call before the config the
 * net points to is replaced by `next`. */
int fdm_net_reconfigure(struct fdm_net *n, const struct fdm_config *next, char *err,
			size_t errlen);

/* Sign and send one packet to peer index `to`. 0, or -1 (counted, logged by caller). */
int fdm_net_send(struct fdm_net *n, int to, const Fdm__Packet *p);

/* Receive one datagram. Returns 1 with *out (free with fdm__packet__free_unpacked)
 * and *from (peer index) for an accepted packet; 0 when it was dropped (counted);
 * -1 when nothing is waiting. An authentic packet from another address than its
 * sender's configured one is dropped (wrong_address, logged once a minute per
 * peer) before it reaches the replay table, so that a second agent with the same
 * host id cannot shut the real one out. */
int fdm_net_recv(struct fdm_net *n, Fdm__Packet **out, int *from);

#endif
