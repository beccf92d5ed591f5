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
	uint64_t acked_out, acked_err;
	bool stdin_closed;
};

/* Makes dir/jobs/N/ with its cmd file and output spools. */
int job_new(const char *sbdir, unsigned long n, const char *cmd,
	    struct job **out);
/* Removes nothing on disk; wakes every reader with EOF.  NULL is ignored. */
void job_free(struct job *j);

/* The job is over: readers of stdout/stderr reach end of file. */
void job_end(struct job *j);
/* The one line of jobs/N/status, with its newline. */
int job_status_text(const struct job *j, char *buf, size_t len);

#endif
