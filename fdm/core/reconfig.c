/* Config reload (SIGHUP, INTERFACE.md): peers, datastores and timing change under
 * a running core without a restart and without a new election. What is known of a
 * host or datastore that stays is kept, matched by name, never by position. */
#include "fdm/core/core.h"

#include <string.h>

#include "lib/util.h"

/* New bit positions for a datastore mask, by datastore name. */
static uint32_t remap_mask(uint32_t mask, char old_names[][FDM_ID_MAX], size_t n_old,
			   const struct fdm_config *cfg)
{
	uint32_t out = 0;

	for (size_t d = 0; d < n_old; d++) {
		int nd;

		if (!(mask & (1u << d)))
			continue;
		nd = fdm_config_datastore_index(cfg, old_names[d]);
		if (nd >= 0)
			out |= 1u << nd;
	}
	return out;
}

static int old_index(const struct fdm_peer_state *old, size_t n_old, const char *id)
{
	for (size_t i = 0; i < n_old; i++)
		if (strcmp(old[i].id, id) == 0)
			return (int)i;
	return -1;
}

static void log_removed(struct fdm_core *c, const struct fdm_peer_state *old, size_t n_old,
			const struct fdm_config *cfg, struct fdm_actions *out)
{
	for (size_t i = 0; i < n_old; i++)
		if (fdm_config_peer_index(cfg, old[i].id) < 0)
			fdm_core_event(out, &(struct fdm_log_fields){
					.event = "reload", .peer = old[i].id },
				       "%s: reload: host %s removed from [peers]",
				       c->peers[c->self].id, old[i].id);
}

/* Datastores by name and URL: a kept one keeps its heartbeat and lease state; a
 * new URL under an old name is a new datastore (the shell opens a new handle, and
 * what was in flight on the old one never reports back). */
static bool kept(const struct fdm_config *cfg, const char *name, const char *url)
{
	int d = fdm_config_datastore_index(cfg, name);

	return d >= 0 && strcmp(cfg->datastores[d].url, url) == 0;
}

static void remap_datastores(struct fdm_core *c, const struct fdm_config *cfg, uint64_t now,
			     struct fdm_actions *out)
{
	struct fdm_core_ds old[FDM_MAX_DATASTORES];
	struct fdm_ha_ds old_ha[FDM_MAX_DATASTORES];
	char names[FDM_MAX_DATASTORES][FDM_ID_MAX];
	size_t n_old = c->n_datastores;

	memcpy(names, c->datastore_names, sizeof(names));
	memcpy(old, c->ds, sizeof(old));
	memcpy(old_ha, c->ha.ds, sizeof(old_ha));
	for (size_t d = 0; d < cfg->n_datastores; d++) {
		size_t o;

		fdm_strlcpy(c->datastore_names[d], cfg->datastores[d].name, FDM_ID_MAX);
		for (o = 0; o < n_old; o++)
			if (strcmp(names[o], cfg->datastores[d].name) == 0 &&
			    strcmp(old[o].url, cfg->datastores[d].url) == 0)
				break;
		if (o < n_old) {
			c->ds[d] = old[o];
			c->ha.ds[d] = old_ha[o];
		} else {
			/* Nothing in flight on the old handle ever reports back. */
			memset(&c->ha.ds[d], 0, sizeof(c->ha.ds[d]));
			fdm_storage_init(c, d, cfg->datastores[d].url, now);
			fdm_core_event(out, &(struct fdm_log_fields){ .event = "reload",
					.datastore = cfg->datastores[d].name },
				       "%s: reload: datastore %s (%s) added", cfg->host_id,
				       cfg->datastores[d].name, cfg->datastores[d].url);
		}
	}
	for (size_t o = 0; o < n_old; o++)
		if (!kept(cfg, names[o], old[o].url))
			fdm_core_event(out, &(struct fdm_log_fields){
					.event = "reload", .datastore = names[o] },
				       "%s: reload: datastore %s (%s) removed%s", cfg->host_id,
				       names[o], old[o].url,
				       fdm_lease_held(&old[o].lease)
				       ? ": its lease is abandoned and expires" : "");
	c->n_datastores = cfg->n_datastores;
	fdm_storage_reloaded(c);
}

int fdm_core_reconfigure(struct fdm_core *c, const struct fdm_config *cfg,
			 const struct fdm_timing *t, uint64_t now, struct fdm_actions *out)
{
	struct fdm_peer_state old[FDM_MAX_HOSTS];
	char old_ds[FDM_MAX_DATASTORES][FDM_ID_MAX];
	char master_id[FDM_ID_MAX] = "";
	size_t n_old = c->n_peers, n_old_ds = c->n_datastores;
	int self = fdm_config_peer_index(cfg, cfg->host_id);

	if (self < 0 || strcmp(cfg->host_id, c->peers[c->self].id) != 0)
		return -1;
	memcpy(old, c->peers, sizeof(old));
	memcpy(old_ds, c->datastore_names, sizeof(old_ds));
	if (c->master >= 0)
		fdm_strlcpy(master_id, c->peers[c->master].id, sizeof(master_id));

	log_removed(c, old, n_old, cfg, out);
	for (size_t i = 0; i < cfg->n_peers; i++) {
		struct fdm_peer_state *p = &c->peers[i];
		int j = old_index(old, n_old, cfg->peers[i].id);

		if (j >= 0) {
			*p = old[j];
			p->datastore_mask = remap_mask(p->datastore_mask, old_ds, n_old_ds, cfg);
		} else {
			memset(p, 0, sizeof(*p));
			fdm_strlcpy(p->id, cfg->peers[i].id, sizeof(p->id));
			p->state = FDM_HS_UNINITIALIZED;
			fdm_core_event(out, &(struct fdm_log_fields){
					.event = "reload", .peer = p->id },
				       "%s: reload: host %s added to [peers]", cfg->host_id, p->id);
		}
	}
	c->n_peers = cfg->n_peers;
	c->self = (size_t)self;
	c->timing = *t;     /* new datastores get the new timing; held leases keep theirs */
	remap_datastores(c, cfg, now, out);
	/* VM protection indexes peers and datastores: read it all again. */
	fdm_ha_reset(c);
	fdm_ha_configure(c, cfg);
	fdm_isoresp_configure(c, cfg);
	c->my_datastore_mask = 0;
	for (size_t d = 0; d < c->n_datastores; d++)
		if (c->ds[d].reachable)
			c->my_datastore_mask |= 1u << d;
	c->my_datastores = (uint32_t)__builtin_popcount(c->my_datastore_mask);
	c->n_reported = 0;   /* the master's next heartbeat reports with the new names */

	c->master = master_id[0] ? fdm_config_peer_index(cfg, master_id) : -1;
	if (master_id[0] && c->master < 0)
		fdm_election_start(c, now, "our master was removed from [peers]", out);
	fdm_core_event(out, &(struct fdm_log_fields){ .event = "reload" },
		       "%s: config reloaded: %zu peers, %zu datastores, heartbeat %u ms, "
		       "io_timeout %u ms", cfg->host_id, cfg->n_peers, cfg->n_datastores,
		       t->heartbeat_interval_ms, t->io_timeout_ms);
	return 0;
}
