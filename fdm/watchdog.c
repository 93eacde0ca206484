/* The agent's /dev/watchdog (watchdog.h). The kernel resets the host when it
 * is not petted within its timeout: a VM past its deadline that cannot be
 * killed, a hung kernel, or a dead agent whose VMs' deadlines pass, all end
 * in a reset before any master can restart those VMs elsewhere. */
#include "fdm/watchdog.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/watchdog.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lib/log.h"

/* With no deadline to keep (no protected VM runs here), the longest timeout:
 * a dead agent is restarted by systemd well within it. */
#define WATCHDOG_IDLE_S 60

struct fdm_watchdog {
	int fd;
	uint32_t margin_ms;
	uint32_t timeout_s;           /* as set (0: not yet) */
	bool stopped_logged;
};

uint32_t fdm_watchdog_timeout_s(uint64_t now, uint64_t until, uint32_t margin_ms,
				uint32_t max_s)
{
	uint64_t s;

	if (until == UINT64_MAX)
		return max_s;
	s = until + margin_ms > now ? (until + margin_ms - now) / 1000 : 0;
	if (s < 1)
		s = 1;
	return s > max_s ? max_s : (uint32_t)s;
}

struct fdm_watchdog *fdm_watchdog_open(const char *device, uint32_t margin_ms)
{
	struct fdm_watchdog *w;
	int fd;

	if (device[0] == '\0') {
		fdm_info("watchdog: none configured ([watchdog] device = none): hostd-shim "
			 "alone enforces the deadlines");
		return NULL;
	}
	fd = open(device, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		fdm_warn("watchdog: %s: %s: fdm runs without a watchdog; hostd-shim alone "
			 "enforces the deadlines (a VM that cannot be killed, or a hung "
			 "kernel, is not reset)", device, strerror(errno));
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		close(fd);
		return NULL;
	}
	w->fd = fd;
	w->margin_ms = margin_ms;
	fdm_info("watchdog: %s armed (timeout up to the earliest deadline + %u ms)", device,
		 margin_ms);
	return w;
}

void fdm_watchdog_pet(struct fdm_watchdog *w, uint64_t now, uint64_t until)
{
	uint32_t s;
	int t = 0;                /* WDIOC_KEEPALIVE takes an int it ignores */

	if (w == NULL)
		return;
	if (until == 0) {
		if (!w->stopped_logged)
			fdm_err("watchdog: NOT PETTED: a protected VM still runs past its "
				"deadline; the host resets unless it goes off");
		w->stopped_logged = true;
		return;
	}
	w->stopped_logged = false;
	s = fdm_watchdog_timeout_s(now, until, w->margin_ms, WATCHDOG_IDLE_S);
	if (s != w->timeout_s) {
		t = (int)s;
		if (ioctl(w->fd, WDIOC_SETTIMEOUT, &t) < 0)
			fdm_warn("watchdog: cannot set a %u s timeout: %s", s, strerror(errno));
		w->timeout_s = s;
	}
	if (ioctl(w->fd, WDIOC_KEEPALIVE, &t) < 0 && write(w->fd, "\0", 1) != 1)
		fdm_warn("watchdog: keepalive failed: %s", strerror(errno));
}

void fdm_watchdog_close(struct fdm_watchdog *w)
{
	if (w == NULL)
		return;
	/* The magic close: a clean exit does not reset the host (where the
	 * driver allows it; with nowayout it will, as the operator chose). */
	if (write(w->fd, "V", 1) != 1)
		fdm_warn("watchdog: magic close failed: %s", strerror(errno));
	close(w->fd);
	free(w);
}
