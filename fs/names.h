/* What a name may look like: sandbox and network names, image names.
 * The kernel passes names of any length up to 255 bytes and more, so every
 * name from the tree is checked here before it is used for anything. */
#ifndef SBXFS_NAMES_H
#define SBXFS_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define NAME_MAX_LEN 63

/* [a-z0-9][a-z0-9_.-]{0,62} */
bool name_valid(const char *s);

/* NAME:VERSION, both [a-z0-9][a-z0-9_.-]*, e.g. "base:1", at most 63 bytes. */
bool image_name_valid(const char *s);

/* Copies in to out with control bytes and backslashes written as \xNN,
 * so text from a caller (a bad name) cannot break a line-per-key file. */
void text_escape(const char *in, char *out, size_t outlen);

#endif
