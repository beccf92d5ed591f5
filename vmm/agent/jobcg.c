/* Job cgroups inside the guest.  The limits are sized from the guest's
 * own MemTotal, so every shape gets the same rule: jobs may use all but a
 * reserve kept for the kernel and the agent, whose buffers and page tables
 * must survive a job that eats the rest. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobcg.h"
#include "util.h"

#define ROOT "/sys/fs/cgroup"
#define JOBS ROOT "/jobs"
/* A job's dir that could not be removed yet (a background process of
 * the job still runs in it); tried again on every sweep. */
#define LEFT_MAX 64

static bool enabled;
static int watch_fd = -1;
static int64_t left[LEFT_MAX];
static int nleft;

bool jcg_enabled(void)
{
	return enabled;
}

int jcg_watch_fd(void)
{
	return watch_fd;
}

static int write_str(const char *path, const char *s)
{
	autoclose int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	return n < 0 ? -errno : 0;
}

static void job_path(int64_t id, const char *file, char *buf, size_t len)
{
	if (file)
		snprintf(buf, len, JOBS "/%lld/%s", (long long)id, file);
	else
		snprintf(buf, len, JOBS "/%lld", (long long)id);
}

/* One "key N" line of a flat-keyed file such as memory.events. */
static long long read_key(const char *path, const char *key)
{
	char line[128];
	long long v = -1;
	size_t k = strlen(key);
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, k) && line[k] == ' ') {
			v = strtoll(line + k + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static long long mem_total_bytes(void)
{
	long long kb = read_key("/proc/meminfo", "MemTotal:");

	/* "MemTotal:  222620 kB": the key includes the colon, the value
	 * follows blanks, which strtoll skips. */
	return kb > 0 ? kb * 1024 : -1;
}

/* Jobs get MemTotal less 32 MiB and a sixteenth: about 46 MiB of a
 * 256 MiB guest, 280 MiB of a 4 GiB one. */
static long long jobs_memory_max(long long total)
{
	return total - (32LL << 20) - total / 16;
}

int jcg_init(void)
{
	long long total = mem_total_bytes();
	char num[32];
	int r;

	if (total <= 0)
		return -EIO;
	r = write_str(ROOT "/cgroup.subtree_control", "+memory +pids +cpu");
	if (r < 0)
		return r;
	if (mkdir(JOBS, 0755) < 0 && errno != EEXIST)
		return -errno;
	snprintf(num, sizeof(num), "%lld", jobs_memory_max(total));
	r = write_str(JOBS "/memory.max", num);
	if (r == 0) {
		snprintf(num, sizeof(num), "%d", JCG_ALL_PIDS);
		r = write_str(JOBS "/pids.max", num);
	}
	/* Weight 1 against the agent's 100 in the root: a job spinning on
	 * every vCPU still leaves the agent the CPU it needs to answer. */
	if (r == 0)
		r = write_str(JOBS "/cpu.weight", "1");
	if (r == 0)
		r = write_str(JOBS "/cgroup.subtree_control",
			      "+memory +pids +cpu");
	if (r < 0)
		return r;
	watch_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	enabled = true;
	return 0;
}

int jcg_create(int64_t id)
{
	char path[128], num[16];
	int fd, r;

	if (!enabled)
		return -ENOSYS;
	job_path(id, NULL, path, sizeof(path));
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	/* An OOM takes the whole job, not one process of a pipeline. */
	job_path(id, "memory.oom.group", path, sizeof(path));
	r = write_str(path, "1");
	snprintf(num, sizeof(num), "%d", JCG_JOB_PIDS);
	job_path(id, "pids.max", path, sizeof(path));
	if (r == 0)
		r = write_str(path, num);
	if (r < 0) {
		jcg_remove(id);
		return r;
	}
	job_path(id, "pids.events", path, sizeof(path));
	if (watch_fd >= 0)
		inotify_add_watch(watch_fd, path, IN_MODIFY);
	job_path(id, "cgroup.procs", path, sizeof(path));
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		jcg_remove(id);
		return r;
	}
	return fd;
}

int jcg_kill(int64_t id)
{
	char path[128];

	if (!enabled)
		return -ENOSYS;
	job_path(id, "cgroup.kill", path, sizeof(path));
	return write_str(path, "1");
}

bool jcg_oom_killed(int64_t id)
{
	char path[128];

	if (!enabled)
		return false;
	job_path(id, "memory.events", path, sizeof(path));
	return read_key(path, "oom_kill") > 0;
}

bool jcg_pids_hit(int64_t id)
{
	char path[128];

	if (!enabled)
		return false;
	job_path(id, "pids.events", path, sizeof(path));
	return read_key(path, "max") > 0;
}

void jcg_remove(int64_t id)
{
	char path[128];

	if (!enabled)
		return;
	job_path(id, NULL, path, sizeof(path));
	if (rmdir(path) == 0 || errno == ENOENT)
		return;
	if (nleft < LEFT_MAX)
		left[nleft++] = id;
}

void jcg_sweep(void)
{
	char path[128];

	for (int i = 0; i < nleft;) {
		job_path(left[i], NULL, path, sizeof(path));
		if (rmdir(path) == 0 || errno == ENOENT)
			left[i] = left[--nleft];
		else
			i++;
	}
}

long long jcg_guest_ooms(void)
{
	static long long seen;
	long long all = read_key("/proc/vmstat", "oom_kill");
	long long jobs = enabled ? read_key(JOBS "/memory.events", "oom_kill") : 0;
	long long outside = all - (jobs > 0 ? jobs : 0), n;

	if (all < 0)
		return 0;
	n = outside - seen;
	seen = outside;
	return n > 0 ? n : 0;
}

void jcg_changed(void)
{
	char buf[4096];

	while (watch_fd >= 0 && read(watch_fd, buf, sizeof(buf)) > 0)
		;
}
