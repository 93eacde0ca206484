/* `fdmctl datastore ...`: datastore commands that need no agent (INTERFACE.md). */
#ifndef FDM_FDMCTL_DATASTORE_H
#define FDM_FDMCTL_DATASTORE_H

#include <stdbool.h>

/* argv[0] is "datastore". config: the global --config (NULL: none given).
 * Returns the exit status (0 done, 1 failed or refused, 2 usage or config). */
int fdmctl_datastore(int argc, char **argv, const char *config, bool json);

#endif
