/* Median, 99th percentile and maximum of latency samples (lib/stats.h). */
#include "lib/stats.h"

#include <stdlib.h>

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct fdm_stats fdm_stats_of(uint64_t *v, size_t n)
{
	struct fdm_stats s = { 0, 0, 0 };
	size_t p99 = n * 99 / 100;

	if (n == 0)
		return s;
	qsort(v, n, sizeof(v[0]), cmp_u64);
	s.median = v[n / 2];
	s.p99 = v[p99 < n ? p99 : n - 1];
	s.max = v[n - 1];
	return s;
}
