/* Who may hold one of the shim's SHIM_MAX_CLIENTS connections (server.c
 * accepts them). A client that starts a request frame must finish it within
 * SHIM_FRAME_TIMEOUT_MS, and when every slot is taken the client silent the
 * longest (not subscribed, no request in flight) is dropped to make room. So
 * idle or byte-a-second local clients cannot lock fdm or the CLI out, while
 * fdm's event stream, subscribed, is never dropped for being quiet. At most
 * SHIM_MAX_SUBSCRIBERS subscribe: a new one drops the oldest, so subscribers
 * cannot take every slot either (fdm's client library reconnects and
 * subscribes again). Times are CLOCK_MONOTONIC ms. */
#include <inttypes.h>
#include <stdio.h>

#include "lib/util.h"
#include "hostd-shim/shim.h"

/* The shim stopped reading c itself (too many requests in flight, or c is
 * closing): an unfinished frame is then not c's fault. */
static bool reading_paused(const struct shim_client *c)
{
	return c->inflight >= SHIM_CLIENT_INFLIGHT || c->eof || c->close_after_flush;
}

/* Make the stall timer fire no later than at_ms. */
static void arm(struct shim *s, uint64_t at_ms)
{
	uint64_t cur;
	int enabled = SD_EVENT_OFF;

	sd_event_source_get_enabled(s->stall_timer, &enabled);
	if (enabled != SD_EVENT_OFF && sd_event_source_get_time(s->stall_timer, &cur) >= 0 &&
	    cur <= at_ms * 1000)
		return;
	sd_event_source_set_time(s->stall_timer, at_ms * 1000);
	sd_event_source_set_enabled(s->stall_timer, SD_EVENT_ONESHOT);
}

void shim_slots_heard(struct shim_client *c)
{
	uint64_t now = fdm_now_mono_ms();

	c->heard_ms = now;
	if (!shim_frame_reader_partial(&c->rd)) {
		c->frame_started_ms = 0;
		return;
	}
	if (c->frame_started_ms == 0) {
		c->frame_started_ms = now;
		arm(c->shim, now + SHIM_FRAME_TIMEOUT_MS);
	}
}

static int on_stall_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct shim *s = userdata;
	struct shim_client *c, *next;
	uint64_t now = fdm_now_mono_ms(), first = UINT64_MAX;
	char why[96];

	(void)src;
	(void)usec;
	for (c = s->clients; c != NULL; c = next) {
		next = c->next;   /* closing c unlinks it */
		if (c->frame_started_ms == 0)
			continue;
		if (reading_paused(c)) {
			c->frame_started_ms = now;   /* its clock runs again once read again */
		} else if (now >= c->frame_started_ms + SHIM_FRAME_TIMEOUT_MS) {
			s->counters[SHIM_C_CLIENTS_DROPPED_STALLED]++;
			snprintf(why, sizeof(why), "a request frame not finished within %" PRIu64
				 " ms", now - c->frame_started_ms);
			shim_client_close(c, why);
			continue;
		}
		if (c->frame_started_ms + SHIM_FRAME_TIMEOUT_MS < first)
			first = c->frame_started_ms + SHIM_FRAME_TIMEOUT_MS;
	}
	if (first != UINT64_MAX)
		arm(s, first);
	return 0;
}

bool shim_slots_make_room(struct shim *s)
{
	struct shim_client *c, *victim = NULL;
	char why[128];

	for (c = s->clients; c != NULL; c = c->next) {
		if (c->subscribed || c->inflight > 0)
			continue;
		if (victim == NULL || c->heard_ms < victim->heard_ms)
			victim = c;
	}
	if (victim == NULL)
		return false;
	s->counters[SHIM_C_CLIENTS_DROPPED_IDLE]++;
	snprintf(why, sizeof(why), "every slot taken: dropped to make room, silent for %" PRIu64
		 " ms", fdm_now_mono_ms() - victim->heard_ms);
	shim_client_close(victim, why);
	return true;
}

void shim_slots_subscribe(struct shim_client *c)
{
	struct shim *s = c->shim;
	struct shim_client *o, *oldest = NULL;
	size_t n = 0;
	char why[128];

	if (c->subscribed)
		return;
	for (o = s->clients; o != NULL; o = o->next) {
		if (!o->subscribed)
			continue;
		n++;
		if (oldest == NULL || o->subscribed_seq < oldest->subscribed_seq)
			oldest = o;
	}
	if (n >= SHIM_MAX_SUBSCRIBERS && oldest != NULL) {
		s->counters[SHIM_C_SUBSCRIBERS_DROPPED]++;
		snprintf(why, sizeof(why), "the oldest of %d subscribers, dropped for client "
			 "%llu's subscription", SHIM_MAX_SUBSCRIBERS, (unsigned long long)c->serial);
		shim_client_close(oldest, why);
	}
	c->subscribed = true;
	c->subscribed_seq = ++s->next_subscription;
}

int shim_slots_init(struct shim *s)
{
	int rc = sd_event_add_time(s->event, &s->stall_timer, CLOCK_MONOTONIC, UINT64_MAX,
				   10 * 1000, on_stall_timer, s);

	if (rc < 0)
		return rc;
	return sd_event_source_set_enabled(s->stall_timer, SD_EVENT_OFF);
}

void shim_slots_free(struct shim *s)
{
	s->stall_timer = sd_event_source_disable_unref(s->stall_timer);
}
