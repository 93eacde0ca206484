/* UDP transport of the agent. Every check on a received datagram happens here or
 * in wire.c, in order: size and framing, protobuf, cluster id, MAC, known sender,
 * replay. Only a packet that passes all of them reaches the core. */
#include "fdm/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/util.h"

static int fill_addr(const char *addr, uint16_t port, struct sockaddr_storage *ss,
		     socklen_t *len)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		*len = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		*len = sizeof(*v6);
		return 0;
	}
	return -1;
}

static int fill_peer_addresses(struct fdm_net *n, const struct fdm_config *cfg, char *err,
			       size_t errlen)
{
	for (size_t i = 0; i < cfg->n_peers; i++)
		if (fill_addr(cfg->peers[i].address, cfg->peers[i].port, &n->peer_addr[i],
			      &n->peer_addrlen[i]) < 0) {
			snprintf(err, errlen, "peer %s: bad address %s", cfg->peers[i].id,
				 cfg->peers[i].address);
			return -1;
		}
	return 0;
}

int fdm_net_reconfigure(struct fdm_net *n, const struct fdm_config *next, char *err,
			size_t errlen)
{
	struct fdm_replay replay[FDM_MAX_HOSTS] = { { 0, 0 } };

	for (size_t i = 0; i < next->n_peers; i++) {
		int old = fdm_config_peer_index(n->cfg, next->peers[i].id);
		if (old >= 0)
			replay[i] = n->replay[old];
	}
	if (fill_peer_addresses(n, next, err, errlen) < 0)
		return -1;
	memcpy(n->replay, replay, sizeof(replay));
	return 0;
}

int fdm_net_open(struct fdm_net *n, const struct fdm_config *cfg, const struct fdm_key *key,
		 char *err, size_t errlen)
{
	struct sockaddr_storage local;
	socklen_t len;

	memset(n, 0, sizeof(*n));
	n->fd = -1;
	n->cfg = cfg;
	n->key = key;
	if (fill_peer_addresses(n, cfg, err, errlen) < 0)
		return -1;
	if (fill_addr(cfg->address, cfg->port, &local, &len) < 0) {
		snprintf(err, errlen, "bad [host] address %s", cfg->address);
		return -1;
	}
	n->fd = socket(local.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (n->fd < 0 || bind(n->fd, (struct sockaddr *)&local, len) < 0) {
		snprintf(err, errlen, "cannot bind UDP %s port %u: %s", cfg->address, cfg->port,
			 strerror(errno));
		fdm_net_close(n);
		return -1;
	}
	return 0;
}

void fdm_net_close(struct fdm_net *n)
{
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
}

int fdm_net_send(struct fdm_net *n, int to, const Fdm__Packet *p)
{
	uint8_t buf[FDM_WIRE_MAX];
	size_t len = fdm_wire_encode(p, n->key, buf, sizeof(buf));

	if (len == 0 || to < 0 || (size_t)to >= n->cfg->n_peers) {
		n->send_errors++;
		return -1;
	}
	if (sendto(n->fd, buf, len, 0, (struct sockaddr *)&n->peer_addr[to],
		   n->peer_addrlen[to]) < 0) {
		/* A cut link gives EHOSTUNREACH/ENETUNREACH now and then: the peer
		 * simply misses a heartbeat, which is what the protocol tolerates. */
		n->send_errors++;
		return -1;
	}
	n->sent++;
	return 0;
}

static int drop(struct fdm_net *n, enum fdm_drop why, Fdm__Packet *p)
{
	n->dropped[why]++;
	if (p != NULL)
		fdm__packet__free_unpacked(p, NULL);
	return 0;
}

int fdm_net_recv(struct fdm_net *n, Fdm__Packet **out, int *from)
{
	uint8_t buf[FDM_WIRE_MAX + 1];
	Fdm__Packet *p;
	enum fdm_drop why;
	ssize_t len;
	int idx;

	len = recv(n->fd, buf, sizeof(buf), 0);
	if (len < 0)
		return -1;
	n->received++;
	why = fdm_wire_decode(buf, (size_t)len, n->cfg->cluster_id, n->key, &p);
	if (why != FDM_DROP_NONE)
		return drop(n, why, NULL);
	idx = fdm_config_peer_index(n->cfg, p->sender);
	if (idx < 0 || strcmp(p->sender, n->cfg->host_id) == 0)
		return drop(n, FDM_DROP_UNKNOWN_SENDER, p);
	if (!fdm_replay_accept(&n->replay[idx], p->incarnation, p->seq))
		return drop(n, FDM_DROP_REPLAY, p);
	*out = p;
	*from = idx;
	return 1;
}
