/* The sandbox lifecycle and the host side of the agent protocol.
 * Everything here runs on the loop thread.  A sandbox is freed in one
 * place, finish_destroy(), after its QEMU has been reaped; every callback
 * still waiting on it is answered there. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel.h"
#include "frame.h"
#include "guard.h"
#include "log.h"
#include "loop.h"
#include "names.h"
#include "persist.h"
#include "qemu.h"
#include "qmp.h"
#include "sandbox.h"
#include "sbnet.h"
#include "shape.h"
#include "snapshot.h"
#include "template.h"
#include "tree.h"
#include "util.h"

#define CONNECT_RETRY_MS 50
#define KILL_GRACE_MS 3000

enum wait_kind { W_READY, W_EXEC, W_GONE, W_SUSPEND, W_RESUME, W_STDIN };

/* stdin bytes queued for the agent above which a writer waits, like a
 * writer to a full pipe, and below which it goes on. */
#define STDIN_HIGH (1 << 20)
#define STDIN_LOW (256 << 10)

struct waitcb {
	enum wait_kind kind;
	unsigned long job;
	sb_done_fn done;
	sb_exec_fn exec;
	void *data;
	struct waitcb *next;
};

static struct sb_config cfg;
static struct sandbox *all;
static unsigned long last_id;

static void try_connect(void *data);
static void mark_dirty(struct sandbox *sb);

/* Every change worth an event is worth saving: state.json follows. */
#define sb_event(sb, ...) (mark_dirty(sb), evlog_add(&(sb)->ev, __VA_ARGS__))
static void on_migration(struct sandbox *sb, const char *status);
static void on_vm_gone(struct sandbox *sb, int status);
static void template_failed(struct template *t);
static void finish_destroy(struct sandbox *sb);
static int send_setup(struct sandbox *sb, bool identity);
static void sb_unmake(struct sandbox *sb);
static void on_auto_suspend(void *data);

/* Sandbox folders live apart from the daemon's own (templates/), so no
 * sandbox name can collide with them. */
static char sandboxes_dir[PATH_MAX - 128];

void sandbox_init(const struct sb_config *c)
{
	cfg = *c;
	snprintf(sandboxes_dir, sizeof(sandboxes_dir), "%s/sandboxes",
		 cfg.state_dir);
	if (mkdir(sandboxes_dir, 0700) < 0 && errno != EEXIST)
		log_err("state folder '%s': %s", sandboxes_dir, strerror(errno));
}

static struct loop_timer *flush_timer;

/* Records are written once per turn of the loop, however many changes
 * the turn made. */
static void flush_dirty(void *data)
{
	flush_timer = NULL;
	for (struct sandbox *sb = all; sb; sb = sb->next) {
		int r;

		if (!sb->dirty || sb->destroying)
			continue;
		sb->dirty = false;
		r = persist_save(sb);
		if (r < 0)
			log_err("sandbox '%s': saving state.json: %s", sb->name,
				strerror(-r));
	}
}

static void mark_dirty(struct sandbox *sb)
{
	sb->dirty = true;
	if (!flush_timer)
		flush_timer = loop_timer_add(0, flush_dirty, NULL);
}

struct sandbox *sandbox_find(const char *name)
{
	for (struct sandbox *sb = all; sb; sb = sb->next)
		if (strcmp(sb->name, name) == 0)
			return sb;
	return NULL;
}

struct sandbox *sandbox_by_id(unsigned long id)
{
	for (struct sandbox *sb = all; sb; sb = sb->next)
		if (sb->id == id)
			return sb;
	return NULL;
}

struct sandbox *sandbox_first(void)
{
	return all;
}

unsigned sandbox_count(void)
{
	unsigned n = 0;

	for (struct sandbox *sb = all; sb; sb = sb->next)
		n++;
	return n;
}

const char *sandbox_state_name(enum sb_state s)
{
	static const char *names[] = { "starting", "running", "paused",
				       "stopped", "crashed" };

	return names[s];
}

void sandbox_set_error(struct sandbox *sb, const char *fmt, ...)
{
	char raw[sizeof(sb->error)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	text_escape(raw, sb->error, sizeof(sb->error));
}

/* Whether name may become a new sandbox: well formed, not one of the
 * root's own files, not taken.  Sets msg and returns -errno if not. */
static int name_free(const char *name, char *msg, size_t len)
{
	const struct child *c;
	unsigned n;

	if (!name_valid(name)) {
		snprintf(msg, len, "bad sandbox name \"%.64s\": expected "
			 "[a-z0-9][a-z0-9_.-]{0,62}", name);
		return -EINVAL;
	}
	c = node_children(N_ROOT, &n);
	for (unsigned i = 0; i < n; i++) {
		if (strcmp(c[i].name, name) == 0) {
			snprintf(msg, len, "\"%s\" is a file of the root, not a "
				 "free sandbox name", name);
			return -EEXIST;
		}
	}
	if (sandbox_find(name)) {
		snprintf(msg, len, "sandbox \"%s\" exists", name);
		return -EEXIST;
	}
	return 0;
}

struct job *sandbox_job(struct sandbox *sb, unsigned long n)
{
	return n >= 1 && n <= sb->njobs ? sb->jobs[n - 1] : NULL;
}

uint64_t sandbox_uptime_ms(const struct sandbox *sb)
{
	uint64_t end;

	if (!sb->started_ms)
		return 0;
	if (sb->state == SB_PAUSED)
		end = sb->paused_at;
	else if (sb->ended_ms)
		end = sb->ended_ms;
	else
		end = loop_now_ms();
	return end - sb->started_ms - sb->paused_ms;
}

/* Callbacks */

static int wait_add(struct sandbox *sb, enum wait_kind kind, unsigned long job,
		    sb_done_fn done, sb_exec_fn exec, void *data)
{
	struct waitcb *w = calloc(1, sizeof(*w)), **p;

	if (!w)
		return -ENOMEM;
	*w = (struct waitcb){ .kind = kind, .job = job, .done = done,
			      .exec = exec, .data = data };
	/* Keep them in order: several writers may wait on one sandbox. */
	for (p = &sb->waits; *p; p = &(*p)->next)
		;
	*p = w;
	return 0;
}

/* Answers, in order, the waits that match: those of one kind (and job,
 * for W_EXEC), or with every_kind all but W_GONE. */
static void wait_answer(struct sandbox *sb, bool every_kind,
			enum wait_kind kind, unsigned long job, int err)
{
	struct waitcb **p = &sb->waits, *w;

	while ((w = *p)) {
		bool match = every_kind ? w->kind != W_GONE :
			     w->kind == kind && (kind != W_EXEC || w->job == job);

		if (!match) {
			p = &w->next;
			continue;
		}
		*p = w->next;
		if (w->exec)
			w->exec(w->data, w->job, err);
		else if (w->done)
			w->done(w->data, err);
		free(w);
	}
}

static void wait_fire(struct sandbox *sb, enum wait_kind kind,
		      unsigned long job, int err)
{
	wait_answer(sb, false, kind, job, err);
}

static void wait_fail_all_but_gone(struct sandbox *sb, int err)
{
	wait_answer(sb, true, 0, 0, err);
}

/* The agent channel */

static void ch_sync_mask(struct sandbox *sb)
{
	if (sb->ch_src)
		loop_mod(sb->ch_src, EPOLLIN |
			 (channel_queued(sb->ch) ? EPOLLOUT : 0));
}

static int agent_send(struct sandbox *sb, json_t *hdr, const void *p,
		      size_t n)
{
	int r;

	if (!sb->ch) {
		json_decref(hdr);
		return -ENOTCONN;
	}
	r = channel_send(sb->ch, hdr, p, n);
	ch_sync_mask(sb);
	return r;
}

static void ch_drop(struct sandbox *sb)
{
	/* What they wrote is lost with the queue, as with a broken pipe. */
	wait_fire(sb, W_STDIN, 0, -EPIPE);
	loop_del(sb->ch_src);
	sb->ch_src = NULL;
	channel_close(sb->ch);
	sb->ch = NULL;
}

/* A fresh identity and the right time, before anything runs: a restored
 * or forked guest is a copy of its template, entropy pool and clock too. */
static int send_setup(struct sandbox *sb, bool identity)
{
	uint8_t rnd[64];
	char hex[2 * sizeof(rnd) + 1];
	struct timespec ts;
	json_t *m;

	clock_gettime(CLOCK_REALTIME, &ts);
	m = json_pack("{s:s, s:I}", "t", "setup", "time_ns",
		      (json_int_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
	if (m && identity) {
		if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
			json_decref(m);
			return -EIO;
		}
		for (size_t i = 0; i < sizeof(rnd); i++)
			sprintf(hex + 2 * i, "%02x", rnd[i]);
		json_object_set_new(m, "hostname", json_string(sb->name));
		json_object_set_new(m, "entropy", json_string(hex));
		sbnet_setup(sb, m);
	}
	return agent_send(sb, m, NULL, 0);
}

static void save_template(struct sandbox *sb);

static void on_ready(struct sandbox *sb, json_t *hdr)
{
	if (sb->state == SB_STARTING && sb->phase == PH_TPL_BOOT) {
		save_template(sb);
		return;
	}
	if (sb->state != SB_STARTING || sb->setting_up)
		return;
	sb->setting_up = true;
	if (send_setup(sb, true) < 0)
		log_warn("sandbox '%s': sending setup failed", sb->name);
}

static void on_setup_done(struct sandbox *sb, json_t *hdr, bool ok)
{
	const char *msg = json_string_value(json_object_get(hdr, "msg"));

	if (!sb->setting_up)
		return;
	sb->setting_up = false;
	if (!ok) {
		/* A guest we could not give its own identity is not safe to
		 * hand out: fail the start. */
		log_err("sandbox '%s': guest setup failed: %s", sb->name,
			msg ? msg : "no reason given");
		kill(sb->pid, SIGKILL);
		return;
	}
	loop_timer_del(sb->boot_timer);
	sb->boot_timer = NULL;
	sb->state = SB_RUNNING;
	sb->started_ms = loop_now_ms();
	/* Where it came from, so a script can tell a warm start: every
	 * sandbox is restored; the first of a pair built the template. */
	sb_event(sb, "running", "from=%s%s", sb->from_fork ? "fork" : "template",
		 sb->built_template ? " template=new" : "");
	log_info("sandbox '%s': running (pid %d, from %s)", sb->name,
		 (int)sb->pid, sb->from_fork ? "a fork" : sb->built_template ?
		 "a new template" : "the template");
	wait_fire(sb, W_READY, 0, 0);
}

static void on_started(struct sandbox *sb, struct job *j)
{
	if (j->state != JOB_STARTING)
		return;
	j->state = JOB_RUNNING;
	sb_event(sb, "job-start", "job=%lu", j->n);
	wait_fire(sb, W_EXEC, j->n, 0);
}

static void remove_tree(const char *path);

static void on_exec_failed(struct sandbox *sb, struct job *j, json_t *hdr)
{
	const char *msg = json_string_value(json_object_get(hdr, "msg"));
	char dir[PATH_MAX + 32];
	unsigned long n = j->n;

	sandbox_set_error(sb, "exec: job %lu did not start: %s", n,
			  msg ? msg : "unknown reason");
	job_free(j);
	sb->jobs[n - 1] = NULL;
	if (n == sb->njobs)
		sb->njobs--;
	snprintf(dir, sizeof(dir), "%s/jobs/%lu", sb->dir, n);
	remove_tree(dir);
	wait_fire(sb, W_EXEC, n, -EINVAL);
}

static void on_out(struct sandbox *sb, struct job *j, json_t *hdr,
		   const uint8_t *p, size_t n)
{
	json_int_t fd = json_integer_value(json_object_get(hdr, "fd"));
	json_int_t off = json_integer_value(json_object_get(hdr, "off"));
	int r;

	if (off < 0 || (fd != 1 && fd != 2))
		return;
	/* Bytes below what was received are a resend after a reconnect; a
	 * gap means frames of an unseen reconnect were lost, and the agent
	 * sends the same bytes again after our hello (agent-protocol.md).
	 * Past the output cap the bytes are dropped but still acked. */
	r = job_output(j, fd, off, p, n, guard_job_output_max());
	if (r == -EAGAIN)
		log_debug("sandbox '%s': job %lu: output past a gap, dropped",
			  sb->name, j->n);
	else if (r == 1)
		sb_event(sb, "output-truncated", "job=%lu bytes=%llu",
			  j->n, (unsigned long long)guard_job_output_max());
	else if (r < 0)
		log_err("sandbox '%s': job %lu: spooling output: %s", sb->name,
			j->n, strerror(-r));
}

static void on_exit_frame(struct sandbox *sb, struct job *j, json_t *hdr)
{
	json_t *code = json_object_get(hdr, "code");
	json_t *sig = json_object_get(hdr, "signal");
	const char *reason = json_string_value(json_object_get(hdr, "reason"));

	json_int_t out = json_integer_value(json_object_get(hdr, "out"));
	json_int_t err = json_integer_value(json_object_get(hdr, "err"));

	if (j->state == JOB_STARTING)
		on_started(sb, j);
	if (j->state != JOB_RUNNING)
		goto ack;
	job_dropped_to(j, out, err);
	/* Output still missing comes again, with this exit, after a ready. */
	if ((uint64_t)out != job_received(j, 1) ||
	    (uint64_t)err != job_received(j, 2)) {
		log_debug("sandbox '%s': job %lu: exit before all output, "
			  "asking for a resend", sb->name, j->n);
		agent_send(sb, json_pack("{s:s, s:i}", "t", "hello", "v", 1),
			   NULL, 0);
		return;
	}
	/* "timeout", "oom" (its cgroup's OOM killer), "pids" (a fork its
	 * cgroup refused): the event is named after the reason. */
	if (reason && (!strcmp(reason, "timeout") || !strcmp(reason, "oom") ||
		       !strcmp(reason, "pids"))) {
		j->state = JOB_KILLED;
		j->sig = SIGKILL;
		snprintf(j->why, sizeof(j->why), "%s", reason);
		sb_event(sb, reason, "job=%lu", j->n);
	} else if (json_is_integer(sig)) {
		j->state = JOB_KILLED;
		j->sig = json_integer_value(sig);
		snprintf(j->why, sizeof(j->why), "signal");
	} else {
		j->state = JOB_EXITED;
		j->code = json_integer_value(code);
	}
	job_end(j);
	if (j->state == JOB_EXITED)
		sb_event(sb, "job-exit", "job=%lu code=%d", j->n, j->code);
	else
		sb_event(sb, "job-exit", "job=%lu signal=%d", j->n, j->sig);
ack:
	j->acked_out = job_received(j, 1);
	j->acked_err = job_received(j, 2);
	agent_send(sb, json_pack("{s:s, s:I, s:I, s:I, s:b}", "t", "ack",
				 "id", (json_int_t)j->n,
				 "out", (json_int_t)j->acked_out,
				 "err", (json_int_t)j->acked_err, "exit", 1),
		   NULL, 0);
}

static void on_frame(void *ctx, json_t *hdr, const uint8_t *p, size_t n)
{
	struct sandbox *sb = ctx;
	const char *t = json_string_value(json_object_get(hdr, "t"));
	json_int_t id = json_integer_value(json_object_get(hdr, "id"));
	struct job *j = id > 0 ? sandbox_job(sb, id) : NULL;

	if (!t)
		return;
	if (strcmp(t, "ready") == 0)
		on_ready(sb, hdr);
	else if (strcmp(t, "setup-ok") == 0)
		on_setup_done(sb, hdr, true);
	else if (strcmp(t, "setup-failed") == 0)
		on_setup_done(sb, hdr, false);
	else if (strcmp(t, "pong") == 0)
		guard_pong(sb);
	else if (strcmp(t, "oom") == 0)
		evlog_add(&sb->ev, "oom", "kills=%lld", (long long)
			  json_integer_value(json_object_get(hdr, "kills")));
	else if (!j)
		log_debug("sandbox '%s': agent '%s' for unknown job %lld",
			  sb->name, t, (long long)id);
	else if (strcmp(t, "started") == 0)
		on_started(sb, j);
	else if (strcmp(t, "exec-failed") == 0)
		on_exec_failed(sb, j, hdr);
	else if (strcmp(t, "out") == 0)
		on_out(sb, j, hdr, p, n);
	else if (strcmp(t, "exit") == 0)
		on_exit_frame(sb, j, hdr);
	else
		log_debug("sandbox '%s': agent sent unknown '%s'", sb->name, t);
}

/* Tells the agent what is stored, so it can drop it and read on. */
static void send_acks(struct sandbox *sb)
{
	for (size_t i = 0; i < sb->njobs; i++) {
		struct job *j = sb->jobs[i];

		if (!j || j->state != JOB_RUNNING ||
		    (j->acked_out == job_received(j, 1) &&
		     j->acked_err == job_received(j, 2)))
			continue;
		j->acked_out = job_received(j, 1);
		j->acked_err = job_received(j, 2);
		/* Past the output cap the agent may as well drop it. */
		agent_send(sb, json_pack("{s:s, s:I, s:I, s:I, s:b}", "t", "ack",
					 "id", (json_int_t)j->n,
					 "out", (json_int_t)j->acked_out,
					 "err", (json_int_t)j->acked_err,
					 "discard", j->truncated),
			   NULL, 0);
	}
}

static void on_ch_event(void *data, uint32_t events)
{
	struct sandbox *sb = data;
	int r = 0;

	if (events & EPOLLOUT)
		r = channel_flush(sb->ch);
	if (r >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		r = channel_read(sb->ch);
	if (!sb->ch)
		return;
	if (r < 0) {
		/* Expected when we ended QEMU ourselves. */
		bool planned = sb->destroying || sb->phase == PH_TPL_DONE ||
			       sb->phase == PH_SUSPEND_DONE;

		log_msg(planned ? LOG_LVL_DEBUG : LOG_LVL_WARN,
			"sandbox '%s': agent channel: %s, reconnecting",
			sb->name, strerror(-r));
		ch_drop(sb);
		if (!sb->connect_timer && sb->pidfd >= 0)
			sb->connect_timer = loop_timer_add(CONNECT_RETRY_MS,
							   try_connect, sb);
		return;
	}
	send_acks(sb);
	if (channel_queued(sb->ch) < STDIN_LOW)
		wait_fire(sb, W_STDIN, 0, 0);
	ch_sync_mask(sb);
}

/* QMP */

static void on_qmp_event(void *ctx, const char *ev, json_t *data)
{
	struct sandbox *sb = ctx;
	const char *why = json_string_value(json_object_get(data, "reason"));

	log_debug("sandbox '%s': qmp event %s", sb->name, ev);
	if (strcmp(ev, "SHUTDOWN") == 0 && why && !sb->destroying) {
		if (strcmp(why, "guest-panic") == 0)
			snprintf(sb->reason, sizeof(sb->reason), "panic");
		else if (strncmp(why, "guest-", 6) == 0)
			snprintf(sb->reason, sizeof(sb->reason), "%s", why);
	} else if (strcmp(ev, "GUEST_PANICKED") == 0) {
		snprintf(sb->reason, sizeof(sb->reason), "panic");
	} else if (strcmp(ev, "MIGRATION") == 0) {
		const char *st = json_string_value(json_object_get(data,
								   "status"));

		if (st)
			on_migration(sb, st);
	}
}

static void on_qmp_io(void *data, uint32_t events)
{
	struct sandbox *sb = data;
	int r = 0;

	if (events & EPOLLOUT)
		r = qmp_flush(sb->qmp);
	if (r >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		r = qmp_read(sb->qmp);
	if (r < 0) {
		/* QEMU is going away; its pidfd says when it is gone. */
		loop_del(sb->qmp_src);
		sb->qmp_src = NULL;
		qmp_close(sb->qmp);
		sb->qmp = NULL;
		return;
	}
	loop_mod(sb->qmp_src, EPOLLIN | (r == 1 ? EPOLLOUT : 0));
}

/* Connecting to QEMU's sockets, which appear shortly after it starts */

static void sock_path(const struct sandbox *sb, const char *name, char *buf,
		      size_t len)
{
	/* Through the dir's fd: a long --state would not fit in sun_path. */
	snprintf(buf, len, "/proc/self/fd/%d/%s", sb->dirfd, name);
}

static void on_qmp_step(void *data, json_t *ret, json_t *err)
{
	struct sandbox *sb = sandbox_by_id((unsigned long)(uintptr_t)data);

	if (!sb || ret)
		return;
	log_err("sandbox '%s': qmp: %s", sb->name,
		json_string_value(json_object_get(err, "desc")) ?: "vm gone");
	on_migration(sb, "failed");
}

static void load_snapshot(struct sandbox *sb)
{
	int r = snapshot_load(sb->qmp, sb->incoming, on_qmp_step,
			      (void *)(uintptr_t)sb->id);

	if (r < 0)
		log_err("sandbox '%s': loading snapshot: %s", sb->name,
			strerror(-r));
	loop_mod(sb->qmp_src, EPOLLIN | EPOLLOUT);
}

static void try_connect(void *data)
{
	struct sandbox *sb = data;
	char path[128];

	sb->connect_timer = NULL;
	if (!sb->qmp) {
		sock_path(sb, "qmp.sock", path, sizeof(path));
		if (qmp_connect(path, on_qmp_event, sb, &sb->qmp) == 0) {
			sb->qmp_src = loop_add(qmp_fd(sb->qmp),
					       EPOLLIN | EPOLLOUT, on_qmp_io, sb);
			if (sb->incoming[0])
				load_snapshot(sb);
		}
	}
	if (!sb->ch) {
		sock_path(sb, "agent.sock", path, sizeof(path));
		if (channel_connect(path, on_frame, sb, &sb->ch) == 0) {
			sb->ch_src = loop_add(channel_fd(sb->ch), EPOLLIN,
					      on_ch_event, sb);
			agent_send(sb, json_pack("{s:s, s:i}", "t", "hello",
						 "v", 1), NULL, 0);
		}
	}
	if (!guard_connect(sb) || !sb->qmp || !sb->ch)
		sb->connect_timer = loop_timer_add(CONNECT_RETRY_MS,
						   try_connect, sb);
}

/* Ending */

static int rm_one(const char *path, const struct stat *st, int type,
		  struct FTW *ftw)
{
	if (remove(path) < 0 && errno != ENOENT)
		log_warn("removing '%s': %s, ignoring", path, strerror(errno));
	return 0;
}

static void remove_tree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void log_tail(const struct sandbox *sb, const char *file)
{
	char path[PATH_MAX + 32], buf[512];
	autoclose int fd = -1;
	struct stat st;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", sb->dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0)
		return;
	n = pread(fd, buf, sizeof(buf) - 1,
		  st.st_size > (off_t)sizeof(buf) - 1 ?
		  st.st_size - (off_t)sizeof(buf) + 1 : 0);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *c = buf; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	log_err("sandbox '%s': last of %s: %s", sb->name, file, buf);
}

static void finish_destroy(struct sandbox *sb)
{
	struct sandbox **pp;

	loop_timer_del(sb->connect_timer);
	loop_timer_del(sb->boot_timer);
	loop_timer_del(sb->kill_timer);
	loop_timer_del(sb->lifetime_timer);
	loop_timer_del(sb->suspend_timer);
	if (sb->tpl && sb->tpl->state == TPL_BUILDING &&
	    (sb->phase == PH_TPL_BOOT || sb->phase == PH_TPL_SAVE ||
	     sb->phase == PH_TPL_DONE))
		template_failed(sb->tpl);
	if (sb->fork_child) {
		struct sandbox *child = sandbox_by_id(sb->fork_child);

		sb->fork_child = 0;
		if (child && !child->destroying)
			sandbox_destroy(child, NULL, NULL);
	}
	ch_drop(sb);
	loop_del(sb->qmp_src);
	qmp_close(sb->qmp);
	sb->qmp = NULL;
	guard_detach(sb);
	sbnet_close(sb);
	wait_fail_all_but_gone(sb, sb->state == SB_STARTING ? -EIO : -ENOENT);
	for (size_t i = 0; i < sb->njobs; i++)
		job_free(sb->jobs[i]);
	free(sb->jobs);
	if (sb->state != SB_STARTING)
		sb_event(sb, "destroyed", NULL);
	evlog_fini(&sb->ev);
	if (sb->dirfd >= 0)
		close(sb->dirfd);
	remove_tree(sb->dir);
	for (pp = &all; *pp; pp = &(*pp)->next) {
		if (*pp == sb) {
			*pp = sb->next;
			break;
		}
	}
	wait_fire(sb, W_GONE, 0, 0);
	free(sb);
}

static void crashed(struct sandbox *sb, const char *why)
{
	/* The heartbeat kills a QEMU it gave up on; its exit is no news. */
	if (sb->state == SB_CRASHED)
		return;
	if (!sb->reason[0] || strcmp(sb->reason, "-") == 0)
		snprintf(sb->reason, sizeof(sb->reason), "%s", why);
	if (sb->state == SB_PAUSED)
		sb->paused_ms += loop_now_ms() - sb->paused_at;
	sb->state = SB_CRASHED;
	sb->ended_ms = loop_now_ms();
	for (size_t i = 0; i < sb->njobs; i++) {
		struct job *j = sb->jobs[i];

		if (!j || j->state == JOB_EXITED || j->state == JOB_KILLED)
			continue;
		j->state = JOB_KILLED;
		snprintf(j->why, sizeof(j->why), "crash");
		job_end(j);
	}
	sb_event(sb, "crashed", "reason=%s", sb->reason);
	/* Nothing more will happen in it but "destroyed": readers of events
	 * get end of file instead of waiting for the rmdir. */
	spool_end(&sb->ev.sp);
	log_err("sandbox '%s': crashed: %s", sb->name, sb->reason);
	wait_fail_all_but_gone(sb, -EIO);
}

int sandbox_ping(struct sandbox *sb, unsigned seq)
{
	return agent_send(sb, json_pack("{s:s, s:I}", "t", "ping", "seq",
					(json_int_t)seq), NULL, 0);
}

void sandbox_fail(struct sandbox *sb, const char *reason)
{
	snprintf(sb->reason, sizeof(sb->reason), "%s", reason);
	ch_drop(sb);
	crashed(sb, reason);
	if (sb->pidfd >= 0)
		kill(sb->pid, SIGKILL);
}

static void on_vm_exit(void *data, uint32_t events)
{
	struct sandbox *sb = data;
	const char *why;
	int st = 0;

	/* QEMU says GUEST_PANICKED before it exits, but the pidfd may be
	 * read first: take what QMP still holds. */
	for (int i = 0; sb->qmp && i < 8; i++)
		if (qmp_read(sb->qmp) < 0)
			break;
	if (waitpid(sb->pid, &st, WNOHANG) <= 0)
		st = -1;
	why = guard_vm_gone(sb);
	/* Only a crash needs a reason; the console's text is the guest's. */
	if (why && !sb->destroying &&
	    (!strcmp(sb->reason, "-") || !strcmp(sb->reason, "panic")))
		snprintf(sb->reason, sizeof(sb->reason), "%s", why);
	loop_del(sb->pid_src);
	sb->pid_src = NULL;
	close(sb->pidfd);
	sb->pidfd = -1;
	loop_timer_del(sb->connect_timer);
	sb->connect_timer = NULL;
	on_vm_gone(sb, st);
}

static void vm_exit_unplanned(struct sandbox *sb, int st)
{
	if (WIFSIGNALED(st))
		log_warn("sandbox '%s': vm exited on signal %d", sb->name,
			 WTERMSIG(st));
	else
		log_warn("sandbox '%s': vm exited with status %d", sb->name,
			 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	if (sb->state == SB_STARTING) {
		log_tail(sb, "qemu.log");
		log_tail(sb, "console.log");
		if (sb->phase == PH_TPL_BOOT || sb->phase == PH_TPL_SAVE)
			template_failed(sb->tpl);
		sb->destroying = true;
		finish_destroy(sb);
		return;
	}
	ch_drop(sb);
	crashed(sb, "vmm-exited");
}

static void on_boot_timeout(void *data)
{
	struct sandbox *sb = data;

	sb->boot_timer = NULL;
	log_err("sandbox '%s': agent did not answer within %u s, stopping vm",
		sb->name, cfg.boot_timeout_s);
	if (sb->pidfd < 0) {
		sb->destroying = true;
		finish_destroy(sb);
		return;
	}
	kill(sb->pid, SIGKILL);
}

static void on_kill_grace(void *data)
{
	struct sandbox *sb = data;

	sb->kill_timer = NULL;
	log_warn("sandbox '%s': vm ignored SIGTERM, killing it", sb->name);
	kill(sb->pid, SIGKILL);
}

void sandbox_destroy(struct sandbox *sb, sb_done_fn fn, void *data)
{
	if (fn && wait_add(sb, W_GONE, 0, fn, NULL, data) < 0)
		fn(data, -ENOMEM);
	if (sb->destroying)
		return;
	sb->destroying = true;
	if (sb->pidfd < 0) {
		finish_destroy(sb);
		return;
	}
	kill(sb->pid, SIGTERM);
	sb->kill_timer = loop_timer_add(KILL_GRACE_MS, on_kill_grace, sb);
}

void sandbox_shutdown_all(void)
{
	for (struct sandbox *sb = all; sb; sb = sb->next) {
		if (!sb->destroying)
			sandbox_destroy(sb, NULL, NULL);
	}
}

/* Starting */

static int image_paths(const char *image, char *kernel, char *initrd,
		       size_t len)
{
	char name[64], *ver;

	snprintf(name, sizeof(name), "%s", image);
	ver = strchr(name, ':');
	if (!ver)
		return -EINVAL;
	*ver++ = '\0';
	snprintf(kernel, len, "%s/%s/%s/vmlinuz", cfg.images_dir, name, ver);
	snprintf(initrd, len, "%s/%s/%s/initrd.img", cfg.images_dir, name, ver);
	return access(kernel, R_OK) == 0 && access(initrd, R_OK) == 0 ?
	       0 : -ENOENT;
}

bool sandbox_image_exists(const char *image)
{
	char kernel[PATH_MAX], initrd[PATH_MAX];

	return image_name_valid(image) &&
	       image_paths(image, kernel, initrd, sizeof(kernel)) == 0;
}

/* Starts QEMU on the template's RAM file: shared while the template
 * itself boots, a private copy otherwise; with a snapshot to load when
 * incoming is set. */
static int spawn_vm(struct sandbox *sb, bool ram_shared, const char *incoming)
{
	struct qemu_cfg qc = {
		.binary = cfg.qemu, .dir = sb->dir, .kernel = sb->kernel,
		.initrd = sb->initrd, .accel = cfg.accel,
		.vcpus = sb->shp->vcpus, .mem_mib = sb->shp->mem_mib,
		.ram_path = sb->tpl->ram, .ram_shared = ram_shared,
		.incoming = incoming != NULL,
	};
	int r;

	snprintf(sb->incoming, sizeof(sb->incoming), "%s",
		 incoming ? incoming : "");
	sbnet_qemu(sb, &qc);
	r = guard_spawn(sb, &qc);
	if (r < 0) {
		log_err("sandbox '%s': its vmm's cgroup: %s", sb->name,
			strerror(-r));
		return r;
	}
	r = qemu_spawn(&qc, &sb->pid, &sb->pidfd);
	guard_spawned(sb);
	if (r < 0)
		return r;
	sb->pid_src = loop_add(sb->pidfd, EPOLLIN, on_vm_exit, sb);
	sb->connect_timer = loop_timer_add(CONNECT_RETRY_MS, try_connect, sb);
	if (!sb->boot_timer && sb->state == SB_STARTING)
		sb->boot_timer = loop_timer_add(cfg.boot_timeout_s * 1000,
						on_boot_timeout, sb);
	if (!sb->pid_src || !sb->connect_timer) {
		kill(sb->pid, SIGKILL);
		return -ENOMEM;
	}
	return 0;
}

static int restore_from(struct sandbox *sb, const char *snapshot)
{
	sb->phase = PH_RESTORE;
	return spawn_vm(sb, false, snapshot);
}

/* The first sandbox of an (image, shape) boots cold with the template's
 * RAM shared, saves it as the template and then restores itself from it
 * like every later one; the others wait for it. */
static int begin_start(struct sandbox *sb)
{
	if (sb->tpl->state == TPL_READY && (access(sb->tpl->dev, R_OK) < 0 ||
					     access(sb->tpl->ram, R_OK) < 0)) {
		log_warn("template %s/%s: its files are gone, building it again",
			 sb->image, sb->shape);
		template_drop(sb->tpl);
	}
	switch (sb->tpl->state) {
	case TPL_READY:
		return restore_from(sb, sb->tpl->dev);
	case TPL_BUILDING:
		sb->phase = PH_TPL_WAIT;
		if (!sb->boot_timer)
			sb->boot_timer = loop_timer_add(cfg.boot_timeout_s * 1000,
							on_boot_timeout, sb);
		return 0;
	case TPL_NONE:
		break;
	}
	sb->tpl->state = TPL_BUILDING;
	sb->phase = PH_TPL_BOOT;
	sb->built_template = true;
	log_info("sandbox '%s': no template for %s/%s yet, booting one",
		 sb->name, sb->image, sb->shape);
	return spawn_vm(sb, true, NULL);
}

static int make_dirs(struct sandbox *sb)
{
	char path[PATH_MAX + 8];

	/* A folder left by a daemon that died is not ours to keep. */
	remove_tree(sb->dir);
	if (mkdir(sb->dir, 0700) < 0)
		return -errno;
	snprintf(path, sizeof(path), "%s/jobs", sb->dir);
	if (mkdir(path, 0700) < 0)
		return -errno;
	sb->dirfd = open(sb->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return sb->dirfd < 0 ? -errno : 0;
}

/* A sandbox record with its folder and event log, not yet listed and
 * with no VM; sb_unmake undoes it. */
static struct sandbox *sb_new(const char *name, const struct shape *shp,
			      const char *image, int *err)
{
	char events[PATH_MAX + 8];
	struct sandbox *sb = calloc(1, sizeof(*sb));

	*err = -ENOMEM;
	if (!sb)
		return NULL;
	sb->id = ++last_id;
	sb->pidfd = sb->dirfd = -1;
	sb->ev.sp.fd = -1;
	snprintf(sb->name, sizeof(sb->name), "%s", name);
	snprintf(sb->image, sizeof(sb->image), "%s", image);
	snprintf(sb->reason, sizeof(sb->reason), "-");
	sb->shp = shp;
	sb->shape = shp->name;
	snprintf(sb->dir, sizeof(sb->dir), "%s/%s", sandboxes_dir, name);
	*err = make_dirs(sb);
	if (*err == 0) {
		snprintf(events, sizeof(events), "%s/events", sb->dir);
		*err = evlog_open(&sb->ev, events);
	}
	if (*err == 0)
		*err = guard_attach(sb);
	if (*err == 0)
		sbnet_open(sb);
	if (*err < 0) {
		sb_unmake(sb);
		return NULL;
	}
	return sb;
}

static void sb_unmake(struct sandbox *sb)
{
	struct waitcb *w;

	loop_timer_del(sb->connect_timer);
	loop_timer_del(sb->boot_timer);
	loop_del(sb->pid_src);
	if (sb->pidfd >= 0) {
		kill(sb->pid, SIGKILL);
		close(sb->pidfd);
	}
	while ((w = sb->waits)) {
		sb->waits = w->next;
		free(w);
	}
	for (size_t i = 0; i < sb->njobs; i++)
		job_free(sb->jobs[i]);
	free(sb->jobs);
	guard_detach(sb);
	sbnet_close(sb);
	evlog_fini(&sb->ev);
	if (sb->dirfd >= 0)
		close(sb->dirfd);
	remove_tree(sb->dir);
	free(sb);
}

int sandbox_create(const char *name, const char *shape, const char *image,
		   sb_done_fn fn, void *data, char *msg, size_t msglen)
{
	const struct shape *shp = shape ? shape_find(shape) : &shapes[0];
	struct sandbox *sb;
	int r;

	r = name_free(name, msg, msglen);
	if (r < 0)
		return r;
	if (!shp) {
		snprintf(msg, msglen, "unknown shape \"%s\": see /shapes", shape);
		return -EINVAL;
	}
	r = guard_admit(shp, msg, msglen);
	if (r < 0)
		return r;
	if (!image)
		image = "base:1";
	if (!sandbox_image_exists(image)) {
		snprintf(msg, msglen, "unknown image \"%.64s\": see /images",
			 image);
		return -EINVAL;
	}

	sb = sb_new(name, shp, image, &r);
	if (!sb)
		goto fail;
	image_paths(image, sb->kernel, sb->initrd, sizeof(sb->kernel));
	sb->tpl = template_get(image, shp->name, sb->kernel, sb->initrd);
	r = sb->tpl ? wait_add(sb, W_READY, 0, fn, NULL, data) : -ENOMEM;
	if (r == 0) {
		sb_event(sb, "created", "shape=%s image=%s", sb->shape,
			  image);
		r = begin_start(sb);
	}
	if (r < 0) {
		sb_unmake(sb);
		goto fail;
	}
	sb->next = all;
	all = sb;
	log_info("sandbox '%s': starting (shape %s, image %s, accel %s)", name,
		 sb->shape, image, cfg.accel);
	return 0;
fail:
	snprintf(msg, msglen, "sandbox \"%s\": cannot start: %s", name,
		 strerror(-r));
	return r;
}

/* Templates, snapshots, fork and suspend */

static void conns_drop(struct sandbox *sb)
{
	ch_drop(sb);
	loop_del(sb->qmp_src);
	sb->qmp_src = NULL;
	qmp_close(sb->qmp);
	sb->qmp = NULL;
}

static void fail_start(struct sandbox *sb)
{
	sb->destroying = true;
	if (sb->pidfd >= 0)
		kill(sb->pid, SIGKILL);	/* on_vm_exit finishes the job */
	else
		finish_destroy(sb);
}

static void template_failed(struct template *t)
{
	struct sandbox *sb, *next;

	if (t->state != TPL_BUILDING)
		return;
	template_drop(t);
	for (sb = all; sb; sb = next) {
		next = sb->next;
		if (sb->tpl == t && sb->phase == PH_TPL_WAIT && !sb->destroying) {
			log_err("sandbox '%s': the template it waited for "
				"failed", sb->name);
			fail_start(sb);
		}
	}
}

static void template_ready(struct template *t)
{
	for (struct sandbox *sb = all; sb; sb = sb->next) {
		if (sb->tpl != t || sb->phase != PH_TPL_WAIT || sb->destroying)
			continue;
		if (begin_start(sb) < 0)
			fail_start(sb);
	}
}

static void save_template(struct sandbox *sb)
{
	int r;

	sb->phase = PH_TPL_SAVE;
	/* Stopped first: a running guest would go on writing the shared
	 * RAM file after its device state was saved. */
	r = qmp_cmd(sb->qmp, "stop", NULL, NULL, NULL);
	if (r == 0)
		r = snapshot_save(sb->qmp, sb->tpl->dev, on_qmp_step,
				  (void *)(uintptr_t)sb->id);
	if (r < 0) {
		log_err("sandbox '%s': saving template: %s", sb->name,
			strerror(-r));
		template_failed(sb->tpl);
		fail_start(sb);
		return;
	}
	loop_mod(sb->qmp_src, EPOLLIN | EPOLLOUT);
}

static void snapshot_path(const struct sandbox *sb, const char *file,
			  char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", sb->dir, file);
}

/* The paused state stops matching saved.mig once the guest runs again. */
static void drop_saved(struct sandbox *sb)
{
	char path[PATH_MAX + 16];

	if (!sb->saved)
		return;
	snapshot_path(sb, "saved.mig", path, sizeof(path));
	unlink(path);
	sb->saved = false;
}

/* A child loads its own hard link to the parent's saved state, so
 * either may drop its name first. */
static int restore_child(struct sandbox *child, struct sandbox *sb)
{
	char from[PATH_MAX + 16], to[PATH_MAX + 16];

	snapshot_path(sb, "saved.mig", from, sizeof(from));
	snapshot_path(child, "fork.mig", to, sizeof(to));
	if (link(from, to) < 0)
		return -errno;
	return restore_from(child, to);
}

static void on_restored_cont(void *data, json_t *ret, json_t *err)
{
	struct sandbox *sb = sandbox_by_id((unsigned long)(uintptr_t)data);
	char path[PATH_MAX + 16];

	if (!sb)
		return;
	if (!ret) {
		log_err("sandbox '%s': cont after restore: %s", sb->name,
			json_string_value(json_object_get(err, "desc")) ?:
			"vm gone");
		if (sb->state == SB_STARTING)
			fail_start(sb);
		return;
	}
	sb->phase = PH_NONE;
	/* The agent answers the hello sent on connect, then the setup. */
	snapshot_path(sb, "fork.mig", path, sizeof(path));
	unlink(path);
	if (!sb->suspended)
		return;
	drop_saved(sb);
	sb->suspended = false;
	sb->state = SB_RUNNING;
	sb->paused_ms += loop_now_ms() - sb->paused_at;
	snprintf(sb->reason, sizeof(sb->reason), "-");
	sb_event(sb, "resumed", "from=disk");
	send_setup(sb, false);
	log_info("sandbox '%s': resumed from disk", sb->name);
	wait_fire(sb, W_RESUME, 0, 0);
}

static void fork_saved(struct sandbox *sb, bool ok)
{
	struct sandbox *child = sandbox_by_id(sb->fork_child);

	sb->fork_child = 0;
	sb->saved = ok;
	if (!child || child->destroying)
		return;
	if (!ok || restore_child(child, sb) < 0) {
		sandbox_set_error(sb, "fork: saving the parent failed");
		fail_start(child);
	}
}

static void on_migration(struct sandbox *sb, const char *status)
{
	bool ok = strcmp(status, "completed") == 0;

	if (!ok && strcmp(status, "failed") && strcmp(status, "cancelled"))
		return;
	log_debug("sandbox '%s': migration %s", sb->name, status);
	if (sb->fork_child) {
		fork_saved(sb, ok);
		return;
	}
	switch (sb->phase) {
	case PH_TPL_SAVE:
		if (ok && template_done(sb->tpl) == 0) {
			sb->phase = PH_TPL_DONE;
			log_info("sandbox '%s': template %s/%s saved", sb->name,
				 sb->image, sb->shape);
		} else {
			template_failed(sb->tpl);
			sb->destroying = true;
		}
		kill(sb->pid, SIGKILL);
		break;
	case PH_RESTORE:
		if (!sb->incoming[0])
			break;
		sb->incoming[0] = '\0';
		if (!ok) {
			log_err("sandbox '%s': loading its snapshot failed",
				sb->name);
			if (sb->state == SB_STARTING && !sb->from_fork &&
			    sb->tpl->state == TPL_READY)
				template_drop(sb->tpl);
			kill(sb->pid, SIGKILL);
			break;
		}
		qmp_cmd(sb->qmp, "cont", NULL, on_restored_cont,
			(void *)(uintptr_t)sb->id);
		loop_mod(sb->qmp_src, EPOLLIN | EPOLLOUT);
		break;
	case PH_SUSPEND_SAVE:
		if (ok) {
			sb->saved = true;
			sb->phase = PH_SUSPEND_DONE;
			kill(sb->pid, SIGKILL);
		} else {
			sb->phase = PH_NONE;
			sandbox_set_error(sb, "suspend: writing the snapshot "
					  "failed");
			wait_fire(sb, W_SUSPEND, 0, -EIO);
		}
		break;
	default:
		break;
	}
}

/* The QEMU process ended: planned (template saved, suspended,
 * destroyed) or not. */
static void on_vm_gone(struct sandbox *sb, int st)
{
	if (sb->destroying) {
		log_info("sandbox '%s': vm stopped", sb->name);
		finish_destroy(sb);
		return;
	}
	switch (sb->phase) {
	case PH_TPL_DONE:
		conns_drop(sb);
		template_ready(sb->tpl);
		if (begin_start(sb) < 0)
			fail_start(sb);
		return;
	case PH_SUSPEND_DONE:
		conns_drop(sb);
		sb->phase = PH_NONE;
		sb->suspended = true;
		snprintf(sb->reason, sizeof(sb->reason), "suspended");
		sb_event(sb, "suspended", NULL);
		log_info("sandbox '%s': suspended to disk", sb->name);
		wait_fire(sb, W_SUSPEND, 0, 0);
		return;
	default:
		vm_exit_unplanned(sb, st);
	}
}

static void on_auto_suspend(void *data)
{
	struct sandbox *sb = data;

	sb->suspend_timer = NULL;
	log_info("sandbox '%s': paused for %u s, suspending to disk", sb->name,
		 cfg.suspend_after_s);
	sandbox_suspend(sb, NULL, NULL);
}

struct suspend_op {
	unsigned long id;
	sb_done_fn fn;
	void *data;
};

static void suspend_when_paused(void *data, int err)
{
	struct suspend_op *op = data;
	struct sandbox *sb = sandbox_by_id(op->id);

	if (err == 0 && sb)
		err = sandbox_suspend(sb, op->fn, op->data);
	if (err < 0 && op->fn)
		op->fn(op->data, err);
	free(op);
}

int sandbox_suspend(struct sandbox *sb, sb_done_fn fn, void *data)
{
	char path[PATH_MAX + 16];
	int r;

	if (sb->suspended) {
		sandbox_set_error(sb, "suspend: sandbox is already suspended");
		return -EALREADY;
	}
	if (sb->state == SB_RUNNING) {
		struct suspend_op *op = calloc(1, sizeof(*op));

		if (!op)
			return -ENOMEM;
		*op = (struct suspend_op){ sb->id, fn, data };
		r = sandbox_pause(sb, suspend_when_paused, op);
		if (r < 0)
			free(op);
		return r;
	}
	if (sb->state != SB_PAUSED) {
		sandbox_set_error(sb, "suspend: sandbox is %s: pause first",
				  sandbox_state_name(sb->state));
		return -EBUSY;
	}
	if (sb->phase != PH_NONE || sb->fork_child || !sb->qmp) {
		sandbox_set_error(sb, "suspend: a fork or suspend is in "
				  "progress");
		return -EBUSY;
	}
	loop_timer_del(sb->suspend_timer);
	sb->suspend_timer = NULL;
	if (sb->saved) {
		/* Saved for a fork and paused since: that file is the state.
		 * QEMU would refuse to migrate it again anyway. */
		sb->phase = PH_SUSPEND_DONE;
		kill(sb->pid, SIGKILL);
	} else {
		snapshot_path(sb, "saved.mig", path, sizeof(path));
		r = snapshot_save(sb->qmp, path, on_qmp_step,
				  (void *)(uintptr_t)sb->id);
		if (r < 0)
			return r;
		loop_mod(sb->qmp_src, EPOLLIN | EPOLLOUT);
		sb->phase = PH_SUSPEND_SAVE;
	}
	if (fn)
		wait_add(sb, W_SUSPEND, 0, fn, NULL, data);
	return 0;
}

static int copy_file(const char *from, const char *to)
{
	autoclose int in = open(from, O_RDONLY | O_CLOEXEC);
	autoclose int out = -1;
	ssize_t n;

	if (in < 0)
		return errno == ENOENT ? 0 : -errno;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	do {
		n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
	} while (n > 0);
	return n < 0 ? -errno : 0;
}

/* The child's jobs/ starts as a copy of the parent's: records and the
 * output stored so far; the agent in the copied guest sends the rest. */
static int copy_jobs(struct sandbox *child, const struct sandbox *sb)
{
	char from[PATH_MAX + 64], to[PATH_MAX + 64];
	static const char *const files[] = { "stdout", "stderr" };
	int r;

	child->jobs = calloc(sb->njobs ? sb->njobs : 1, sizeof(*child->jobs));
	if (!child->jobs)
		return -ENOMEM;
	for (size_t i = 0; i < sb->njobs; i++) {
		const struct job *pj = sb->jobs[i];
		struct job *j;

		if (!pj)
			continue;
		for (int f = 0; f < 2; f++) {
			snprintf(to, sizeof(to), "%s/jobs/%lu", child->dir, pj->n);
			mkdir(to, 0700);
			snprintf(from, sizeof(from), "%s/jobs/%lu/%s", sb->dir,
				 pj->n, files[f]);
			snprintf(to, sizeof(to), "%s/jobs/%lu/%s", child->dir,
				 pj->n, files[f]);
			r = copy_file(from, to);
			if (r < 0)
				return r;
		}
		r = job_new(child->dir, pj->n, pj->cmd, &j);
		if (r < 0)
			return r;
		j->state = pj->state;
		j->code = pj->code;
		j->sig = pj->sig;
		memcpy(j->why, pj->why, sizeof(j->why));
		j->acked_out = pj->acked_out;
		j->acked_err = pj->acked_err;
		j->got_out = pj->got_out;
		j->got_err = pj->got_err;
		j->truncated = pj->truncated;
		j->stdin_closed = pj->stdin_closed;
		if (j->state == JOB_EXITED || j->state == JOB_KILLED)
			job_end(j);
		child->jobs[i] = j;
		child->njobs = i + 1;
	}
	return 0;
}

static int disk_check(const struct sandbox *sb)
{
	struct statvfs vfs;
	unsigned long long free_mib, need = sb->shp->mem_mib + 64;

	if (statvfs(sb->dir, &vfs) < 0)
		return -errno;
	free_mib = (unsigned long long)vfs.f_bavail * vfs.f_frsize >> 20;
	if (free_mib >= need)
		return 0;
	sandbox_set_error((struct sandbox *)sb, "fork: %llu MiB free for the "
			  "snapshot, it may need %llu MiB", free_mib, need);
	return -ENOSPC;
}

int sandbox_fork(struct sandbox *sb, const char *name, sb_done_fn fn,
		 void *data)
{
	char to[PATH_MAX + 16], msg[CTL_ERR_MAX];
	struct sandbox *child;
	int r;

	if (sb->state != SB_PAUSED) {
		sandbox_set_error(sb, "fork: sandbox is %s: pause first",
				  sandbox_state_name(sb->state));
		return -EBUSY;
	}
	if (sb->phase != PH_NONE || sb->fork_child) {
		sandbox_set_error(sb, "fork: a fork or suspend is in progress");
		return -EBUSY;
	}
	r = name_free(name, msg, sizeof(msg));
	if (r < 0) {
		sandbox_set_error(sb, "fork: %s", msg);
		return r;
	}
	r = disk_check(sb);
	if (r < 0)
		return r;
	/* A fork commits host memory like a mkdir (fs/guard.c). */
	r = guard_admit(sb->shp, to, sizeof(to));
	if (r < 0) {
		sandbox_set_error(sb, "fork: %s", to);
		return r;
	}
	child = sb_new(name, sb->shp, sb->image, &r);
	if (!child) {
		sandbox_set_error(sb, "fork: cannot make \"%s\": %s", name,
				  strerror(-r));
		return r;
	}
	child->tpl = sb->tpl;
	child->from_fork = true;
	sbnet_fork(child, sb);
	memcpy(child->kernel, sb->kernel, sizeof(sb->kernel));
	memcpy(child->initrd, sb->initrd, sizeof(sb->initrd));
	r = copy_jobs(child, sb);
	if (r == 0)
		r = wait_add(child, W_READY, 0, fn, NULL, data);
	if (r == 0 && sb->saved) {
		/* Paused since the last save (a fork, a suspend): reuse it. */
		r = restore_child(child, sb);
	} else if (r == 0) {
		snapshot_path(sb, "saved.mig", to, sizeof(to));
		r = snapshot_save(sb->qmp, to, on_qmp_step,
				  (void *)(uintptr_t)sb->id);
		if (r == 0) {
			child->phase = PH_PARENT_WAIT;
			sb->fork_child = child->id;
			loop_mod(sb->qmp_src, EPOLLIN | EPOLLOUT);
		}
	}
	if (r < 0) {
		sandbox_set_error(sb, "fork: %s", strerror(-r));
		sb_unmake(child);
		return r;
	}
	child->next = all;
	all = child;
	sb_event(child, "created", "shape=%s image=%s parent=%s",
		  child->shape, child->image, sb->name);
	sb_event(sb, "forked", "child=%s", name);
	log_info("sandbox '%s': forking into '%s'", sb->name, name);
	return 0;
}

static void on_lifetime_paused(void *data, int err)
{
	struct sandbox *sb = sandbox_by_id((unsigned long)(uintptr_t)data);

	if (!sb || err < 0)
		return;
	snprintf(sb->reason, sizeof(sb->reason), "timeout");
	sb_event(sb, "timeout", NULL);
	log_info("sandbox '%s': lifetime of %u s is over, paused", sb->name,
		 sb->lifetime_s);
}

static void on_lifetime(void *data)
{
	struct sandbox *sb = data;

	sb->lifetime_timer = NULL;
	if (sb->state == SB_RUNNING)
		sandbox_pause(sb, on_lifetime_paused, (void *)(uintptr_t)sb->id);
}

#define LIFETIME_MAX (4000000ULL)

int sandbox_set_lifetime(struct sandbox *sb, unsigned long long secs)
{
	if (secs > LIFETIME_MAX) {
		sandbox_set_error(sb, "timeout: %llu: at most %llu seconds",
				  secs, LIFETIME_MAX);
		return -EINVAL;
	}
	loop_timer_del(sb->lifetime_timer);
	sb->lifetime_timer = NULL;
	sb->lifetime_s = secs;
	if (secs)
		sb->lifetime_timer = loop_timer_add(secs * 1000, on_lifetime, sb);
	return secs && !sb->lifetime_timer ? -ENOMEM : 0;
}

/* Commands */

static int need_agent(struct sandbox *sb, const char *verb)
{
	if (sb->state == SB_PAUSED) {
		sandbox_set_error(sb, "%s: sandbox is paused: resume first", verb);
		return -EBUSY;
	}
	if (sb->state != SB_RUNNING) {
		sandbox_set_error(sb, "%s: sandbox is %s", verb,
				  sandbox_state_name(sb->state));
		return -EIO;
	}
	if (!sb->ch) {
		sandbox_set_error(sb, "%s: agent not connected, try again", verb);
		return -EAGAIN;
	}
	return 0;
}

static json_t *exec_msg(unsigned long n, const struct ctl_cmd *c)
{
	json_t *env = json_array();
	json_t *m;

	for (size_t i = 0; env && i < c->nenv; i++)
		json_array_append_new(env, json_string(c->env[i]));
	m = json_pack("{s:s, s:I, s:s, s:s, s:o, s:I}", "t", "exec",
		      "id", (json_int_t)n, "cmd", c->line,
		      "cwd", c->cwd ? c->cwd : "/", "env", env,
		      "timeout", (json_int_t)(c->timeout ? c->timeout :
					      guard_job_timeout()));
	return m;
}

int sandbox_exec(struct sandbox *sb, const struct ctl_cmd *c, sb_exec_fn fn,
		 void *data)
{
	unsigned long n = sb->njobs + 1;
	struct job **jobs, *j;
	int r = need_agent(sb, "exec");

	if (r < 0)
		return r;
	jobs = realloc(sb->jobs, n * sizeof(*jobs));
	if (!jobs)
		return -ENOMEM;
	sb->jobs = jobs;
	r = job_new(sb->dir, n, c->line, &j);
	if (r < 0) {
		sandbox_set_error(sb, "exec: cannot make job %lu: %s", n,
				  strerror(-r));
		return r;
	}
	r = wait_add(sb, W_EXEC, n, NULL, fn, data);
	if (r < 0) {
		job_free(j);
		return r;
	}
	sb->jobs[n - 1] = j;
	sb->njobs = n;
	r = agent_send(sb, exec_msg(n, c), NULL, 0);
	if (r < 0)
		log_warn("sandbox '%s': sending job %lu: %s", sb->name, n,
			 strerror(-r));
	return 0;
}

int sandbox_kill_job(struct sandbox *sb, unsigned long n, int sig)
{
	struct job *j = sandbox_job(sb, n);
	int r;

	if (!j) {
		sandbox_set_error(sb, "kill: no job %lu", n);
		return -ENOENT;
	}
	if (j->state != JOB_RUNNING) {
		sandbox_set_error(sb, "kill: job %lu is not running", n);
		return -ESRCH;
	}
	r = need_agent(sb, "kill");
	if (r < 0)
		return r;
	return agent_send(sb, json_pack("{s:s, s:I, s:i}", "t", "kill", "id",
					(json_int_t)n, "sig", sig), NULL, 0);
}

int sandbox_stdin(struct sandbox *sb, unsigned long n, const void *data,
		  size_t len, bool eof, sb_done_fn fn, void *fndata)
{
	struct job *j = sandbox_job(sb, n);
	const char *p = data;
	int r = 0;

	if (!j)
		return -ENOENT;
	if (j->stdin_closed || j->state == JOB_EXITED || j->state == JOB_KILLED)
		return eof ? 0 : -EPIPE;
	do {
		size_t k = len > FRAME_PAYLOAD_MAX ? FRAME_PAYLOAD_MAX : len;

		r = agent_send(sb, json_pack("{s:s, s:I}", "t", "stdin", "id",
					     (json_int_t)n), p, k);
		p += k;
		len -= k;
	} while (r == 0 && len);
	if (r == 0 && eof) {
		j->stdin_closed = true;
		r = agent_send(sb, json_pack("{s:s, s:I, s:b}", "t", "stdin",
					     "id", (json_int_t)n, "eof", 1),
			       NULL, 0);
	}
	/* The daemon holds at most about STDIN_HIGH of unsent input: a
	 * writer past it is answered once the channel has drained. */
	if (r == 0 && fn && channel_queued(sb->ch) > STDIN_HIGH)
		return wait_add(sb, W_STDIN, 0, fn, NULL, fndata) < 0 ? -ENOMEM : 1;
	return r;
}

/* pause and resume go through QMP; the reply may come after the sandbox
 * is gone, so it carries the sandbox's id, not a pointer. */
struct qmp_op {
	unsigned long id;
	bool pause;
	sb_done_fn fn;
	void *data;
};

static void on_stop_cont(void *data, json_t *ret, json_t *err)
{
	struct qmp_op *op = data;
	struct sandbox *sb = sandbox_by_id(op->id);
	int r = 0;

	if (!sb || !ret) {
		r = -EIO;
		if (sb)
			sandbox_set_error(sb, "%s: qemu refused: %s",
					  op->pause ? "pause" : "resume",
					  json_string_value(json_object_get(
						  err, "desc")) ?: "vm gone");
	} else if (op->pause) {
		sb->state = SB_PAUSED;
		sb->paused_at = loop_now_ms();
		sb_event(sb, "paused", NULL);
		if (cfg.suspend_after_s)
			sb->suspend_timer = loop_timer_add(
				cfg.suspend_after_s * 1000, on_auto_suspend, sb);
	} else {
		sb->state = SB_RUNNING;
		sb->paused_ms += loop_now_ms() - sb->paused_at;
		if (strcmp(sb->reason, "timeout") == 0)
			snprintf(sb->reason, sizeof(sb->reason), "-");
		sb_event(sb, "resumed", NULL);
		drop_saved(sb);
		/* The guest's clock stood still while it was stopped. */
		send_setup(sb, false);
	}
	op->fn(op->data, r);
	free(op);
}

static int stop_cont(struct sandbox *sb, bool pause, sb_done_fn fn,
		     void *data)
{
	const char *verb = pause ? "pause" : "resume";
	struct qmp_op *op;
	int r;

	if (pause && sb->state != SB_RUNNING) {
		sandbox_set_error(sb, "pause: sandbox is %s, not running",
				  sandbox_state_name(sb->state));
		return sb->state == SB_PAUSED ? -EALREADY : -EINVAL;
	}
	if (!pause && sb->state != SB_PAUSED) {
		sandbox_set_error(sb, "resume: sandbox is %s, not paused",
				  sandbox_state_name(sb->state));
		return -EINVAL;
	}
	if (sb->phase != PH_NONE || sb->fork_child) {
		sandbox_set_error(sb, "%s: a fork or suspend is in progress",
				  verb);
		return -EBUSY;
	}
	if (!pause) {
		loop_timer_del(sb->suspend_timer);
		sb->suspend_timer = NULL;
	}
	if (!pause && sb->suspended) {
		char path[PATH_MAX + 16];

		snapshot_path(sb, "saved.mig", path, sizeof(path));
		r = restore_from(sb, path);
		if (r == 0)
			r = wait_add(sb, W_RESUME, 0, fn, NULL, data);
		return r;
	}
	if (!sb->qmp) {
		sandbox_set_error(sb, "%s: qmp not connected", verb);
		return -EAGAIN;
	}
	op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	*op = (struct qmp_op){ .id = sb->id, .pause = pause, .fn = fn,
			       .data = data };
	r = qmp_cmd(sb->qmp, pause ? "stop" : "cont", NULL, on_stop_cont, op);
	if (r < 0)
		free(op);
	else
		loop_mod(sb->qmp_src, EPOLLIN | EPOLLOUT);
	return r;
}

int sandbox_pause(struct sandbox *sb, sb_done_fn fn, void *data)
{
	return stop_cont(sb, true, fn, data);
}

int sandbox_resume(struct sandbox *sb, sb_done_fn fn, void *data)
{
	return stop_cont(sb, false, fn, data);
}

/* Recovery after a daemon restart */

/* A pid is ours only if that process runs in the sandbox's folder: after
 * a reboot or a long time the number may belong to anything. */
static bool vm_is_ours(const struct sandbox *sb)
{
	char link[64], cwd[PATH_MAX];
	ssize_t n;

	if (sb->pid <= 0)
		return false;
	snprintf(link, sizeof(link), "/proc/%d/cwd", (int)sb->pid);
	n = readlink(link, cwd, sizeof(cwd) - 1);
	if (n < 0)
		return false;
	cwd[n] = '\0';
	return strcmp(cwd, sb->dir) == 0;
}

static int recover_jobs(struct sandbox *sb, json_t *jobs)
{
	size_t i, n = json_array_size(jobs);
	json_t *o;
	unsigned long max = 0;

	json_array_foreach(jobs, i, o) {
		unsigned long k = json_integer_value(json_object_get(o, "n"));

		if (k > max && k < (1UL << 31))
			max = k;
	}
	sb->jobs = calloc(max ? max : 1, sizeof(*sb->jobs));
	if (!sb->jobs)
		return -ENOMEM;
	json_array_foreach(jobs, i, o) {
		unsigned long k = json_integer_value(json_object_get(o, "n"));
		const char *cmd = json_string_value(json_object_get(o, "cmd"));
		const char *why = json_string_value(json_object_get(o, "why"));
		struct job *j;
		int r;

		if (k == 0 || k > max || !cmd || sb->jobs[k - 1])
			continue;
		r = job_new(sb->dir, k, cmd, &j);
		if (r < 0)
			return r;
		j->state = json_integer_value(json_object_get(o, "state"));
		j->code = json_integer_value(json_object_get(o, "code"));
		j->sig = json_integer_value(json_object_get(o, "sig"));
		snprintf(j->why, sizeof(j->why), "%s", why ? why : "");
		j->acked_out = json_integer_value(json_object_get(o, "acked_out"));
		j->acked_err = json_integer_value(json_object_get(o, "acked_err"));
		j->stdin_closed = json_is_true(json_object_get(o, "stdin_closed"));
		/* Acked past what is stored: the output was capped, and the
		 * agent dropped the rest (fs/job.h). */
		if (j->acked_out > j->got_out || j->acked_err > j->got_err) {
			j->truncated = true;
			job_dropped_to(j, j->acked_out, j->acked_err);
		}
		if (j->state == JOB_EXITED || j->state == JOB_KILLED)
			job_end(j);
		sb->jobs[k - 1] = j;
	}
	sb->njobs = max;
	(void)n;
	return 0;
}

/* Attaches to a VM that outlived its daemon, or records that it did not. */
static void reattach(struct sandbox *sb)
{
	if (sb->suspended || sb->state == SB_CRASHED ||
	    sb->state == SB_STOPPED) {
		sb->pid = sb->suspended ? 0 : sb->pid;
		return;
	}
	if (vm_is_ours(sb))
		sb->pidfd = syscall(SYS_pidfd_open, sb->pid, 0);
	if (sb->pidfd < 0) {
		crashed(sb, "vmm-exited");
		return;
	}
	sb->pid_src = loop_add(sb->pidfd, EPOLLIN, on_vm_exit, sb);
	sb->connect_timer = loop_timer_add(0, try_connect, sb);
	guard_adopt(sb);
	log_info("sandbox '%s': attached to its running vm (pid %d)", sb->name,
		 (int)sb->pid);
}

static void recover_one(const char *name)
{
	char shape[64];
	struct sandbox *sb = calloc(1, sizeof(*sb));
	json_t *jobs = NULL;
	int r;

	if (!sb)
		return;
	sb->pidfd = sb->dirfd = -1;
	sb->ev.sp.fd = -1;
	snprintf(sb->dir, sizeof(sb->dir), "%s/%s", sandboxes_dir, name);
	r = persist_load(sb->dir, sb, shape, sizeof(shape), &jobs);
	sb->shp = shape_find(shape);
	if (r == 0 && (!sb->shp || strcmp(sb->name, name) != 0 ||
		       !name_valid(name)))
		r = -EINVAL;
	if (r == 0 && sb->state == SB_STARTING)
		r = -EAGAIN;
	if (r < 0) {
		/* Half made when the daemon died: nobody was told it exists. */
		log_warn("sandbox folder '%s': %s, removing it", name,
			 r == -EAGAIN ? "it was still starting" :
			 "no readable state.json");
		if (vm_is_ours(sb))
			kill(sb->pid, SIGKILL);
		remove_tree(sb->dir);
		json_decref(jobs);
		free(sb);
		return;
	}
	sb->id = ++last_id;
	sb->shape = sb->shp->name;
	sb->dirfd = open(sb->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	image_paths(sb->image, sb->kernel, sb->initrd, sizeof(sb->kernel));
	sb->tpl = template_get(sb->image, sb->shape, sb->kernel, sb->initrd);
	r = sb->dirfd < 0 || !sb->tpl ? -ENOMEM : recover_jobs(sb, jobs);
	json_decref(jobs);
	if (r == 0) {
		char events[PATH_MAX + 8];

		snprintf(events, sizeof(events), "%s/events", sb->dir);
		r = evlog_open(&sb->ev, events);
	}
	if (r == 0)
		r = guard_attach(sb);
	if (r < 0) {
		log_err("sandbox '%s': cannot recover: %s, leaving its folder",
			name, strerror(-r));
		for (size_t i = 0; i < sb->njobs; i++)
			job_free(sb->jobs[i]);
		free(sb->jobs);
		if (sb->dirfd >= 0)
			close(sb->dirfd);
		free(sb);
		return;
	}
	sb->next = all;
	all = sb;
	sbnet_recover(sb);
	reattach(sb);
	log_info("sandbox '%s': recovered, %s", name,
		 sandbox_state_name(sb->state));
}

void sandbox_recover_all(void)
{
	DIR *d = opendir(sandboxes_dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' ||
		    e->d_type != DT_DIR)
			continue;
		recover_one(e->d_name);
	}
	closedir(d);
}
