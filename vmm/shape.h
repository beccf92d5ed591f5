/* The fixed sandbox shapes: vCPUs and guest memory. */
#ifndef SBXFS_SHAPE_H
#define SBXFS_SHAPE_H

struct shape {
	const char *name;
	unsigned vcpus;
	unsigned mem_mib;
};

extern const struct shape shapes[];
extern const unsigned nshapes;

/* NULL when there is no shape of that name. */
const struct shape *shape_find(const char *name);

#endif
