/* Operators' requests between hosts in the core (forward.c, protect.c): which
 * Forward, ForwardReply, DefineRequest and DefineReply bodies a core hands to its
 * shell, and from whom; how a DefineReply is bounded; the seq and header of a
 * datagram the shell builds (fdm_core_take_seq, fdm_outbox_header); and what the
 * master answers. The packets come from the real cores of a minicluster that
 * elected host-4, each built with its sender's own header, so freshness and
 * timing pass as on the wire. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "lib/util.h"
#include "tests/unit/minicluster.h"

#define GIB (1024ull * 1024ull)

static const char *const ids4[] = { "host-1", "host-2", "host-3", "host-4" };
static const unsigned all3[] = { 3, 3, 3, 3 };
static const char *const uuid1 = "6f1c2b3a-0000-4000-8000-000000000001";

static struct fdm_outbox ob;
static struct fdm_actions acts;

/* Four hosts with shims, settled: host-4 master, holding every lease. */
static struct minicluster *cluster(uint32_t seed)
{
	struct minicluster *mc = mc_new(ids4, all3, 4, seed);

	for (size_t h = 0; h < 4; h++)
		mc_shim_on(mc, h, 8 * GIB, 16 * GIB);
	assert_int_equal(mc_run_until_agreed(mc, 5000, NULL), 3);
	mc_run(mc, 30000);
	return mc;
}

/* A datagram of host `from` to host `to`, header as the shell builds it. */
static Fdm__Packet *packet(struct minicluster *mc, size_t from, size_t to)
{
	struct fdm_core *c = &mc->hosts[from].core;

	fdm_outbox_header(c, (int)to, fdm_core_take_seq(c, mc->now), "unit", &ob);
	return &ob.packet;
}

static enum fdm_rx deliver(struct minicluster *mc, size_t from, size_t to, Fdm__Packet *p)
{
	acts.n = 0;
	return fdm_core_packet(&mc->hosts[to].core, (int)from, p, mc->now, &acts);
}

static const struct fdm_action *find(enum fdm_action_kind kind, int to)
{
	for (size_t i = 0; i < acts.n; i++)
		if (acts.a[i].kind == kind && (to < -1 || acts.a[i].to == to))
			return &acts.a[i];
	return NULL;
}

/* ------------------------------------------------------ seq and the header */

static void test_take_seq_is_a_send(void **state)
{
	struct minicluster *mc = cluster(91);
	struct fdm_core *c = &mc->hosts[0].core;
	uint64_t seq, at = 0;

	(void)state;
	seq = fdm_core_take_seq(c, mc->now);
	assert_true(fdm_core_sent_at(c, c->incarnation, seq, &at));
	assert_int_equal(at, mc->now);
	/* The heartbeats after it go on from there. */
	acts.n = 0;
	fdm_core_send(c, FDM_MSG_SLAVE_HB, 3, mc->now + 1, &acts);
	assert_int_equal(acts.n, 1);
	assert_int_equal(acts.a[0].seq, seq + 1);
	mc_free(mc);
}

static void test_header_is_the_heartbeats(void **state)
{
	struct minicluster *mc = cluster(92);
	struct fdm_core *c = &mc->hosts[0].core;
	struct fdm_action a = { .kind = FDM_ACT_SEND, .msg = FDM_MSG_SLAVE_HB, .to = 3, .seq = 77 };
	Fdm__Packet hb;
	Fdm__Echo ack;

	(void)state;
	fdm_outbox_build(c, &a, "unit", mc->now, &ob);
	hb = ob.packet;
	assert_non_null(hb.ack);
	ack = *hb.ack;
	fdm_outbox_header(c, 3, 77, "unit", &ob);
	assert_string_equal(ob.packet.cluster, hb.cluster);
	assert_string_equal(ob.packet.sender, "host-1");
	assert_int_equal(ob.packet.incarnation, hb.incarnation);
	assert_int_equal(ob.packet.seq, 77);
	assert_int_equal(ob.packet.heartbeat_interval_ms, hb.heartbeat_interval_ms);
	assert_int_equal(ob.packet.io_timeout_ms, hb.io_timeout_ms);
	assert_true(ob.packet.has_heartbeat_interval_ms && ob.packet.has_io_timeout_ms);
	assert_non_null(ob.packet.ack);
	assert_int_equal(ob.packet.ack->incarnation, ack.incarnation);
	assert_int_equal(ob.packet.ack->seq, ack.seq);
	assert_int_equal(ob.packet.body_case, FDM__PACKET__BODY__NOT_SET);
	mc_free(mc);
}

/* ---------------------------------------------------------------- the gates */

static void test_forward_and_reply_from_any_peer(void **state)
{
	struct minicluster *mc = cluster(93);
	Fdm__Forward f = FDM__FORWARD__INIT;
	Fdm__ForwardReply r = FDM__FORWARD_REPLY__INIT;
	char big[FDM_FORWARD_REQUEST_MAX + 1];
	Fdm__Packet *p;
	uint64_t malformed = mc->hosts[3].core.ha.rx_malformed;

	(void)state;
	f.id = 5;
	f.request = "{\"command\":\"protect\",\"vm\":\"vm-a\"}";
	p = packet(mc, 0, 3);
	p->body_case = FDM__PACKET__BODY_FORWARD;
	p->forward = &f;
	assert_int_equal(deliver(mc, 0, 3, p), FDM_RX_SHELL);
	/* To a slave too: fdm_ha_request answers that it is not the master. */
	p = packet(mc, 0, 1);
	p->body_case = FDM__PACKET__BODY_FORWARD;
	p->forward = &f;
	assert_int_equal(deliver(mc, 0, 1, p), FDM_RX_SHELL);
	/* A request over the bound is dropped and counted. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	f.request = big;
	p = packet(mc, 0, 3);
	p->body_case = FDM__PACKET__BODY_FORWARD;
	p->forward = &f;
	assert_int_equal(deliver(mc, 0, 3, p), FDM_RX_TAKEN);
	assert_int_equal(mc->hosts[3].core.ha.rx_malformed, malformed + 1);
	/* A reply is the shell's to match with what it forwarded, and to whom. */
	r.id = 5;
	r.ok = true;
	r.message = "vm-a protected on ds1";
	p = packet(mc, 3, 0);
	p->body_case = FDM__PACKET__BODY_FORWARD_REPLY;
	p->forward_reply = &r;
	assert_int_equal(deliver(mc, 3, 0, p), FDM_RX_SHELL);
	mc_free(mc);
}

static void test_define_request_only_from_our_master(void **state)
{
	struct minicluster *mc = cluster(94);
	Fdm__DefineRequest d = FDM__DEFINE_REQUEST__INIT;
	Fdm__Packet *p;

	(void)state;
	d.id = 9;
	d.vm = "vm-a";
	p = packet(mc, 3, 0);
	p->body_case = FDM__PACKET__BODY_DEFINE_REQUEST;
	p->define_request = &d;
	assert_int_equal(deliver(mc, 3, 0, p), FDM_RX_SHELL);
	/* Another slave is nobody's master. */
	p = packet(mc, 2, 0);
	p->body_case = FDM__PACKET__BODY_DEFINE_REQUEST;
	p->define_request = &d;
	assert_int_equal(deliver(mc, 2, 0, p), FDM_RX_TAKEN);
	/* A name that cannot be protected is no request. */
	d.vm = "";
	p = packet(mc, 3, 0);
	p->body_case = FDM__PACKET__BODY_DEFINE_REQUEST;
	p->define_request = &d;
	assert_int_equal(deliver(mc, 3, 0, p), FDM_RX_TAKEN);
	mc_free(mc);
}

/* The master starts protecting vm-x (id 42): every connected host is asked. */
static void start_protect(struct minicluster *mc, uint64_t id)
{
	struct fdm_ha_request r = { .id = id, .origin = -1, .op = FDM_HA_PROTECT,
				    .priority = -1, .ds = 0 };

	fdm_strlcpy(r.name, "vm-x", sizeof(r.name));
	acts.n = 0;
	fdm_ha_request(&mc->hosts[3].core, &r, mc->now, &acts);
	for (int h = 0; h < 4; h++) {
		const struct fdm_action *a = find(FDM_ACT_VM_DEFINE, h);

		assert_non_null(a);
		assert_int_equal(a->request_id, id);
		assert_string_equal(a->vm, "vm-x");
	}
}

static enum fdm_rx define_reply(struct minicluster *mc, size_t from, uint64_t id,
				const char *vm, bool found)
{
	Fdm__DefineReply d = FDM__DEFINE_REPLY__INIT;
	Fdm__Packet *p = packet(mc, from, 3);

	d.id = id;
	d.vm = (char *)vm;
	d.found = found;
	p->body_case = FDM__PACKET__BODY_DEFINE_REPLY;
	p->define_reply = &d;
	return deliver(mc, from, 3, p);
}

static void test_define_reply_only_when_awaited(void **state)
{
	struct minicluster *mc = cluster(95);
	struct fdm_vm_define no = { .found = false, .disk_ds = -1 };

	(void)state;
	assert_int_equal(define_reply(mc, 1, 42, "vm-x", false), FDM_RX_TAKEN);  /* none yet */
	start_protect(mc, 42);
	assert_int_equal(define_reply(mc, 1, 43, "vm-x", false), FDM_RX_TAKEN);  /* other id */
	assert_int_equal(define_reply(mc, 1, 42, "vm-y", false), FDM_RX_TAKEN);  /* other VM */
	assert_int_equal(define_reply(mc, 1, 42, "vm-x", false), FDM_RX_SHELL);
	/* Answered: host-2 is asked no more, so the same answer again is dropped. */
	fdm_ha_on_define(&mc->hosts[3].core, 42, 1, &no, mc->now, &acts);
	assert_int_equal(define_reply(mc, 1, 42, "vm-x", false), FDM_RX_TAKEN);
	assert_int_equal(define_reply(mc, 0, 42, "vm-x", false), FDM_RX_SHELL);
	mc_free(mc);
}

/* ------------------------------------------------------ what a reply says */

struct decode_case {
	const char *what;
	bool found, has_memory, runs;
	const char *uuid, *xml, *ds;
	uint64_t memory_kib;
	bool want_ok, want_found, want_runs;
	int want_ds;
	const char *want_message;
};

static const struct decode_case decode_cases[] = {
	{ "good, disk on ds2", true, true, false, "6f1c2b3a-0000-4000-8000-000000000001",
	  "<domain/>", "ds2", 1 << 20, true, true, false, 1, "" },
	{ "good, no disk", true, true, false, "6f1c2b3a-0000-4000-8000-000000000001",
	  "<domain/>", NULL, 1 << 20, true, true, false, -1, "" },
	{ "good, unknown datastore", true, true, false, "6F1C2B3A-0000-4000-8000-000000000001",
	  "<domain/>", "ds9", 1 << 20, true, true, false, -1, "" },
	{ "no xml", true, true, false, "6f1c2b3a-0000-4000-8000-000000000001", NULL, NULL,
	  1 << 20, false, false, true, -1, "malformed: no domain XML" },
	{ "empty xml", true, true, false, "6f1c2b3a-0000-4000-8000-000000000001", "", NULL,
	  1 << 20, false, false, true, -1, "malformed: no domain XML" },
	{ "short uuid", true, true, false, "6f1c2b3a", "<domain/>", NULL, 1 << 20, false,
	  false, true, -1, "not a uuid" },
	{ "uuid with a newline", true, true, false, "6f1c2b3a-0000-4000-8000-00000000000\n",
	  "<domain/>", NULL, 1 << 20, false, false, true, -1, "not a uuid" },
	{ "no memory", true, false, false, "6f1c2b3a-0000-4000-8000-000000000001", "<domain/>",
	  NULL, 0, false, false, true, -1, "no memory size" },
	{ "2 PiB", true, true, false, "6f1c2b3a-0000-4000-8000-000000000001", "<domain/>",
	  NULL, 2ull << 40, false, false, true, -1, "over 1 PiB" },
	{ "not found", false, false, false, NULL, NULL, NULL, 0, true, false, false, -1,
	  "it does not run there" },
	{ "runs, too large", false, false, true, NULL, NULL, NULL, 0, true, false, true, -1,
	  "it does not run there" },
};

static void test_define_decode(void **state)
{
	struct minicluster *mc = mc_new(ids4, all3, 4, 96);
	const struct fdm_core *c = &mc->hosts[3].core;

	(void)state;
	for (size_t i = 0; i < sizeof(decode_cases) / sizeof(decode_cases[0]); i++) {
		const struct decode_case *k = &decode_cases[i];
		Fdm__DefineReply r = FDM__DEFINE_REPLY__INIT;
		struct fdm_vm_define d;
		const char *why;
		bool ok;

		r.id = 1;
		r.vm = "vm-x";
		r.found = k->found;
		r.uuid = (char *)k->uuid;
		r.xml = (char *)k->xml;
		r.disk_datastore = (char *)k->ds;
		r.has_memory_kib = k->has_memory;
		r.memory_kib = k->memory_kib;
		r.has_runs = k->runs;
		r.runs = k->runs;
		ok = fdm_ha_define_decode(c, &r, &d, &why);
		print_message("%s: %s %s\n", k->what, ok ? "ok" : "malformed", d.message);
		assert_int_equal(ok, k->want_ok);
		assert_int_equal(d.found, k->want_found);
		assert_int_equal(d.runs, k->want_runs);
		assert_int_equal(d.disk_ds, k->want_ds);
		assert_non_null(strstr(d.message, k->want_message));
		if (d.found) {
			assert_int_equal(d.memory_kib, k->memory_kib);
			assert_int_equal(strlen(d.uuid), 36);
		}
	}
	mc_free(mc);
}

static void test_message_is_printable(void **state)
{
	struct minicluster *mc = mc_new(ids4, all3, 4, 97);
	Fdm__DefineReply r = FDM__DEFINE_REPLY__INIT;
	struct fdm_vm_define d;
	const char *why;

	(void)state;
	r.vm = "vm-x";
	r.message = "vm-x does not run on host-1\nfdm: host-4: forged log line";
	assert_true(fdm_ha_define_decode(&mc->hosts[3].core, &r, &d, &why));
	assert_null(strchr(d.message, '\n'));
	assert_int_equal(strlen(d.message), FDM_HA_WHY_MAX - 1 < strlen(r.message) ?
			 FDM_HA_WHY_MAX - 1 : strlen(r.message));
	mc_free(mc);
}

/* ----------------------------------------------------- what the master says */

static void test_runs_but_unusable_ends_at_once(void **state)
{
	struct minicluster *mc = cluster(98);
	struct fdm_vm_define d = { .found = false, .runs = true, .disk_ds = -1 };
	const struct fdm_action *a;

	(void)state;
	start_protect(mc, 42);
	snprintf(d.message, sizeof(d.message), "its domain XML of 70000 bytes is too large "
		 "for the cluster network (room for 64800)");
	acts.n = 0;
	fdm_ha_on_define(&mc->hosts[3].core, 42, 1, &d, mc->now, &acts);
	a = find(FDM_ACT_CONTROL_REPLY, -1);
	assert_non_null(a);
	assert_false(a->ok);
	assert_int_equal(a->request_id, 42);
	print_message("%s\n", a->text);
	assert_non_null(strstr(a->text, "vm-x runs on host-2, but its domain XML of 70000 bytes "
				    "is too large for the cluster network"));
	mc_free(mc);
}

static void test_runs_nowhere_names_the_hosts_asked(void **state)
{
	struct minicluster *mc = cluster(99);
	struct fdm_vm_define no = { .found = false, .disk_ds = -1 };
	const struct fdm_action *a = NULL;

	(void)state;
	start_protect(mc, 42);
	for (int h = 0; h < 4 && a == NULL; h++) {
		snprintf(no.message, sizeof(no.message), "vm-x does not run on %s", ids4[h]);
		acts.n = 0;
		fdm_ha_on_define(&mc->hosts[3].core, 42, h, &no, mc->now, &acts);
		a = find(FDM_ACT_CONTROL_REPLY, -1);
		assert_true(a == NULL || h == 3);
	}
	assert_non_null(a);
	assert_false(a->ok);
	assert_string_equal(a->text, "vm-x runs on no connected host (asked host-1, host-2, "
			    "host-3, host-4)");
	mc_free(mc);
}

/* A protect right after a network blip: host-2 is unreachable for the moment
 * (heard recently). The others say no: the master waits for host-2 instead of
 * answering "runs on no connected host", asks it once it is back, and answers
 * on its reply. A host silent for host_dead is not waited for. */
static void test_protect_waits_for_a_host_back_from_a_blip(void **state)
{
	struct minicluster *mc = cluster(101);
	struct fdm_core *m = &mc->hosts[3].core;
	struct fdm_ha_request r = { .id = 42, .origin = -1, .op = FDM_HA_PROTECT,
				    .priority = -1, .ds = 0 };
	struct fdm_vm_define no = { .found = false, .disk_ds = -1 };
	const struct fdm_action *a;

	(void)state;
	fdm_strlcpy(r.name, "vm-x", sizeof(r.name));
	m->peers[1].state = FDM_HS_UNREACHABLE;
	acts.n = 0;
	fdm_ha_request(m, &r, mc->now, &acts);
	assert_null(find(FDM_ACT_VM_DEFINE, 1));
	for (int h = 0; h < 4; h++) {
		if (h == 1)
			continue;
		acts.n = 0;
		fdm_ha_on_define(m, 42, h, &no, mc->now, &acts);
		assert_null(find(FDM_ACT_CONTROL_REPLY, -1));
	}
	acts.n = 0;
	fdm_protect_tick(m, mc->now + 100, &acts);
	assert_null(find(FDM_ACT_CONTROL_REPLY, -1));
	assert_null(find(FDM_ACT_VM_DEFINE, 1));
	m->peers[1].state = FDM_HS_CONNECTED;         /* back */
	acts.n = 0;
	fdm_protect_tick(m, mc->now + 200, &acts);
	a = find(FDM_ACT_VM_DEFINE, 1);
	assert_non_null(a);
	assert_int_equal(a->request_id, 42);
	acts.n = 0;
	fdm_ha_on_define(m, 42, 1, &no, mc->now + 300, &acts);
	a = find(FDM_ACT_CONTROL_REPLY, -1);
	assert_non_null(a);
	assert_string_equal(a->text, "vm-x runs on no connected host (asked host-1, host-2, "
			    "host-3, host-4)");

	/* Silent for host_dead: not waited for. */
	r.id = 43;
	m->peers[1].state = FDM_HS_UNREACHABLE;
	m->peers[1].last_heard_ms = mc->now;
	mc->now += m->timing.host_dead_ms;
	acts.n = 0;
	fdm_ha_request(m, &r, mc->now, &acts);
	for (int h = 0; h < 4; h++) {
		if (h == 1)
			continue;
		acts.n = 0;
		fdm_ha_on_define(m, 43, h, &no, mc->now, &acts);
	}
	a = find(FDM_ACT_CONTROL_REPLY, -1);
	assert_non_null(a);
	assert_string_equal(a->text, "vm-x runs on no connected host (asked host-1, host-3, "
			    "host-4)");
	mc_free(mc);
}

/* A protect of a protected VM changes its priority: a list write, no search
 * for its host (the waiting above must not turn it into one: cluster test
 * test_protect.py found the master asking the hosts, then refusing). */
static void test_priority_change_asks_no_host(void **state)
{
	struct minicluster *mc = mc_new(ids4, all3, 4, 102);
	struct fdm_core *m;
	struct fdm_ha_request r = { .id = 44, .origin = -1, .op = FDM_HA_PROTECT,
				    .priority = FDM__PRIORITY__PRIORITY_LOW, .ds = -1 };

	(void)state;
	for (size_t h = 0; h < 4; h++)
		mc_shim_on(mc, h, 8 * GIB, 16 * GIB);
	mc_protect(mc, 0, "vm-p", FDM__PRIORITY__PRIORITY_HIGH, GIB);
	mc_vm_start(mc, 1, "vm-p");
	assert_int_equal(mc_run_until_agreed(mc, 5000, NULL), 3);
	mc_run(mc, 30000);
	m = &mc->hosts[3].core;
	fdm_strlcpy(r.name, "vm-p", sizeof(r.name));
	acts.n = 0;
	fdm_ha_request(m, &r, mc->now, &acts);
	for (int i = 0; i < 5; i++)
		fdm_protect_tick(m, mc->now + 100 * (uint64_t)i, &acts);
	for (int h = 0; h < 4; h++)
		assert_null(find(FDM_ACT_VM_DEFINE, h));
	mc_free(mc);
}

static void test_forwarded_to_a_slave_says_so(void **state)
{
	struct minicluster *mc = cluster(100);
	struct fdm_ha_request r = { .id = 7, .origin = 0, .op = FDM_HA_UNPROTECT,
				    .priority = -1, .ds = -1 };
	const struct fdm_action *a;

	(void)state;
	fdm_strlcpy(r.name, "vm-a", sizeof(r.name));
	acts.n = 0;
	fdm_ha_request(&mc->hosts[1].core, &r, mc->now, &acts);
	a = find(FDM_ACT_CONTROL_REPLY, 0);
	assert_non_null(a);
	assert_false(a->ok);
	assert_int_equal(a->request_id, 7);
	assert_non_null(strstr(a->text, "host-2 is not the master"));
	/* Never forwarded on: a slave forwards only its own control socket's. */
	assert_null(find(FDM_ACT_FORWARD, -2));
	mc_free(mc);
}

/* A protect asked right after the master took the lease, before its first read
 * of the VM list there, waits for that read instead of being refused. */
static void test_protect_waits_for_the_first_list_read(void **state)
{
	struct minicluster *mc = mc_new(ids4, all3, 4, 101);
	struct fdm_core *m = &mc->hosts[3].core;
	struct fdm_vm_define def = { .found = true, .memory_kib = GIB, .vcpus = 1, .disk_ds = -1 };
	uint64_t until;
	const struct mc_reply *reply;

	(void)state;
	for (size_t h = 0; h < 4; h++)
		mc_shim_on(mc, h, 8 * GIB, 16 * GIB);
	mc_vm_start(mc, 1, "vm-x");
	until = mc->now + 20000;
	while (m->ha.ds[0].lease_acquired_ms == 0 && mc->now < until)
		mc_run(mc, MC_STEP_MS);
	assert_int_not_equal(m->ha.ds[0].lease_acquired_ms, 0);
	assert_false(m->ha.ds[0].listed_under_lease);
	start_protect(mc, 42);
	fdm_strlcpy(def.uuid, uuid1, sizeof(def.uuid));
	acts.n = 0;
	fdm_ha_on_define(m, 42, 1, &def, mc->now, &acts);
	if (find(FDM_ACT_CONTROL_REPLY, -1) != NULL)
		print_message("answered at once: %s\n", find(FDM_ACT_CONTROL_REPLY, -1)->text);
	assert_null(find(FDM_ACT_CONTROL_REPLY, -1));
	mc->n_replies = 0;
	mc_run(mc, 3 * mc->timing.io_timeout_ms);
	assert_int_equal(mc->n_replies, 1);
	reply = &mc->replies[0];
	assert_int_equal(reply->host, 3);
	assert_int_equal(reply->id, 42);
	print_message("%s\n", reply->text);
	assert_true(reply->ok);
	assert_string_equal(reply->text, "vm-x protected on ds1");
	assert_non_null(mc_vm(mc, 0, "vm-x"));
	mc_free(mc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_take_seq_is_a_send),
		cmocka_unit_test(test_header_is_the_heartbeats),
		cmocka_unit_test(test_forward_and_reply_from_any_peer),
		cmocka_unit_test(test_define_request_only_from_our_master),
		cmocka_unit_test(test_define_reply_only_when_awaited),
		cmocka_unit_test(test_define_decode),
		cmocka_unit_test(test_message_is_printable),
		cmocka_unit_test(test_runs_but_unusable_ends_at_once),
		cmocka_unit_test(test_runs_nowhere_names_the_hosts_asked),
		cmocka_unit_test(test_protect_waits_for_a_host_back_from_a_blip),
		cmocka_unit_test(test_priority_change_asks_no_host),
		cmocka_unit_test(test_forwarded_to_a_slave_says_so),
		cmocka_unit_test(test_protect_waits_for_the_first_list_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
