/* The guest's job cgroups (cgroup v2 at /sys/fs/cgroup, mounted by
 * /init): one parent "jobs" with the memory, pids and CPU limits shared by
 * every job, and one child per job, so that an OOM or a fork bomb is
 * charged to, and ends, one job.  The agent stays in the root cgroup. */
#ifndef SBXFS_AGENT_JOBCG_H
#define SBXFS_AGENT_JOBCG_H

#include <stdbool.h>
#include <stdint.h>

/* Processes one job may have; a job that hits it is killed ("pids"). */
#define JCG_JOB_PIDS 512
/* Processes all jobs together may have. */
#define JCG_ALL_PIDS 2048

/* Sets up the jobs cgroup; returns -errno when cgroup v2 is not usable,
 * and jobs then run without limits (said once on the console). */
int jcg_init(void);
bool jcg_enabled(void);

/* Makes the job's cgroup and opens its cgroup.procs for the child to
 * write "0" into before exec.  Returns the fd or -errno. */
int jcg_create(int64_t id);
/* Kills every process of the job's cgroup (cgroup.kill). */
int jcg_kill(int64_t id);
/* What the kernel counted against the job: OOM kills, refused forks. */
bool jcg_oom_killed(int64_t id);
bool jcg_pids_hit(int64_t id);
/* Removes the job's cgroup now or, while processes the job left behind
 * still run in it, on a later jcg_sweep(). */
void jcg_remove(int64_t id);
void jcg_sweep(void);

/* OOM kills in the guest outside the jobs' cgroup since the last call
 * (/proc/vmstat counts every kill, jobs/memory.events those in jobs). */
long long jcg_guest_ooms(void);

/* An inotify fd that turns readable when a job's pids.events changes
 * (a refused fork); jcg_changed() drains it.  -1 without cgroups. */
int jcg_watch_fd(void);
void jcg_changed(void);

#endif
