/* sbxfs-agentctl: talks to a guest agent's unix socket directly, without
 * the daemon, to test the agent and to measure it against the FUSE tree.
 * It plays the daemon's part of docs/agent-protocol.md: hello, exec,
 * stdin, ack, and reconnecting in the middle of a job (-r). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "frame.h"
#include "util.h"

/* -r BYTES: reconnect each time that much more output came in, after a
 * pause of -p MS; -e K=V: one environment entry. */
#define EXEC_USAGE "exec [-t SECS] [-C DIR] [-e K=V] [-i ID] [-r BYTES [-p MS]] -- CMD"

struct cjob {
	int64_t id;
	uint64_t got[2];	/* bytes stored (printed) of stdout, stderr */
	struct buf keep[2];	/* par: output kept to print at the end */
	bool keep_output;
	bool started, done, failed;
	int code, sig;
	bool timed_out;
	double t0, t1;
};

struct ctl {
	const char *path;
	int fd;
	struct buf in;
	bool ready;
	struct cjob *jobs;
	int n_jobs;
	uint64_t received, bounce_every, next_bounce;
	int bounces, pause_ms, skipped;
};

static __attribute__((noreturn, format(printf, 1, 2)))
void die(const char *fmt, ...)
{
	va_list ap;

	fputs("sbxfs-agentctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(125);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void write_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			die("write: %s", strerror(errno));
		p = (const uint8_t *)p + w;
		n -= w;
	}
}

static bool verbose;

static void trace(const char *dir, json_t *h, size_t n)
{
	autofree char *s = NULL;

	if (!verbose)
		return;
	s = json_dumps(h, JSON_COMPACT);
	fprintf(stderr, "%.3f %s %s +%zu\n", now_ms() / 1e3, dir, s, n);
}

static void send_msg(struct ctl *c, json_t *h, const void *p, size_t n)
{
	struct buf out = { 0 };

	trace(">", h, n);
	if (frame_encode(&out, h, p, n) < 0)
		die("cannot encode a frame");
	json_decref(h);
	write_all(c->fd, buf_data(&out), buf_used(&out));
	buf_free(&out);
}

/* QEMU's socket exists from its start, but it accepts only one client at a
 * time: keep trying until the deadline. */
static void ctl_connect(struct ctl *c, double deadline)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(c->path) >= sizeof(sa.sun_path))
		die("socket path '%s' is too long", c->path);
	strcpy(sa.sun_path, c->path);
	for (;;) {
		c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0)
			die("socket: %s", strerror(errno));
		if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		if (now_ms() > deadline)
			die("connect '%s': %s", c->path, strerror(errno));
		close(c->fd);
		usleep(10 * 1000);
	}
	buf_free(&c->in);
	c->ready = false;
	send_msg(c, json_pack("{s:s, s:i}", "t", "hello", "v", 1), NULL, 0);
}

static struct cjob *find_job(struct ctl *c, json_t *h)
{
	int64_t id = json_integer_value(json_object_get(h, "id"));

	for (int i = 0; i < c->n_jobs; i++)
		if (c->jobs[i].id == id)
			return &c->jobs[i];
	return NULL;
}

static void ack(struct ctl *c, struct cjob *j, bool exit_seen)
{
	send_msg(c, json_pack("{s:s, s:I, s:I, s:I, s:b}", "t", "ack",
			      "id", (json_int_t)j->id,
			      "out", (json_int_t)j->got[0],
			      "err", (json_int_t)j->got[1], "exit", exit_seen),
		 NULL, 0);
}

/* Stores the part of the payload beyond what we have.  A frame beyond it
 * can come from before the agent saw a reconnect: it is dropped, and the
 * agent sends it again after its ready. */
static void on_out(struct ctl *c, struct cjob *j, json_t *h,
		   const uint8_t *p, size_t n)
{
	int fd = json_integer_value(json_object_get(h, "fd"));
	uint64_t off = json_integer_value(json_object_get(h, "off"));
	uint64_t *got;

	if (fd != 1 && fd != 2)
		die("job %lld: out frame with fd %d", (long long)j->id, fd);
	got = &j->got[fd - 1];
	if (off > *got) {
		c->skipped++;
		return;
	}
	if (off + n <= *got)
		return;

	p += *got - off;
	n -= *got - off;
	if (j->keep_output)
		buf_append(&j->keep[fd - 1], p, n);
	else
		write_all(fd, p, n);
	*got += n;
	c->received += n;
	ack(c, j, false);
}

static void on_exit_msg(struct ctl *c, struct cjob *j, json_t *h)
{
	json_t *sig = json_object_get(h, "signal");
	uint64_t out = json_integer_value(json_object_get(h, "out"));
	uint64_t err = json_integer_value(json_object_get(h, "err"));

	/* An exit ahead of output we lost is not final: it comes again. */
	if (j->done || out != j->got[0] || err != j->got[1])
		return;
	j->done = true;
	j->t1 = now_ms();
	j->code = json_integer_value(json_object_get(h, "code"));
	j->sig = sig ? json_integer_value(sig) : 0;
	j->timed_out = json_object_get(h, "reason") != NULL;
	ack(c, j, true);
}

static void on_frame(struct ctl *c, json_t *h, const uint8_t *p, size_t n)
{
	const char *t = json_string_value(json_object_get(h, "t")) ?: "";
	struct cjob *j = find_job(c, h);

	trace("<", h, n);
	if (!strcmp(t, "ready")) {
		c->ready = true;
		return;
	}
	if (!j)
		return;
	if (!strcmp(t, "started"))
		j->started = true;
	else if (!strcmp(t, "out"))
		on_out(c, j, h, p, n);
	else if (!strcmp(t, "exit"))
		on_exit_msg(c, j, h);
	else if (!strcmp(t, "exec-failed")) {
		fprintf(stderr, "sbxfs-agentctl: job %lld: exec failed: %s\n",
			(long long)j->id,
			json_string_value(json_object_get(h, "msg")) ?: "?");
		j->failed = j->done = true;
	}
}

/* Drops the connection and makes a new one, as a restarting daemon does;
 * frames in flight are lost and the agent must send them again. */
static void bounce(struct ctl *c)
{
	close(c->fd);
	usleep(c->pause_ms * 1000);
	ctl_connect(c, now_ms() + 5000);
	c->bounces++;
	c->next_bounce += c->bounce_every;
}

static void read_frames(struct ctl *c)
{
	uint8_t chunk[65536];
	ssize_t n = read(c->fd, chunk, sizeof(chunk));
	json_t *h;
	uint8_t *p;
	size_t len;
	int r;

	if (n == 0)
		die("agent socket closed");
	if (n < 0)
		die("read: %s", strerror(errno));
	buf_append(&c->in, chunk, n);
	while ((r = frame_decode(&c->in, &h, &p, &len)) == 1) {
		on_frame(c, h, p, len);
		json_decref(h);
		free(p);
		if (c->bounce_every && c->received >= c->next_bounce) {
			bounce(c);
			return;
		}
	}
	if (r < 0)
		die("protocol error from the agent");
}

/* Forwards our stdin to job j, and ends it with eof. */
static bool forward_stdin(struct ctl *c, struct cjob *j)
{
	uint8_t chunk[FRAME_PAYLOAD_MAX];
	ssize_t n = read(0, chunk, sizeof(chunk));

	if (n < 0 && errno == EINTR)
		return true;
	send_msg(c, json_pack("{s:s, s:I, s:b}", "t", "stdin",
			      "id", (json_int_t)j->id, "eof", n <= 0),
		 chunk, n > 0 ? n : 0);
	return n > 0;
}

/* Runs until done() says so, or the deadline passes. */
static void run(struct ctl *c, bool (*done)(struct ctl *c), struct cjob *in_job,
		double deadline)
{
	bool stdin_open = in_job != NULL;

	while (!done(c)) {
		struct pollfd p[2] = { { c->fd, POLLIN, 0 },
				       { stdin_open ? 0 : -1, POLLIN, 0 } };
		int left = deadline - now_ms();

		if (left <= 0)
			die("timed out waiting for the agent");
		if (poll(p, 2, left) < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (p[0].revents)
			read_frames(c);
		if (p[1].revents && c->ready)
			stdin_open = forward_stdin(c, in_job);
	}
}

static bool is_ready(struct ctl *c)
{
	return c->ready;
}

static bool all_done(struct ctl *c)
{
	for (int i = 0; i < c->n_jobs; i++)
		if (!c->jobs[i].done)
			return false;
	return true;
}

struct exec_opts {
	double timeout;
	const char *cwd, *env;
};

static void start_job(struct ctl *c, struct cjob *j, const char *cmd,
		      const struct exec_opts *o)
{
	json_t *h = json_pack("{s:s, s:I, s:s}", "t", "exec",
			      "id", (json_int_t)j->id, "cmd", cmd);

	if (o && o->timeout > 0)
		json_object_set_new(h, "timeout", json_real(o->timeout));
	if (o && o->cwd)
		json_object_set_new(h, "cwd", json_string(o->cwd));
	if (o && o->env)
		json_object_set_new(h, "env", json_pack("[s]", o->env));
	j->t0 = now_ms();
	send_msg(c, h, NULL, 0);
}

static int job_status(const struct cjob *j)
{
	if (j->failed)
		return 127;
	if (j->timed_out)
		fprintf(stderr, "sbxfs-agentctl: job %lld timed out\n",
			(long long)j->id);
	return j->sig ? 128 + j->sig : j->code;
}

static int64_t new_id(void)
{
	return (int64_t)getpid() << 20 | (int64_t)(now_ms()) % (1 << 20);
}

static int cmd_exec(struct ctl *c, int argc, char **argv)
{
	struct cjob job = { .id = new_id() };
	struct exec_opts o = { 0 };
	int opt;

	c->pause_ms = 50;
	while ((opt = getopt(argc, argv, "+t:i:r:p:C:e:")) != -1) {
		switch (opt) {
		case 't': o.timeout = atof(optarg); break;
		case 'i': job.id = atoll(optarg); break;
		case 'r': c->bounce_every = c->next_bounce = atoll(optarg); break;
		case 'p': c->pause_ms = atoi(optarg); break;
		case 'C': o.cwd = optarg; break;
		case 'e': o.env = optarg; break;
		default: return 125;
		}
	}
	if (optind != argc - 1)
		die("usage: " EXEC_USAGE);

	c->jobs = &job;
	c->n_jobs = 1;
	run(c, is_ready, NULL, now_ms() + 60000);
	start_job(c, &job, argv[optind], &o);
	run(c, all_done, &job, now_ms() + 24 * 3600e3);
	if (c->bounces)
		fprintf(stderr, "sbxfs-agentctl: reconnected %d times, "
			"dropped %d frames past a gap\n", c->bounces, c->skipped);
	return job_status(&job);
}

static int cmd_par(struct ctl *c, int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[1]) : 0, worst = 0;
	struct cjob *jobs;
	double t0;

	if (n <= 0 || strcmp(argv[2], "--") || argc != 4)
		die("usage: par N -- CMD   (job k gets I=k in its environment)");
	jobs = calloc(n, sizeof(*jobs));
	c->jobs = jobs;
	c->n_jobs = n;
	run(c, is_ready, NULL, now_ms() + 60000);

	t0 = now_ms();
	for (int i = 0; i < n; i++) {
		char env[32];

		jobs[i].id = new_id() + i;
		jobs[i].keep_output = true;
		snprintf(env, sizeof(env), "I=%d", i);
		start_job(c, &jobs[i], argv[3], &(struct exec_opts){ .env = env });
	}
	run(c, all_done, NULL, now_ms() + 24 * 3600e3);

	for (int i = 0; i < n; i++) {
		struct cjob *j = &jobs[i];
		int st = job_status(j);

		write_all(1, buf_data(&j->keep[0]), buf_used(&j->keep[0]));
		write_all(2, buf_data(&j->keep[1]), buf_used(&j->keep[1]));
		fprintf(stderr, "job %d: status %d, %llu bytes out, %.0f ms\n",
			i, st, (unsigned long long)j->got[0], j->t1 - j->t0);
		worst = st > worst ? st : worst;
	}
	fprintf(stderr, "all %d jobs in %.0f ms\n", n, now_ms() - t0);
	return worst;
}

static int cmd_rtt(struct ctl *c, int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 0;
	double sum = 0, lo = 1e9, hi = 0;
	struct cjob job;

	if (n <= 0)
		die("usage: rtt N");
	run(c, is_ready, NULL, now_ms() + 60000);
	for (int i = 0; i < n; i++) {
		double t;

		job = (struct cjob){ .id = new_id() + i };
		c->jobs = &job;
		c->n_jobs = 1;
		start_job(c, &job, "true", NULL);
		run(c, all_done, NULL, now_ms() + 60000);
		if (job_status(&job) != 0)
			die("'true' failed");
		t = job.t1 - job.t0;
		sum += t;
		lo = t < lo ? t : lo;
		hi = t > hi ? t : hi;
	}
	printf("rtt mean %.2f ms min %.2f max %.2f over %d runs of 'true'\n",
	       sum / n, lo, hi, n);
	return 0;
}

int main(int argc, char **argv)
{
	struct ctl c = { .fd = -1 };
	double wait_s = 60;

	if (argc < 3) {
		fprintf(stderr,
			"usage: sbxfs-agentctl SOCKET " EXEC_USAGE "\n"
			"       sbxfs-agentctl SOCKET par N -- CMD\n"
			"       sbxfs-agentctl SOCKET rtt N\n"
			"       sbxfs-agentctl SOCKET wait-ready [SECS]\n");
		return 125;
	}
	/* SBXFS_AGENTCTL_TRACE=1: every frame each way on stderr. */
	verbose = getenv("SBXFS_AGENTCTL_TRACE") != NULL;
	c.path = argv[1];
	if (!strcmp(argv[2], "wait-ready") && argc > 3)
		wait_s = atof(argv[3]);
	ctl_connect(&c, now_ms() + wait_s * 1000);

	if (!strcmp(argv[2], "exec"))
		return cmd_exec(&c, argc - 2, argv + 2);
	if (!strcmp(argv[2], "par"))
		return cmd_par(&c, argc - 2, argv + 2);
	if (!strcmp(argv[2], "rtt"))
		return cmd_rtt(&c, argc - 2, argv + 2);
	if (!strcmp(argv[2], "wait-ready")) {
		run(&c, is_ready, NULL, now_ms() + wait_s * 1000);
		return 0;
	}
	die("unknown command '%s'", argv[2]);
}
