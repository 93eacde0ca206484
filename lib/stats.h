/* Summary of latency samples, for the programs that measure (bench/,
 * tests/datastore/ds-tool): one sort, one definition of median and p99. */
#ifndef FDM_LIB_STATS_H
#define FDM_LIB_STATS_H

#include <stddef.h>
#include <stdint.h>

struct fdm_stats {
	uint64_t median, p99, max;   /* p99: the sample at rank n x 99 / 100 */
};

/* Sorts v (n > 0) in place and summarises it. */
struct fdm_stats fdm_stats_of(uint64_t *v, size_t n);

#endif
