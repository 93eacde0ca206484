/* fdm-sim: command line. Runs a batch of seeds in one mode, reports every
 * violation with its seed and the shortest schedule found that still breaks
 * (events after the violation cut, then each event dropped in turn while the
 * run still fails), and the throughput. See tests/sim/README.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/sim/sim.h"

struct opts {
	int mode;
	uint64_t first, seeds;
	size_t hosts, vms;
	bool trace, shrink, expect_violation, quiet;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: fdm-sim [--mode M] [--seeds N] [--first S] [--seed S] [--hosts H]\n"
		"               [--vms V] [--trace] [--no-shrink] [--expect-violation] [--quiet]\n"
		"modes: chaos stormy lossy blip crash race handover lateio mds stale netout\n"
		"       isomaster isoslave cutkill fencing\n");
	exit(2);
}

static uint64_t num(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (*s == '\0' || *end != '\0')
		usage();
	return v;
}

static void parse(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mode = MODE_CHAOS;
	o->first = 1;
	o->seeds = 100;
	o->hosts = 4;
	o->vms = 8;
	o->shrink = true;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--trace") == 0) {
			o->trace = true;
			continue;
		}
		if (strcmp(a, "--no-shrink") == 0) {
			o->shrink = false;
			continue;
		}
		if (strcmp(a, "--expect-violation") == 0) {
			o->expect_violation = true;
			continue;
		}
		if (strcmp(a, "--quiet") == 0) {
			o->quiet = true;
			continue;
		}
		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--mode") == 0 && (o->mode = sim_mode_parse(v)) < 0)
			usage();
		else if (strcmp(a, "--seeds") == 0)
			o->seeds = num(v);
		else if (strcmp(a, "--first") == 0)
			o->first = num(v);
		else if (strcmp(a, "--seed") == 0) {
			o->first = num(v);
			o->seeds = 1;
		} else if (strcmp(a, "--hosts") == 0)
			o->hosts = num(v);
		else if (strcmp(a, "--vms") == 0)
			o->vms = num(v);
		else if (strcmp(a, "--mode") != 0)
			usage();
	}
	if (o->hosts < 2 || o->hosts > MC_MAX_HOSTS || o->vms < 1 || o->vms > MC_MAX_VMS)
		usage();
}

static double wall_s(void)
{
	struct timespec ts;

	/* Throughput only: nothing of a run depends on it. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t count_on(const struct sim_schedule *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_ev; i++)
		n += s->on[i];
	return n;
}

/* The shortest failing schedule we can find cheaply: cut what comes after the
 * violation (it cannot have caused it), then drop each event in turn, keeping
 * a drop whenever the run still breaks an invariant. */
static void shrink(struct sim_schedule *s, const struct sim_run *first)
{
	struct sim_run r;
	uint64_t cut = first->vio_at - first->t0;

	if (first->vio_at >= first->t0 && first->vio != VIO_NOT_RUNNING &&
	    first->vio != VIO_NO_MASTER) {
		for (size_t i = 0; i < s->n_ev; i++)
			if (s->ev[i].at > cut)
				s->on[i] = false;
		if (sim_run_schedule(s, false, &r))
			for (size_t i = 0; i < s->n_ev; i++)
				s->on[i] = true;
	}
	for (size_t i = 0; i < s->n_ev; i++) {
		if (!s->on[i])
			continue;
		s->on[i] = false;
		if (sim_run_schedule(s, false, &r))
			s->on[i] = true;
	}
}

static void report(const struct opts *o, struct sim_schedule *s, const struct sim_run *r)
{
	struct sim_run again;
	size_t before = count_on(s);

	printf("VIOLATION mode=%s seed=%llu hosts=%zu vms=%zu at %+.2f s: %s: %s\n",
	       sim_mode_name(s->mode), (unsigned long long)s->seed, s->n_hosts, s->n_vms,
	       ((double)r->vio_at - (double)r->t0) / 1000.0, sim_violation_name(r->vio),
	       r->vio_text);
	printf("  replay: fdm-sim --mode %s --seed %llu --hosts %zu --vms %zu --trace\n",
	       sim_mode_name(s->mode), (unsigned long long)s->seed, s->n_hosts, s->n_vms);
	if (!o->shrink || o->quiet)
		return;
	shrink(s, r);
	printf("  shortest schedule found: %zu of %zu events; its trace:\n", count_on(s), before);
	fflush(stdout);
	sim_run_schedule(s, true, &again);
	printf("  end of trace (mode=%s seed=%llu)\n", sim_mode_name(s->mode),
	       (unsigned long long)s->seed);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct sim_schedule *s = malloc(sizeof(*s));
	struct sim_run r;
	struct fdm_timing t;
	char err[256];
	uint64_t failed = 0, ran = 0, live_max = 0, steps = 0, handover_max = 0, shown_max = 0;
	double start, took;

	parse(argc, argv, &o);
	fdm_timing_derive(1000, 2000, &t, err, sizeof(err));
	start = wall_s();
	for (uint64_t seed = o.first; seed < o.first + o.seeds; seed++) {
		sim_schedule_draw(s, (enum sim_mode)o.mode, seed, o.hosts, o.vms, &t);
		ran++;
		if (o.trace && o.seeds == 1) {
			char buf[256];

			printf("schedule mode=%s seed=%llu: %zu events, heal at %.1f s, isolation "
			       "response %s%s%s\n", sim_mode_name(s->mode), (unsigned long long)seed,
			       s->n_ev, (double)s->fault_ms / 1000.0,
			       fdm_isolation_response_name(s->iso_response),
			       s->guests_ignore_shutdown && s->iso_response == FDM_ISO_SHUTDOWN ?
			       " (guests ignore it)" : "", s->no_watchdog ? ", no watchdog" : "");
			for (size_t i = 0; i < s->n_ev; i++) {
				sim_ev_print(s, &s->ev[i], buf, sizeof(buf));
				printf("  %+8.2f %s\n", (double)s->ev[i].at / 1000.0, buf);
			}
		}
		if (sim_run_schedule(s, o.trace, &r)) {
			steps += r.steps;
			if (r.liveness_took > live_max)
				live_max = r.liveness_took;
			if (r.st.handed_after > handover_max)
				handover_max = r.st.handed_after;
			if (r.st.shown_isolated_at &&
			    r.st.shown_isolated_at - r.st.cut_at > shown_max)
				shown_max = r.st.shown_isolated_at - r.st.cut_at;
			continue;
		}
		steps += r.steps;
		failed++;
		report(&o, s, &r);
		fflush(stdout);
		if (o.expect_violation)
			break;
	}
	took = wall_s() - start;
	printf("%s: %llu schedules (seeds %llu..%llu, %zu hosts, %zu vms), %llu violations, "
	       "%.1f s, %.0f schedules/min, %.0f simulated s/s; slowest recovery after heal "
	       "%.1f s\n", sim_mode_name(o.mode), (unsigned long long)ran,
	       (unsigned long long)o.first, (unsigned long long)(o.first + ran - 1), o.hosts, o.vms,
	       (unsigned long long)failed, took, took > 0 ? 60.0 * (double)ran / took : 0.0,
	       took > 0 ? (double)steps * MC_STEP_MS / 1000.0 / took : 0.0,
	       (double)live_max / 1000.0);
	if (o.mode == MODE_MDS)
		printf("mds: slowest hand-over %.1f s (bound %.1f s)\n", (double)handover_max / 1000.0,
		       (double)sim_handover_bound(&t) / 1000.0);
	if (o.mode == MODE_ISOSLAVE)
		printf("isoslave: slowest isolated verdict of the master %.1f s after the cut\n",
		       (double)shown_max / 1000.0);
	free(s);
	if (o.expect_violation)
		return failed ? 0 : 1;
	return failed ? 1 : 0;
}
