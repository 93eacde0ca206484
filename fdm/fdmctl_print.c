/* fdmctl's printing: the agent's JSON answers as the tables an operator reads
 * (status, hosts, vms, datastores, election, events), or as JSON with --json. */
#include "fdm/fdmctl.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/util.h"

static const char *str_of(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return "-";
	return json_object_get_string(v);
}

static json_object *field(json_object *o, const char *key)
{
	json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}

static size_t array_len(json_object *a)
{
	return a != NULL && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static void join_strings(json_object *arr, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < array_len(arr); i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(arr, i));
		int w = snprintf(buf + used, len - used, "%s%s", i ? "," : "", s ? s : "?");
		if (w < 0 || (size_t)w >= len - used)
			break;
		used += (size_t)w;
	}
	if (used == 0)
		fdm_strlcpy(buf, "-", len);
}

static void age_text(json_object *v, char *buf, size_t len)
{
	if (v == NULL)
		fdm_strlcpy(buf, "never", len);
	else if (json_object_get_int64(v) < 10000)
		snprintf(buf, len, "%lldms", (long long)json_object_get_int64(v));
	else
		snprintf(buf, len, "%.1fs", json_object_get_int64(v) / 1000.0);
}

static void print_hosts(json_object *hosts)
{
	char ds[256], age[32];

	printf("%-16s %-40s %-13s %-9s %s\n", "HOST", "ADDRESS", "STATE", "HB AGE", "DATASTORES");
	for (size_t i = 0; i < array_len(hosts); i++) {
		json_object *h = json_object_array_get_idx(hosts, i);

		join_strings(field(h, "datastores"), ds, sizeof(ds));
		age_text(field(h, "heartbeat_age_ms"), age, sizeof(age));
		printf("%-16s %-40s %-13s %-9s %s\n", str_of(h, "id"), str_of(h, "address"),
		       str_of(h, "state"), age, ds);
		if (field(h, "reason") != NULL)
			printf("%-16s   reason: %s\n", "", str_of(h, "reason"));
	}
}

static void print_datastores(json_object *dss)
{
	char deadline[32];

	printf("%-12s %-9s %-16s %-9s %-9s %s\n", "DATASTORE", "REACHABLE", "LOCK HOLDER",
	       "HEARTBEAT", "DEADLINE", "URL");
	for (size_t i = 0; i < array_len(dss); i++) {
		json_object *d = json_object_array_get_idx(dss, i);
		json_object *dl = field(d, "deadline_ms");

		if (dl == NULL)
			fdm_strlcpy(deadline, "-", sizeof(deadline));
		else
			age_text(dl, deadline, sizeof(deadline));
		printf("%-12s %-9s %-16s %-9s %-9s %s\n", str_of(d, "name"),
		       json_object_get_boolean(field(d, "reachable")) ? "yes" : "no",
		       str_of(d, "lock_holder"),
		       json_object_get_boolean(field(d, "heartbeat")) ? "yes" : "no", deadline,
		       str_of(d, "url"));
	}
}

/* Whose table it is, when it is not simply the master's (status_vms.c). */
static void print_vms_view(json_object *view)
{
	const char *v = str_of(view, "view");

	if (view == NULL)
		return;
	if (strcmp(v, "none yet") == 0)
		printf("(no VM table from the master yet)\n");
	else if (strcmp(v, "this host") == 0)
		printf("(no master: the protected lists as this host read them)\n");
	else if (json_object_get_boolean(field(view, "partial")))
		printf("(partial: the master's heartbeat had no room for every VM)\n");
}

static void print_vms(json_object *vms, json_object *view)
{
	print_vms_view(view);
	printf("%-24s %-16s %-16s %-12s %-9s %s\n", "VM", "STATE", "HOST", "DATASTORE",
	       "PRIORITY", "RESTARTS");
	for (size_t i = 0; i < array_len(vms); i++) {
		json_object *v = json_object_array_get_idx(vms, i);

		printf("%-24s %-16s %-16s %-12s %-9s %s\n", str_of(v, "name"), str_of(v, "state"),
		       str_of(v, "host"), str_of(v, "datastore"), str_of(v, "priority"),
		       str_of(v, "restarts"));
		/* What holds it back now: no HA stack tells this; fdm does. */
		if (field(v, "waiting") != NULL)
			printf("%-24s   waiting: %s\n", "", str_of(v, "waiting"));
		if (field(v, "last_failure") != NULL)
			printf("%-24s   last failure: %s\n", "", str_of(v, "last_failure"));
	}
	if (array_len(vms) == 0)
		printf("(no protected VMs)\n");
}

/* The last master hand-over: "yield: host-9 -> host-2, 12 s ago (why)". */
static void print_handover(json_object *h)
{
	if (h == NULL || json_object_get_type(h) != json_type_object)
		return;
	printf("last hand-over: %s: %s -> %s, %lld s ago\n  %s\n", str_of(h, "kind"),
	       str_of(h, "from"), field(h, "to") != NULL ? str_of(h, "to") : "(nobody: isolated)",
	       (long long)(json_object_get_int64(field(h, "age_ms")) / 1000), str_of(h, "why"));
}

static void print_election(json_object *e)
{
	json_object *bids = field(e, "bids");

	printf("state:    %s\n", str_of(e, "state"));
	if (field(e, "reason") != NULL)
		printf("reason:   %s\n", str_of(e, "reason"));
	if (field(e, "started_age_ms") != NULL)
		printf("started:  %s ms ago\n", str_of(e, "started_age_ms"));
	if (field(e, "winner") != NULL)
		printf("winner:   %s (term %s, decided in %s ms)\n", str_of(e, "winner"),
		       str_of(e, "term"), str_of(e, "duration_ms"));
	if (array_len(bids) > 0)
		printf("bids seen (besides this host's own):\n  %-16s %s\n", "HOST", "DATASTORES");
	for (size_t i = 0; i < array_len(bids); i++) {
		json_object *b = json_object_array_get_idx(bids, i);
		printf("  %-16s %s\n", str_of(b, "host"), str_of(b, "datastores"));
	}
	print_handover(field(e, "handover"));
}

/* Admission control, one line: what is left after the tolerated host failures. */
static void print_capacity(json_object *cap)
{
	if (cap == NULL)
		return;
	printf("\ncapacity: %s host failure(s) tolerated, protected VMs need %.1f GiB, "
	       "spare %.1f GiB", str_of(cap, "host_failures_tolerated"),
	       (double)json_object_get_int64(field(cap, "needed_kib")) / (1024.0 * 1024.0),
	       (double)json_object_get_int64(field(cap, "spare_kib")) / (1024.0 * 1024.0));
}

static void print_status(json_object *st)
{
	json_object *dropped = field(st, "dropped");

	printf("cluster %s   host %s   role %s   master %s   term %s\n\n", str_of(st, "cluster"),
	       str_of(st, "host"), str_of(st, "role"), str_of(st, "master"), str_of(st, "term"));
	print_hosts(field(st, "hosts"));
	printf("\n");
	print_datastores(field(st, "datastores"));
	printf("\nVMs: %zu", array_len(field(st, "vms")));
	print_capacity(field(st, "capacity"));
	printf("\ndropped packets:");
	json_object_object_foreach(dropped, key, val)
		printf(" %s %s", key, json_object_get_string(val));
	printf("\n");
}

static void print_events(json_object *reply)
{
	json_object *evs = field(reply, "events");

	for (size_t i = 0; i < array_len(evs); i++) {
		json_object *e = json_object_array_get_idx(evs, i);
		time_t t = (time_t)(json_object_get_int64(field(e, "unix_ms")) / 1000);
		struct tm tm;
		char when[32];

		localtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		printf("%s  %s\n", when, str_of(e, "text"));
	}
	if (array_len(evs) == 0)
		printf("(no events)\n");
}

void fdmctl_print_json(json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						      JSON_C_TO_STRING_SPACED));
}

/* `fdmctl --json hosts` prints {"hosts": [...]}: the status field by its name. */
static void print_part_json(json_object *st, const char *key)
{
	json_object *o = json_object_new_object();
	json_object *v = field(st, key);

	json_object_object_add(o, key, json_object_get(v));
	/* Whose table it is: the master's, partial, none yet (status_vms.c). */
	if (strcmp(key, "vms") == 0)
		json_object_object_add(o, "vms_view", json_object_get(field(st, "vms_view")));
	fdmctl_print_json(o);
	json_object_put(o);
}

void fdmctl_print_reply(json_object *reply, const char *view, bool json)
{
	/* The exposition text as the agent made it (it ends in a newline). */
	if (strcmp(view, "metrics") == 0 && !json) {
		fputs(str_of(reply, "metrics"), stdout);
		return;
	}
	if (strcmp(view, "metrics") == 0) {
		fdmctl_print_json(reply);
		return;
	}
	if (strcmp(view, "status") == 0 || strcmp(view, "message") == 0 ||
	    strcmp(view, "events") == 0) {
		if (json)
			fdmctl_print_json(reply);
		else if (strcmp(view, "status") == 0)
			print_status(reply);
		else if (strcmp(view, "events") == 0)
			print_events(reply);
		else
			printf("%s\n", str_of(reply, "message"));
		return;
	}
	if (json) {
		print_part_json(reply, view);
		return;
	}
	if (strcmp(view, "hosts") == 0)
		print_hosts(field(reply, "hosts"));
	else if (strcmp(view, "vms") == 0)
		print_vms(field(reply, "vms"), field(reply, "vms_view"));
	else if (strcmp(view, "datastores") == 0)
		print_datastores(field(reply, "datastores"));
	else if (strcmp(view, "election") == 0)
		print_election(field(reply, "election"));
}
