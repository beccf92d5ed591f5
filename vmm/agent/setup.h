/* The guest's identity and environment, set by the daemon's "setup"
 * message: hostname, fresh entropy, the wall clock.  A restored or forked
 * guest is a copy of another, so all three must be set anew each time. */
#ifndef SBXFS_AGENT_SETUP_H
#define SBXFS_AGENT_SETUP_H

#include <jansson.h>
#include <stddef.h>

/* Applies every field present in h; returns 0 or -errno with err set. */
int setup_apply(json_t *h, char *err, size_t errlen);

#endif
