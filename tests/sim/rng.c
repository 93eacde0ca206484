/* The simulator's randomness: splitmix64 streams, each seeded from the run's
 * seed, so that a seed names one run exactly. */
#include "tests/sim/sim.h"

uint64_t sim_rand(struct sim_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t sim_between(struct sim_rng *r, uint64_t lo, uint64_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + sim_rand(r) % (hi - lo + 1);
}

bool sim_chance(struct sim_rng *r, unsigned pct)
{
	return sim_rand(r) % 100 < pct;
}
