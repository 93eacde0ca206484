/* The VM part of heartbeats (fdm/core/outbox.c writes it, vmreport.c reads it;
 * DESIGN.md "Heartbeats", safety point 2): a slave's report reaches the master's
 * VM protection with the send time of the master heartbeat it echoes (never its
 * arrival), orders reach the slave, hostile fields are bounded and counted, and
 * the largest heartbeats fit in one datagram. VM protection itself (vms.c) is
 * watched through the linker (--wrap, tests/tests.mk): each wrapper records the
 * call, or answers for the shell's side, and otherwise passes it on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fdm/core/vmreport.h"
#include "lib/util.h"
#include "tests/unit/minicluster.h"

/* ------------------------------------------------------------ the wrappers */
void __real_fdm_ha_on_slave_report(struct fdm_core *c, int from, const struct fdm_slave_report *r,
				   uint64_t echo_sent_ms, uint64_t now, struct fdm_actions *out);
void __real_fdm_ha_on_orders(struct fdm_core *c, const struct fdm_order *o, size_t n,
			     uint64_t stop_ack, uint64_t now, struct fdm_actions *out);
void __real_fdm_ha_slave_report_of(const struct fdm_core *c, struct fdm_slave_report *out);
size_t __real_fdm_ha_orders_for(const struct fdm_core *c, int to, const struct fdm_order **out);
void __wrap_fdm_ha_on_slave_report(struct fdm_core *c, int from, const struct fdm_slave_report *r,
				   uint64_t echo_sent_ms, uint64_t now, struct fdm_actions *out);
void __wrap_fdm_ha_on_orders(struct fdm_core *c, const struct fdm_order *o, size_t n,
			     uint64_t stop_ack, uint64_t now, struct fdm_actions *out);
void __wrap_fdm_ha_slave_report_of(const struct fdm_core *c, struct fdm_slave_report *out);
size_t __wrap_fdm_ha_orders_for(const struct fdm_core *c, int to, const struct fdm_order **out);

#define MAX_CALLS 2048

/* One call of fdm_ha_on_slave_report, and what the minicluster's own log says
 * the echoed master heartbeat's send time was. */
struct report_call {
	const struct fdm_core *core;
	int from;
	uint64_t echo_sent_ms, now;
	bool truth_known;
	uint64_t truth_sent_ms;
	uint64_t free_kib, total_kib;
	bool listed;
	size_t n_runs, n_stops, n_results;
	char runs[4][FDM_VM_NAME_MAX];
	struct fdm_vm_stop stop0;
	struct fdm_order_result result0;
};

struct orders_call {
	const struct fdm_core *core;
	size_t n;
	struct fdm_order orders[FDM_MAX_ORDERS];
	uint64_t stop_ack;
};

/* Test state shared with the wrappers (the linker calls them, not the test). */
static struct {
	struct minicluster *mc;
	struct report_call reports[MAX_CALLS];
	size_t n_reports;
	struct orders_call orders_calls[MAX_CALLS];
	size_t n_orders_calls;
	/* The packet being delivered (minicluster on_deliver): its echo. */
	bool pending_echo;
	size_t pending_to;
	uint64_t pending_inc, pending_seq;
	/* What the shell's side says: a report for every host (NULL: the real one),
	 * orders from orders_core to peer orders_to. */
	const struct fdm_slave_report *report;
	const struct fdm_core *orders_core;
	int orders_to;
	const struct fdm_order *orders;
	size_t n_orders;
} w;

static void reset_wrappers(void)
{
	memset(&w, 0, sizeof(w));
}

static void on_deliver(struct minicluster *mc, size_t to, int from, const Fdm__Packet *p)
{
	(void)mc;
	(void)from;
	w.pending_echo = p->body_case == FDM__PACKET__BODY_SLAVE_HB && p->slave_hb->echo != NULL;
	if (w.pending_echo) {
		w.pending_to = to;
		w.pending_inc = p->slave_hb->echo->incarnation;
		w.pending_seq = p->slave_hb->echo->seq;
	}
}

void __wrap_fdm_ha_on_slave_report(struct fdm_core *c, int from, const struct fdm_slave_report *r,
				   uint64_t echo_sent_ms, uint64_t now, struct fdm_actions *out)
{
	struct report_call *k;

	if (w.n_reports < MAX_CALLS) {
		k = &w.reports[w.n_reports++];
		memset(k, 0, sizeof(*k));
		k->core = c;
		k->from = from;
		k->echo_sent_ms = echo_sent_ms;
		k->now = now;
		if (w.mc != NULL && w.pending_echo && &w.mc->hosts[w.pending_to].core == c)
			k->truth_known = mc_sent_at(w.mc, w.pending_to, w.pending_inc, w.pending_seq,
						    &k->truth_sent_ms);
		k->free_kib = r->free_kib;
		k->total_kib = r->total_kib;
		k->listed = r->listed;
		k->n_runs = r->n_runs;
		for (size_t i = 0; i < r->n_runs && i < 4; i++)
			memcpy(k->runs[i], r->runs[i], FDM_VM_NAME_MAX);
		k->n_stops = r->n_stops;
		if (r->n_stops > 0)
			k->stop0 = r->stops[0];
		k->n_results = r->n_results;
		if (r->n_results > 0)
			k->result0 = r->results[0];
	}
	__real_fdm_ha_on_slave_report(c, from, r, echo_sent_ms, now, out);
}

void __wrap_fdm_ha_on_orders(struct fdm_core *c, const struct fdm_order *o, size_t n,
			     uint64_t stop_ack, uint64_t now, struct fdm_actions *out)
{
	struct orders_call *k;

	if (w.n_orders_calls < MAX_CALLS) {
		k = &w.orders_calls[w.n_orders_calls++];
		k->core = c;
		k->n = n;
		memcpy(k->orders, o, n * sizeof(*o));
		k->stop_ack = stop_ack;
	}
	__real_fdm_ha_on_orders(c, o, n, stop_ack, now, out);
}

void __wrap_fdm_ha_slave_report_of(const struct fdm_core *c, struct fdm_slave_report *out)
{
	if (w.report == NULL) {
		__real_fdm_ha_slave_report_of(c, out);
		return;
	}
	*out = *w.report;
}

size_t __wrap_fdm_ha_orders_for(const struct fdm_core *c, int to, const struct fdm_order **out)
{
	if (w.orders_core == NULL || c != w.orders_core || to != w.orders_to)
		return __real_fdm_ha_orders_for(c, to, out);
	*out = w.orders;
	return w.n_orders;
}

/* The last report the core of host `viewer` got from host `from`. */
static const struct report_call *last_report(const struct minicluster *mc, const char *viewer,
					     const char *from)
{
	const struct fdm_core *c = &mc->hosts[mc_index(mc, viewer)].core;

	for (size_t i = w.n_reports; i-- > 0;)
		if (w.reports[i].core == c && w.reports[i].from == mc_index(mc, from))
			return &w.reports[i];
	return NULL;
}

static const struct orders_call *last_orders(const struct minicluster *mc, const char *viewer)
{
	const struct fdm_core *c = &mc->hosts[mc_index(mc, viewer)].core;

	for (size_t i = w.n_orders_calls; i-- > 0;)
		if (w.orders_calls[i].core == c)
			return &w.orders_calls[i];
	return NULL;
}

/* ------------------------------------------------------------------ shared */
static const char *const ids3[] = { "host-1", "host-2", "host-9" };
static const unsigned equal3[] = { 3, 3, 3 };

/* The report every host gives in the cluster tests: a name of 64 bytes with no
 * room for its NUL (it cannot be protected) is never sent. */
static char test_runs[3][FDM_VM_NAME_MAX];
static const struct fdm_vm_stop test_stops[2] = {
	{ "db3", FDM_STOP_USER, 5 },
	{ "", FDM_STOP_CRASHED, 6 },            /* no name: never sent */
};
static const struct fdm_order_result test_results[1] = {
	{ "db4", 2, false, "not enough memory" },
};

static struct fdm_slave_report test_report(void)
{
	struct fdm_slave_report r;

	memset(test_runs, 0, sizeof(test_runs));
	strcpy(test_runs[0], "db1");
	memset(test_runs[1], 'x', FDM_VM_NAME_MAX);   /* not terminated: over-long */
	strcpy(test_runs[2], "web-2");
	memset(&r, 0, sizeof(r));
	r.free_kib = 4096;
	r.total_kib = 8192;
	r.listed = true;
	r.n_runs = 3;
	r.runs = (const char (*)[FDM_VM_NAME_MAX])test_runs;
	r.n_stops = 2;
	r.stops = test_stops;
	r.n_results = 1;
	r.results = test_results;
	return r;
}

static struct minicluster *agreed(uint32_t seed)
{
	struct minicluster *mc = mc_new(ids3, equal3, 3, seed);

	w.mc = mc;
	mc->on_deliver = on_deliver;
	assert_int_equal(mc_run_until_agreed(mc, 5000, NULL), mc_index(mc, "host-9"));
	mc_run(mc, 2000);
	return mc;
}

/* ------------------------------------------------------ through the cluster */

/* Every slave's report reaches the master, field by field, through the real
 * encoder, signature and decoder, with the send time of the heartbeat it
 * echoes; names that cannot be protected never leave the slave. */
static void test_report_reaches_master(void **state)
{
	struct fdm_slave_report r;
	struct minicluster *mc;

	(void)state;
	reset_wrappers();
	r = test_report();
	w.report = &r;
	mc = agreed(21);
	for (size_t s = 0; s < 2; s++) {
		const struct report_call *k = last_report(mc, "host-9", ids3[s]);

		assert_non_null(k);
		assert_int_equal(k->free_kib, 4096);
		assert_int_equal(k->total_kib, 8192);
		assert_true(k->listed);
		assert_int_equal(k->n_runs, 2);
		assert_string_equal(k->runs[0], "db1");
		assert_string_equal(k->runs[1], "web-2");
		assert_int_equal(k->n_stops, 1);
		assert_string_equal(k->stop0.name, "db3");
		assert_int_equal(k->stop0.reason, FDM_STOP_USER);
		assert_int_equal(k->stop0.seq, 5);
		assert_int_equal(k->n_results, 1);
		assert_string_equal(k->result0.name, "db4");
		assert_int_equal(k->result0.restarts, 2);
		assert_false(k->result0.ok);
		assert_string_equal(k->result0.message, "not enough memory");
		assert_true(k->truth_known);
		assert_int_equal(k->echo_sent_ms, k->truth_sent_ms);
		assert_true(k->echo_sent_ms != 0 && k->echo_sent_ms <= k->now);
	}
	/* A slave takes no slave heartbeat for a report (none names it master). */
	assert_null(last_report(mc, "host-1", "host-2"));
	assert_int_equal(mc->hosts[mc_index(mc, "host-9")].core.ha.rx_malformed, 0);
	mc_free(mc);
}

/* Safety point 2: a report counts by the master heartbeat it echoes. The master
 * is paused for 3 s (SIGSTOP) while its slaves' heartbeats queue; at resume they
 * say what ran 3 s ago, and must be taken as that old, not as new. */
static void test_delayed_report_counts_from_its_echo(void **state)
{
	struct minicluster *mc;
	size_t master, first, late = 0;
	uint64_t paused_at;

	(void)state;
	reset_wrappers();
	mc = agreed(22);
	master = (size_t)mc_index(mc, "host-9");
	paused_at = mc->now;
	mc_pause(mc, master);
	mc_run(mc, 3000);
	first = w.n_reports;
	mc_resume(mc, master);
	mc_run(mc, 2 * MC_STEP_MS);
	for (size_t i = first; i < w.n_reports; i++) {
		const struct report_call *k = &w.reports[i];

		assert_true(k->truth_known);
		assert_int_equal(k->echo_sent_ms, k->truth_sent_ms);
		if (k->now >= paused_at + 3000) {
			/* Sent before the pause, arrived 3 s later. */
			assert_true(k->echo_sent_ms <= paused_at);
			late++;
		}
	}
	print_message("%zu queued reports taken at resume, each as old as its echo\n", late);
	assert_true(late >= 4);   /* two slaves, about 3 heartbeats each */
	mc_free(mc);
}

/* The master's orders reach the slave named, their datastores mapped by name to
 * the slave's own config order; an order for a datastore it does not have is
 * left out and logged once; the stop ack comes with them. */
static void test_orders_reach_slave(void **state)
{
	static const struct fdm_order orders[4] = {
		{ "db1", 1, 3, 0, false, false, 0 },              /* ds2 */
		{ "db2", 2, 1, 0, false, false, 0 },              /* ds3: host-1 has no such datastore */
		{ "db3", 0, 0, 0, false, false, 0 },              /* ds1 */
		{ "db5", 7, 0, 0, false, false, 0 },              /* no such index on the master: not sent */
	};
	struct minicluster *mc = mc_new(ids3, equal3, 3, 23);
	size_t h1 = (size_t)mc_index(mc, "host-1"), master = (size_t)mc_index(mc, "host-9");
	struct fdm_config *cfg = &mc->hosts[h1].cfg;
	const struct orders_call *k;

	(void)state;
	reset_wrappers();
	w.mc = mc;
	/* host-1 lists ds2 first, ds1 second, and calls its third ds9. */
	fdm_strlcpy(cfg->datastores[0].name, "ds2", FDM_ID_MAX);
	fdm_strlcpy(cfg->datastores[1].name, "ds1", FDM_ID_MAX);
	fdm_strlcpy(cfg->datastores[2].name, "ds9", FDM_ID_MAX);
	mc_start(mc, h1);
	assert_int_equal(mc_run_until_agreed(mc, 5000, NULL), (int)master);
	w.orders_core = &mc->hosts[master].core;
	w.orders_to = (int)h1;
	w.orders = orders;
	w.n_orders = 4;
	mc->hosts[master].core.ha.hosts[h1].last_stop_seq = 42;
	mc->log_watch = "which is not in our [datastores]";
	mc_run(mc, 5000);
	k = last_orders(mc, "host-1");
	assert_non_null(k);
	assert_int_equal(k->n, 2);
	assert_string_equal(k->orders[0].name, "db1");
	assert_int_equal(k->orders[0].ds, 0);
	assert_int_equal(k->orders[0].restarts, 3);
	assert_string_equal(k->orders[1].name, "db3");
	assert_int_equal(k->orders[1].ds, 1);
	assert_int_equal(k->stop_ack, 42);
	assert_int_equal(mc->log_watch_hits, 1);
	assert_int_equal(mc->hosts[h1].core.ha.rx_malformed, 0);
	/* The other slave gets none of them. */
	k = last_orders(mc, "host-2");
	assert_non_null(k);
	assert_int_equal(k->n, 0);
	assert_int_equal(k->stop_ack, 0);
	/* Withdrawn: the next heartbeats carry none. */
	w.n_orders = 0;
	mc_run(mc, 2000);
	assert_int_equal(last_orders(mc, "host-1")->n, 0);
	mc_free(mc);
}

/* A slave heartbeat built by hand, signed and decoded by the real wire code, then
 * given to the master's core as host-1's next datagram: the report it made. */
static const struct report_call *deliver_hostile(struct minicluster *mc, Fdm__SlaveHeartbeat *s)
{
	size_t call = w.n_reports;
	size_t h1 = (size_t)mc_index(mc, "host-1"), master = (size_t)mc_index(mc, "host-9");
	struct mc_host *h = &mc->hosts[h1];
	Fdm__Packet p = FDM__PACKET__INIT, *pk;
	uint8_t *buf = malloc(FDM_WIRE_MAX);
	size_t len;

	p.cluster = (char *)"unit";
	p.sender = (char *)"host-1";
	p.incarnation = h->incarnation;
	p.seq = h->core.next_seq++;
	p.has_heartbeat_interval_ms = p.has_io_timeout_ms = true;
	p.heartbeat_interval_ms = mc->timing.heartbeat_interval_ms;
	p.io_timeout_ms = mc->timing.io_timeout_ms;
	p.body_case = FDM__PACKET__BODY_SLAVE_HB;
	p.slave_hb = s;
	len = fdm_wire_encode(&p, &mc->key, buf, FDM_WIRE_MAX);
	assert_true(len > 0);
	assert_int_equal(fdm_wire_decode(buf, len, "unit", &mc->key, &pk), FDM_DROP_NONE);
	assert_int_equal(fdm_core_packet(&mc->hosts[master].core, (int)h1, pk, mc->now,
					 &mc->actions), FDM_RX_TAKEN);
	fdm__packet__free_unpacked(pk, NULL);
	free(buf);
	mc_run(mc, MC_STEP_MS);   /* the log lines it asked for */
	assert_true(w.n_reports > call);
	return &w.reports[call];
}

/* Over the wire: 2000 running VMs (some named 64 bytes or more), 17 stops, 40
 * results, free memory over the total. The heartbeat still counts (host-1 stays
 * the master's slave), every list reaches VM protection bounded, the listing is
 * no listing any more, and each left-out item is counted and logged once. */
static void test_hostile_report_is_bounded(void **state)
{
	Fdm__SlaveHeartbeat s = FDM__SLAVE_HEARTBEAT__INIT;
	static char names[2000][80];
	static char *vms[2000];
	Fdm__VmStop stops[17], *stop_ptrs[17];
	Fdm__OrderResult results[40], *result_ptrs[40];
	struct minicluster *mc;
	const struct report_call *k;
	size_t master, overlong = 0;

	(void)state;
	reset_wrappers();
	mc = agreed(24);
	master = (size_t)mc_index(mc, "host-9");
	for (size_t i = 0; i < 2000; i++) {
		if (i % 7 == 0) {
			memset(names[i], 'n', 64);       /* 64 bytes: over FDM_VM_NAME_MAX - 1 */
			names[i][64] = '\0';
			overlong += i < FDM_MAX_LOCAL_VMS;
		} else {
			snprintf(names[i], sizeof(names[i]), "vm-%zu", i);
		}
		vms[i] = names[i];
	}
	for (size_t i = 0; i < 17; i++) {
		fdm__vm_stop__init(&stops[i]);
		stops[i].name = (char *)"db1";
		stops[i].seq = i + 1;
		stop_ptrs[i] = &stops[i];
	}
	for (size_t i = 0; i < 40; i++) {
		fdm__order_result__init(&results[i]);
		results[i].name = (char *)"db2";
		results[i].message = (char *)"line one\nhost-9: forged log line";
		result_ptrs[i] = &results[i];
	}
	s.master = (char *)"host-9";
	s.term = mc->hosts[master].core.term;
	s.n_vms = 2000;
	s.vms = vms;
	s.has_listed = s.listed = true;
	s.n_stops = 17;
	s.stops = stop_ptrs;
	s.n_results = 40;
	s.results = result_ptrs;
	s.has_free_memory_kib = s.has_total_memory_kib = true;
	s.free_memory_kib = 9000;
	s.total_memory_kib = 8000;
	mc->log_watch = "left out as malformed";
	k = deliver_hostile(mc, &s);
	assert_int_equal(k->from, mc_index(mc, "host-1"));
	assert_false(k->listed);
	assert_int_equal(k->n_runs, FDM_MAX_LOCAL_VMS - overlong);
	assert_string_equal(k->runs[0], "vm-1");
	assert_int_equal(k->n_stops, 0);
	assert_int_equal(k->n_results, FDM_MAX_ORDERS);
	assert_string_equal(k->result0.message, "line one?host-9: forged log line");
	assert_int_equal(k->free_kib, 0);
	assert_int_equal(k->total_kib, 0);
	/* 976 VMs over the bound + the over-long ones under it, 17 stops, 8
	 * results, 1 memory reading. */
	assert_int_equal(mc->hosts[master].core.ha.rx_malformed,
			 (2000 - FDM_MAX_LOCAL_VMS) + overlong + 17 + 8 + 1);
	assert_int_equal(mc->log_watch_hits, 1);
	/* Again within the minute: counted, not logged again. */
	deliver_hostile(mc, &s);
	assert_int_equal(mc->log_watch_hits, 1);
	assert_int_equal(mc->hosts[master].core.ha.rx_malformed,
			 2 * ((2000 - FDM_MAX_LOCAL_VMS) + overlong + 17 + 8 + 1));
	/* The heartbeat itself counted: host-1 is still the master's slave. */
	assert_int_equal(mc->hosts[master].core.peers[mc_index(mc, "host-1")].state,
			 FDM_HS_CONNECTED);
	mc_free(mc);
}

/* ----------------------------------------------------- the decoder, by hand */

/* Names of 64 bytes or more cannot be protected: left out, counted, and the
 * listing stays a listing. Empty names likewise. */
static void test_overlong_names_keep_listing(void **state)
{
	static struct fdm_vmreport_buf buf;
	char longname[65];
	char *vms[4] = { (char *)"db1", longname, (char *)"", (char *)"db2" };
	Fdm__SlaveHeartbeat s = FDM__SLAVE_HEARTBEAT__INIT;
	struct fdm_slave_report r;
	struct fdm_vmreport_drops d;

	(void)state;
	memset(longname, 'l', 64);
	longname[64] = '\0';
	s.n_vms = 4;
	s.vms = vms;
	s.has_listed = s.listed = true;
	memset(&d, 0, sizeof(d));
	fdm_vmreport_decode_slave(&s, &buf, &r, &d);
	assert_true(r.listed);
	assert_int_equal(r.n_runs, 2);
	assert_string_equal(r.runs[0], "db1");
	assert_string_equal(r.runs[1], "db2");
	assert_int_equal(d.n, 2);
	/* A 63-byte name is a name. */
	longname[63] = '\0';
	memset(&d, 0, sizeof(d));
	fdm_vmreport_decode_slave(&s, &buf, &r, &d);
	assert_int_equal(r.n_runs, 3);
	assert_int_equal(strlen(r.runs[1]), 63);
	/* Not listed by the sender: never a listing. */
	s.listed = false;
	fdm_vmreport_decode_slave(&s, &buf, &r, &d);
	assert_false(r.listed);
	s.has_listed = false;
	s.listed = true;
	fdm_vmreport_decode_slave(&s, &buf, &r, &d);
	assert_false(r.listed);
}

static void test_stop_reasons(void **state)
{
	static struct fdm_vmreport_buf buf;
	Fdm__VmStop st[3], *ptrs[3];
	Fdm__SlaveHeartbeat s = FDM__SLAVE_HEARTBEAT__INIT;
	struct fdm_slave_report r;
	struct fdm_vmreport_drops d;
	static const uint32_t reasons[3] = { 0, 1, 9 };
	static const enum fdm_stop_reason want[3] = { FDM_STOP_CRASHED, FDM_STOP_USER,
						      FDM_STOP_OTHER };

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		fdm__vm_stop__init(&st[i]);
		st[i].name = (char *)"db1";
		st[i].reason = reasons[i];
		st[i].seq = 10 + i;
		ptrs[i] = &st[i];
	}
	s.n_stops = 3;
	s.stops = ptrs;
	memset(&d, 0, sizeof(d));
	fdm_vmreport_decode_slave(&s, &buf, &r, &d);
	assert_int_equal(r.n_stops, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(r.stops[i].reason, want[i]);
		assert_int_equal(r.stops[i].seq, 10 + i);
	}
	assert_int_equal(d.n, 0);
}

/* A core with three datastores and one datagram of ours sent, for the orders. */
static struct fdm_core *orders_core(void)
{
	struct fdm_core *c = calloc(1, sizeof(*c));

	c->n_datastores = 3;
	strcpy(c->datastore_names[0], "ds1");
	strcpy(c->datastore_names[1], "ds2");
	strcpy(c->datastore_names[2], "ds3");
	c->incarnation = 5000;
	c->sent[0].seq = 3;
	c->sent[0].at_ms = 100;
	return c;
}

static void test_orders_decoding(void **state)
{
	static struct fdm_vmreport_buf buf;
	struct fdm_core *c = orders_core();
	Fdm__MasterHeartbeat m = FDM__MASTER_HEARTBEAT__INIT;
	Fdm__PowerOnOrder o[33], *ptrs[33];
	Fdm__Echo echo = FDM__ECHO__INIT;
	struct fdm_vmreport_drops d;
	char longname[65];
	uint64_t ack;
	size_t n;

	(void)state;
	memset(longname, 'l', 64);
	longname[64] = '\0';
	for (size_t i = 0; i < 33; i++) {
		fdm__power_on_order__init(&o[i]);
		o[i].name = (char *)"db1";
		o[i].datastore = (char *)"ds2";
		o[i].restarts = 4;
		ptrs[i] = &o[i];
	}
	o[1].name = longname;                   /* left out, counted */
	o[2].name = (char *)"db2";
	o[2].datastore = (char *)"ds\n9";       /* left out, not counted, printable */
	o[3].name = (char *)"db1";              /* a second order for db1: left out */
	o[4].name = (char *)"db3";
	o[4].datastore = (char *)"ds3";
	m.orders = ptrs;
	m.n_orders = 5;
	m.has_stop_ack = true;
	m.stop_ack = 77;
	memset(&d, 0, sizeof(d));
	assert_true(fdm_vmreport_decode_orders(c, &m, &buf, &n, &ack, &d));
	assert_int_equal(n, 2);
	assert_string_equal(buf.orders[0].name, "db1");
	assert_int_equal(buf.orders[0].ds, 1);
	assert_int_equal(buf.orders[0].restarts, 4);
	assert_string_equal(buf.orders[1].name, "db3");
	assert_int_equal(buf.orders[1].ds, 2);
	assert_int_equal(d.n, 2);
	assert_string_equal(d.unknown_ds, "ds?9");
	/* No echo of ours: the ack may be our predecessor's. */
	assert_int_equal(ack, 0);
	echo.incarnation = 4000;                /* an earlier incarnation of ours */
	echo.seq = 3;
	m.echo = &echo;
	assert_true(fdm_vmreport_decode_orders(c, &m, &buf, &n, &ack, &d));
	assert_int_equal(ack, 0);
	echo.incarnation = 5000;
	assert_true(fdm_vmreport_decode_orders(c, &m, &buf, &n, &ack, &d));
	assert_int_equal(ack, 77);
	/* 33 orders: an inconsistent list, ignored whole. */
	m.n_orders = 33;
	memset(&d, 0, sizeof(d));
	assert_false(fdm_vmreport_decode_orders(c, &m, &buf, &n, &ack, &d));
	assert_int_equal(n, 0);
	assert_int_equal(d.n, 33);
	free(c);
}

/* ------------------------------------------------------- the largest datagrams */

#define BIG_HOSTS 64

/* 63 bytes, the longest id or name the config takes, distinct by i. */
static void longest(char *dst, const char *prefix, size_t i, size_t len)
{
	int n = snprintf(dst, FDM_ID_MAX, "%s%02zu-", prefix, i);

	memset(dst + n, 'z', len - (size_t)n);
	dst[len] = '\0';
}

/* A core of 64 hosts and 32 datastores, named with `name_len` bytes each. */
static struct fdm_core *big_core(size_t self, size_t name_len)
{
	struct fdm_config *cfg = calloc(1, sizeof(*cfg));
	struct fdm_core *c = calloc(1, sizeof(*c));
	struct fdm_timing t;
	char err[256];

	longest(cfg->cluster_id, "cluster", 0, FDM_ID_MAX - 1);
	for (size_t i = 0; i < BIG_HOSTS; i++)
		longest(cfg->peers[i].id, "host", i, FDM_ID_MAX - 1);
	cfg->n_peers = BIG_HOSTS;
	fdm_strlcpy(cfg->host_id, cfg->peers[self].id, FDM_ID_MAX);
	for (size_t d = 0; d < FDM_MAX_DATASTORES; d++)
		longest(cfg->datastores[d].name, "ds", d, name_len);
	cfg->n_datastores = FDM_MAX_DATASTORES;
	assert_int_equal(fdm_timing_derive(1000, 2000, &t, err, sizeof(err)), 0);
	assert_int_equal(fdm_core_init(c, cfg, &t, UINT64_MAX, 1), 0);
	free(cfg);
	c->term = UINT64_MAX;
	c->my_datastores = FDM_MAX_DATASTORES;
	c->my_datastore_mask = UINT32_MAX;
	for (size_t i = 0; i < BIG_HOSTS; i++) {
		struct fdm_peer_state *p = &c->peers[i];

		p->state = FDM_HS_UNINITIALIZED;      /* the longest state name */
		p->datastore_mask = UINT32_MAX;
		p->have_ack = p->have_rx = p->have_heard = true;
		p->ack_incarnation = p->ack_seq = UINT64_MAX;
		p->rx_incarnation = p->rx_seq = UINT64_MAX;
		p->rx_at_ms = (uint64_t)1 << 62;      /* offsets of 9-10 bytes */
		p->heard_sent_ms = 0;
		p->last_slave_hb_ms = 1;
	}
	return c;
}

/* The master heartbeat to one slave: 64 host reports (longest ids, states and
 * offsets), 32 orders (longest names), a stop ack. It is always sent: what is
 * display only (each host's datastores) is left out where it does not fit, a
 * host's list whole or not at all; with 20-byte datastore names all of it fits. */
static void test_largest_master_heartbeat_fits(void **state)
{
	static const size_t name_lens[2] = { FDM_ID_MAX - 1, 20 };
	static struct fdm_order orders[FDM_MAX_ORDERS];
	struct fdm_outbox *ob = calloc(1, sizeof(*ob));
	uint8_t *buf = malloc(FDM_WIRE_MAX);
	struct fdm_key k;

	(void)state;
	assert_int_equal(FDM_OUTBOX_PACKET_MAX + FDM_WIRE_HEADER + FDM_WIRE_MAC, FDM_WIRE_MAX);
	memset(k.bytes, 1, sizeof(k.bytes));
	k.len = 32;
	for (size_t i = 0; i < FDM_MAX_ORDERS; i++) {
		longest(orders[i].name, "vm", i, FDM_VM_NAME_MAX - 1);
		orders[i].ds = FDM_MAX_DATASTORES - 1;
		orders[i].restarts = UINT32_MAX;
	}
	for (size_t t = 0; t < 2; t++) {
		struct fdm_core *c = big_core(0, name_lens[t]);
		size_t len, with_ds = 0;
		Fdm__Packet *p;
		Fdm__MasterHeartbeat *m;
		char cluster[FDM_ID_MAX];

		reset_wrappers();
		c->role = FDM_ROLE_MASTER;
		c->master = 0;
		c->ha.hosts[1].last_stop_seq = UINT64_MAX;
		/* Orders go out only while we act on their datastore's lease. */
		c->ds[FDM_MAX_DATASTORES - 1].lease.state = FDM_LEASE_HELD;
		c->ds[FDM_MAX_DATASTORES - 1].lease.wanted = true;
		c->ds[FDM_MAX_DATASTORES - 1].lease.have_mine = true;
		c->ds[FDM_MAX_DATASTORES - 1].lease.last_write_issue_ms = UINT64_MAX / 2;
		c->ds[FDM_MAX_DATASTORES - 1].lease.t.acting_ms = 1000;
		w.orders_core = c;
		w.orders_to = 1;
		w.orders = orders;
		w.n_orders = FDM_MAX_ORDERS;
		longest(cluster, "cluster", 0, FDM_ID_MAX - 1);
		{
			struct fdm_action a;

			memset(&a, 0, sizeof(a));
			a.kind = FDM_ACT_SEND;
			a.msg = FDM_MSG_MASTER_HB;
			a.to = 1;
			a.seq = UINT64_MAX;
			fdm_outbox_build(c, &a, cluster, UINT64_MAX / 2, ob);
		}
		len = fdm_wire_encode(&ob->packet, &k, buf, FDM_WIRE_MAX);
		assert_true(len > 0 && len <= FDM_WIRE_MAX);
		assert_int_equal(fdm_wire_decode(buf, len, cluster, &k, &p), FDM_DROP_NONE);
		m = p->master_hb;
		assert_int_equal(m->n_hosts, BIG_HOSTS);
		assert_int_equal(m->n_orders, FDM_MAX_ORDERS);
		assert_string_equal(m->orders[31]->name, orders[31].name);
		assert_true(m->has_stop_ack && m->stop_ack == UINT64_MAX);
		for (size_t i = 0; i < BIG_HOSTS; i++) {
			assert_true(m->hosts[i]->has_heard_offset_ms);
			assert_true(m->hosts[i]->n_datastores == 0 ||
				    m->hosts[i]->n_datastores == FDM_MAX_DATASTORES);
			with_ds += m->hosts[i]->n_datastores != 0;
		}
		print_message("master heartbeat, %zu-byte datastore names: %zu bytes, "
			      "datastores of %zu of 64 hosts\n", name_lens[t], len, with_ds);
		assert_true(with_ds > 0);
		if (name_lens[t] == 20)
			assert_int_equal(with_ds, BIG_HOSTS);
		fdm__packet__free_unpacked(p, NULL);
		free(c);
	}
	free(buf);
	free(ob);
}

/* A slave heartbeat with every list at its bound: the protected VMs of a whole
 * cluster (512 names of 63 bytes) always fit, as a listing; the 1024 domains a
 * shim may list do not, and go as a partial list, not listed. */
static void test_largest_slave_heartbeat_fits(void **state)
{
	static char runs[FDM_MAX_LOCAL_VMS][FDM_VM_NAME_MAX];
	static struct fdm_vm_stop stops[FDM_MAX_STOPS];
	static struct fdm_order_result results[FDM_MAX_ORDERS];
	static const size_t counts[2] = { FDM_MAX_VMS, FDM_MAX_LOCAL_VMS };
	struct fdm_outbox *ob = calloc(1, sizeof(*ob));
	uint8_t *buf = malloc(FDM_WIRE_MAX);
	struct fdm_slave_report r;
	struct fdm_key k;

	(void)state;
	memset(k.bytes, 1, sizeof(k.bytes));
	k.len = 32;
	for (size_t i = 0; i < FDM_MAX_LOCAL_VMS; i++)
		longest(runs[i], "vm", i, FDM_VM_NAME_MAX - 1);
	for (size_t i = 0; i < FDM_MAX_STOPS; i++) {
		longest(stops[i].name, "st", i, FDM_VM_NAME_MAX - 1);
		stops[i].reason = FDM_STOP_OTHER;
		stops[i].seq = UINT64_MAX - i;
	}
	for (size_t i = 0; i < FDM_MAX_ORDERS; i++) {
		longest(results[i].name, "rs", i, FDM_VM_NAME_MAX - 1);
		results[i].restarts = UINT32_MAX;
		memset(results[i].message, 'm', FDM_HA_WHY_MAX - 1);
	}
	for (size_t t = 0; t < 2; t++) {
		struct fdm_core *c = big_core(1, FDM_ID_MAX - 1);
		char cluster[FDM_ID_MAX];
		struct fdm_action a;
		Fdm__Packet *p;
		size_t len;

		reset_wrappers();
		memset(&r, 0, sizeof(r));
		r.free_kib = r.total_kib = UINT64_MAX;
		r.listed = true;
		r.n_runs = counts[t];
		r.runs = (const char (*)[FDM_VM_NAME_MAX])runs;
		r.n_stops = FDM_MAX_STOPS;
		r.stops = stops;
		r.n_results = FDM_MAX_ORDERS;
		r.results = results;
		w.report = &r;
		c->role = FDM_ROLE_SLAVE;
		c->master = 0;
		c->have_master_rx = true;
		c->master_rx_incarnation = c->master_rx_seq = UINT64_MAX;
		longest(cluster, "cluster", 0, FDM_ID_MAX - 1);
		memset(&a, 0, sizeof(a));
		a.kind = FDM_ACT_SEND;
		a.msg = FDM_MSG_SLAVE_HB;
		a.to = 0;
		a.seq = UINT64_MAX;
		fdm_outbox_build(c, &a, cluster, 1, ob);
		len = fdm_wire_encode(&ob->packet, &k, buf, FDM_WIRE_MAX);
		assert_true(len > 0 && len <= FDM_WIRE_MAX);
		assert_int_equal(fdm_wire_decode(buf, len, cluster, &k, &p), FDM_DROP_NONE);
		assert_int_equal(p->slave_hb->n_stops, FDM_MAX_STOPS);
		assert_int_equal(p->slave_hb->n_results, FDM_MAX_ORDERS);
		assert_int_equal(p->slave_hb->n_datastores, FDM_MAX_DATASTORES);
		print_message("slave heartbeat, %zu running VMs: %zu bytes, %zu sent, listed %d\n",
			      counts[t], len, p->slave_hb->n_vms, p->slave_hb->listed);
		if (counts[t] == FDM_MAX_VMS) {
			assert_int_equal(p->slave_hb->n_vms, FDM_MAX_VMS);
			assert_true(p->slave_hb->listed);
		} else {
			assert_true(p->slave_hb->n_vms < FDM_MAX_LOCAL_VMS);
			assert_true(p->slave_hb->has_listed && !p->slave_hb->listed);
		}
		fdm__packet__free_unpacked(p, NULL);
		free(c);
	}
	reset_wrappers();
	free(buf);
	free(ob);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report_reaches_master),
		cmocka_unit_test(test_delayed_report_counts_from_its_echo),
		cmocka_unit_test(test_orders_reach_slave),
		cmocka_unit_test(test_hostile_report_is_bounded),
		cmocka_unit_test(test_overlong_names_keep_listing),
		cmocka_unit_test(test_stop_reasons),
		cmocka_unit_test(test_orders_decoding),
		cmocka_unit_test(test_largest_master_heartbeat_fits),
		cmocka_unit_test(test_largest_slave_heartbeat_fits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
