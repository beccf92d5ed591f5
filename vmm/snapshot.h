/* Moving a VM's state to and from a file over QMP migration: saving a
 * template (device state only, RAM stays in its shared file), saving a
 * paused sandbox for fork or suspend (all of RAM), and loading either
 * into a QEMU started with -incoming defer.  Completion arrives as QMP
 * MIGRATION events, which the owner of the qmp client watches. */
#ifndef SBXFS_SNAPSHOT_H
#define SBXFS_SNAPSHOT_H

#include "qmp.h"

/* fn gets err set when QEMU refused a step; the MIGRATION event with
 * status "completed" or "failed" says the rest. */
int snapshot_save(struct qmp *q, const char *path, qmp_reply_fn fn,
		  void *data);
int snapshot_load(struct qmp *q, const char *path, qmp_reply_fn fn,
		  void *data);

#endif
