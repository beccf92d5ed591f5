/* The FUSE low-level handlers: each resolves its node, does one thing and
 * replies once, now or (for mkdir, exec, blocked reads) later. */
#ifndef SBXFS_OPS_H
#define SBXFS_OPS_H

#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>

struct ops_config {
	const char *version;
	const char *accel;
	const char *images_dir;
};

void ops_init(const struct ops_config *c);
extern const struct fuse_lowlevel_ops sbxfs_ops;

#endif
