/* Inode numbers: 1..15 for the root's nodes; otherwise
 * (sandbox id << 40) | (job << 8) | kind.  Sandbox ids count up from 1
 * and are never reused while the daemon runs. */
#include "tree.h"
#include "util.h"

uint64_t node_ino(const struct node *n)
{
	if (n->kind <= N_NETWORKS)
		return n->kind == N_ROOT ? 1 : (uint64_t)n->kind;
	return ((uint64_t)n->sb << 40) | ((uint64_t)n->job << 8) | n->kind;
}

struct node node_of_ino(uint64_t ino)
{
	struct node n = { N_NONE, 0, 0 };

	if (ino == 1) {
		n.kind = N_ROOT;
	} else if (ino < 16) {
		if (ino > N_ROOT && ino <= N_NETWORKS)
			n.kind = ino;
	} else {
		n.kind = ino & 0xff;
		n.job = (ino >> 8) & 0xffffffff;
		n.sb = ino >> 40;
		if (n.kind < N_SB || n.kind > N_JOB_CTL ||
		    (n.kind >= N_JOB) != (n.job != 0))
			n.kind = N_NONE;
	}
	return n;
}

bool node_is_dir(enum node_kind k)
{
	return k == N_ROOT || k == N_NETWORKS || k == N_SB || k == N_JOBS ||
	       k == N_JOB;
}

mode_t node_mode(enum node_kind k)
{
	switch (k) {
	case N_ROOT_CTL:
	case N_CTL:
	case N_EGRESS:
		return 0660;
	case N_JOB_STDIN:
	case N_JOB_CTL:
		return 0220;
	default:
		return node_is_dir(k) ? 0755 : 0444;
	}
}

bool node_writable(enum node_kind k)
{
	return node_mode(k) & 0200;
}

bool node_is_stream(enum node_kind k)
{
	return k == N_EVENTS || k == N_JOB_STDOUT || k == N_JOB_STDERR;
}

static const struct child root_children[] = {
	{ "ctl", N_ROOT_CTL },
	{ "status", N_ROOT_STATUS },
	{ "shapes", N_ROOT_SHAPES },
	{ "images", N_ROOT_IMAGES },
	{ "networks", N_NETWORKS },
};

static const struct child sb_children[] = {
	{ "ctl", N_CTL },
	{ "status", N_STATUS },
	{ "status.json", N_STATUS_JSON },
	{ "events", N_EVENTS },
	{ "egress", N_EGRESS },
	{ "quota", N_QUOTA },
	{ "console", N_CONSOLE },
	{ "jobs", N_JOBS },
};

static const struct child job_children[] = {
	{ "cmd", N_JOB_CMD },
	{ "stdin", N_JOB_STDIN },
	{ "stdout", N_JOB_STDOUT },
	{ "stderr", N_JOB_STDERR },
	{ "status", N_JOB_STATUS },
	{ "ctl", N_JOB_CTL },
};

const struct child *node_children(enum node_kind dir, unsigned *n_out)
{
	switch (dir) {
	case N_ROOT:
		*n_out = ARRAY_SIZE(root_children);
		return root_children;
	case N_SB:
		*n_out = ARRAY_SIZE(sb_children);
		return sb_children;
	case N_JOB:
		*n_out = ARRAY_SIZE(job_children);
		return job_children;
	default:
		*n_out = 0;
		return NULL;
	}
}
