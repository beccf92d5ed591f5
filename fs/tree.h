/* The shape of the tree: which files exist, their inode numbers, modes
 * and sizes.  An inode number encodes (sandbox id, job, file), so no
 * inode table is kept and a number never points at a newer sandbox. */
#ifndef SBXFS_TREE_H
#define SBXFS_TREE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

enum node_kind {
	N_NONE,
	/* the root and its files */
	N_ROOT, N_ROOT_CTL, N_ROOT_STATUS, N_ROOT_SHAPES, N_ROOT_IMAGES,
	N_NETWORKS,
	/* in a sandbox */
	N_SB, N_CTL, N_STATUS, N_STATUS_JSON, N_EVENTS, N_EGRESS, N_QUOTA,
	N_CONSOLE, N_JOBS,
	/* in jobs/N */
	N_JOB, N_JOB_CMD, N_JOB_STDIN, N_JOB_STDOUT, N_JOB_STDERR,
	N_JOB_STATUS, N_JOB_CTL,
};

struct node {
	enum node_kind kind;
	unsigned long sb;	/* sandbox id, 0 for root nodes */
	unsigned long job;	/* job number, 0 outside jobs/N */
};

uint64_t node_ino(const struct node *n);
/* Decodes without checking that the sandbox or job still exists. */
struct node node_of_ino(uint64_t ino);

bool node_is_dir(enum node_kind k);
/* Permission bits of the node, e.g. 0444 for status. */
mode_t node_mode(enum node_kind k);
bool node_writable(enum node_kind k);
/* Files that grow and block readers at their end. */
bool node_is_stream(enum node_kind k);

/* The fixed children of a directory kind, for lookup and readdir. */
struct child {
	const char *name;
	enum node_kind kind;
};
const struct child *node_children(enum node_kind dir, unsigned *n_out);

#endif
