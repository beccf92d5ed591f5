/* Host cgroups for the VMMs: each sandbox's QEMU runs in a cgroup of its
 * own with a memory, CPU and pids limit.  Each controller is used where
 * the host has it: in the cgroup v2 tree when it is enabled there, else in
 * its v1 hierarchy (hybrid hosts have memory, cpu and pids in v1).  The
 * cgroups live under the daemon's own, in sbxfs-PID/, so they stay inside
 * whatever limits the daemon itself runs under. */
#ifndef SBXFS_CGROUP_H
#define SBXFS_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CG_NCTL 3	/* memory, cpu, pids */

struct cg_limits {
	uint64_t mem_bytes;
	unsigned cpu_pct;	/* 100 = one host CPU */
	unsigned pids;
};

struct vmcg {
	char path[CG_NCTL][1300];	/* one dir per hierarchy used; "" unused */
	unsigned npaths;
};

/* mode is "auto", "v1", "v2" or "off".  Returns -errno with a message
 * when the mode cannot be had; "auto" without usable cgroups returns 0
 * and cgroup_enabled() is false. */
int cgroup_init(const char *mode, char *msg, size_t msglen);
void cgroup_fini(void);
bool cgroup_enabled(void);
/* "v2", "v1", "v1+v2" or "off", for the log. */
const char *cgroup_describe(void);

/* Makes the sandbox's cgroup and writes its limits. */
int cgroup_create(const char *name, const struct cg_limits *l,
		  struct vmcg *out);
/* Opens the cgroup.procs files the VMM's child writes "0" into; returns
 * how many (closing them is the caller's), or -errno. */
int cgroup_procs_fds(const struct vmcg *cg, int *fds, unsigned max);
/* Finds the sbxfs cgroups a running VMM is in (one a daemon that died
 * made), so that they are removed when it exits. */
int cgroup_adopt(pid_t pid, struct vmcg *out);
/* Whether the memory controller's OOM killer has killed in it. */
bool cgroup_oom_killed(const struct vmcg *cg);
/* Removes the dirs; -EBUSY while a process is still in one. */
int cgroup_remove(struct vmcg *cg);

/* Parsers, for the unit tests. */
/* One /proc/self/mountinfo line: the mount point, file system type and
 * super options (pointers into line, which is modified). */
int cg_parse_mountinfo(char *line, char **mnt, char **fstype, char **opts);
/* One /proc/self/cgroup line "ID:CONTROLLERS:PATH". */
int cg_parse_proc_cgroup(char *line, char **ctls, char **path);
/* Whether word is in a comma (or blank) separated list. */
bool cg_list_has(const char *list, const char *word);

#endif
