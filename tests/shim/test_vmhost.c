/* System test of fdm/vmhost.c, the agent's view of its host's VMs, against a
 * real hostd-shim on libvirt's test driver, started here (fork/exec) and
 * stopped by its PID: the listing and its stamp, resources, power-off by
 * UUID, get_xml round trip (undefined, then defined and started from it),
 * power-on with a passed deadline, set_deadlines (the shim powers a VM off at
 * the deadline handed over), stop events with their reasons (destroy,
 * guest shutdown, the shim's own power-off at a deadline), each reported
 * once; a shim restart: disconnect seen, the view kept, operations refused,
 * reconnect, a VM lost meanwhile reported from the listing; free with an
 * operation in flight. Every wait is bounded.
 * usage: test_vmhost HOSTD_SHIM DIR   (tests/shim/test_vmhost.py runs it) */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdm/vmhost.h"
#include "hostd-shim/client.h"
#include "lib/util.h"

#define REFRESH_MS  300
#define WAIT_MS     10000
#define NODE_KIB    8388608ULL
#define DOM_KIB     131072ULL
#define UUID_A      "66666666-2222-3333-4444-000000000001"
#define UUID_B      "66666666-2222-3333-4444-000000000002"
#define UUID_NEW    "66666666-2222-3333-4444-0000000000ff"

struct t {
	sd_event *e;
	struct fdm_vmhost *h;
	const char *shim_bin, *dir;
	char sock[256], conf[256], node[256];
	pid_t shim;
	int starts;
	unsigned changes;
	/* the last operation's end */
	bool done;
	struct fdm_domain_result r;
	char message[512];
	bool has_vm;
	struct fdm_domain vm;
	char *xml;
	const Fdm__ShimReply *raw;
	Fdm__ResultCode raw_result;
};

static struct t T;

static void stop_shim(struct t *t);

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("FAIL: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
	stop_shim(&T);
	exit(1);
}

#define CHECK(cond, ...) do { if (!(cond)) fail(__VA_ARGS__); \
	printf("ok: "); printf(__VA_ARGS__); printf("\n"); } while (0)

/* ------------------------------------------------------------- the shim */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		fail("cannot write %s", path);
}

static void start_shim(struct t *t)
{
	char log[512], pidfile[300], pid[32];
	int fd;

	snprintf(log, sizeof(log), "%s/shim-%d.log", t->dir, ++t->starts);
	t->shim = fork();
	if (t->shim < 0)
		fail("fork: %s", strerror(errno));
	if (t->shim == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(t->shim_bin, t->shim_bin, "--config", t->conf, (char *)NULL);
		_exit(127);
	}
	/* For the wrapper, should this program die before it stops the shim. */
	snprintf(pidfile, sizeof(pidfile), "%s/shim.pid", t->dir);
	snprintf(pid, sizeof(pid), "%d\n", (int)t->shim);
	write_file(pidfile, pid);
}

/* SIGTERM, then SIGKILL after 10 s; returns the exit status (-1 if killed). */
static int wait_shim(struct t *t)
{
	int status = 0, i;

	for (i = 0; i < 1000; i++) {
		if (waitpid(t->shim, &status, WNOHANG) == t->shim) {
			t->shim = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		usleep(10000);
	}
	kill(t->shim, SIGKILL);
	waitpid(t->shim, &status, 0);
	t->shim = 0;
	return -1;
}

static void stop_shim(struct t *t)
{
	if (t->shim <= 0)
		return;
	kill(t->shim, SIGTERM);
	if (wait_shim(t) != 0)
		printf("note: the shim did not exit 0\n");
}

/* ------------------------------------------------------------- the loop */

typedef bool (*pred_fn)(struct t *t);

static void run_until(struct t *t, pred_fn pred, const char *what)
{
	uint64_t end = fdm_now_mono_ms() + WAIT_MS;

	while (!pred(t)) {
		if (fdm_now_mono_ms() > end)
			fail("timed out after %d ms waiting for %s", WAIT_MS, what);
		if (sd_event_run(t->e, 20 * 1000) < 0)
			fail("sd_event_run failed");
	}
}

static void run_for(struct t *t, uint32_t ms)
{
	uint64_t end = fdm_now_mono_ms() + ms;

	while (fdm_now_mono_ms() < end)
		sd_event_run(t->e, 10 * 1000);
}

static void on_change(struct fdm_vmhost *h, void *userdata)
{
	(void)h;
	((struct t *)userdata)->changes++;
}

static void on_done(const struct fdm_domain_result *r, void *userdata)
{
	struct t *t = userdata;

	t->done = true;
	t->r = *r;
	fdm_strlcpy(t->message, r->message, sizeof(t->message));
	t->r.message = t->message;
	t->has_vm = r->vm != NULL;
	if (r->vm)
		t->vm = *r->vm;
	free(t->xml);
	t->xml = r->xml ? strdup(r->xml) : NULL;
}

static bool is_done(struct t *t) { return t->done; }

/* Start an operation (its return code checked) and wait for its end. */
static void finish(struct t *t, int rc, const char *what)
{
	if (rc < 0)
		fail("%s: not sent: %s", what, strerror(-rc));
	run_until(t, is_done, what);
	t->done = false;
}

static void on_raw(const Fdm__ShimReply *r, int error, void *userdata)
{
	struct t *t = userdata;

	t->done = true;
	t->raw_result = r ? r->result : FDM__RESULT_CODE__RESULT_ERROR;
	(void)error;
}

/* Calls vmhost does not wrap (undefine, shutdown, clean stop), on its connection. */
static Fdm__ResultCode raw_call(struct t *t, Fdm__ShimRequest *req, const char *what)
{
	finish(t, hostd_client_call(fdm_vmhost_client(t->h), req, 10000, on_raw, t), what);
	return t->raw_result;
}

static Fdm__ResultCode raw_on_domain(struct t *t, const char *op, const char *name)
{
	Fdm__ShimRequest req = FDM__SHIM_REQUEST__INIT;
	Fdm__UndefineRequest u = FDM__UNDEFINE_REQUEST__INIT;
	Fdm__ShutdownRequest sh = FDM__SHUTDOWN_REQUEST__INIT;
	Fdm__DomainRef ref = FDM__DOMAIN_REF__INIT;

	ref.name = (char *)name;
	if (strcmp(op, "undefine") == 0) {
		u.domain = &ref;
		req.op_case = FDM__SHIM_REQUEST__OP_UNDEFINE;
		req.undefine = &u;
	} else {
		sh.domain = &ref;
		sh.timeout_ms = 5000;
		req.op_case = FDM__SHIM_REQUEST__OP_SHUTDOWN;
		req.shutdown = &sh;
	}
	return raw_call(t, &req, op);
}

/* ------------------------------------------------------------ predicates */

static const struct fdm_vmhost_view *V(struct t *t) { return fdm_vmhost_view(t->h); }

static bool listed(struct t *t)
{
	return V(t)->shim_connected && V(t)->libvirt_connected && V(t)->listed &&
	       V(t)->resources_at_ms != 0;
}

static bool disconnected(struct t *t) { return !V(t)->shim_connected; }

static uint64_t mark_ms;
static bool listed_after_mark(struct t *t)
{
	return listed(t) && V(t)->listed_at_ms > mark_ms && V(t)->resources_at_ms > mark_ms;
}

static struct fdm_domain_stop stop;
static unsigned stops_from_events;
static bool a_stop(struct t *t) { return fdm_vmhost_next_stop(t->h, &stop); }

/* Wait for the next stop: its VM and reason. A stop is reported from the
 * shim's event, or from a listing when that comes first: either is right
 * while the shim runs (from_listing -1); after a restart only the listing
 * can know (1). */
static void expect_stop(struct t *t, const char *name, Fdm__StopReason reason, int from_listing)
{
	run_until(t, a_stop, "a stop");
	stops_from_events += !stop.from_listing;
	CHECK(strcmp(stop.name, name) == 0 && stop.reason == reason &&
	      (from_listing < 0 || stop.from_listing == from_listing) && stop.at_ms > 0,
	      "stop of %s: %s, %s (detail '%s')", stop.name,
	      protobuf_c_enum_descriptor_get_value(&fdm__stop_reason__descriptor,
						   stop.reason)->name,
	      stop.from_listing ? "from a listing" : "from its event", stop.detail);
}

/* ------------------------------------------------------------ scenarios */

static void test_listing(struct t *t, uint64_t started_ms)
{
	const struct fdm_vmhost_view *v;
	const struct fdm_domain *a, *b;

	run_until(t, listed, "the first listing");
	v = V(t);
	a = fdm_vmhost_find(t->h, "vm-a");
	b = fdm_vmhost_find(t->h, "vm-b");
	CHECK(v->n_vms == 2 && a && b && a->active && b->active &&
	      a->state == FDM__DOMAIN_STATE__DOMAIN_RUNNING && !a->has_stop_reason &&
	      strcmp(a->uuid, UUID_A) == 0 && a->memory_kib == DOM_KIB && a->vcpus == 1 &&
	      a->persistent, "listing: vm-a and vm-b running, uuid, memory, vCPUs");
	CHECK(v->listed_at_ms >= started_ms && v->listed_at_ms <= fdm_now_boottime_ms(),
	      "listing stamped when asked for (%llu ms after the start)",
	      (unsigned long long)(v->listed_at_ms - started_ms));
	CHECK(v->total_memory_kib == NODE_KIB && v->free_memory_kib == NODE_KIB - 2 * DOM_KIB &&
	      v->cpus == 4, "resources: total %llu KiB (node file), free %llu KiB",
	      (unsigned long long)v->total_memory_kib, (unsigned long long)v->free_memory_kib);
	CHECK(t->changes > 0, "on_change called (%u times)", t->changes);
	mark_ms = v->listed_at_ms;
	run_until(t, listed_after_mark, "a listing refreshed by the timer");
	CHECK(V(t)->listed_at_ms - mark_ms < 3 * REFRESH_MS,
	      "listed again within %llu ms (refresh_ms %d)",
	      (unsigned long long)(V(t)->listed_at_ms - mark_ms), REFRESH_MS);
}

static bool a_off(struct t *t)
{
	const struct fdm_domain *a = fdm_vmhost_find(t->h, "vm-a");

	return a != NULL && !a->active;
}

static void test_power_off(struct t *t)
{
	const struct fdm_domain *a;

	finish(t, fdm_vmhost_power_off(t->h, UUID_A, on_done, t), "power off");
	CHECK(t->r.error == 0 && t->r.result == FDM__RESULT_CODE__RESULT_OK && t->has_vm &&
	      t->vm.state == FDM__DOMAIN_STATE__DOMAIN_SHUTOFF,
	      "power off vm-a by UUID: %s", t->message);
	expect_stop(t, "vm-a", FDM__STOP_REASON__STOP_DESTROYED, -1);
	run_until(t, a_off, "a listing with vm-a off");
	a = fdm_vmhost_find(t->h, "vm-a");
	CHECK(a->has_stop_reason && a->stop_reason == FDM__STOP_REASON__STOP_DESTROYED,
	      "listing: vm-a off, STOP_DESTROYED");
	mark_ms = fdm_now_boottime_ms();
	run_until(t, listed_after_mark, "a listing after the power-off");
	CHECK(V(t)->free_memory_kib == NODE_KIB - DOM_KIB, "free memory grew by vm-a's");
	run_for(t, 3 * REFRESH_MS);
	CHECK(!fdm_vmhost_next_stop(t->h, &stop), "reported once, after several listings");
	finish(t, fdm_vmhost_power_off(t->h, "nosuch", on_done, t), "power off nosuch");
	CHECK(t->r.error == 0 && t->r.result == FDM__RESULT_CODE__RESULT_NOT_FOUND,
	      "power off of an unknown domain: NOT_FOUND");
}

static bool a_gone(struct t *t) { return listed(t) && !fdm_vmhost_find(t->h, "vm-a"); }

static bool a_on(struct t *t)
{
	const struct fdm_domain *a = fdm_vmhost_find(t->h, "vm-a");

	return a != NULL && a->active;
}

static void test_xml_round_trip(struct t *t)
{
	char *xml;

	finish(t, fdm_vmhost_get_xml(t->h, "vm-a", on_done, t), "get_xml");
	CHECK(t->r.error == 0 && t->r.result == FDM__RESULT_CODE__RESULT_OK && t->xml &&
	      strstr(t->xml, "<name>vm-a</name>") && strstr(t->xml, UUID_A),
	      "get_xml vm-a: %zu bytes", t->xml ? strlen(t->xml) : 0);
	xml = t->xml;
	t->xml = NULL;
	CHECK(raw_on_domain(t, "undefine", "vm-a") == FDM__RESULT_CODE__RESULT_OK, "undefine vm-a");
	run_until(t, a_gone, "a listing without vm-a");
	CHECK(true, "listing: vm-a gone");
	finish(t, fdm_vmhost_power_on(t->h, xml, 0, on_done, t), "power on");
	CHECK(t->r.result == FDM__RESULT_CODE__RESULT_OK && t->has_vm && t->vm.active &&
	      strcmp(t->vm.uuid, UUID_A) == 0 && t->vm.persistent,
	      "power on from get_xml's XML: defined and running, same UUID");
	run_until(t, a_on, "a listing with vm-a running");
	CHECK(true, "listing: vm-a running again");
	finish(t, fdm_vmhost_power_on(t->h, xml, 1, on_done, t), "power on, deadline passed");
	CHECK(t->r.result == FDM__RESULT_CODE__RESULT_DEADLINE_PASSED,
	      "power on with a passed deadline: DEADLINE_PASSED (%s)", t->message);
	CHECK(fdm_vmhost_power_on(t->h, "", 0, on_done, t) == -EINVAL &&
	      fdm_vmhost_power_off(t->h, "", on_done, t) == -EINVAL, "empty arguments: -EINVAL");
	free(xml);
}

static void test_stop_reasons(struct t *t)
{
	Fdm__ShimRequest req = FDM__SHIM_REQUEST__INIT;
	Fdm__CleanStopRequest cs = FDM__CLEAN_STOP_REQUEST__INIT;
	char *xml;

	CHECK(raw_on_domain(t, "shutdown", "vm-b") == FDM__RESULT_CODE__RESULT_OK,
	      "guest shutdown of vm-b");
	expect_stop(t, "vm-b", FDM__STOP_REASON__STOP_SHUTDOWN, -1);

	/* The shim's own power-off at a deadline: STOP_DESTROYED too. */
	finish(t, fdm_vmhost_get_xml(t->h, UUID_B, on_done, t), "get_xml vm-b");
	xml = t->xml;
	t->xml = NULL;
	finish(t, fdm_vmhost_power_on(t->h, xml, fdm_now_boottime_ms() + 1000, on_done, t),
	       "power on with a deadline");
	free(xml);
	CHECK(t->r.result == FDM__RESULT_CODE__RESULT_OK, "vm-b on with a deadline 1 s away");
	expect_stop(t, "vm-b", FDM__STOP_REASON__STOP_DESTROYED, -1);
	req.op_case = FDM__SHIM_REQUEST__OP_CLEAN_STOP;
	req.clean_stop = &cs;
	CHECK(raw_call(t, &req, "clean stop") == FDM__RESULT_CODE__RESULT_OK, "deadlines cleared");
	/* Events normally come before the listing they ask for. */
	CHECK(stops_from_events > 0, "%u of 3 stops reported from their event", stops_from_events);
}

/* The agent's hand-over of its deadlines (fdm/ha_shell.c): a whole set, then
 * a replacement that moves vm-a's deadline 0.8 s ahead: the shim powers it
 * off then, by itself. */
/* get_deadlines: what a restarted agent starts from (fdm/ha_shell.c). */
static size_t got_n;
static char got_name[64];
static uint64_t got_ms;

static void on_got(const struct fdm_domain_result *r, void *userdata)
{
	struct t *t = userdata;

	t->done = true;
	t->r.error = r->error;
	t->r.result = r->result;
	got_n = r->n_deadlines;
	if (r->n_deadlines > 0 && r->deadlines[0]->domain->name != NULL) {
		fdm_strlcpy(got_name, r->deadlines[0]->domain->name, sizeof(got_name));
		got_ms = r->deadlines[0]->boottime_ms;
	}
}

static void test_set_deadlines(struct t *t)
{
	Fdm__ShimRequest req = FDM__SHIM_REQUEST__INIT;
	Fdm__CleanStopRequest cs = FDM__CLEAN_STOP_REQUEST__INIT;
	const char *names[] = { "vm-a" };
	uint64_t at[] = { fdm_now_boottime_ms() + 60000 };

	finish(t, fdm_vmhost_set_deadlines(t->h, names, at, 1, on_done, t), "set deadlines");
	CHECK(t->r.error == 0 && t->r.result == FDM__RESULT_CODE__RESULT_OK,
	      "set_deadlines: vm-a 60 s ahead (%s)", t->message);
	finish(t, fdm_vmhost_get_deadlines(t->h, on_got, t), "get deadlines");
	CHECK(t->r.error == 0 && t->r.result == FDM__RESULT_CODE__RESULT_OK && got_n == 1 &&
	      strcmp(got_name, "vm-a") == 0 && got_ms == at[0],
	      "get_deadlines: the shim holds vm-a's, as set (%zu deadline(s))", got_n);
	run_for(t, 2 * REFRESH_MS);
	CHECK(fdm_vmhost_find(t->h, "vm-a") && fdm_vmhost_find(t->h, "vm-a")->active,
	      "vm-a runs on");
	at[0] = fdm_now_boottime_ms() + 800;
	finish(t, fdm_vmhost_set_deadlines(t->h, names, at, 1, on_done, t), "replace deadlines");
	CHECK(t->r.error == 0 && t->r.result == FDM__RESULT_CODE__RESULT_OK,
	      "set_deadlines: vm-a 0.8 s ahead");
	expect_stop(t, "vm-a", FDM__STOP_REASON__STOP_DESTROYED, -1);
	CHECK(fdm_now_boottime_ms() >= at[0], "powered off by the shim, not before its deadline");
	req.op_case = FDM__SHIM_REQUEST__OP_CLEAN_STOP;
	req.clean_stop = &cs;
	CHECK(raw_call(t, &req, "clean stop") == FDM__RESULT_CODE__RESULT_OK, "deadlines cleared");
}

static void test_reconnect(struct t *t)
{
	char xml[512];
	uint64_t restarted;

	snprintf(xml, sizeof(xml), "<domain type='test'><name>vm-new</name><uuid>%s</uuid>"
		 "<memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>", UUID_NEW);
	finish(t, fdm_vmhost_power_on(t->h, xml, 0, on_done, t), "power on vm-new");
	CHECK(t->r.result == FDM__RESULT_CODE__RESULT_OK, "vm-new defined and running");
	mark_ms = fdm_now_boottime_ms();
	run_until(t, listed_after_mark, "a listing with vm-new");

	/* The shim goes; its test driver forgets vm-new (it starts from the node file). */
	stop_shim(t);
	run_until(t, disconnected, "the disconnect");
	CHECK(!V(t)->libvirt_connected && !V(t)->listed && V(t)->n_vms == 3,
	      "shim gone: seen; the last listing kept (3 VMs), marked not current");
	CHECK(fdm_vmhost_power_off(t->h, "vm-a", on_done, t) == -ENOTCONN,
	      "an operation meanwhile: -ENOTCONN");
	restarted = fdm_now_boottime_ms();
	start_shim(t);
	mark_ms = restarted;
	run_until(t, listed_after_mark, "the reconnect and a listing");
	CHECK(V(t)->reconnects == 1 && fdm_vmhost_find(t->h, "vm-a") &&
	      fdm_vmhost_find(t->h, "vm-b") && !fdm_vmhost_find(t->h, "vm-new"),
	      "reconnected (%llu ms after the restart): listing of the new shim",
	      (unsigned long long)(V(t)->listed_at_ms - restarted));
	expect_stop(t, "vm-new", FDM__STOP_REASON__STOP_UNKNOWN, 1);
	CHECK(strcmp(stop.detail, "gone") == 0 && strcmp(stop.uuid, UUID_NEW) == 0,
	      "vm-new, lost while the shim was away: reported from the listing, once");
	run_for(t, 2 * REFRESH_MS);
	CHECK(!fdm_vmhost_next_stop(t->h, &stop), "no other stop (vm-b came back running)");
}

static void test_free_in_flight(struct t *t)
{
	t->done = false;
	CHECK(fdm_vmhost_power_off(t->h, "vm-a", on_done, t) == 0, "power off sent");
	fdm_vmhost_free(t->h);
	t->h = NULL;
	CHECK(t->done && t->r.error == -ECANCELED, "freed with it in flight: -ECANCELED");
}

int main(int argc, char **argv)
{
	struct t *t = &T;
	char text[4096];
	uint64_t started;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: test_vmhost HOSTD_SHIM DIR\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	t->shim_bin = argv[1];
	t->dir = argv[2];
	snprintf(t->sock, sizeof(t->sock), "%s/hostd.sock", t->dir);
	snprintf(t->conf, sizeof(t->conf), "%s/fdm.conf", t->dir);
	snprintf(t->node, sizeof(t->node), "%s/node.xml", t->dir);
	snprintf(text, sizeof(text),
		 "<node><cpu><mhz>2000</mhz><model>test</model><active>4</active><nodes>1</nodes>"
		 "<sockets>1</sockets><cores>4</cores><threads>1</threads></cpu>"
		 "<memory>%llu</memory>"
		 "<domain type='test'><name>vm-a</name><uuid>%s</uuid><memory>%llu</memory>"
		 "<vcpu>1</vcpu><os><type>hvm</type></os></domain>"
		 "<domain type='test'><name>vm-b</name><uuid>%s</uuid><memory>%llu</memory>"
		 "<vcpu>1</vcpu><os><type>hvm</type></os></domain></node>",
		 NODE_KIB, UUID_A, DOM_KIB, UUID_B, DOM_KIB);
	write_file(t->node, text);
	snprintf(text, sizeof(text), "[hostd]\nsocket = %s\nlibvirt_uri = test://%s\n",
		 t->sock, t->node);
	write_file(t->conf, text);
	if (sd_event_new(&t->e) < 0)
		fail("sd_event_new");

	started = fdm_now_boottime_ms();
	start_shim(t);
	rc = fdm_vmhost_new(t->e, t->sock, REFRESH_MS, on_change, t, &t->h);
	CHECK(rc == 0, "fdm_vmhost_new");
	test_listing(t, started);
	test_power_off(t);
	test_xml_round_trip(t);
	test_stop_reasons(t);
	test_set_deadlines(t);
	test_reconnect(t);
	test_free_in_flight(t);

	kill(t->shim, SIGTERM);
	rc = wait_shim(t);
	CHECK(rc == 0, "the shim stopped by SIGTERM: exit 0");
	free(t->xml);
	sd_event_unref(t->e);
	printf("PASS\n");
	return 0;
}
