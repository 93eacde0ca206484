/* `fdmctl datastore init URL [--config FILE]`: initialise a datastore once for
 * this cluster (datastore/ds.h fdm_ds_init): create .fdm-ha/<cluster>/ (file://,
 * nfs://) or format a blank LUN (iscsi://), and write the identity record that
 * every agent checks before it reads or writes anything there. Needs no agent:
 * the cluster id and key come from the config's [cluster] section. Running it
 * again is harmless; a datastore of another cluster is refused, untouched. */
#include "fdm/fdmctl_datastore.h"

#include <getopt.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "datastore/ds.h"
#include "lib/config.h"
#include "lib/util.h"

/* init may format a LUN and create folders: several round trips. */
#define INIT_MIN_MS 10000u

static int usage_error(void)
{
	fprintf(stderr, "usage: fdmctl datastore init URL [--config FILE]\n");
	return 2;
}

static void print_result(const char *url, const struct fdm_ds_identity *id, bool created,
			 bool json)
{
	char when[32] = "?";
	time_t t = (time_t)(id->created_unix_ms / 1000);
	struct tm tm;

	if (json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "url", json_object_new_string(url));
		json_object_object_add(o, "cluster", json_object_new_string(id->cluster));
		json_object_object_add(o, "uuid", json_object_new_string(id->uuid_text));
		json_object_object_add(o, "created", json_object_new_boolean(created));
		json_object_object_add(o, "created_unix_ms",
				       json_object_new_int64((int64_t)id->created_unix_ms));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		return;
	}
	if (localtime_r(&t, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	if (created)
		printf("%s: initialised for cluster %s (datastore %s)\n", url, id->cluster,
		       id->uuid_text);
	else
		printf("%s: already initialised for cluster %s (datastore %s, since %s)\n", url,
		       id->cluster, id->uuid_text, when);
}

static int init_datastore(const char *url, const char *config, bool json)
{
	struct fdm_config *cfg = calloc(1, sizeof(*cfg));
	struct fdm_ds_params p = { .host = "" };
	struct fdm_ds_identity id;
	struct fdm_ds_result res;
	struct fdm_ds *ds = NULL;
	uint8_t key[FDM_KEY_MAX];
	char err[1024], who[128], host[64] = "?";
	bool created = false;
	int key_len, rc = 2;

	if (cfg == NULL)
		return 1;
	if (fdm_config_load(config, FDM_NEED_CLUSTER, cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "fdmctl: %s\n", err);
		goto out;
	}
	key_len = fdm_key_load(cfg->key_file, key, err, sizeof(err));
	if (key_len < 0) {
		fprintf(stderr, "fdmctl: %s\n", err);
		goto out;
	}
	p.cluster = cfg->cluster_id;
	p.key = key;
	p.key_len = (size_t)key_len;
	p.io_timeout_ms = cfg->io_timeout_ms > INIT_MIN_MS ? cfg->io_timeout_ms : INIT_MIN_MS;
	if (fdm_ds_open(url, &p, &ds, err, sizeof(err)) != 0) {
		fprintf(stderr, "fdmctl: %s\n", err);
		goto out;
	}
	gethostname(host, sizeof(host) - 1);
	snprintf(who, sizeof(who), "fdmctl datastore init on %s", host);
	rc = 1;
	if (fdm_ds_init(ds, who, fdm_ds_deadline(ds), &id, &created, &res) != FDM_DS_OK) {
		fprintf(stderr, "fdmctl: %s\n", res.msg);
		goto out;
	}
	print_result(url, &id, created, json);
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	fdm_ds_close(ds);
	free(cfg);
	return rc;
}

int fdmctl_datastore(int argc, char **argv, const char *config, bool json)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *url;
	int opt;

	if (argc < 2 || strcmp(argv[1], "init") != 0)
		return usage_error();
	/* After "init": URL and --config in any order (0: getopt starts afresh). */
	optind = 0;
	argc--;
	argv++;
	while ((opt = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (opt != 'c')
			return usage_error();
		config = optarg;
	}
	if (optind != argc - 1)
		return usage_error();
	url = argv[optind];
	return init_datastore(url, config != NULL ? config : FDM_DEFAULT_CONFIG, json);
}
