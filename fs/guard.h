/* What keeps one sandbox's failures inside it, on the host side: its
 * VMM's cgroup and the host memory committed to it, the console cap, the
 * agent heartbeat, and the daemon-wide job limits (output cap, default
 * timeout).  sandbox.c calls in at fixed points of the lifecycle; the
 * failure modes and their names are in docs/failures.md. */
#ifndef SBXFS_GUARD_H
#define SBXFS_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sandbox;
struct shape;
struct qemu_cfg;

struct guard_config {
	const char *cgroups;		/* auto, v1, v2 or off */
	uint64_t max_memory_mib;	/* 0: 80% of the host's MemTotal */
	unsigned job_timeout_s;		/* for exec without timeout=; 0 none */
	uint64_t job_output_max;	/* bytes of stdout+stderr kept; 0 all */
	uint64_t console_max;		/* bytes of console.log kept; 0 all */
	unsigned heartbeat_s;		/* no pong this long: unresponsive */
};

/* Returns -errno with a message when --cgroups cannot be had. */
int guard_init(const struct guard_config *c, char *msg, size_t msglen);
void guard_fini(void);
/* For the start-up log line. */
const char *guard_describe(void);

/* Host memory a sandbox of this shape commits: guest RAM plus what QEMU
 * itself needs around it (measured, see docs/failures.md). */
uint64_t guard_commit_mib(const struct shape *shp);
/* -ENOSPC with a message when the host cannot take one more of shp. */
int guard_admit(const struct shape *shp, char *msg, size_t msglen);

/* Per sandbox: the console log and the heartbeat.  detach accepts a
 * sandbox that was never attached. */
int guard_attach(struct sandbox *sb);
void guard_detach(struct sandbox *sb);

/* Around qemu_spawn: makes the cgroup and points qc at its procs files;
 * guard_spawned closes them in the daemon. */
int guard_spawn(struct sandbox *sb, struct qemu_cfg *qc);
void guard_spawned(struct sandbox *sb);
/* The VMM has been reaped: frees its cgroup and closes its console.
 * Returns a better crash reason than "vmm-exited" when there is one
 * ("oom", "panic", "vmm-oom"), else NULL. */
const char *guard_vm_gone(struct sandbox *sb);
/* A VMM a restarted daemon attached to: its cgroups become this
 * sandbox's, to be removed when it exits. */
void guard_adopt(struct sandbox *sb);
/* Connects the console if it is not; false while QEMU is not listening. */
bool guard_connect(struct sandbox *sb);
void guard_pong(struct sandbox *sb);

unsigned guard_job_timeout(void);
uint64_t guard_job_output_max(void);

#endif
