/* A sandbox: one VM, its jobs, its events, its state folder.  This file
 * drives the lifecycle (start, ready, crash, destroy) and speaks the
 * agent protocol; the FUSE side calls in and gets callbacks. */
#ifndef SBXFS_SANDBOX_H
#define SBXFS_SANDBOX_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctl.h"
#include "evlog.h"
#include "job.h"

enum sb_state { SB_STARTING, SB_RUNNING, SB_PAUSED, SB_STOPPED, SB_CRASHED };

/* What the sandbox's QEMU process is doing on the way to (or out of) a
 * normal life; the path is documented in docs/lifecycle.md. */
enum sb_phase {
	PH_NONE,
	PH_TPL_WAIT,		/* another sandbox is building our template */
	PH_TPL_BOOT,		/* cold boot with the template's shared RAM */
	PH_TPL_SAVE,		/* saving the template's device state */
	PH_TPL_DONE,		/* saved; waiting for that QEMU to end */
	PH_PARENT_WAIT,		/* fork child: the parent is being saved */
	PH_RESTORE,		/* QEMU loading a snapshot (-incoming) */
	PH_SUSPEND_SAVE,	/* writing a paused sandbox to disk */
	PH_SUSPEND_DONE,	/* written; waiting for its QEMU to end */
};

struct sb_config {
	const char *state_dir;
	const char *images_dir;
	const char *accel;	/* resolved: "kvm" or "tcg" */
	const char *qemu;
	unsigned boot_timeout_s;
	unsigned suspend_after_s;	/* paused this long: to disk; 0 never */
};

struct sandbox;
struct qmp;
struct channel;
struct loop_src;
struct loop_timer;
struct waitcb;
struct template;
struct guard;
struct shape;

/* err is 0 or -errno; for create, on error the sandbox is already gone. */
typedef void (*sb_done_fn)(void *data, int err);
typedef void (*sb_exec_fn)(void *data, unsigned long job, int err);

struct sandbox {
	unsigned long id;	/* never reused while the daemon runs */
	char name[64];
	char dir[PATH_MAX];
	enum sb_state state;
	char reason[32];
	const char *shape;
	char image[64];
	char error[CTL_ERR_MAX];
	bool destroying;
	bool setting_up;	/* ready, waiting for setup-ok */
	bool suspended;		/* paused, on disk, no QEMU process */
	bool saved;		/* saved.mig holds the paused state as is */
	bool dirty;		/* state.json is behind */
	bool built_template, from_fork;	/* how it started, for events */
	enum sb_phase phase;
	const struct shape *shp;
	struct template *tpl;
	char kernel[PATH_MAX], initrd[PATH_MAX];
	char incoming[PATH_MAX + 16];	/* snapshot to load once QMP is up */
	unsigned long fork_child;	/* id of the child being forked */
	unsigned lifetime_s;
	struct loop_timer *lifetime_timer, *suspend_timer;

	int dirfd;		/* O_PATH, for socket paths that fit */
	pid_t pid;
	int pidfd;
	struct loop_src *pid_src;
	struct qmp *qmp;
	struct loop_src *qmp_src;
	struct channel *ch;
	struct loop_src *ch_src;
	struct loop_timer *connect_timer, *boot_timer, *kill_timer;

	uint64_t started_ms, paused_ms, paused_at, ended_ms;

	struct job **jobs;	/* jobs[n - 1]; NULL for a number never used */
	size_t njobs;
	struct evlog ev;
	struct guard *guard;	/* cgroup, console, heartbeat: fs/guard.c */
	struct netpol *np;	/* tap, egress filter, quota: fs/sbnet.c */
	bool net_broken;	/* wanted a network, could not make one */

	struct waitcb *waits;	/* callbacks waiting for the VM or the agent */
	struct sandbox *next;
};

void sandbox_init(const struct sb_config *cfg);
/* Finds the sandboxes a daemon that died left in the state folder and
 * attaches to their VMs; those whose VM is gone show as crashed. */
void sandbox_recover_all(void);
/* Stops every VM and frees everything; for daemon shutdown. */
void sandbox_shutdown_all(void);

struct sandbox *sandbox_find(const char *name);
struct sandbox *sandbox_by_id(unsigned long id);
struct sandbox *sandbox_first(void);
unsigned sandbox_count(void);

/* Starts a VM.  fn(data, 0) once its agent answers; fn(data, -EIO) if it
 * did not start, after which the sandbox no longer exists.  Synchronous
 * errors (-EEXIST, -EINVAL with msg) are returned at once and fn is not
 * called. */
int sandbox_create(const char *name, const char *shape, const char *image,
		   sb_done_fn fn, void *data, char *msg, size_t msglen);
/* Stops the VM, removes its state, frees it, then calls fn. */
void sandbox_destroy(struct sandbox *sb, sb_done_fn fn, void *data);

int sandbox_exec(struct sandbox *sb, const struct ctl_cmd *c, sb_exec_fn fn,
		 void *data);
int sandbox_pause(struct sandbox *sb, sb_done_fn fn, void *data);
int sandbox_resume(struct sandbox *sb, sb_done_fn fn, void *data);
/* Needs a paused parent (-EBUSY).  fn(data, 0) once the child runs. */
int sandbox_fork(struct sandbox *sb, const char *name, sb_done_fn fn,
		 void *data);
/* Writes a paused (or running) sandbox to disk and ends its QEMU. */
int sandbox_suspend(struct sandbox *sb, sb_done_fn fn, void *data);
/* The sandbox's lifetime: paused with a timeout event when it runs out. */
int sandbox_set_lifetime(struct sandbox *sb, unsigned long long secs);
int sandbox_kill_job(struct sandbox *sb, unsigned long n, int sig);
/* Returns 0 when the bytes are queued, 1 when they are queued but the
 * writer must wait for fn(data, err) (backpressure; fn may be NULL for
 * never), or -errno. */
int sandbox_stdin(struct sandbox *sb, unsigned long n, const void *data,
		  size_t len, bool eof, sb_done_fn fn, void *fndata);

bool sandbox_image_exists(const char *image);
struct job *sandbox_job(struct sandbox *sb, unsigned long n);
uint64_t sandbox_uptime_ms(const struct sandbox *sb);
const char *sandbox_state_name(enum sb_state s);
/* For fs/guard.c: a heartbeat ping, and ending a sandbox whose agent is
 * gone (crashed with reason, its QEMU killed). */
int sandbox_ping(struct sandbox *sb, unsigned seq);
void sandbox_fail(struct sandbox *sb, const char *reason);
void sandbox_set_error(struct sandbox *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
