/* The guest agent's jobs: /bin/sh -c children in their own session, their
 * pipes, timeouts, kills and reaping, and the output each keeps until the
 * host acknowledges it.  Knows nothing of frames; agent.c speaks for it. */
#ifndef SBXFS_AGENT_JOBS_H
#define SBXFS_AGENT_JOBS_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "frame.h"

/* Past this many unacknowledged output bytes a job's pipes are not read. */
#define JOB_UNACKED_MAX (4 * 1024 * 1024)
/* How long output may stay open after the leader exited (background
 * children holding the pipes) before the exit is reported anyway. */
#define JOB_LINGER_MS 200

/* One output stream: buf holds the bytes from offset base (all below is
 * acknowledged); sent is how far this connection has been sent. */
struct job_stream {
	int fd;
	struct buf buf;
	uint64_t base, sent;
};

struct job {
	struct job *next;
	int64_t id;
	pid_t pid;

	int in_fd;
	struct buf in;
	bool in_eof;

	struct job_stream out[2];	/* stdout, stderr */

	int64_t deadline_ms;		/* timeout, 0 = none */
	int64_t linger_from_ms;		/* leader exit, less backpressure */
	bool leader_exited, timed_out;
	bool pids_killed;		/* hit its cgroup's pids.max */
	const char *reason;		/* of the kill: "timeout", "oom", "pids" */
	int status;			/* of waitpid */

	bool discard;			/* the host keeps no more output */
	bool over;			/* exit decided, pipes closed */
	bool exit_sent;			/* on this connection */
};

struct job_spec {
	int64_t id;
	const char *cmd, *cwd;
	const char **env;		/* "K=V", NULL-terminated, may be NULL */
	double timeout;			/* seconds, 0 = none */
};

struct job *jobs_first(void);
struct job *jobs_find(int64_t id);
int jobs_count(void);

/* Starts a job; on failure returns -errno and writes a reason to msg. */
int jobs_spawn(const struct job_spec *spec, struct job **job_out,
	       char *msg, size_t msg_size);

int jobs_stdin(struct job *j, const void *data, size_t n, bool eof);
int jobs_kill(struct job *j, int sig);
void jobs_ack(struct job *j, uint64_t out, uint64_t err);
/* From now on the job's output is read and dropped, offsets counting
 * on, so a job past the host's output cap is not held up. */
void jobs_discard(struct job *j);
void jobs_forget(struct job *j);

uint64_t jobs_unacked(const struct job *j);

/* Adds the job fds to poll on; ctx[i] says which job and fd each is. */
struct jobs_pollctx {
	struct job *job;
	int which;	/* 0 stdin, 1 stdout, 2 stderr */
};
int jobs_pollfds(struct pollfd *fds, struct jobs_pollctx *ctx, int max);
void jobs_handle(const struct pollfd *fd, const struct jobs_pollctx *ctx);

/* Reaps every child that has exited, jobs or orphans. */
void jobs_reap(void);
/* Kills the jobs whose cgroup refused a fork (a fork bomb, most likely). */
void jobs_check_pids(void);

/* Fires timeouts and ends jobs whose output is done; returns the poll
 * timeout in ms until the next timer, or -1 for none. */
int jobs_tick(void);

#endif
