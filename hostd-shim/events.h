/* libvirt news on the shim's main loop: lifecycle events, connects, disconnects. */
#ifndef FDM_SHIM_EVENTS_H
#define FDM_SHIM_EVENTS_H

#include "hostd-shim/shim.h"

/* Handle and free one SHIM_MAIL_* mail from virt.c. */
void shim_events_handle(struct shim *s, struct shim_mail *mail);

#endif
