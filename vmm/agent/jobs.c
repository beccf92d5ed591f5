/* Job lifecycle inside the guest: fork /bin/sh -c into a new session, feed
 * its stdin, collect stdout/stderr until the host acknowledges them, apply
 * timeouts, reap every child (we are PID 1, orphans land here too), and
 * decide when a job is over.  The wire format is agent.c's business. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "jobcg.h"
#include "jobs.h"
#include "util.h"

/* Output buffers that drained and grew past this are given back. */
#define JOB_BUF_KEEP (1024 * 1024)

static const char *const default_env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"TERM=dumb",
};

static struct job *jobs;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct job *jobs_first(void)
{
	return jobs;
}

struct job *jobs_find(int64_t id)
{
	for (struct job *j = jobs; j; j = j->next)
		if (j->id == id)
			return j;
	return NULL;
}

int jobs_count(void)
{
	int n = 0;

	for (struct job *j = jobs; j; j = j->next)
		n++;
	return n;
}

uint64_t jobs_unacked(const struct job *j)
{
	return buf_used(&j->out[0].buf) + buf_used(&j->out[1].buf);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void close_stdin(struct job *j)
{
	close_fd(&j->in_fd);
	buf_free(&j->in);
}

static void job_free(struct job *j)
{
	close_stdin(j);
	for (int i = 0; i < 2; i++) {
		close_fd(&j->out[i].fd);
		buf_free(&j->out[i].buf);
	}
	free(j);
}

void jobs_forget(struct job *j)
{
	struct job **pp = &jobs;

	while (*pp && *pp != j)
		pp = &(*pp)->next;
	if (*pp)
		*pp = j->next;
	job_free(j);
	/* A job's megabytes of output would otherwise stay with PID 1. */
	malloc_trim(0);
}

/* Defaults first; an entry of the caller's with the same key replaces
 * the default rather than standing beside it. */
static const char **env_build(const char **extra)
{
	size_t n_extra = 0, n = 0;
	const char **envp;

	while (extra && extra[n_extra])
		n_extra++;
	envp = calloc(ARRAY_SIZE(default_env) + n_extra + 1, sizeof(*envp));
	if (!envp)
		return NULL;

	for (size_t i = 0; i < ARRAY_SIZE(default_env); i++)
		envp[n++] = default_env[i];
	for (size_t i = 0; i < n_extra; i++) {
		const char *eq = strchr(extra[i], '=');
		size_t k;

		if (!eq || eq == extra[i])
			continue;
		for (k = 0; k < n; k++)
			if (!strncmp(envp[k], extra[i], eq - extra[i] + 1))
				break;
		envp[k] = extra[i];
		if (k == n)
			n++;
	}
	return envp;
}

/* What the child tells the parent through the error pipe when it fails
 * before exec: the step and its errno. */
struct child_err {
	int step;	/* 0 chdir, 1 exec, 2 setup, 3 cgroup */
	int err;
};

static __attribute__((noreturn)) void child_fail(int fd, int step)
{
	struct child_err ce = { step, errno };

	if (write(fd, &ce, sizeof(ce)) < 0)
		_exit(126);
	_exit(127);
}

/* Runs in the child between fork and exec: async-signal-safe calls only. */
static __attribute__((noreturn)) void child_exec(const int fds[3], int errfd,
						 int cgfd, const char *cwd,
						 const char *cmd,
						 const char **envp)
{
	char *const argv[] = { "sh", "-c", (char *)cmd, NULL };
	sigset_t none;
	int fd;

	/* The agent blocks SIGCHLD and ignores SIGPIPE; both survive exec
	 * and would surprise every shell pipeline. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);

	if (setsid() < 0)
		child_fail(errfd, 2);
	/* Into the job's cgroup before exec, so nothing the job runs is
	 * ever charged to the agent's. */
	if (cgfd >= 0 && write(cgfd, "0", 1) < 0)
		child_fail(errfd, 3);
	for (int i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0)
			child_fail(errfd, 2);

	/* The agent is shielded from the OOM killer; its jobs must not be. */
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "0", 1) < 0)
			child_fail(errfd, 2);
		close(fd);
	}

	if (chdir(cwd) < 0)
		child_fail(errfd, 0);
	execve("/bin/sh", argv, (char *const *)envp);
	child_fail(errfd, 1);
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Waits for exec (the pipe closes) or the child's report of failure. */
static int wait_exec(pid_t pid, int errfd, const char *cwd, char *msg,
		     size_t msg_size)
{
	static const char *const steps[] = { "chdir", "exec /bin/sh", "setup",
					     "join cgroup" };
	struct child_err ce;
	ssize_t n;

	do
		n = read(errfd, &ce, sizeof(ce));
	while (n < 0 && errno == EINTR);
	if (n != sizeof(ce))
		return 0;

	waitpid(pid, NULL, 0);
	if (ce.step == 0)
		snprintf(msg, msg_size, "chdir '%s': %s", cwd, strerror(ce.err));
	else
		snprintf(msg, msg_size, "%s: %s", steps[ce.step % 4],
			 strerror(ce.err));
	return ce.err ? -ce.err : -EIO;
}

static void append_job(struct job *j)
{
	struct job **pp = &jobs;

	while (*pp)
		pp = &(*pp)->next;
	*pp = j;
}

/* pipes[0..2] are stdin, stdout, stderr, [3] the error pipe; the child's
 * ends are closed here, the parent's kept in j. */
static int open_pipes(int pipes[4][2])
{
	for (int i = 0; i < 4; i++)
		if (pipe2(pipes[i], O_CLOEXEC) < 0)
			return -errno;
	return 0;
}

static void close_pipes(int pipes[4][2])
{
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < 2; k++)
			if (pipes[i][k] >= 0)
				close(pipes[i][k]);
}

/* Takes the parent's ends of the pipes into the new job and lists it. */
static void adopt(struct job *j, const struct job_spec *spec, pid_t pid,
		  int pipes[4][2])
{
	j->id = spec->id;
	j->pid = pid;
	j->in_fd = take_fd(&pipes[0][1]);
	j->out[0].fd = take_fd(&pipes[1][0]);
	j->out[1].fd = take_fd(&pipes[2][0]);
	set_nonblock(j->in_fd);
	set_nonblock(j->out[0].fd);
	set_nonblock(j->out[1].fd);
	if (spec->timeout > 0)
		j->deadline_ms = now_ms() + (int64_t)(spec->timeout * 1000);
	append_job(j);
}

int jobs_spawn(const struct job_spec *spec, struct job **job_out,
	       char *msg, size_t msg_size)
{
	int pipes[4][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 }, { -1, -1 } };
	autofree const char **envp = NULL;
	autoclose int cgfd = -1;
	const char *cwd = spec->cwd ? spec->cwd : "/";
	struct job *j;
	pid_t pid;
	int r;

	if (jobs_find(spec->id)) {
		snprintf(msg, msg_size, "job %lld exists", (long long)spec->id);
		return -EEXIST;
	}

	if (jcg_enabled()) {
		cgfd = jcg_create(spec->id);
		if (cgfd < 0) {
			snprintf(msg, msg_size, "cannot make the job's cgroup: %s",
				 strerror(-cgfd));
			return cgfd;
		}
	}
	envp = env_build(spec->env);
	j = calloc(1, sizeof(*j));
	r = envp && j ? open_pipes(pipes) : -ENOMEM;
	if (r < 0)
		goto undo_pipes;

	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto undo_pipes;
	}
	if (pid == 0) {
		const int fds[3] = { pipes[0][0], pipes[1][1], pipes[2][1] };

		child_exec(fds, pipes[3][1], cgfd, cwd, spec->cmd, envp);
	}

	close(take_fd(&pipes[3][1]));
	r = wait_exec(pid, pipes[3][0], cwd, msg, msg_size);
	if (r == 0) {
		adopt(j, spec, pid, pipes);
		*job_out = take_ptr(&j);
	} else {
		jcg_remove(spec->id);
	}
	close_pipes(pipes);
	free(j);
	return r;

undo_pipes:
	snprintf(msg, msg_size, "cannot start: %s", strerror(-r));
	close_pipes(pipes);
	free(j);
	jcg_remove(spec->id);
	return r;
}

static void stdin_flush(struct job *j)
{
	while (buf_used(&j->in)) {
		size_t n = buf_used(&j->in);
		ssize_t w;

		w = write(j->in_fd, buf_data(&j->in),
			  n > FRAME_PAYLOAD_MAX ? FRAME_PAYLOAD_MAX : n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w < 0) {
			/* EPIPE: nobody reads stdin any more; the rest of
			 * what the host sends is dropped. */
			close_stdin(j);
			return;
		}
		buf_consume(&j->in, w);
	}
	if (j->in_eof)
		close_stdin(j);
}

int jobs_stdin(struct job *j, const void *data, size_t n, bool eof)
{
	int r;

	if (j->in_fd < 0)
		return -EPIPE;
	r = buf_append(&j->in, data, n);
	if (r < 0)
		return r;
	j->in_eof |= eof;
	stdin_flush(j);
	return 0;
}

/* SIGKILL goes to the job's cgroup too: what left the process group
 * (setsid, a daemonising child) is still in it. */
int jobs_kill(struct job *j, int sig)
{
	if (j->over)
		return -ESRCH;
	if (sig == SIGKILL)
		jcg_kill(j->id);
	if (kill(-j->pid, sig) < 0 && !(sig == SIGKILL && jcg_enabled()))
		return -errno;
	return 0;
}

void jobs_check_pids(void)
{
	for (struct job *j = jobs; j; j = j->next) {
		if (j->over || j->pids_killed || !jcg_pids_hit(j->id))
			continue;
		j->pids_killed = true;
		jobs_kill(j, SIGKILL);
	}
}

static void ack_stream(struct job_stream *s, uint64_t off)
{
	uint64_t end = s->base + buf_used(&s->buf);

	if (off <= s->base)
		return;
	if (off > end)
		off = end;
	buf_consume(&s->buf, off - s->base);
	s->base = off;
	if (s->sent < off)
		s->sent = off;
	if (!buf_used(&s->buf) && s->buf.cap > JOB_BUF_KEEP)
		buf_free(&s->buf);
}

void jobs_ack(struct job *j, uint64_t out, uint64_t err)
{
	ack_stream(&j->out[0], out);
	ack_stream(&j->out[1], err);
}

void jobs_discard(struct job *j)
{
	j->discard = true;
	for (int i = 0; i < 2; i++) {
		struct job_stream *s = &j->out[i];

		s->base += buf_used(&s->buf);
		s->sent = s->base;
		buf_free(&s->buf);
	}
}

int jobs_pollfds(struct pollfd *fds, struct jobs_pollctx *ctx, int max)
{
	int n = 0;

	for (struct job *j = jobs; j && n + 3 <= max; j = j->next) {
		bool room = jobs_unacked(j) < JOB_UNACKED_MAX;

		if (j->in_fd >= 0 && buf_used(&j->in)) {
			fds[n] = (struct pollfd){ j->in_fd, POLLOUT, 0 };
			ctx[n++] = (struct jobs_pollctx){ j, 0 };
		}
		for (int i = 0; i < 2 && room; i++) {
			if (j->out[i].fd < 0)
				continue;
			fds[n] = (struct pollfd){ j->out[i].fd, POLLIN, 0 };
			ctx[n++] = (struct jobs_pollctx){ j, i + 1 };
		}
	}
	return n;
}

static void stream_read(struct job_stream *s, bool discard)
{
	static uint8_t chunk[FRAME_PAYLOAD_MAX];
	ssize_t n;

	n = read(s->fd, chunk, sizeof(chunk));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0 && discard) {
		s->base += n;
		s->sent = s->base;
		return;
	}
	if (n <= 0 || buf_append(&s->buf, chunk, n) < 0)
		close_fd(&s->fd);
}

void jobs_handle(const struct pollfd *fd, const struct jobs_pollctx *ctx)
{
	struct job *j = ctx->job;

	if (!fd->revents)
		return;
	if (ctx->which == 0)
		stdin_flush(j);
	else if (j->out[ctx->which - 1].fd == fd->fd)
		stream_read(&j->out[ctx->which - 1], j->discard);
}

void jobs_reap(void)
{
	bool reaped = false;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		reaped = true;
		for (struct job *j = jobs; j; j = j->next) {
			if (j->pid != pid || j->leader_exited)
				continue;
			j->leader_exited = true;
			j->status = status;
			j->linger_from_ms = now_ms();
			break;
		}
	}
	/* The last process of a finished job's cgroup may be this one. */
	if (reaped)
		jcg_sweep();
}

/* Why the kernel or we killed the job, read before its cgroup goes. */
static const char *kill_reason(struct job *j)
{
	if (j->timed_out)
		return "timeout";
	if (jcg_oom_killed(j->id))
		return "oom";
	if (j->pids_killed)
		return "pids";
	return NULL;
}

static void finish(struct job *j)
{
	close_fd(&j->out[0].fd);
	close_fd(&j->out[1].fd);
	close_stdin(j);
	j->reason = kill_reason(j);
	jcg_remove(j->id);
	j->over = true;
}

static int min_timeout(int t, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	if (ms > 60000)
		ms = 60000;
	return t < 0 || ms < t ? (int)ms : t;
}

/* After the leader exited: over once both pipes hit EOF, or JOB_LINGER_MS
 * later.  Time spent not reading (backpressure) does not count: what the
 * leader left in the pipes must still be read. */
static int tick_exited(struct job *j, int64_t now, int timeout)
{
	if (j->out[0].fd < 0 && j->out[1].fd < 0) {
		finish(j);
		return timeout;
	}
	if (jobs_unacked(j) >= JOB_UNACKED_MAX) {
		j->linger_from_ms = now;
		return timeout;
	}
	if (now - j->linger_from_ms >= JOB_LINGER_MS) {
		finish(j);
		return timeout;
	}
	return min_timeout(timeout, j->linger_from_ms + JOB_LINGER_MS - now);
}

int jobs_tick(void)
{
	int64_t now = now_ms();
	int timeout = -1;

	for (struct job *j = jobs; j; j = j->next) {
		if (j->over)
			continue;
		if (j->leader_exited) {
			timeout = tick_exited(j, now, timeout);
			continue;
		}
		if (!j->deadline_ms)
			continue;
		if (now < j->deadline_ms) {
			timeout = min_timeout(timeout, j->deadline_ms - now);
			continue;
		}
		jobs_kill(j, SIGKILL);
		j->timed_out = true;
		j->deadline_ms = 0;
	}
	return timeout;
}
