/* Every timeout of fdm, derived from heartbeat_interval (H) and io_timeout (IO),
 * each with its reason, and the inequalities of DESIGN.md's safety argument that a
 * config must not break. The model in shared/model uses H = 1 s, IO = 2 s. */
#include "lib/timing.h"

#include <string.h>

static int broken(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s", what);
	return -1;
}

int fdm_timing_derive(uint32_t hb, uint32_t io, struct fdm_timing *t,
		      char *err, size_t errlen)
{
	memset(t, 0, sizeof(*t));
	t->heartbeat_interval_ms = hb;
	t->io_timeout_ms = io;

	/* Three lost heartbeats in a row, not one: UDP drops packets. */
	t->master_lost_ms = 3 * hb;
	/* One heartbeat period: a live master answers a bid within it. */
	t->election_window_ms = hb;
	/* Bids are repeated inside the window so one lost packet does not decide it. */
	t->bid_interval_ms = hb / 4 > 50 ? hb / 4 : 50;
	/* A slave that sent a heartbeat within two periods is "heard". */
	t->heard_window_ms = 2 * hb;
	t->host_unreachable_ms = 3 * hb;

	/* Storage: one write per io_timeout, each bounded by io_timeout. */
	t->storage_hb_ms = io;
	t->lease_renew_ms = io;
	/* A lease unchanged for four I/O periods has missed at least three renewals. */
	t->lease_expiry_ms = 4 * io;
	/* After writing our record, wait out any I/O of a contender still in flight
	 * (each bounded by io_timeout) before re-reading: Chockler-Malkhi's delta. */
	t->lease_acquire_wait_ms = 2 * io;
	/* An owner stops acting well before a contender could see the lease expired:
	 * the contender also needs 2 x IO for its own write-wait-read. */
	t->lease_acting_ms = t->lease_expiry_ms - 2 * io;
	/* Dead: no network heartbeat and hb record unchanged this long. */
	t->host_dead_ms = 7 * io;
	/* A power-off issued at the deadline has one I/O period to complete. */
	t->deadline_margin_ms = io;
	t->isolation_probe_ms = hb;
	/* DESIGN.md point 4: isolation_delay >= heard window + one probe + 2 x IO, and
	 * a slave first tries an election (master lost + window). */
	t->isolation_delay_ms = t->heard_window_ms + t->isolation_probe_ms + 2 * io;
	if (t->isolation_delay_ms < t->master_lost_ms + t->election_window_ms)
		t->isolation_delay_ms = t->master_lost_ms + t->election_window_ms;
	t->yield_min_gap_ms = t->host_dead_ms;

	if (t->master_lost_ms + t->election_window_ms >= t->host_dead_ms - t->deadline_margin_ms)
		return broken(err, errlen,
			      "heartbeat_interval_ms too large for io_timeout_ms: a lost master "
			      "(3 x heartbeat + election window) must be replaced before a host "
			      "can be declared dead (host_dead - margin = 6 x io_timeout); "
			      "need 4 x heartbeat_interval_ms < 6 x io_timeout_ms");
	if (t->lease_acting_ms == 0 || t->lease_acting_ms + t->lease_acquire_wait_ms > t->lease_expiry_ms)
		return broken(err, errlen, "lease acting limit must be positive and end 2 x io_timeout "
			      "before the lease expires");
	if (t->host_dead_ms <= t->lease_expiry_ms)
		return broken(err, errlen, "host_dead must be longer than lease_expiry");
	if (t->isolation_delay_ms < t->heard_window_ms + t->isolation_probe_ms + 2 * io)
		return broken(err, errlen, "isolation_delay must cover the heard window, one probe "
			      "and 2 x io_timeout");
	return 0;
}

struct row {
	const char *name;
	uint32_t value;
	const char *why;
};

void fdm_timing_print(const struct fdm_timing *t, FILE *out)
{
	const struct row rows[] = {
		{ "heartbeat_interval_ms", t->heartbeat_interval_ms, "config: network heartbeat period (H)" },
		{ "io_timeout_ms", t->io_timeout_ms, "config: bound on every storage I/O (IO)" },
		{ "master_lost_ms", t->master_lost_ms, "3 x H: slave starts an election" },
		{ "election_window_ms", t->election_window_ms, "H: bids collected before a winner declares" },
		{ "bid_interval_ms", t->bid_interval_ms, "H / 4: bids repeated inside the window" },
		{ "heard_window_ms", t->heard_window_ms, "2 x H: a slave heard within this counts as heard" },
		{ "host_unreachable_ms", t->host_unreachable_ms, "3 x H: master marks a silent slave unreachable" },
		{ "storage_hb_ms", t->storage_hb_ms, "IO: hb and poweron records written" },
		{ "lease_renew_ms", t->lease_renew_ms, "IO: lease read-check-rewrite" },
		{ "lease_expiry_ms", t->lease_expiry_ms, "4 x IO: lease unchanged this long may be taken" },
		{ "lease_acquire_wait_ms", t->lease_acquire_wait_ms, "2 x IO: write, wait, re-read" },
		{ "lease_acting_ms", t->lease_acting_ms, "expiry - 2 x IO: owner stops acting after last write" },
		{ "host_dead_ms", t->host_dead_ms, "7 x IO: no network hb and hb record unchanged" },
		{ "deadline_margin_ms", t->deadline_margin_ms, "IO: VMs stop this long before a restart may start" },
		{ "isolation_probe_ms", t->isolation_probe_ms, "H: one probe of the isolation addresses" },
		{ "isolation_delay_ms", t->isolation_delay_ms, "max(2H + H + 2 x IO, 3H + H): declare isolation" },
		{ "yield_min_gap_ms", t->yield_min_gap_ms, "host_dead: a master yields at most once per this" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		fprintf(out, "%-22s %7u  %s\n", rows[i].name, rows[i].value, rows[i].why);
	fprintf(out, "\nchecked:\n");
	fprintf(out, "  master_lost + election_window (%u) < host_dead - margin (%u)\n",
		t->master_lost_ms + t->election_window_ms, t->host_dead_ms - t->deadline_margin_ms);
	fprintf(out, "  lease_acting + acquire_wait (%u) <= lease_expiry (%u)\n",
		t->lease_acting_ms + t->lease_acquire_wait_ms, t->lease_expiry_ms);
	fprintf(out, "  host_dead (%u) > lease_expiry (%u)\n", t->host_dead_ms, t->lease_expiry_ms);
	fprintf(out, "  isolation_delay (%u) >= heard_window + probe + 2 x IO (%u)\n",
		t->isolation_delay_ms,
		t->heard_window_ms + t->isolation_probe_ms + 2 * t->io_timeout_ms);
}
