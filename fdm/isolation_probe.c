/* ICMP echo to the [isolation] addresses, one round per period (isolation_probe.h).
 * A ping socket (SOCK_DGRAM, IPPROTO_ICMP: the kernel sets the echo id and
 * hands us only our replies) where net.ipv4.ping_group_range allows it, else a
 * raw socket (root), whose replies we match by our echo id. Every round sends
 * one echo to each address with a new sequence number; only a reply carrying
 * that number counts, so a reply that sat in a queue for a round proves nothing
 * about now. Non-blocking throughout: a send that fails (no route, which is what
 * isolation looks like) is just a round with no answer. */
#include "fdm/isolation_probe.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

#define ECHO_V4 8
#define ECHO_REPLY_V4 0
#define ECHO_V6 128
#define ECHO_REPLY_V6 129
#define ECHO_LEN 16                  /* 8-byte header + 8 bytes of payload */

struct iso_target {
	struct sockaddr_storage sa;
	socklen_t len;
	char name[FDM_ADDR_MAX];
};

/* One socket per address family in use. */
struct iso_sock {
	int family;
	int fd;
	bool raw;
	sd_event_source *src;
};

struct fdm_iso_probe {
	fdm_iso_probe_cb cb;
	void *user;
	uint32_t period_ms;
	sd_event_source *timer;
	struct iso_sock v4, v6;
	uint16_t ident;                  /* our echo id on raw sockets */
	uint16_t seq;                    /* this round's */
	uint64_t round_ms;               /* when it began (fdm_now_boottime_ms) */
	bool started, answered;
	bool send_logged;                /* a send failure logged (once, until one works) */
	struct iso_target t[FDM_MAX_ISO_ADDRS];
	size_t n;
};

uint16_t fdm_iso_checksum(const void *buf, size_t len)
{
	const uint8_t *b = buf;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Numeric addresses only: a name lookup could block the loop for seconds. */
static bool add_target(struct fdm_iso_probe *p, const char *addr)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_DGRAM };
	struct addrinfo *res = NULL;
	struct iso_target *t = &p->t[p->n];

	if (getaddrinfo(addr, NULL, &hints, &res) != 0 || res == NULL) {
		fdm_warn("isolation probe: %s is not a numeric IPv4 or IPv6 address: not probed",
			 addr);
		return false;
	}
	memcpy(&t->sa, res->ai_addr, res->ai_addrlen);
	t->len = res->ai_addrlen;
	snprintf(t->name, sizeof(t->name), "%s", addr);
	freeaddrinfo(res);
	p->n++;
	return true;
}

static int open_icmp(int family, bool *raw)
{
	int proto = family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);

	*raw = false;
	if (fd < 0) {
		fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
		*raw = true;
	}
	return fd;
}

/* Our reply to this round's echo? buf: what recv returned on socket s. */
static bool our_reply(const struct fdm_iso_probe *p, const struct iso_sock *s,
		      const uint8_t *buf, size_t len)
{
	size_t off = 0;

	if (s->raw && s->family == AF_INET) {   /* a raw IPv4 socket gets the IP header */
		if (len < 20 || buf[0] >> 4 != 4)
			return false;
		off = (size_t)(buf[0] & 0x0f) * 4;
	}
	if (len < off + 8)
		return false;
	buf += off;
	if (buf[0] != (s->family == AF_INET ? ECHO_REPLY_V4 : ECHO_REPLY_V6) || buf[1] != 0)
		return false;
	if (s->raw && get16(buf + 4) != p->ident)
		return false;
	return get16(buf + 6) == p->seq;
}

static int on_reply(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct fdm_iso_probe *p = userdata;
	const struct iso_sock *s = fd == p->v4.fd ? &p->v4 : &p->v6;
	uint8_t buf[1500];
	ssize_t n;

	(void)src;
	(void)revents;
	while ((n = recv(fd, buf, sizeof(buf), 0)) >= 0) {
		if (!p->answered && our_reply(p, s, buf, (size_t)n)) {
			p->answered = true;
			p->cb(p->user, true, p->round_ms);
		}
	}
	return 0;
}

static void send_echo(struct fdm_iso_probe *p, const struct iso_target *t)
{
	const struct iso_sock *s = t->sa.ss_family == AF_INET ? &p->v4 : &p->v6;
	uint8_t pkt[ECHO_LEN];

	if (s->fd < 0)
		return;
	memset(pkt, 0, sizeof(pkt));
	pkt[0] = s->family == AF_INET ? ECHO_V4 : ECHO_V6;
	put16(pkt + 4, p->ident);            /* a ping socket puts its own */
	put16(pkt + 6, p->seq);
	memcpy(pkt + 8, "fdm-iso", 7);
	if (s->family == AF_INET)            /* IPv6: the kernel sums (pseudo-header) */
		put16(pkt + 2, fdm_iso_checksum(pkt, sizeof(pkt)));
	if (sendto(s->fd, pkt, sizeof(pkt), 0, (const struct sockaddr *)&t->sa, t->len) < 0) {
		if (!p->send_logged)
			fdm_info("isolation probe: echo to %s not sent: %s", t->name,
				 strerror(errno));
		p->send_logged = true;
		return;
	}
	p->send_logged = false;
}

/* A round ends, the next begins: a round without a reply is reported as such. */
static int on_round(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct fdm_iso_probe *p = userdata;

	if (p->started && !p->answered)
		p->cb(p->user, false, p->round_ms);
	p->started = true;
	p->round_ms = fdm_now_boottime_ms();
	p->answered = false;
	p->seq++;
	for (size_t i = 0; i < p->n; i++)
		send_echo(p, &p->t[i]);
	sd_event_source_set_time(src, usec + (uint64_t)p->period_ms * 1000);
	return 0;
}

static void open_family(struct fdm_iso_probe *p, sd_event *ev, struct iso_sock *s, int family)
{
	bool used = false;

	s->family = family;
	s->fd = -1;
	for (size_t i = 0; i < p->n; i++)
		used = used || p->t[i].sa.ss_family == family;
	if (!used)
		return;
	s->fd = open_icmp(family, &s->raw);
	if (s->fd < 0) {
		fdm_warn("isolation probe: no ICMP%s socket (%s): its isolation addresses count "
			 "as not answering, and a host that hears no peer takes no lease",
			 family == AF_INET ? "" : "v6", strerror(errno));
		return;
	}
	if (sd_event_add_io(ev, &s->src, s->fd, EPOLLIN, on_reply, p) < 0) {
		close(s->fd);
		s->fd = -1;
	}
}

int fdm_iso_probe_open(sd_event *ev, const struct fdm_config *cfg, uint32_t period_ms,
		       fdm_iso_probe_cb cb, void *user, struct fdm_iso_probe **out,
		       char *err, size_t errlen)
{
	struct fdm_iso_probe *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (p == NULL) {
		snprintf(err, errlen, "isolation probe: out of memory");
		return -1;
	}
	p->v4.fd = p->v6.fd = -1;
	p->cb = cb;
	p->user = user;
	p->period_ms = period_ms;
	p->ident = (uint16_t)(getpid() ^ 0x5a17);
	for (size_t i = 0; i < cfg->n_isolation_addresses; i++)
		add_target(p, cfg->isolation_addresses[i]);
	if (cfg->n_isolation_addresses == 0)
		fdm_warn("isolation probe: no [isolation] addresses: a host that hears no peer "
			 "takes no lease until the others' hb records are unchanged for host_dead");
	open_family(p, ev, &p->v4, AF_INET);
	open_family(p, ev, &p->v6, AF_INET6);
	if (sd_event_add_time_relative(ev, &p->timer, CLOCK_MONOTONIC, 0, 1000, on_round, p) < 0 ||
	    sd_event_source_set_enabled(p->timer, SD_EVENT_ON) < 0) {
		snprintf(err, errlen, "isolation probe: cannot add its timer");
		fdm_iso_probe_close(p);
		return -1;
	}
	*out = p;
	return 0;
}

void fdm_iso_probe_close(struct fdm_iso_probe *p)
{
	if (p == NULL)
		return;
	sd_event_source_disable_unref(p->timer);
	sd_event_source_disable_unref(p->v4.src);
	sd_event_source_disable_unref(p->v6.src);
	if (p->v4.fd >= 0)
		close(p->v4.fd);
	if (p->v6.fd >= 0)
		close(p->v6.fd);
	free(p);
}
