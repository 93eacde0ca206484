/* fdm-inject: sends hand-made datagrams to an agent, for the cluster tests of
 * packet authentication. Kinds:
 *   good             a valid bid
 *   wrong-key        a bid signed with another key
 *   foreign-cluster  a bid of another cluster id (signed with our key)
 *   garbage          200 bytes behind the magic
 *   replay           the same valid bid twice: the second must be dropped
 *   master-hb        a valid master heartbeat (--term, --datastores)
 *   flood            for --seconds, as fast as it can: 64 KB datagrams of our
 *                    cluster id holding 32k empty repeated strings (slow to decode)
 *                    with a wrong MAC
 *   fdm-inject --key FILE --cluster ID --sender ID --to ADDR[:PORT] --kind KIND
 *              [--from ADDR[:PORT]] [--timing HB_MS:IO_MS] [--count N]
 *              [--seconds S] [--term T] [--datastores N]
 * Prints one line: what it sent. IPv4 only (the test namespaces are). */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/util.h"
#include "fdm/wire.h"

struct opts {
	const char *keyfile, *cluster, *sender, *to, *from, *kind;
	unsigned hb_ms, io_ms;     /* 0: the packet carries no timing */
	unsigned count, seconds, datastores;
	uint64_t term;
};

static int parse_addr(const char *text, struct sockaddr_in *sa)
{
	char addr[64], *colon;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(8182);
	fdm_strlcpy(addr, text, sizeof(addr));
	if ((colon = strchr(addr, ':')) != NULL) {
		*colon = '\0';
		sa->sin_port = htons((uint16_t)atoi(colon + 1));
	}
	return inet_pton(AF_INET, addr, &sa->sin_addr) == 1 ? 0 : -1;
}

static void init_packet(const struct opts *o, const char *cluster, uint64_t seq,
			Fdm__Packet *p)
{
	fdm__packet__init(p);
	p->cluster = (char *)cluster;
	p->sender = (char *)o->sender;
	p->incarnation = fdm_now_unix_ms();
	p->seq = seq;
	if (o->hb_ms != 0) {
		p->has_heartbeat_interval_ms = p->has_io_timeout_ms = true;
		p->heartbeat_interval_ms = o->hb_ms;
		p->io_timeout_ms = o->io_ms;
	}
}

static size_t make_bid(const struct opts *o, const char *cluster, uint64_t seq,
		       const struct fdm_key *key, uint8_t *buf, size_t len)
{
	Fdm__Packet p;
	Fdm__Bid bid = FDM__BID__INIT;

	init_packet(o, cluster, seq, &p);
	bid.term = 0;
	bid.datastores = 0;
	p.body_case = FDM__PACKET__BODY_BID;
	p.bid = &bid;
	return fdm_wire_encode(&p, key, buf, len);
}

static size_t make_master_hb(const struct opts *o, uint64_t seq, const struct fdm_key *key,
			     uint8_t *buf, size_t len)
{
	Fdm__Packet p;
	Fdm__MasterHeartbeat m = FDM__MASTER_HEARTBEAT__INIT;

	init_packet(o, o->cluster, seq, &p);
	m.term = o->term;
	m.datastores = o->datastores;
	p.body_case = FDM__PACKET__BODY_MASTER_HB;
	p.master_hb = &m;
	return fdm_wire_encode(&p, key, buf, len);
}

/* Framing, our cluster id, then a slave heartbeat of 32k empty `vms` strings,
 * and 32 bytes that are no MAC: the costliest datagram to decode that fits. */
static size_t make_flood(const struct opts *o, uint8_t *buf, size_t buflen)
{
	size_t n = 0, cl = strlen(o->cluster), sl = strlen(o->sender), inner;
	uint8_t *b = buf + FDM_WIRE_HEADER;

	memcpy(buf, FDM_WIRE_MAGIC, 4);
	b[n++] = 0x0a;                          /* Packet.cluster */
	b[n++] = (uint8_t)cl;
	memcpy(b + n, o->cluster, cl);
	n += cl;
	b[n++] = 0x12;                          /* Packet.sender */
	b[n++] = (uint8_t)sl;
	memcpy(b + n, o->sender, sl);
	n += sl;
	b[n++] = 0x18;                          /* incarnation 1 */
	b[n++] = 1;
	b[n++] = 0x20;                          /* seq 1 */
	b[n++] = 1;
	inner = buflen - FDM_WIRE_HEADER - FDM_WIRE_MAC - n - 4;
	inner -= inner % 2;
	b[n++] = 0x62;                          /* Packet.slave_hb, 3-byte length */
	b[n++] = (uint8_t)(0x80 | (inner & 0x7f));
	b[n++] = (uint8_t)(0x80 | ((inner >> 7) & 0x7f));
	b[n++] = (uint8_t)(inner >> 14);
	b[n++] = 0x0a;                          /* master "" */
	b[n++] = 0;
	b[n++] = 0x10;                          /* term 0 */
	b[n++] = 0;
	for (size_t i = 4; i < inner; i += 2) {
		b[n++] = 0x2a;                  /* vms: "" */
		b[n++] = 0;
	}
	fdm_put_be32(buf + 4, (uint32_t)n);
	memset(b + n, 0xee, FDM_WIRE_MAC);
	return FDM_WIRE_HEADER + n + FDM_WIRE_MAC;
}

static int flood(int fd, const struct sockaddr_in *to, const struct opts *o)
{
	static uint8_t buf[FDM_WIRE_MAX];
	size_t len = make_flood(o, buf, sizeof(buf));
	uint64_t end = fdm_now_mono_ms() + 1000ULL * o->seconds, sent = 0, failed = 0;

	while (fdm_now_mono_ms() < end) {
		for (int i = 0; i < 64; i++) {
			if (sendto(fd, buf, len, 0, (const struct sockaddr *)to, sizeof(*to)) < 0)
				failed++;
			else
				sent++;
		}
	}
	printf("sent %llu flood datagram(s) of %zu bytes in %u s (%.0f/s, %llu send errors) "
	       "to %s as %s\n", (unsigned long long)sent, len, o->seconds,
	       (double)sent / o->seconds, (unsigned long long)failed, o->to, o->sender);
	return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' }, { "cluster", required_argument, NULL, 'c' },
		{ "sender", required_argument, NULL, 's' }, { "to", required_argument, NULL, 't' },
		{ "kind", required_argument, NULL, 'K' }, { "from", required_argument, NULL, 'f' },
		{ "timing", required_argument, NULL, 'T' }, { "count", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 'S' }, { "term", required_argument, NULL, 'r' },
		{ "datastores", required_argument, NULL, 'd' }, { NULL, 0, NULL, 0 },
	};
	int opt;

	memset(o, 0, sizeof(*o));
	o->count = 1;
	o->seconds = 3;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'k': o->keyfile = optarg; break;
		case 'c': o->cluster = optarg; break;
		case 's': o->sender = optarg; break;
		case 't': o->to = optarg; break;
		case 'K': o->kind = optarg; break;
		case 'f': o->from = optarg; break;
		case 'T':
			if (sscanf(optarg, "%u:%u", &o->hb_ms, &o->io_ms) != 2)
				return -1;
			break;
		case 'n': o->count = (unsigned)atoi(optarg); break;
		case 'S': o->seconds = (unsigned)atoi(optarg); break;
		case 'r': o->term = strtoull(optarg, NULL, 10); break;
		case 'd': o->datastores = (unsigned)atoi(optarg); break;
		default: return -1;
		}
	}
	if (!o->keyfile || !o->cluster || !o->sender || !o->to || !o->kind ||
	    strlen(o->cluster) > 100 || strlen(o->sender) > 100 || o->seconds > 60)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in to, from;
	struct opts o;
	struct fdm_key key;
	uint8_t buf[2048];
	char err[512];
	const char *cluster;
	size_t len;
	int fd, keylen;
	unsigned copies;

	if (parse(argc, argv, &o) < 0) {
		fprintf(stderr, "usage: fdm-inject --key FILE --cluster ID --sender ID --to ADDR[:PORT] "
			"--kind good|wrong-key|foreign-cluster|garbage|replay|master-hb|flood "
			"[--from ADDR[:PORT]] [--timing HB_MS:IO_MS] [--count N] [--seconds S] "
			"[--term T] [--datastores N]\n");
		return 2;
	}
	if (parse_addr(o.to, &to) < 0 || (o.from && parse_addr(o.from, &from) < 0)) {
		fprintf(stderr, "fdm-inject: bad address %s\n", o.from ? o.from : o.to);
		return 2;
	}
	keylen = fdm_key_load(o.keyfile, key.bytes, err, sizeof(err));
	if (keylen < 0) {
		fprintf(stderr, "fdm-inject: %s\n", err);
		return 2;
	}
	key.len = (size_t)keylen;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || (o.from && bind(fd, (struct sockaddr *)&from, sizeof(from)) < 0)) {
		perror("fdm-inject: socket/bind");
		return 1;
	}
	if (strcmp(o.kind, "flood") == 0)
		return flood(fd, &to, &o);
	cluster = strcmp(o.kind, "foreign-cluster") == 0 ? "some-other-cluster" : o.cluster;
	if (strcmp(o.kind, "wrong-key") == 0)
		key.bytes[0] ^= 0xff;
	copies = strcmp(o.kind, "replay") == 0 ? 2 : o.count;
	if (strcmp(o.kind, "garbage") == 0) {
		memset(buf, 0xa5, 200);
		memcpy(buf, FDM_WIRE_MAGIC, 4);
		len = 200;
	} else if (strcmp(o.kind, "master-hb") == 0) {
		len = make_master_hb(&o, 1, &key, buf, sizeof(buf));
	} else {
		len = make_bid(&o, cluster, 1, &key, buf, sizeof(buf));
	}
	for (unsigned i = 0; i < copies; i++) {
		/* Distinct packets (seq) for --count, the very same bytes for replay. */
		if (i > 0 && strcmp(o.kind, "replay") != 0 && strcmp(o.kind, "garbage") != 0)
			len = strcmp(o.kind, "master-hb") == 0
				      ? make_master_hb(&o, i + 1, &key, buf, sizeof(buf))
				      : make_bid(&o, cluster, i + 1, &key, buf, sizeof(buf));
		if (sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
			perror("fdm-inject: sendto");
			return 1;
		}
	}
	close(fd);
	printf("sent %u %s datagram(s) of %zu bytes to %s as %s\n", copies, o.kind, len, o.to,
	       o.sender);
	return 0;
}
