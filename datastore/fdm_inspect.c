/* fdm-inspect: read a datastore directly, no agent needed (INTERFACE.md): its
 * identity, the protectedlist with its lock holder, each host's heartbeat and
 * poweron record, and every record that is corrupt, empty or fails
 * authentication, by name and reason. --json prints one object of one shape
 * (fdm-inspect.8). Exit 0 all readable, 1 some record bad, the datastore
 * uninitialised or unreachable, 2 usage or config. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datastore/ds.h"
#include "lib/config.h"
#include "lib/util.h"

struct inspect {
	struct fdm_ds *ds;
	const char *cluster;
	json_object *errors;         /* [{"record", "error"}] */
};

static const char *priority_name(Fdm__Priority p)
{
	switch (p) {
	case FDM__PRIORITY__PRIORITY_DISABLED: return "disabled";
	case FDM__PRIORITY__PRIORITY_LOWEST: return "lowest";
	case FDM__PRIORITY__PRIORITY_LOW: return "low";
	case FDM__PRIORITY__PRIORITY_MEDIUM: return "medium";
	case FDM__PRIORITY__PRIORITY_HIGH: return "high";
	case FDM__PRIORITY__PRIORITY_HIGHEST: return "highest";
	default: return "?";
	}
}

static int64_t age_ms(uint64_t written_unix_ms)
{
	return (int64_t)(fdm_now_unix_ms() - written_unix_ms);
}

static void add_error(json_object *errors, const char *record, const char *why)
{
	json_object *e = json_object_new_object();

	json_object_object_add(e, "record", json_object_new_string(record));
	json_object_object_add(e, "error", json_object_new_string(why));
	json_object_array_add(errors, e);
}

/* Note a bad record (or a damaged slot of a good one). Returns true when the
 * record itself was read. Never written is fine; written but empty is not. */
static bool note(struct inspect *in, enum fdm_ds_status st, const struct fdm_ds_result *res,
		 enum fdm_ds_rec rec, const char *host)
{
	char label[FDM_DS_ID_MAX + 32], why[600];

	if (st == FDM_DS_EMPTY && !res->present)
		return false;
	if (st == FDM_DS_OK && res->damaged_slot < 0)
		return true;
	fdm_ds_record_label(rec, host, label, sizeof(label));
	if (st == FDM_DS_EMPTY)
		snprintf(why, sizeof(why), "empty record (the file holds nothing or only zeros)");
	else if (st == FDM_DS_OK)
		snprintf(why, sizeof(why), "slot %d: %s (older slot used)", res->damaged_slot,
			 fdm_rec_err_name(res->rec_err));
	else if (st == FDM_DS_CORRUPT)
		snprintf(why, sizeof(why), "%s", fdm_rec_err_name(res->rec_err));
	else
		snprintf(why, sizeof(why), "%s: %s", fdm_ds_status_name(st), res->msg);
	add_error(in->errors, label, why);
	return st == FDM_DS_OK;
}

static json_object *no_protectedlist(void)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "lock_holder", NULL);
	json_object_object_add(o, "generation", NULL);
	json_object_object_add(o, "age_ms", NULL);
	json_object_object_add(o, "vms", json_object_new_array());
	return o;
}

static void add_lease(json_object *o, const Fdm__LeaseRecord *lease)
{
	json_object_object_add(o, "lock_holder", lease != NULL && lease->owner && lease->owner[0] ?
			       json_object_new_string(lease->owner) : NULL);
	json_object_object_add(o, "generation", lease != NULL ?
			       json_object_new_int64((int64_t)lease->generation) : NULL);
	if (lease != NULL)
		json_object_object_add(o, "renewal", json_object_new_int64((int64_t)lease->renewal));
	json_object_object_add(o, "age_ms", lease != NULL ?
			       json_object_new_int64(age_ms(lease->written_unix_ms)) : NULL);
}

static void add_vms(json_object *o, json_object *vms, const Fdm__ProtectedList *list)
{
	for (size_t i = 0; list != NULL && i < list->n_vms; i++) {
		json_object *vm = json_object_new_object();

		json_object_object_add(vm, "name", json_object_new_string(list->vms[i]->name));
		json_object_object_add(vm, "priority",
				       json_object_new_string(priority_name(list->vms[i]->priority)));
		json_object_array_add(vms, vm);
	}
	if (list != NULL)
		json_object_object_add(o, "lease_generation",
				       json_object_new_int64((int64_t)list->lease_generation));
	json_object_object_add(o, "vms", vms);
}

/* The lease part and the VM part of one file: the file is an empty record
 * only when neither holds anything (a lease never taken is not an error). */
static json_object *protectedlist(struct inspect *in)
{
	struct fdm_ds_result lres, vres;
	Fdm__LeaseRecord *lease = NULL;
	Fdm__ProtectedList *list = NULL;
	json_object *o = json_object_new_object();
	enum fdm_ds_status lst, vst;
	uint32_t fp;

	lst = fdm_ds_lease_read_full(in->ds, fdm_ds_deadline(in->ds), &lease, &fp, &lres);
	vst = fdm_ds_vmlist_read(in->ds, fdm_ds_deadline(in->ds), &list, &vres);
	if (lst == FDM_DS_EMPTY && vst == FDM_DS_EMPTY && (lres.present || vres.present)) {
		lres.present = true;
		note(in, lst, &lres, FDM_DS_REC_VMLIST, "");      /* "protectedlist" */
	} else {
		lres.present = false;
		note(in, lst, &lres, FDM_DS_REC_LEASE, "");
		note(in, vst, &vres, FDM_DS_REC_VMLIST, "");
	}
	add_lease(o, lst == FDM_DS_OK ? lease : NULL);
	add_vms(o, json_object_new_array(), vst == FDM_DS_OK ? list : NULL);
	if (lease != NULL)
		fdm__lease_record__free_unpacked(lease, NULL);
	if (list != NULL)
		fdm__protected_list__free_unpacked(list, NULL);
	return o;
}

static json_object *poweron(struct inspect *in, const char *host)
{
	struct fdm_ds_result res;
	Fdm__PowerOnRecord *r = NULL;
	json_object *o, *vms;
	enum fdm_ds_status st = fdm_ds_poweron_read(in->ds, host, fdm_ds_deadline(in->ds), &r, &res);

	if (!note(in, st, &res, FDM_DS_REC_POWERON, host) || r == NULL)
		return NULL;
	o = json_object_new_object();
	vms = json_object_new_array();
	json_object_object_add(o, "isolated", json_object_new_boolean(r->isolated));
	json_object_object_add(o, "stopped", json_object_new_boolean(r->stopped));
	for (size_t i = 0; i < r->n_vms; i++)
		json_object_array_add(vms, json_object_new_string(r->vms[i]));
	json_object_object_add(o, "vms", vms);
	/* VMs its isolation response powered off (DESIGN.md point 4). */
	if (r->n_isolated_off > 0) {
		json_object *off = json_object_new_array();

		for (size_t i = 0; i < r->n_isolated_off; i++)
			json_object_array_add(off, json_object_new_string(r->isolated_off[i]));
		json_object_object_add(o, "isolated_off", off);
	}
	json_object_object_add(o, "age_ms", json_object_new_int64(age_ms(r->written_unix_ms)));
	fdm__power_on_record__free_unpacked(r, NULL);
	return o;
}

static json_object *hosts(struct inspect *in)
{
	struct fdm_ds_hostlist *list = calloc(1, sizeof(*list));
	json_object *arr = json_object_new_array();
	struct fdm_ds_result res;
	enum fdm_ds_status st;

	st = fdm_ds_list_hosts(in->ds, fdm_ds_deadline(in->ds), list, &res);
	if (st != FDM_DS_OK)
		note(in, st, &res, FDM_DS_REC_HB, "*");
	for (size_t i = 0; st == FDM_DS_OK && i < list->n; i++) {
		const char *id = list->ids[i];
		json_object *h = json_object_new_object();
		struct fdm_ds_hb hb;

		json_object_object_add(h, "id", json_object_new_string(id));
		st = fdm_ds_hb_read(in->ds, id, fdm_ds_deadline(in->ds), &hb, &res);
		if (note(in, st, &res, FDM_DS_REC_HB, id)) {
			json_object_object_add(h, "heartbeat_age_ms",
					       json_object_new_int64(age_ms(hb.written_unix_ms)));
			json_object_object_add(h, "counter", json_object_new_int64((int64_t)hb.counter));
		} else {
			json_object_object_add(h, "heartbeat_age_ms", NULL);
			json_object_object_add(h, "counter", NULL);
		}
		json_object_object_add(h, "poweron", poweron(in, id));
		json_object_array_add(arr, h);
		st = FDM_DS_OK;
	}
	free(list);
	return arr;
}

static json_object *identity_json(const struct fdm_ds_identity *id)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "uuid", json_object_new_string(id->uuid_text));
	json_object_object_add(o, "created_unix_ms", json_object_new_int64((int64_t)id->created_unix_ms));
	json_object_object_add(o, "format_version", json_object_new_int64(id->format_version));
	json_object_object_add(o, "created_by", json_object_new_string(id->created_by));
	return o;
}

/* One cluster's records; nothing but the identity error when the datastore
 * is not initialised for it (or cannot be reached). */
static json_object *inspect_cluster(struct fdm_ds *ds, const char *cluster)
{
	struct inspect in = { .ds = ds, .cluster = cluster, .errors = json_object_new_array() };
	json_object *o = json_object_new_object();
	struct fdm_ds_identity id;
	struct fdm_ds_result res;
	enum fdm_ds_status st;
	char why[600];

	fdm_ds_set_cluster(ds, cluster);
	json_object_object_add(o, "url", json_object_new_string(fdm_ds_url(ds)));
	json_object_object_add(o, "cluster", json_object_new_string(cluster));
	st = fdm_ds_identity_read(ds, fdm_ds_deadline(ds), &id, &res);
	if (st != FDM_DS_OK) {
		fprintf(stderr, "fdm-inspect: %s\n", res.msg);
		snprintf(why, sizeof(why), "%s: %s", fdm_ds_status_name(st), res.msg);
		add_error(in.errors, st == FDM_DS_UNINITIALIZED ? "identity" : "datastore", why);
		json_object_object_add(o, "identity", NULL);
		json_object_object_add(o, "protectedlist", no_protectedlist());
		json_object_object_add(o, "hosts", json_object_new_array());
	} else {
		json_object_object_add(o, "identity", identity_json(&id));
		json_object_object_add(o, "protectedlist", protectedlist(&in));
		json_object_object_add(o, "hosts", hosts(&in));
	}
	json_object_object_add(o, "errors", in.errors);
	return o;
}

/* ------------------------------------------------------------ human output */

static const char *str_or(json_object *o, const char *key, const char *dflt)
{
	json_object *v = json_object_object_get(o, key);

	return v != NULL ? json_object_get_string(v) : dflt;
}

static void print_human(json_object *o)
{
	json_object *pl = json_object_object_get(o, "protectedlist");
	json_object *vms = json_object_object_get(pl, "vms");
	json_object *hs = json_object_object_get(o, "hosts");
	json_object *errs = json_object_object_get(o, "errors");

	json_object *id = json_object_object_get(o, "identity");

	printf("datastore %s, cluster %s\n", str_or(o, "url", "?"), str_or(o, "cluster", "?"));
	if (id != NULL)
		printf("identity: uuid %s, format %s, %s\n", str_or(id, "uuid", "?"),
		       str_or(id, "format_version", "?"), str_or(id, "created_by", ""));
	else
		printf("identity: NONE (not initialised for this cluster, or unreachable)\n");
	printf("protectedlist: lock holder %s, generation %s, age %s ms\n",
	       str_or(pl, "lock_holder", "(none)"), str_or(pl, "generation", "-"),
	       str_or(pl, "age_ms", "-"));
	if (json_object_array_length(vms) > 0)
		printf("  %-32s %s\n", "VM", "PRIORITY");
	for (size_t i = 0; i < json_object_array_length(vms); i++) {
		json_object *vm = json_object_array_get_idx(vms, i);

		printf("  %-32s %s\n", str_or(vm, "name", "?"), str_or(vm, "priority", "?"));
	}
	printf("hosts: %zu\n", json_object_array_length(hs));
	if (json_object_array_length(hs) > 0)
		printf("  %-20s %10s %10s  %s\n", "HOST", "HB AGE MS", "COUNTER", "POWERON");
	for (size_t i = 0; i < json_object_array_length(hs); i++) {
		json_object *h = json_object_array_get_idx(hs, i);
		json_object *po = json_object_object_get(h, "poweron");
		char vmlist[256] = "";
		json_object *pvms = po != NULL ? json_object_object_get(po, "vms") : NULL;

		for (size_t j = 0; pvms != NULL && j < json_object_array_length(pvms); j++) {
			if (j > 0)
				strncat(vmlist, ",", sizeof(vmlist) - strlen(vmlist) - 1);
			strncat(vmlist, json_object_get_string(json_object_array_get_idx(pvms, j)),
				sizeof(vmlist) - strlen(vmlist) - 1);
		}
		printf("  %-20s %10s %10s  ", str_or(h, "id", "?"), str_or(h, "heartbeat_age_ms", "-"),
		       str_or(h, "counter", "-"));
		if (po == NULL)
			printf("-\n");
		else
			printf("isolated=%s stopped=%s vms=%s\n", str_or(po, "isolated", "?"),
			       str_or(po, "stopped", "?"), vmlist[0] ? vmlist : "(none)");
	}
	if (json_object_array_length(errs) > 0)
		printf("errors:\n");
	for (size_t i = 0; i < json_object_array_length(errs); i++) {
		json_object *e = json_object_array_get_idx(errs, i);

		printf("  %s: %s\n", str_or(e, "record", "?"), str_or(e, "error", "?"));
	}
}

/* ------------------------------------------------------------ main */

static void usage(FILE *f)
{
	fprintf(f, "usage: fdm-inspect [--json] [--config FILE | --key FILE] URL\n"
		"  reads a datastore's fdm records directly (no agent needed)\n"
		"  --config FILE  cluster id and key from FILE's [cluster] (default %s)\n"
		"  --key FILE     key only: inspect every cluster folder found\n"
		"  --version      print the version and exit\n"
		"  exit 0: all readable; 1: some record corrupt, unauthenticated or unreachable;"
		" 2: usage\n", FDM_DEFAULT_CONFIG);
}

struct opts {
	bool json;
	const char *config;
	const char *key_file;
	const char *url;
};

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "jc:k:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': o->json = true; break;
		case 'c': o->config = optarg; break;
		case 'k': o->key_file = optarg; break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("fdm-inspect %s\n", FDM_VERSION); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind != argc - 1 || (o->config != NULL && o->key_file != NULL)) {
		usage(stderr);
		return -1;
	}
	o->url = argv[optind];
	if (o->config == NULL && o->key_file == NULL)
		o->config = FDM_DEFAULT_CONFIG;
	return 0;
}

static int load_auth(const struct opts *o, struct fdm_config *cfg, uint8_t key[FDM_KEY_MAX],
		     int *key_len)
{
	char err[1024];

	if (o->config != NULL && fdm_config_load(o->config, FDM_NEED_CLUSTER, cfg, err,
						 sizeof(err)) != 0) {
		fprintf(stderr, "fdm-inspect: %s\n", err);
		return -1;
	}
	*key_len = fdm_key_load(o->config != NULL ? cfg->key_file : o->key_file, key, err,
				sizeof(err));
	if (*key_len < 0) {
		fprintf(stderr, "fdm-inspect: %s\n", err);
		return -1;
	}
	return 0;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The clusters to show: the config's, or every folder found (--key), sorted.
 * -1 with why set when the datastore cannot be listed. */
static int clusters_of(struct fdm_ds *ds, const struct opts *o, const struct fdm_config *cfg,
		       struct fdm_ds_hostlist *out, char *why, size_t len)
{
	struct fdm_ds_result res;
	enum fdm_ds_status st;

	memset(out, 0, sizeof(*out));
	if (o->config != NULL) {
		fdm_strlcpy(out->ids[0], cfg->cluster_id, FDM_DS_ID_MAX);
		out->n = 1;
		return 0;
	}
	st = fdm_ds_list_clusters(ds, fdm_ds_deadline(ds), out, &res);
	if (st != FDM_DS_OK) {
		snprintf(why, len, "%s: %s", fdm_ds_status_name(st), res.msg);
		fprintf(stderr, "fdm-inspect: %s\n", res.msg);
		return -1;
	}
	if (out->n == 0) {
		snprintf(why, len, "no fdm cluster found (not initialised: fdmctl datastore init)");
		fprintf(stderr, "fdm-inspect: %s: %s\n", o->url, why);
		return -1;
	}
	qsort(out->ids, out->n, sizeof(out->ids[0]), cmp_id);
	for (size_t i = 0; i < out->n && !o->json; i++)
		printf("found cluster %s\n", out->ids[i]);
	return 0;
}

/* The one shape of --json: the first cluster's fields at the top (the
 * config's cluster, or the first found by name), and every cluster inspected,
 * the first included, under "clusters". */
static json_object *top_object(const char *url, json_object *all, const char *why)
{
	json_object *top = json_object_new_object();

	if (json_object_array_length(all) > 0) {
		json_object_object_foreach(json_object_array_get_idx(all, 0), key, val)
			json_object_object_add(top, key, json_object_get(val));
	} else {
		json_object *errors = json_object_new_array();

		add_error(errors, "datastore", why);
		json_object_object_add(top, "url", json_object_new_string(url));
		json_object_object_add(top, "cluster", NULL);
		json_object_object_add(top, "identity", NULL);
		json_object_object_add(top, "protectedlist", no_protectedlist());
		json_object_object_add(top, "hosts", json_object_new_array());
		json_object_object_add(top, "errors", errors);
	}
	json_object_object_add(top, "clusters", json_object_get(all));
	return top;
}

static int inspect_all(struct fdm_ds *ds, const struct opts *o, const struct fdm_config *cfg)
{
	struct fdm_ds_hostlist *clusters = calloc(1, sizeof(*clusters));
	json_object *all = json_object_new_array(), *top;
	char why[600] = "out of memory";
	int rc = 0;

	if (clusters == NULL || clusters_of(ds, o, cfg, clusters, why, sizeof(why)) != 0)
		rc = 1;
	for (size_t i = 0; rc == 0 && i < clusters->n; i++)
		json_object_array_add(all, inspect_cluster(ds, clusters->ids[i]));
	for (size_t i = 0; i < json_object_array_length(all); i++) {
		json_object *one = json_object_array_get_idx(all, i);

		if (json_object_array_length(json_object_object_get(one, "errors")) > 0)
			rc = 1;
		if (!o->json)
			print_human(one);
	}
	top = top_object(o->url, all, why);
	if (o->json)
		printf("%s\n", json_object_to_json_string_ext(top, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(top);
	json_object_put(all);
	free(clusters);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct fdm_config *cfg;
	uint8_t key[FDM_KEY_MAX];
	struct fdm_ds *ds = NULL;
	char err[1024];
	int key_len, rc = 2;

	if (parse_args(argc, argv, &o) != 0)
		return 2;
	cfg = calloc(1, sizeof(*cfg));
	if (cfg != NULL && load_auth(&o, cfg, key, &key_len) == 0) {
		struct fdm_ds_params p = { .cluster = o.config ? cfg->cluster_id : "", .key = key,
					   .key_len = (size_t)key_len, .host = "",
					   .io_timeout_ms = cfg->io_timeout_ms ? cfg->io_timeout_ms : 2000 };

		if (fdm_ds_open(o.url, &p, &ds, err, sizeof(err)) != 0)
			fprintf(stderr, "fdm-inspect: %s\n", err);
		else
			rc = inspect_all(ds, &o, cfg);
	}
	fdm_ds_close(ds);
	free(cfg);
	return rc;
}
