/* Host-side guards of each sandbox; see guard.h.  Runs on the loop
 * thread like sandbox.c, and keeps its per-sandbox state in sb->guard. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "console.h"
#include "guard.h"
#include "log.h"
#include "loop.h"
#include "qemu.h"
#include "sandbox.h"
#include "shape.h"

#define BEAT_MS 1000
/* TCG's translation cache, fixed so that QEMU's own memory is bounded
 * (QEMU 7.2 defaults to 1 GiB); vmm/qemu.c passes it as tb-size. */
#define TB_MIB 128
/* QEMU's own heap, threads and device state beside guest RAM and the
 * translation cache; measured on QEMU 7.2/TCG (docs/failures.md). */
#define VMM_BASE_MIB 96
#define PIDS_MAX 256

struct guard {
	struct vmcg cg;
	int cg_fds[CG_NCTL];
	unsigned ncg_fds;
	struct console con;
	struct loop_timer *beat;
	uint64_t last_pong;
	unsigned seq;
};

static struct guard_config cfg;
static uint64_t host_limit_mib;

static uint64_t mem_total_mib(void)
{
	char line[128];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb >> 10;
}

int guard_init(const struct guard_config *c, char *msg, size_t msglen)
{
	int r;

	cfg = *c;
	host_limit_mib = cfg.max_memory_mib ? cfg.max_memory_mib :
			 mem_total_mib() * 8 / 10;
	r = cgroup_init(cfg.cgroups, msg, msglen);
	/* Sandboxes recovered before this (main.c recovers, then
	 * daemonizes, then names our cgroups after the final pid) keep the
	 * VMM's cgroups of the daemon that started it. */
	for (struct sandbox *sb = sandbox_first(); r == 0 && sb; sb = sb->next)
		if (sb->pidfd >= 0 && sb->guard && !sb->guard->cg.npaths)
			guard_adopt(sb);
	return r;
}

void guard_fini(void)
{
	cgroup_fini();
}

const char *guard_describe(void)
{
	static char text[96];

	snprintf(text, sizeof(text), "cgroups %s, %llu MiB for sandboxes",
		 cgroup_describe(), (unsigned long long)host_limit_mib);
	return text;
}

unsigned guard_job_timeout(void)
{
	return cfg.job_timeout_s;
}

uint64_t guard_job_output_max(void)
{
	return cfg.job_output_max;
}

uint64_t guard_commit_mib(const struct shape *shp)
{
	/* Page tables and QEMU's per-vCPU state grow with the guest. */
	return shp->mem_mib + TB_MIB + VMM_BASE_MIB + shp->mem_mib / 32;
}

/* The cgroup's limit is above the commit: guest RAM is a private mapping
 * of the template's RAM file, and a page the template never touched is
 * charged twice to the first sandbox that writes it, once in the file's
 * page cache (shared by later sandboxes) and once as its private copy. */
static uint64_t guard_limit_mib(const struct shape *shp)
{
	return guard_commit_mib(shp) + shp->mem_mib;
}

int guard_admit(const struct shape *shp, char *msg, size_t msglen)
{
	uint64_t used = 0, need = guard_commit_mib(shp);

	/* A crashed sandbox's VMM is gone; every other one holds, or will
	 * hold again after a resume, what its shape commits. */
	for (struct sandbox *sb = sandbox_first(); sb; sb = sb->next) {
		const struct shape *s = shape_find(sb->shape);

		if (s && sb->state != SB_CRASHED)
			used += guard_commit_mib(s);
	}
	if (used + need <= host_limit_mib)
		return 0;
	snprintf(msg, msglen, "host is full: %s needs %llu MiB, %llu of "
		 "%llu MiB are committed (--max-memory)", shp->name,
		 (unsigned long long)need, (unsigned long long)used,
		 (unsigned long long)host_limit_mib);
	return -ENOSPC;
}

static void on_beat(void *data)
{
	struct sandbox *sb = data;
	struct guard *g = sb->guard;
	uint64_t now = loop_now_ms();

	g->beat = loop_timer_add(BEAT_MS, on_beat, sb);
	/* Only a running guest owes us answers; a paused one's clock
	 * starts again at resume. */
	if (sb->state != SB_RUNNING || sb->destroying || !cfg.heartbeat_s) {
		g->last_pong = now;
		return;
	}
	if (now - g->last_pong > cfg.heartbeat_s * 1000ULL) {
		log_err("sandbox '%s': agent answered no ping for %u s",
			sb->name, cfg.heartbeat_s);
		sandbox_fail(sb, "agent-unresponsive");
		return;
	}
	sandbox_ping(sb, ++g->seq);
}

int guard_attach(struct sandbox *sb)
{
	char path[PATH_MAX + 16];
	struct guard *g = calloc(1, sizeof(*g));
	int r;

	if (!g)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/console.log", sb->dir);
	r = console_open(&g->con, path, cfg.console_max);
	if (r < 0) {
		free(g);
		return r;
	}
	g->last_pong = loop_now_ms();
	g->beat = loop_timer_add(BEAT_MS, on_beat, sb);
	sb->guard = g;
	return 0;
}

void guard_detach(struct sandbox *sb)
{
	struct guard *g = sb->guard;

	if (!g)
		return;
	guard_spawned(sb);
	loop_timer_del(g->beat);
	console_fini(&g->con);
	if (cgroup_remove(&g->cg) < 0)
		log_warn("sandbox '%s': removing its cgroup: busy, ignoring",
			 sb->name);
	free(g);
	sb->guard = NULL;
}

int guard_spawn(struct sandbox *sb, struct qemu_cfg *qc)
{
	const struct shape *shp = shape_find(sb->shape);
	struct guard *g = sb->guard;
	struct cg_limits l;
	char name[96];
	int r;

	if (!g || !shp || !cgroup_enabled())
		return 0;
	/* The sandbox's vCPUs, and a quarter CPU for QEMU's own threads:
	 * without it a guest spinning every vCPU would throttle the main
	 * loop that carries its agent channel and console. */
	l = (struct cg_limits){ .mem_bytes = guard_limit_mib(shp) << 20,
				.cpu_pct = shp->vcpus * 100 + 25,
				.pids = PIDS_MAX };
	snprintf(name, sizeof(name), "sb%lu-%s", sb->id, sb->name);
	r = cgroup_create(name, &l, &g->cg);
	if (r < 0)
		return r;
	r = cgroup_procs_fds(&g->cg, g->cg_fds, CG_NCTL);
	if (r < 0) {
		cgroup_remove(&g->cg);
		return r;
	}
	g->ncg_fds = r;
	qc->cgroup_fds = g->cg_fds;
	qc->ncgroup_fds = g->ncg_fds;
	return 0;
}

void guard_spawned(struct sandbox *sb)
{
	struct guard *g = sb->guard;

	while (g && g->ncg_fds)
		close(g->cg_fds[--g->ncg_fds]);
}

const char *guard_vm_gone(struct sandbox *sb)
{
	struct guard *g = sb->guard;
	const char *why = NULL;

	if (!g)
		return NULL;
	guard_spawned(sb);
	console_disconnect(&g->con);
	if (cgroup_oom_killed(&g->cg))
		why = "vmm-oom";
	else if (console_tail_has(&g->con, "Kernel panic"))
		/* "System is deadlocked on memory" when nothing is left to
		 * kill (the agent is exempt), "Out of memory" with
		 * panic_on_oom. */
		why = console_tail_has(&g->con, "deadlocked on memory") ||
		      console_tail_has(&g->con, "Out of memory") ?
		      "oom" : "panic";
	if (cgroup_remove(&g->cg) < 0)
		log_warn("sandbox '%s': removing its cgroup: busy, ignoring",
			 sb->name);
	return why;
}

void guard_adopt(struct sandbox *sb)
{
	int r = sb->guard && cgroup_enabled() ?
		cgroup_adopt(sb->pid, &sb->guard->cg) : 0;

	if (r < 0)
		log_warn("sandbox '%s': finding its vmm's cgroups: %s, ignoring",
			 sb->name, strerror(-r));
}

bool guard_connect(struct sandbox *sb)
{
	struct guard *g = sb->guard;
	char path[128];

	if (!g || console_connected(&g->con))
		return true;
	/* Through the dir's fd, as sandbox.c does for its sockets. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d/console.sock",
		 sb->dirfd);
	return console_connect(&g->con, path) == 0;
}

void guard_pong(struct sandbox *sb)
{
	if (sb->guard)
		sb->guard->last_pong = loop_now_ms();
}
