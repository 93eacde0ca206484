/* fdm-inject: sends hand-made datagrams to an agent, for the cluster tests of
 * packet authentication. Kinds: good (a valid bid), wrong-key, foreign-cluster,
 * garbage, replay (the same valid bid twice: the second must be dropped).
 *   fdm-inject --key FILE --cluster ID --sender ID --to ADDR[:PORT] --kind KIND */
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

static size_t make_bid(const char *cluster, const char *sender, uint64_t seq,
		       const struct fdm_key *key, uint8_t *buf, size_t len)
{
	Fdm__Packet p = FDM__PACKET__INIT;
	Fdm__Bid bid = FDM__BID__INIT;

	p.cluster = (char *)cluster;
	p.sender = (char *)sender;
	p.incarnation = fdm_now_unix_ms();
	p.seq = seq;
	bid.term = 0;
	bid.datastores = 0;
	p.body_case = FDM__PACKET__BODY_BID;
	p.bid = &bid;
	return fdm_wire_encode(&p, key, buf, len);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' }, { "cluster", required_argument, NULL, 'c' },
		{ "sender", required_argument, NULL, 's' }, { "to", required_argument, NULL, 't' },
		{ "kind", required_argument, NULL, 'K' }, { NULL, 0, NULL, 0 },
	};
	const char *keyfile = NULL, *cluster = NULL, *sender = NULL, *to = NULL, *kind = NULL;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(8182) };
	struct fdm_key key;
	uint8_t buf[2048];
	char addr[64], err[512], *colon;
	size_t len;
	int opt, fd, keylen, copies = 1;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'k': keyfile = optarg; break;
		case 'c': cluster = optarg; break;
		case 's': sender = optarg; break;
		case 't': to = optarg; break;
		case 'K': kind = optarg; break;
		default: return 2;
		}
	}
	if (!keyfile || !cluster || !sender || !to || !kind) {
		fprintf(stderr, "usage: fdm-inject --key FILE --cluster ID --sender ID --to ADDR[:PORT] "
			"--kind good|wrong-key|foreign-cluster|garbage|replay\n");
		return 2;
	}
	fdm_strlcpy(addr, to, sizeof(addr));
	if ((colon = strchr(addr, ':')) != NULL) {
		*colon = '\0';
		sa.sin_port = htons((uint16_t)atoi(colon + 1));
	}
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "fdm-inject: bad address %s\n", to);
		return 2;
	}
	keylen = fdm_key_load(keyfile, key.bytes, err, sizeof(err));
	if (keylen < 0) {
		fprintf(stderr, "fdm-inject: %s\n", err);
		return 2;
	}
	key.len = (size_t)keylen;
	if (strcmp(kind, "wrong-key") == 0)
		key.bytes[0] ^= 0xff;
	if (strcmp(kind, "foreign-cluster") == 0)
		cluster = "some-other-cluster";
	if (strcmp(kind, "replay") == 0)
		copies = 2;
	if (strcmp(kind, "garbage") == 0) {
		memset(buf, 0xa5, 200);
		memcpy(buf, FDM_WIRE_MAGIC, 4);
		len = 200;
	} else {
		len = make_bid(cluster, sender, 1, &key, buf, sizeof(buf));
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	for (int i = 0; i < copies; i++)
		if (sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			perror("fdm-inject: sendto");
			return 1;
		}
	close(fd);
	printf("sent %d %s datagram(s) of %zu bytes to %s as %s\n", copies, kind, len, to, sender);
	return 0;
}
