/* One command run in a sandbox: jobs/N/.  Its output is spooled to the
 * sandbox's state folder so it outlives the daemon and never sits in the
 * daemon's memory. */
#ifndef SBXFS_JOB_H
#define SBXFS_JOB_H

#include <stdbool.h>

#include "spool.h"

enum job_state { JOB_STARTING, JOB_RUNNING, JOB_EXITED, JOB_KILLED };

struct job {
	unsigned long n;
	char *cmd;
	enum job_state state;
	int code;		/* JOB_EXITED */
	int sig;		/* JOB_KILLED */
	char why[16];		/* JOB_KILLED: "signal", "timeout", "crash" */
	struct spool out, err;
	/* Stream offsets received from the agent: equal to the spools'
	 * sizes until the output cap, beyond it the bytes are dropped. */
	uint64_t got_out, got_err;
	bool truncated;
	uint64_t acked_out, acked_err;
	bool stdin_closed;
};

/* Makes dir/jobs/N/ with its cmd file and output spools. */
int job_new(const char *sbdir, unsigned long n, const char *cmd,
	    struct job **out);
/* Removes nothing on disk; wakes every reader with EOF.  NULL is ignored. */
void job_free(struct job *j);

/* Output bytes at stream offset off of fd 1 or 2.  What was stored
 * before is skipped; past cap bytes of stdout and stderr together the
 * rest is dropped.  Returns 1 when this call began dropping, 0 when
 * stored, -EAGAIN for a gap (off beyond what was received), -errno. */
int job_output(struct job *j, int fd, uint64_t off, const void *p, size_t n,
	       uint64_t cap);
/* Once truncated, the agent drops output itself (ack "discard") and
 * its exit's totals count bytes never sent: take them as received. */
void job_dropped_to(struct job *j, uint64_t out, uint64_t err);
/* How far stream fd (1 or 2) was received, stored or dropped. */
uint64_t job_received(const struct job *j, int fd);

/* The job is over: readers of stdout/stderr reach end of file. */
void job_end(struct job *j);
/* The one line of jobs/N/status, with its newline. */
int job_status_text(const struct job *j, char *buf, size_t len);

#endif
