/* libFuzzer target: the config parser (fdm/config.c over inih) on any file
 * content. It must refuse or accept, never crash, overflow or leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	struct fdm_config *cfg = calloc(1, sizeof(*cfg));
	char err[1024];
	FILE *f;

	snprintf(path, sizeof(path), "/dev/shm/fdm-fuzz-config-%d", (int)getpid());
	f = fopen(path, "w");
	if (f == NULL || cfg == NULL) {
		if (f)
			fclose(f);
		free(cfg);
		return 0;
	}
	fwrite(data, 1, size, f);
	fclose(f);
	fdm_config_load(path, FDM_NEED_AGENT | FDM_NEED_SHIM | FDM_NEED_CONTROL, cfg, err,
			sizeof(err));
	unlink(path);
	free(cfg);
	return 0;
}
