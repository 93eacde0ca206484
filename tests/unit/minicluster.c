/* The fake network and clock of minicluster.h. Packets go through the real
 * encoder, decoder and replay filter, exactly as fdm/net.c uses them. */
#include "tests/unit/minicluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

static uint32_t rnd(struct minicluster *mc)
{
	/* xorshift32: deterministic per seed. */
	mc->rng ^= mc->rng << 13;
	mc->rng ^= mc->rng >> 17;
	mc->rng ^= mc->rng << 5;
	return mc->rng;
}

/* Host i's monotonic clock at the current real time: it runs drift_ppm fast
 * (or slow) from MC_EPOCH on, so every host's clock is its own. */
uint64_t mc_clock(const struct minicluster *mc, size_t i)
{
	int64_t since = (int64_t)(mc->now - MC_EPOCH);

	return mc->now + (uint64_t)(since * mc->hosts[i].drift_ppm / 1000000);
}

static void make_config(struct minicluster *mc, size_t self, const char *const *ids,
			struct fdm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	fdm_strlcpy(cfg->path, "minicluster.conf", sizeof(cfg->path));
	fdm_strlcpy(cfg->cluster_id, "unit", sizeof(cfg->cluster_id));
	fdm_strlcpy(cfg->host_id, ids[self], sizeof(cfg->host_id));
	for (size_t i = 0; i < mc->n; i++) {
		fdm_strlcpy(cfg->peers[i].id, ids[i], FDM_ID_MAX);
		snprintf(cfg->peers[i].address, FDM_ADDR_MAX, "10.0.0.%zu", i + 1);
		cfg->peers[i].port = 8182;
	}
	cfg->n_peers = mc->n;
	for (size_t d = 0; d < 3; d++) {
		snprintf(cfg->datastores[d].name, FDM_ID_MAX, "ds%zu", d + 1);
		snprintf(cfg->datastores[d].url, FDM_URL_MAX, "file:///ds%zu", d + 1);
	}
	cfg->n_datastores = 3;
	cfg->heartbeat_interval_ms = mc->timing.heartbeat_interval_ms;
	cfg->io_timeout_ms = mc->timing.io_timeout_ms;
}

/* Which datagram of host h is (incarnation, seq), from its send log. */
static const struct mc_sent *sent_record(const struct mc_host *h, uint64_t inc, uint64_t seq)
{
	const struct mc_sent *r = &h->sent[seq % MC_SENT_LOG];

	return r->incarnation == inc && r->seq == seq ? r : NULL;
}

static void record_sent(struct mc_host *h, const struct fdm_action *a, uint64_t now)
{
	struct mc_sent *r = &h->sent[a->seq % MC_SENT_LOG];

	r->incarnation = h->incarnation;
	r->seq = a->seq;
	r->msg = a->msg;
	r->to = a->to;
	r->at = now;
}

bool mc_sent_at(const struct minicluster *mc, size_t h, uint64_t incarnation, uint64_t seq,
		uint64_t *at)
{
	const struct mc_sent *r = sent_record(&mc->hosts[h], incarnation, seq);

	if (r == NULL)
		return false;
	*at = r->at;
	return true;
}

/* The rule of DESIGN.md "Heartbeats": a master heartbeat echoes only a slave
 * heartbeat that named that master, the one its "heard" rule counted. */
static void check_echo(struct minicluster *mc, size_t from, const Fdm__Packet *p)
{
	const Fdm__Echo *e;
	const struct mc_sent *r;

	if (p->body_case != FDM__PACKET__BODY_MASTER_HB || p->master_hb->echo == NULL)
		return;
	e = p->master_hb->echo;
	mc->echoes_checked++;
	for (size_t h = 0; h < mc->n; h++) {
		r = sent_record(&mc->hosts[h], e->incarnation, e->seq);
		if (r != NULL && mc->hosts[h].incarnation == e->incarnation &&
		    !(r->msg == FDM_MSG_SLAVE_HB && r->to == (int)from)) {
			mc->echo_violations++;
			return;
		}
	}
}

static void keep_log(struct minicluster *mc, const char *text)
{
	if (mc->watch != NULL && strstr(text, mc->watch) != NULL)
		mc->watch_hits++;
	if (mc->log_watch != NULL && strstr(text, mc->log_watch) != NULL)
		mc->log_watch_hits++;
	fdm_strlcpy(mc->log[mc->log_next], text, FDM_LOG_MAX);
	mc->log_next = (mc->log_next + 1) % 64;
}

static void keep_event(struct minicluster *mc, size_t host, const struct fdm_action *a)
{
	struct mc_event *e = &mc->events[mc->n_events++ % MC_EVENTS];

	e->host = host;
	e->event = a->event;
	fdm_strlcpy(e->peer, a->peer, sizeof(e->peer));
	fdm_strlcpy(e->vm, a->vm, sizeof(e->vm));
	fdm_strlcpy(e->datastore, a->datastore, sizeof(e->datastore));
	e->has_term = a->has_term;
	e->term = a->term;
}

static void keep_reply(struct minicluster *mc, size_t host, const struct fdm_action *a)
{
	struct mc_reply *r = &mc->replies[mc->n_replies++ % MC_REPLIES];

	r->host = host;
	r->id = a->request_id;
	r->to = a->to;
	r->ok = a->ok;
	fdm_strlcpy(r->text, a->text, sizeof(r->text));
}

static void enqueue(struct minicluster *mc, int from, int to, const uint8_t *buf, size_t len)
{
	struct mc_packet *p;

	if (mc->queued == mc->cap) {
		mc->cap = mc->cap ? 2 * mc->cap : 256;
		mc->queue = realloc(mc->queue, mc->cap * sizeof(*mc->queue));
	}
	p = &mc->queue[mc->queued++];
	p->from = from;
	p->to = to;
	p->in_socket = false;
	p->deliver_at = mc->now + (mc->delay_max_ms ? rnd(mc) % (mc->delay_max_ms + 1) : 0);
	p->len = len;
	p->bytes = malloc(len);
	memcpy(p->bytes, buf, len);
}

static void send_one(struct minicluster *mc, size_t from, const struct fdm_action *a)
{
	static const size_t max = FDM_WIRE_MAX;
	uint8_t *buf = malloc(max);
	size_t len;

	struct mc_host *h = &mc->hosts[from];

	fdm_outbox_build(&h->core, a, "unit", mc_clock(mc, from), &mc->outbox);
	record_sent(h, a, mc_clock(mc, from));
	check_echo(mc, from, &mc->outbox.packet);
	len = fdm_wire_encode(&mc->outbox.packet, &mc->key, buf, max);
	if (len > 0 && a->to >= 0 && a->to < MC_MAX_HOSTS) {
		free(h->last_to[a->to]);
		h->last_to[a->to] = malloc(len);
		memcpy(h->last_to[a->to], buf, len);
		h->last_to_len[a->to] = len;
	}
	if (len > 0 && !(mc->loss_pct && rnd(mc) % 100 < mc->loss_pct)) {
		enqueue(mc, (int)from, a->to, buf, len);
		if (mc->dup_pct && rnd(mc) % 100 < mc->dup_pct)
			enqueue(mc, (int)from, a->to, buf, len);
	}
	free(buf);
}

void mc_execute(struct minicluster *mc, size_t from)
{
	/* Completions run mc_execute() again: take this batch out first. */
	size_t n = mc->actions.n;
	struct fdm_action *batch = malloc((n ? n : 1) * sizeof(*batch));

	memcpy(batch, mc->actions.a, n * sizeof(*batch));
	mc->actions.n = 0;
	for (size_t i = 0; i < n; i++) {
		const struct fdm_action *a = &batch[i];

		if (a->kind == FDM_ACT_SEND)
			send_one(mc, from, a);
		else if (a->kind == FDM_ACT_LOG) {
			keep_log(mc, a->text);
			keep_event(mc, (size_t)from, a);
			if (mc->on_log != NULL)
				mc->on_log(mc, from, a->text);
		}
		else if (a->kind == FDM_ACT_STORAGE)
			mc_storage_start(mc, from, a);
		else if (a->kind == FDM_ACT_POWER_ON)
			mc_vms_power_on(mc, from, a);
		else if (a->kind == FDM_ACT_POWER_OFF)
			mc_vms_power_off(mc, from, a);
		else if (a->kind == FDM_ACT_CONTROL_REPLY)
			keep_reply(mc, from, a);
	}
	free(batch);
}

static void deliver(struct minicluster *mc, const struct mc_packet *p)
{
	struct mc_host *h = &mc->hosts[p->to];
	Fdm__Packet *pk;
	int from;

	if (!h->up || (!p->in_socket && (mc->link_down[p->to] || mc->link_down[p->from] ||
					  mc->blocked[p->from][p->to]))) {
		mc->dropped++;
		return;
	}
	if (fdm_wire_decode(p->bytes, p->len, "unit", &mc->key, &pk) != FDM_DROP_NONE) {
		mc->dropped++;
		return;
	}
	from = fdm_config_peer_index(&h->cfg, pk->sender);
	if (from < 0 || (!mc->no_replay_filter &&
			 !fdm_replay_accept(&h->replay[from], pk->incarnation, pk->seq))) {
		mc->dropped++;
		fdm__packet__free_unpacked(pk, NULL);
		return;
	}
	mc->delivered++;
	if (mc->on_deliver != NULL)
		mc->on_deliver(mc, (size_t)p->to, from, pk);
	switch (fdm_core_packet(&h->core, from, pk, mc_clock(mc, (size_t)p->to), &mc->actions)) {
	case FDM_RX_TIMING_MISMATCH:
		h->rx_timing_mismatch++;
		break;
	case FDM_RX_UNCONFIRMED:
		h->rx_unconfirmed++;
		break;
	case FDM_RX_TAKEN:
	case FDM_RX_SHELL:      /* operators' requests: the agent's ha_net.c */
	case FDM_RX_IGNORED:
		break;
	}
	fdm__packet__free_unpacked(pk, NULL);
	mc_execute(mc, (size_t)p->to);
}

bool mc_replay_captured(struct minicluster *mc, size_t from, size_t to)
{
	struct mc_packet p = { (int)from, (int)to, mc->now, 0, NULL, false };

	if (mc->hosts[from].last_to[to] == NULL)
		return false;
	p.len = mc->hosts[from].last_to_len[to];
	p.bytes = mc->hosts[from].last_to[to];
	deliver(mc, &p);
	return true;
}

static void deliver_due(struct minicluster *mc)
{
	size_t keep = 0;
	size_t n = mc->queued;

	/* Deliveries may enqueue more: handle only what was due at entry. */
	for (size_t i = 0; i < n; i++) {
		struct mc_packet p = mc->queue[i];

		if (p.deliver_at <= mc->now && !mc->hosts[p.to].paused) {
			deliver(mc, &p);
			free(p.bytes);
			continue;
		}
		/* Arrived at a paused agent's socket: its links may fail before it
		 * resumes, it reads the datagram all the same (SIGSTOP). */
		if (p.deliver_at <= mc->now && !p.in_socket && !mc->link_down[p.to] &&
		    !mc->link_down[p.from] && !mc->blocked[p.from][p.to])
			p.in_socket = true;
		mc->queue[keep++] = p;
	}
	if (mc->queued > n)
		memmove(&mc->queue[keep], &mc->queue[n], (mc->queued - n) * sizeof(*mc->queue));
	mc->queued = keep + (mc->queued - n);
}

void mc_force_election(struct minicluster *mc, size_t i, bool lose_messages)
{
	fdm_core_force_election(&mc->hosts[i].core, mc_clock(mc, i), &mc->actions);
	if (lose_messages)
		mc->actions.n = 0;
	mc_execute(mc, i);
}

void mc_leave(struct minicluster *mc, size_t i)
{
	uint64_t give_up = mc->now + 2 * mc->timing.io_timeout_ms + 500;

	fdm_core_leave(&mc->hosts[i].core, mc_clock(mc, i), &mc->actions);
	mc_execute(mc, i);
	/* Like the agent: exit once the leases are released, or give up. */
	while (!fdm_core_released(&mc->hosts[i].core) && mc->now < give_up)
		mc_run(mc, MC_STEP_MS);
	mc->hosts[i].up = false;
}

void mc_reload(struct minicluster *mc, size_t i)
{
	struct mc_host *h = &mc->hosts[i];

	fdm_core_reconfigure(&h->core, &h->cfg, &h->timing, mc_clock(mc, i), &mc->actions);
	mc_execute(mc, i);
}

void mc_set_datastores(struct minicluster *mc, size_t i, unsigned count)
{
	mc->hosts[i].ds_mask = (1u << count) - 1;
}

void mc_start(struct minicluster *mc, size_t i)
{
	struct mc_host *h = &mc->hosts[i];

	h->incarnation += 1000;
	fdm_core_init(&h->core, &h->cfg, &h->timing, h->incarnation, mc_clock(mc, i));
	memset(h->replay, 0, sizeof(h->replay));   /* a new agent knows nobody */
	h->up = true;
	h->paused = false;
	mc_deadlines_inherit(mc, i);
}

void mc_set_timing(struct minicluster *mc, size_t i, uint32_t heartbeat_ms, uint32_t io_ms)
{
	struct mc_host *h = &mc->hosts[i];
	char err[256];

	if (fdm_timing_derive(heartbeat_ms, io_ms, &h->timing, err, sizeof(err)) < 0) {
		fprintf(stderr, "mc_set_timing: %s\n", err);
		abort();
	}
	h->cfg.heartbeat_interval_ms = heartbeat_ms;
	h->cfg.io_timeout_ms = io_ms;
	mc_start(mc, i);
}

void mc_pause(struct minicluster *mc, size_t i)
{
	mc->hosts[i].paused = true;
}

void mc_resume(struct minicluster *mc, size_t i)
{
	mc->hosts[i].paused = false;
}


void mc_kill(struct minicluster *mc, size_t i)
{
	size_t keep = 0;

	mc->hosts[i].up = false;
	/* The whole host: its VMs die with it, and so do its shim's power-ons and
	 * the deadlines it held (in /run, and for VMs that no longer run). */
	mc->hosts[i].n_vms = 0;
	mc->hosts[i].n_deadlines = 0;
	for (size_t k = 0; k < mc->n_power_ons; k++)
		if (mc->power_ons[k].host != i)
			mc->power_ons[keep++] = mc->power_ons[k];
	mc->n_power_ons = keep;
}

void mc_agent_kill(struct minicluster *mc, size_t i)
{
	/* kill -9 of the agent alone: its shim and VMs keep running. */
	mc->hosts[i].up = false;
}

struct minicluster *mc_new(const char *const *ids, const unsigned *ds_counts, size_t n,
			   uint32_t seed)
{
	struct minicluster *mc = calloc(1, sizeof(*mc));
	char err[256];

	mc->n = n;
	mc->rng = seed ? seed : 1;
	fdm_timing_derive(1000, 2000, &mc->timing, err, sizeof(err));
	memset(mc->key.bytes, 0x5a, 32);
	mc->key.len = 32;
	mc->now = MC_EPOCH;
	mc->power_on_ms = 500;
	for (size_t i = 0; i < n; i++) {
		make_config(mc, i, ids, &mc->hosts[i].cfg);
		mc->hosts[i].timing = mc->timing;
		mc->hosts[i].storage_ms = MC_STORAGE_MS;
		mc->hosts[i].ds_mask = (1u << ds_counts[i]) - 1;
		mc->hosts[i].incarnation = 1000 * (i + 1);
	}
	for (size_t i = 0; i < n; i++)
		mc_start(mc, i);
	return mc;
}

void mc_free(struct minicluster *mc)
{
	for (size_t h = 0; h < mc->n; h++)
		for (size_t t = 0; t < MC_MAX_HOSTS; t++)
			free(mc->hosts[h].last_to[t]);
	for (size_t i = 0; i < mc->queued; i++)
		free(mc->queue[i].bytes);
	free(mc->queue);
	mc_storage_free(mc);
	free(mc);
}

/* The shell's isolation probe (fdm/isolation_probe.c), one round per period:
 * the echo goes out when the round begins and, link up and address up, its
 * reply is reported at once; a round without one is reported silent at its end. */
static void probe_isolation(struct minicluster *mc, size_t i)
{
	struct mc_host *h = &mc->hosts[i];
	uint64_t now = mc_clock(mc, i);

	if (now < h->iso_next_ms)
		return;
	if (h->iso_in_round && !h->iso_answered)
		fdm_core_isolation_probe(&h->core, false, h->iso_round_ms, now, &mc->actions);
	h->iso_in_round = true;
	h->iso_round_ms = now;
	h->iso_next_ms = now + h->core.timing.isolation_probe_ms;
	h->iso_answered = !h->iso_down && !mc->link_down[i];
	if (h->iso_answered)
		fdm_core_isolation_probe(&h->core, true, now, now, &mc->actions);
	mc_execute(mc, i);
}

void mc_run(struct minicluster *mc, uint64_t ms)
{
	uint64_t end = mc->now + ms;

	while (mc->now < end) {
		mc->now += MC_STEP_MS;
		deliver_due(mc);
		mc_storage_finish_due(mc);
		mc_vms_step(mc);
		for (size_t i = 0; i < mc->n; i++) {
			if (!mc->hosts[i].up || mc->hosts[i].paused)
				continue;
			probe_isolation(mc, i);
			fdm_core_tick(&mc->hosts[i].core, mc_clock(mc, i), &mc->actions);
			mc_execute(mc, i);
		}
		/* The shims after their agents: a live agent powers off first, the
		 * shim is the backstop for a dead or paused one. */
		mc_deadlines_step(mc);
		for (int d = 0; d < 3; d++)
			if (mc_lease_actor(mc, d) == -2)
				mc->lease_violations++;
		if (mc->on_step != NULL)
			mc->on_step(mc);
	}
}

int mc_index(const struct minicluster *mc, const char *id)
{
	for (size_t i = 0; i < mc->n; i++)
		if (strcmp(mc->hosts[i].cfg.host_id, id) == 0)
			return (int)i;
	return -1;
}

size_t mc_count_masters(const struct minicluster *mc)
{
	size_t n = 0;

	for (size_t i = 0; i < mc->n; i++)
		if (mc->hosts[i].up && mc->hosts[i].core.role == FDM_ROLE_MASTER)
			n++;
	return n;
}

int mc_agreed_master(const struct minicluster *mc)
{
	int master = -1;

	for (size_t i = 0; i < mc->n; i++) {
		const struct fdm_core *c = &mc->hosts[i].core;

		if (!mc->hosts[i].up)
			continue;
		if (c->master < 0 || (master >= 0 && c->master != master))
			return -1;
		master = c->master;
	}
	if (master < 0 || !mc->hosts[master].up)
		return -1;
	for (size_t i = 0; i < mc->n; i++) {
		enum fdm_role want = (int)i == master ? FDM_ROLE_MASTER : FDM_ROLE_SLAVE;
		if (mc->hosts[i].up && mc->hosts[i].core.role != want)
			return -1;
	}
	return master;
}

int mc_run_until_agreed(struct minicluster *mc, uint64_t timeout_ms, uint64_t *took_ms)
{
	uint64_t start = mc->now;
	int m;

	while ((m = mc_agreed_master(mc)) < 0 && mc->now - start < timeout_ms)
		mc_run(mc, MC_STEP_MS);
	if (took_ms != NULL)
		*took_ms = mc->now - start;
	return m;
}

void mc_dump(const struct minicluster *mc)
{
	for (size_t i = 0; i < mc->n; i++) {
		const struct fdm_core *c = &mc->hosts[i].core;
		fprintf(stderr, "  %s: %s role=%s master=%s term=%llu\n", mc->hosts[i].cfg.host_id,
			mc->hosts[i].up ? "up" : "down", fdm_role_name(c->role),
			c->master >= 0 ? c->peers[c->master].id : "-",
			(unsigned long long)c->term);
	}
	for (size_t k = 0; k < 64; k++) {
		const char *line = mc->log[(mc->log_next + k) % 64];
		if (line[0])
			fprintf(stderr, "  | %s\n", line);
	}
}
