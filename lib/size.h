/* Sizes on the command line: "65536", "64K", "256M", "2G" (powers of
 * 1024). */
#ifndef SBXFS_SIZE_H
#define SBXFS_SIZE_H

#include <stdint.h>

/* -EINVAL for anything else, -ERANGE past 2^63. */
int size_parse(const char *s, uint64_t *out);

#endif
