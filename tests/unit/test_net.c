/* The agent's UDP socket (fdm/net.c) on loopback: a packet authentic for a peer
 * but sent from another address is dropped as wrong_address before it can touch
 * the replay table, and datagrams the kernel drops for lack of room are counted
 * (SO_RXQ_OVFL). Real sockets on 127.0.0.0/8 only. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "fdm/net.h"
#include "lib/util.h"

struct rig {
	struct fdm_config cfg;
	struct fdm_key key;
	struct fdm_net net;
	int peer_fd;       /* host-2, at its configured address */
	int impostor_fd;   /* claims to be host-2, from 127.0.0.2 */
	uint16_t port;
};

static int bound_socket(const char *addr, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	inet_pton(AF_INET, addr, &sa.sin_addr);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* host-1 (the socket under test) and host-2 on 127.0.0.1, two ports in a row. */
static void rig_open(struct rig *r)
{
	char err[256];

	memset(r, 0, sizeof(*r));
	memset(r->key.bytes, 0x33, 32);
	r->key.len = 32;
	fdm_strlcpy(r->cfg.cluster_id, "unit", sizeof(r->cfg.cluster_id));
	fdm_strlcpy(r->cfg.host_id, "host-1", sizeof(r->cfg.host_id));
	fdm_strlcpy(r->cfg.address, "127.0.0.1", sizeof(r->cfg.address));
	r->cfg.n_peers = 2;
	fdm_strlcpy(r->cfg.peers[0].id, "host-1", FDM_ID_MAX);
	fdm_strlcpy(r->cfg.peers[1].id, "host-2", FDM_ID_MAX);
	for (unsigned attempt = 0; attempt < 50; attempt++) {
		r->port = (uint16_t)(20000 + (getpid() * 7 + attempt * 131) % 30000);
		r->cfg.port = r->port;
		for (int i = 0; i < 2; i++) {
			fdm_strlcpy(r->cfg.peers[i].address, "127.0.0.1", FDM_ADDR_MAX);
			r->cfg.peers[i].port = (uint16_t)(r->port + i);
		}
		if (fdm_net_open(&r->net, &r->cfg, &r->key, err, sizeof(err)) < 0)
			continue;
		r->peer_fd = bound_socket("127.0.0.1", (uint16_t)(r->port + 1));
		r->impostor_fd = bound_socket("127.0.0.2", (uint16_t)(r->port + 1));
		if (r->peer_fd >= 0 && r->impostor_fd >= 0)
			return;
		fdm_net_close(&r->net);
		if (r->peer_fd >= 0)
			close(r->peer_fd);
		if (r->impostor_fd >= 0)
			close(r->impostor_fd);
	}
	fail_msg("no free pair of UDP ports on 127.0.0.1");
}

static void rig_close(struct rig *r)
{
	fdm_net_close(&r->net);
	close(r->peer_fd);
	close(r->impostor_fd);
}

static void send_bid(struct rig *r, int fd, uint64_t incarnation, uint64_t seq, size_t pad)
{
	Fdm__Packet p = FDM__PACKET__INIT;
	Fdm__Bid bid = FDM__BID__INIT;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(r->port) };
	uint8_t buf[2048] = { 0 };
	size_t len;

	p.cluster = (char *)"unit";
	p.sender = (char *)"host-2";
	p.incarnation = incarnation;
	p.seq = seq;
	p.body_case = FDM__PACKET__BODY_BID;
	p.bid = &bid;
	len = fdm_wire_encode(&p, &r->key, buf, sizeof(buf));
	assert_true(len > 0);
	if (pad > len)
		len = pad;   /* padding breaks the framing: counted malformed, fine here */
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	assert_true(sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)) == (ssize_t)len);
}

static int recv_one(struct rig *r, Fdm__Packet **p, int *from)
{
	int rc = fdm_net_recv(&r->net, p, from);

	if (rc == 1)
		fdm__packet__free_unpacked(*p, NULL);
	return rc;
}

/* Issue 15: two agents with one host id. The impostor's packets are authentic
 * (same key) and carry a newer incarnation; taken into the replay table they
 * would shut the real host-2 out. */
static void test_wrong_address(void **state)
{
	struct rig r;
	Fdm__Packet *p;
	int from;

	(void)state;
	rig_open(&r);
	send_bid(&r, r.impostor_fd, 9000, 1, 0);
	assert_int_equal(recv_one(&r, &p, &from), 0);
	assert_int_equal(r.net.dropped[FDM_DROP_WRONG_ADDRESS], 1);
	send_bid(&r, r.peer_fd, 5000, 1, 0);
	assert_int_equal(recv_one(&r, &p, &from), 1);
	assert_int_equal(from, 1);
	assert_int_equal(r.net.dropped[FDM_DROP_REPLAY], 0);
	assert_int_equal(recv_one(&r, &p, &from), -1);   /* nothing else waiting */
	rig_close(&r);
}

/* A datagram the kernel could not queue is counted under dropped.kernel: the
 * count rides on the next datagram that does get through. */
static void test_kernel_drops_counted(void **state)
{
	struct rig r;
	Fdm__Packet *p;
	int from, rc, small = 4096, sent = 400;
	uint64_t got = 0;

	(void)state;
	rig_open(&r);
	assert_int_equal(setsockopt(r.net.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	for (int i = 0; i < sent; i++)
		send_bid(&r, r.peer_fd, 5000, (uint64_t)i + 1, 1000);
	while ((rc = fdm_net_recv(&r.net, &p, &from)) >= 0)
		got++;
	send_bid(&r, r.peer_fd, 5000, 100000, 0);   /* carries the drop count */
	assert_int_equal(recv_one(&r, &p, &from), 1);
	got++;
	print_message("%d datagrams sent into a %d-byte queue: %llu received, %llu counted as "
		      "dropped by the kernel\n", sent + 1, small, (unsigned long long)got,
		      (unsigned long long)r.net.dropped[FDM_DROP_KERNEL]);
	assert_true(r.net.dropped[FDM_DROP_KERNEL] > 0);
	assert_int_equal(got + r.net.dropped[FDM_DROP_KERNEL], (uint64_t)sent + 1);
	assert_int_equal(r.net.received, got);
	rig_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wrong_address),
		cmocka_unit_test(test_kernel_drops_counted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
