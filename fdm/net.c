/* UDP transport of the agent. Every check on a received datagram happens here or
 * in wire.c, in order: size and framing, cluster id, MAC, protobuf, known sender,
 * its address, replay. Only a packet that passes all of them reaches the core
 * (which checks the sender's timing, DESIGN.md safety point 1). */
#include "fdm/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

#define WRONG_ADDRESS_LOG_MS 60000

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
	memset(n->wrong_address_logged_ms, 0, sizeof(n->wrong_address_logged_ms));
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
	/* Each datagram then carries the socket's count of datagrams dropped for
	 * lack of room: a flood shows in dropped.kernel instead of vanishing. */
	if (setsockopt(n->fd, SOL_SOCKET, SO_RXQ_OVFL, &(int){ 1 }, sizeof(int)) < 0) {
		snprintf(err, errlen, "cannot set SO_RXQ_OVFL on UDP %s port %u: %s",
			 cfg->address, cfg->port, strerror(errno));
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

/* The kernel's drop count rides on each datagram received after a drop; it is
 * cumulative and wraps at 2^32, so only its growth is added. */
static void count_kernel_drops(struct fdm_net *n, const struct msghdr *msg)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL;
	     c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
		uint32_t total;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_RXQ_OVFL ||
		    c->cmsg_len < CMSG_LEN(sizeof(total)))
			continue;
		memcpy(&total, CMSG_DATA(c), sizeof(total));
		n->dropped[FDM_DROP_KERNEL] += (uint32_t)(total - n->kernel_drops_seen);
		n->kernel_drops_seen = total;
	}
}

static bool same_address(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)a, *b4 = (const struct sockaddr_in *)b;
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)a;
	const struct sockaddr_in6 *b6 = (const struct sockaddr_in6 *)b;

	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return a4->sin_port == b4->sin_port && a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return a6->sin6_port == b6->sin6_port &&
		       memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) == 0;
	return false;
}

static void format_address(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof(ip));
		port = ntohs(v4->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof(ip));
		port = ntohs(v6->sin6_port);
	}
	snprintf(buf, len, ss->ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, port);
}

/* Two agents with one host id (a cloned VM, a copied config): the one at the
 * configured address is the host; the other is named in the log once a minute. */
static int wrong_address(struct fdm_net *n, int idx, const struct sockaddr_storage *src,
			 Fdm__Packet *p)
{
	uint64_t now = fdm_now_boottime_ms();
	uint64_t *logged = &n->wrong_address_logged_ms[idx];
	char got[INET6_ADDRSTRLEN + 16], want[INET6_ADDRSTRLEN + 16];

	if (*logged == 0 || now - *logged >= WRONG_ADDRESS_LOG_MS) {
		*logged = now;
		format_address(src, got, sizeof(got));
		format_address(&n->peer_addr[idx], want, sizeof(want));
		fdm_warn("%s: dropping authentic packets of %s from %s: its configured address is "
			 "%s (a second agent with the same [host] id?); dropped.wrong_address counts "
			 "them", n->cfg->host_id, p->sender, got, want);
	}
	return drop(n, FDM_DROP_WRONG_ADDRESS, p);
}

int fdm_net_recv(struct fdm_net *n, Fdm__Packet **out, int *from)
{
	uint8_t buf[FDM_WIRE_MAX + 1];
	union {
		char buf[CMSG_SPACE(sizeof(uint32_t))];
		struct cmsghdr align;
	} control;
	struct sockaddr_storage src;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr msg = {
		.msg_name = &src, .msg_namelen = sizeof(src), .msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = sizeof(control.buf),
	};
	Fdm__Packet *p;
	enum fdm_drop why;
	ssize_t len;
	int idx;

	memset(&src, 0, sizeof(src));
	len = recvmsg(n->fd, &msg, 0);
	if (len < 0)
		return -1;
	n->received++;
	count_kernel_drops(n, &msg);
	if (msg.msg_flags & MSG_TRUNC)
		return drop(n, FDM_DROP_MALFORMED, NULL);
	why = fdm_wire_decode(buf, (size_t)len, n->cfg->cluster_id, n->key, &p);
	if (why != FDM_DROP_NONE)
		return drop(n, why, NULL);
	idx = fdm_config_peer_index(n->cfg, p->sender);
	if (idx < 0 || strcmp(p->sender, n->cfg->host_id) == 0)
		return drop(n, FDM_DROP_UNKNOWN_SENDER, p);
	if (!same_address(&src, &n->peer_addr[idx]))
		return wrong_address(n, idx, &src, p);
	if (!fdm_replay_accept(&n->replay[idx], p->incarnation, p->seq))
		return drop(n, FDM_DROP_REPLAY, p);
	*out = p;
	*from = idx;
	return 1;
}
