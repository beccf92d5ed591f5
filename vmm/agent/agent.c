/* The guest agent, PID 1 after /init: owns the virtio-serial port to the
 * daemon, decodes its frames and answers them, and sends job output and
 * exits, keeping what is unacknowledged across reconnects.  Job processes
 * themselves are jobs.c's.  Protocol: docs/agent-protocol.md. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>

#include "frame.h"
#include "jobcg.h"
#include "jobs.h"
#include "setup.h"
#include "util.h"

/* Stop encoding output once this much waits to be written to the port;
 * the rest stays in the job buffers until the port drains. */
#define OUTQ_HIGH (256 * 1024)
/* virtio-serial reports POLLHUP for as long as the host is away, so the
 * port cannot be polled then; it is looked at again this often. */
#define RECONNECT_POLL_MS 20

struct agent {
	char path[256];
	int port, sigfd;
	bool connected;
	bool greeted;		/* a hello came on this connection */
	bool desync;		/* after a protocol error, until a hello */
	struct buf in, out;
	size_t out_partial;	/* bytes left of a frame partly written */
};

static struct agent ag = { .port = -1, .sigfd = -1 };

/* "sbxfs.debug" on the kernel command line: log every frame and state
 * change to /run/sbxfs-agent.log, not the console, which is slow enough
 * under TCG to hide the races one would be looking for. */
static FILE *debug;

static void alog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void alog(const char *fmt, ...)
{
	va_list ap;

	fputs("sbxfs-agent: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void dlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void dlog(const char *fmt, ...)
{
	struct timespec ts;
	va_list ap;

	if (!debug)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	fprintf(debug, "%ld.%03ld ", (long)ts.tv_sec, ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	vfprintf(debug, fmt, ap);
	va_end(ap);
	fputc('\n', debug);
	fflush(debug);
}

static void send_msg(json_t *hdr, const void *payload, size_t n)
{
	int r;

	if (!hdr)
		return;
	dlog("send %s%s", json_string_value(json_object_get(hdr, "t")),
	     ag.connected ? "" : " (dropped, no host)");
	if (ag.connected) {
		r = frame_encode(&ag.out, hdr, payload, n);
		if (r < 0)
			alog("cannot encode a frame: %s, dropping it",
			     strerror(-r));
	}
	json_decref(hdr);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Tracks frame boundaries in what was written, so that a new connection
 * can be started on a boundary (see drop_unstarted). */
static void note_written(size_t w)
{
	const uint8_t *p = buf_data(&ag.out);

	while (w) {
		size_t step;

		if (!ag.out_partial)
			ag.out_partial = 4 + get_be32(p);
		step = w < ag.out_partial ? w : ag.out_partial;
		ag.out_partial -= step;
		w -= step;
		p += step;
	}
}

/* Keeps only the rest of the frame already on the wire. */
static void drop_unstarted(void)
{
	ag.out.len = ag.out.off + ag.out_partial;
	if (!ag.out_partial)
		buf_consume(&ag.out, 0);
}

static void port_lost(void)
{
	/* Input is kept: the host may be back already, its hello read or
	 * still queued, and draining would lose it.  A partial frame left
	 * from the old connection makes us look for that hello. */
	ag.desync = buf_used(&ag.in) > 0;
	buf_free(&ag.out);
	ag.out_partial = 0;
	ag.greeted = false;
	ag.connected = false;
	alog("host went away, waiting");
	dlog("host went away, %zu bytes of input kept", buf_used(&ag.in));
}

static void port_flush(void)
{
	while (ag.connected && buf_used(&ag.out)) {
		ssize_t w = write(ag.port, buf_data(&ag.out), buf_used(&ag.out));

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			dlog("write: would block, %zu queued", buf_used(&ag.out));
			return;
		}
		if (w < 0) {
			dlog("write: %s", strerror(errno));
			port_lost();
			return;
		}
		note_written(w);
		buf_consume(&ag.out, w);
	}
}

static json_t *id_json(const struct job *j)
{
	return json_integer(j->id);
}

static void send_ready(void)
{
	json_t *list = json_array();

	for (struct job *j = jobs_first(); j; j = j->next)
		json_array_append_new(list, json_pack("{s:o, s:b}",
						      "id", id_json(j),
						      "running", !j->over));
	send_msg(json_pack("{s:s, s:i, s:o}", "t", "ready", "v", 1,
			   "jobs", list), NULL, 0);
}

static void send_exit(struct job *j)
{
	json_t *h = json_pack("{s:s, s:o, s:I, s:I}", "t", "exit",
			      "id", id_json(j),
			      "out", (json_int_t)j->out[0].sent,
			      "err", (json_int_t)j->out[1].sent);

	if (WIFSIGNALED(j->status))
		json_object_set_new(h, "signal",
				    json_integer(WTERMSIG(j->status)));
	else
		json_object_set_new(h, "code",
				    json_integer(WEXITSTATUS(j->status)));
	if (j->reason)
		json_object_set_new(h, "reason", json_string(j->reason));
	send_msg(h, NULL, 0);
}

/* Queues one frame of whatever the job has not sent on this connection:
 * stdout, then stderr, then the exit.  Returns whether it queued one. */
static bool pump_job(struct job *j)
{
	for (int i = 0; i < 2; i++) {
		struct job_stream *s = &j->out[i];
		uint64_t end = s->base + buf_used(&s->buf);
		size_t n;

		if (s->sent >= end)
			continue;
		n = end - s->sent > FRAME_PAYLOAD_MAX ? FRAME_PAYLOAD_MAX :
							end - s->sent;
		send_msg(json_pack("{s:s, s:o, s:i, s:I}", "t", "out",
				   "id", id_json(j), "fd", i + 1,
				   "off", (json_int_t)s->sent),
			 buf_data(&s->buf) + (s->sent - s->base), n);
		s->sent += n;
		return true;
	}
	if (j->over && !j->exit_sent) {
		send_exit(j);
		j->exit_sent = true;
		return true;
	}
	return false;
}

/* One frame per job per pass, so a chatty job cannot starve the others. */
static void pump(void)
{
	bool more = true;

	/* Until the hello nothing says where the new daemon's stored output
	 * ends; sending before it would leave a gap in what it receives. */
	while (ag.connected && ag.greeted && more && buf_used(&ag.out) < OUTQ_HIGH) {
		more = false;
		for (struct job *j = jobs_first(); j; j = j->next)
			more |= pump_job(j);
	}
}

static int get_id(json_t *h, int64_t *id_out)
{
	json_t *id = json_object_get(h, "id");

	if (!json_is_integer(id))
		return -EINVAL;
	*id_out = json_integer_value(id);
	return 0;
}

static void on_hello(json_t *h, const uint8_t *p, size_t n)
{
	/* Perhaps a new connection we did not see go: whatever was queued
	 * for the old one is sent again from the acknowledged offsets. */
	drop_unstarted();
	for (struct job *j = jobs_first(); j; j = j->next) {
		j->out[0].sent = j->out[0].base;
		j->out[1].sent = j->out[1].base;
		j->exit_sent = false;
	}
	ag.greeted = true;
	send_ready();
}

static void exec_failed(int64_t id, const char *msg)
{
	send_msg(json_pack("{s:s, s:I, s:s}", "t", "exec-failed",
			   "id", (json_int_t)id, "msg", msg), NULL, 0);
}

/* The env array is borrowed from h, which outlives the spawn. */
static int parse_env(json_t *h, const char ***env_out)
{
	json_t *env = json_object_get(h, "env"), *v;
	const char **list;
	size_t i;

	*env_out = NULL;
	if (!env)
		return 0;
	if (!json_is_array(env))
		return -EINVAL;
	list = calloc(json_array_size(env) + 1, sizeof(*list));
	if (!list)
		return -ENOMEM;
	json_array_foreach(env, i, v) {
		if (!json_is_string(v)) {
			free(list);
			return -EINVAL;
		}
		list[i] = json_string_value(v);
	}
	*env_out = list;
	return 0;
}

static void on_exec(json_t *h, const uint8_t *p, size_t n)
{
	json_t *cwd = json_object_get(h, "cwd");
	json_t *timeout = json_object_get(h, "timeout");
	autofree const char **env = NULL;
	struct job_spec spec = { 0 };
	struct job *j;
	char msg[256];

	if (get_id(h, &spec.id) < 0)
		return;
	spec.cmd = json_string_value(json_object_get(h, "cmd"));
	spec.cwd = json_string_value(cwd);
	spec.timeout = json_number_value(timeout);
	if (!spec.cmd || (cwd && !spec.cwd) ||
	    (timeout && !json_is_number(timeout)) || spec.timeout < 0 ||
	    parse_env(h, &env) < 0) {
		exec_failed(spec.id, "malformed exec");
		return;
	}
	spec.env = env;

	if (jobs_spawn(&spec, &j, msg, sizeof(msg)) < 0) {
		exec_failed(spec.id, msg);
		return;
	}
	send_msg(json_pack("{s:s, s:o, s:i}", "t", "started", "id", id_json(j),
			   "pid", (int)j->pid), NULL, 0);
}

static struct job *job_of(json_t *h)
{
	int64_t id;

	if (get_id(h, &id) < 0)
		return NULL;
	return jobs_find(id);
}

static void on_stdin(json_t *h, const uint8_t *p, size_t n)
{
	struct job *j = job_of(h);

	if (j && !j->over)
		jobs_stdin(j, p, n, json_is_true(json_object_get(h, "eof")));
}

static void on_kill(json_t *h, const uint8_t *p, size_t n)
{
	struct job *j = job_of(h);
	json_t *sig = json_object_get(h, "sig");

	if (j && json_is_integer(sig))
		jobs_kill(j, json_integer_value(sig));
}

static void on_ack(json_t *h, const uint8_t *p, size_t n)
{
	struct job *j = job_of(h);
	json_int_t out = json_integer_value(json_object_get(h, "out"));
	json_int_t err = json_integer_value(json_object_get(h, "err"));

	if (!j)
		return;
	jobs_ack(j, out > 0 ? out : 0, err > 0 ? err : 0);
	if (json_is_true(json_object_get(h, "discard")) && !j->discard)
		jobs_discard(j);
	if (json_is_true(json_object_get(h, "exit")) && j->over)
		jobs_forget(j);
}

static void on_ping(json_t *h, const uint8_t *p, size_t n)
{
	json_t *seq = json_object_get(h, "seq");
	long long ooms = jcg_guest_ooms();

	/* Checked once a heartbeat: the OOM killer took something that
	 * was not a job's (a process root moved out of its cgroup). */
	if (ooms)
		send_msg(json_pack("{s:s, s:I}", "t", "oom", "kills",
				   (json_int_t)ooms), NULL, 0);

	send_msg(json_pack("{s:s, s:O?}", "t", "pong", "seq", seq), NULL, 0);
}

static void on_setup(json_t *h, const uint8_t *p, size_t n)
{
	char err[256] = "";
	int r = setup_apply(h, err, sizeof(err));

	if (r < 0)
		send_msg(json_pack("{s:s, s:s}", "t", "setup-failed", "msg", err),
			 NULL, 0);
	else
		send_msg(json_pack("{s:s}", "t", "setup-ok"), NULL, 0);
}

static const struct {
	const char *t;
	void (*fn)(json_t *h, const uint8_t *p, size_t n);
} handlers[] = {
	{ "hello", on_hello },
	{ "exec", on_exec },
	{ "stdin", on_stdin },
	{ "kill", on_kill },
	{ "ack", on_ack },
	{ "ping", on_ping },
	{ "setup", on_setup },
};

static void handle_frame(json_t *h, const uint8_t *p, size_t n)
{
	const char *t = json_string_value(json_object_get(h, "t"));

	dlog("recv %s, %zu bytes", t ? t : "(no type)", n);
	for (size_t i = 0; t && i < ARRAY_SIZE(handlers); i++) {
		if (!strcmp(t, handlers[i].t)) {
			handlers[i].fn(h, p, n);
			return;
		}
	}
}

/* After a protocol error the stream has no known boundary; a hello frame
 * that decodes cleanly is the one place we can trust to start again. */
static void resync(void)
{
	const uint8_t *p = buf_data(&ag.in);
	size_t have = buf_used(&ag.in);

	for (size_t i = 0; i + 6 < have; i++) {
		struct buf view = { (uint8_t *)p, i, have, have };
		uint8_t *payload = NULL;
		json_t *h = NULL;
		size_t n;
		bool hello;

		if (p[i + 6] != '{' || frame_decode(&view, &h, &payload, &n) != 1)
			continue;
		hello = !strcmp(json_string_value(json_object_get(h, "t")) ?: "",
				"hello");
		json_decref(h);
		free(payload);
		if (hello) {
			buf_consume(&ag.in, i);
			ag.desync = false;
			return;
		}
	}
	/* Keep a tail that may be the start of the hello. */
	if (have > FRAME_MAX)
		buf_consume(&ag.in, have - FRAME_MAX);
}

static void process_input(void)
{
	for (;;) {
		uint8_t *payload = NULL;
		json_t *h = NULL;
		size_t n;
		int r;

		if (ag.desync)
			resync();
		if (ag.desync)
			return;

		r = frame_decode(&ag.in, &h, &payload, &n);
		if (r == 0)
			return;
		if (r < 0) {
			alog("protocol error from host: %s, waiting for hello",
			     strerror(-r));
			ag.desync = true;
			buf_consume(&ag.in, 1);
			continue;
		}
		handle_frame(h, payload, n);
		json_decref(h);
		free(payload);
	}
}

static void port_read(void)
{
	static uint8_t chunk[64 * 1024];

	while (ag.connected) {
		ssize_t n = read(ag.port, chunk, sizeof(chunk));

		dlog("read %zd%s", n, n < 0 ? strerror(errno) : "");
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			port_lost();
			return;
		}
		if (buf_append(&ag.in, chunk, n) < 0) {
			alog("out of memory reading the port, waiting for hello");
			buf_free(&ag.in);
			ag.desync = true;
			continue;
		}
		process_input();
	}
}

/* The host is back when the port stops reporting POLLHUP. */
static bool port_check(void)
{
	struct pollfd p = { ag.port, POLLIN, 0 };

	if (poll(&p, 1, 0) == 1 && (p.revents & POLLHUP))
		return false;
	ag.connected = true;
	dlog("host connected, revents %#x", p.revents);
	return true;
}

static int find_port(char *path, size_t size)
{
	glob_t g;
	int r = -ENOENT;

	if (glob("/sys/class/virtio-ports/*/name", 0, NULL, &g) != 0)
		return r;
	for (size_t i = 0; i < g.gl_pathc && r < 0; i++) {
		char name[64] = "", *dir = g.gl_pathv[i], *slash;
		FILE *f = fopen(dir, "re");

		if (!f)
			continue;
		if (fgets(name, sizeof(name), f) && !strcmp(name, "agent\n")) {
			*strrchr(dir, '/') = '\0';
			slash = strrchr(dir, '/');
			snprintf(path, size, "/dev/%s", slash + 1);
			r = 0;
		}
		fclose(f);
	}
	globfree(&g);
	return r;
}

/* Retries for ever: as PID 1 there is nothing better to do than wait
 * for the device, and exiting would panic the guest. */
static void port_open(const char *arg)
{
	for (int tries = 0;; tries++) {
		if (arg)
			snprintf(ag.path, sizeof(ag.path), "%s", arg);
		if (arg || find_port(ag.path, sizeof(ag.path)) == 0) {
			ag.port = open(ag.path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
			if (ag.port >= 0)
				return;
		}
		if (tries % 50 == 0)
			alog("no agent port yet (%s), retrying",
			     arg ? arg : "searching");
		usleep(100 * 1000);
	}
}

static void read_cmdline(void)
{
	char line[4096] = "";
	FILE *f = fopen("/proc/cmdline", "re");

	if (!f)
		return;
	if (fgets(line, sizeof(line), f) && strstr(line, "sbxfs.debug"))
		debug = fopen("/run/sbxfs-agent.log", "ae");
	fclose(f);
}

static void setup_process(void)
{
	sigset_t chld;
	int fd, r;

	/* Children inherit 0-2; a closed one would be reused by a pipe and
	 * then lost to the CLOEXEC flag in dup2(fd, fd). */
	for (int i = 0; i < 3; i++)
		if (fcntl(i, F_GETFD) < 0)
			open("/dev/null", O_RDWR);

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	ag.sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);

	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "-1000", 5) < 0)
			alog("cannot shield the agent from the OOM killer");
		close(fd);
	}
	r = jcg_init();
	if (r < 0)
		alog("job cgroups: %s: jobs run without memory, pids and cpu "
		     "limits", strerror(-r));
}

static void drain_signals(void)
{
	struct signalfd_siginfo si;

	while (read(ag.sigfd, &si, sizeof(si)) == sizeof(si))
		;
	jobs_reap();
}

static struct pollfd *fds;
static struct jobs_pollctx *ctx;
static int fds_cap;

static int grow_pollset(int need)
{
	struct pollfd *f;
	struct jobs_pollctx *c;

	if (need <= fds_cap)
		return 0;
	f = realloc(fds, need * sizeof(*f));
	if (f)
		fds = f;
	c = realloc(ctx, need * sizeof(*c));
	if (c)
		ctx = c;
	if (!f || !c)
		return -ENOMEM;
	fds_cap = need;
	return 0;
}

static void loop_once(void)
{
	int n = 3, timeout, r;

	timeout = jobs_tick();
	if (grow_pollset(3 * jobs_count() + 3) < 0)
		alog("out of memory for the poll set, polling fewer jobs");
	fds[0] = (struct pollfd){ ag.sigfd, POLLIN, 0 };
	fds[1] = (struct pollfd){ ag.connected ? ag.port : -1,
				  POLLIN | (buf_used(&ag.out) ? POLLOUT : 0), 0 };
	fds[2] = (struct pollfd){ jcg_watch_fd(), POLLIN, 0 };
	n += jobs_pollfds(fds + 3, ctx + 3, fds_cap - 3);
	if (!ag.connected && (timeout < 0 || timeout > RECONNECT_POLL_MS))
		timeout = RECONNECT_POLL_MS;

	r = poll(fds, n, timeout);
	if (r < 0 && errno != EINTR)
		alog("poll: %s", strerror(errno));

	if (fds[0].revents)
		drain_signals();
	if (fds[2].revents) {
		jcg_changed();
		jobs_check_pids();
	}
	for (int i = 3; i < n; i++)
		jobs_handle(&fds[i], &ctx[i]);

	if (fds[1].revents)
		dlog("port revents %#x", fds[1].revents);
	/* The POLLHUP is older than the input beside it, which may be the
	 * next host's hello: take the hangup first, then read. */
	if (fds[1].revents & (POLLHUP | POLLERR))
		port_lost();
	if (!ag.connected && port_check())
		alog("host is back");
	/* After the jobs: an ack may free a job whose fds are in the set. */
	if (ag.connected && (fds[1].revents & POLLIN))
		port_read();
	jobs_tick();
	pump();
	port_flush();
}

int main(int argc, char **argv)
{
	read_cmdline();
	setup_process();
	port_open(argc > 1 ? argv[1] : NULL);
	alog("ready on %s", ag.path);

	if (port_check())
		send_ready();
	for (;;)
		loop_once();
}
