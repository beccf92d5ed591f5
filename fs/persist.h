/* A sandbox's record on disk (state.json in its folder), so a daemon that
 * died leaves everything a new one needs to show the same tree: name,
 * shape, image, state, timers and jobs.  Output and events are files of
 * their own and need no copy here. */
#ifndef SBXFS_PERSIST_H
#define SBXFS_PERSIST_H

#include <jansson.h>

struct sandbox;

/* Writes state.json so that a crash at any point leaves either the old
 * or the new record whole: temporary file, fsync, rename. */
int persist_save(const struct sandbox *sb);

/* Reads dir/state.json into *sb, which the caller zeroed; jobs come back
 * as records in the returned array (the caller opens their spools).
 * -ENOENT when there is no record, -EINVAL when it cannot be read. */
int persist_load(const char *dir, struct sandbox *sb, char *shape,
		 size_t shapelen, json_t **jobs_out);

#endif
