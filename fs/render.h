/* The text of generated files (status, status.json, shapes, images,
 * quota, jobs/N/status, jobs/N/cmd), made fresh on each open and stat. */
#ifndef SBXFS_RENDER_H
#define SBXFS_RENDER_H

#include <stddef.h>

#include "tree.h"

struct daemon_info {
	const char *version;
	const char *accel;
	const char *images_dir;
	const char *error;	/* last global error, "" for none */
};

void render_init(const struct daemon_info *info);

/* Sets *text (malloc'd) and *len.  -ENOENT when the sandbox or job is
 * gone, -EINVAL for a node that is not a generated file. */
int render_node(const struct node *n, char **text, size_t *len);

#endif
