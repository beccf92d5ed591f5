/* A sandbox's event log: numbered text lines "SEQ UNIX_MS TYPE k=v..."
 * on a spool, so readers follow it like a pipe. */
#ifndef SBXFS_EVLOG_H
#define SBXFS_EVLOG_H

#include "spool.h"

struct evlog {
	struct spool sp;
	unsigned long long seq;
};

/* Opens or continues the log at path (SEQ goes on from its last line). */
int evlog_open(struct evlog *ev, const char *path);
void evlog_fini(struct evlog *ev);

/* Appends "SEQ MS type" plus the formatted key=value text, if any. */
int evlog_add(struct evlog *ev, const char *type, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
