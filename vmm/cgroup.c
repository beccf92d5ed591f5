/* Host cgroups, v2 or v1 per controller, detected once at start from
 * /proc/self/mountinfo and /proc/self/cgroup.  Only the parsers and the
 * file writes live here; when to create and remove is sandbox.c's. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "util.h"

static const char *const ctl_names[CG_NCTL] = { "memory", "cpu", "pids" };

/* Where each controller is: a base dir (ours, sbxfs-PID) and its kind.
 * Controllers in one hierarchy share a base. */
static struct {
	char base[CG_NCTL][1200];
	char v2mnt[256], v1mnt[CG_NCTL][256];	/* for cgroup_adopt */
	bool v2[CG_NCTL];
	bool on;
	char desc[8];
} cg;

bool cgroup_enabled(void)
{
	return cg.on;
}

const char *cgroup_describe(void)
{
	return cg.on ? cg.desc : "off";
}

bool cg_list_has(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += n) {
		bool start = p == list || p[-1] == ',' || p[-1] == ' ';
		bool end = p[n] == '\0' || p[n] == ',' || p[n] == ' ' ||
			   p[n] == '\n';

		if (start && end)
			return true;
	}
	return false;
}

int cg_parse_mountinfo(char *line, char **mnt, char **fstype, char **opts)
{
	char *save = NULL, *f[6], *dash;
	int i = 0;

	/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS...] - TYPE SRC SUPER" */
	dash = strstr(line, " - ");
	if (!dash)
		return -EINVAL;
	*dash = '\0';
	for (char *t = strtok_r(line, " ", &save); t && i < 6;
	     t = strtok_r(NULL, " ", &save))
		f[i++] = t;
	if (i < 5)
		return -EINVAL;
	*mnt = f[4];
	save = NULL;
	*fstype = strtok_r(dash + 3, " ", &save);
	if (!*fstype || !strtok_r(NULL, " ", &save))
		return -EINVAL;
	*opts = strtok_r(NULL, " \n", &save);
	if (!*opts)
		return -EINVAL;
	return 0;
}

int cg_parse_proc_cgroup(char *line, char **ctls, char **path)
{
	char *a = strchr(line, ':'), *b, *nl;

	if (!a || a == line)
		return -EINVAL;
	b = strchr(a + 1, ':');
	if (!b || b[1] != '/')
		return -EINVAL;
	*a = *b = '\0';
	*ctls = a + 1;
	*path = b + 1;
	nl = strchr(*path, '\n');
	if (nl)
		*nl = '\0';
	return 0;
}

/* The daemon's own cgroup in the hierarchy holding ctl ("" for v2). */
static int own_path(const char *ctl, char *out, size_t len)
{
	char line[1024], *ctls, *path;
	FILE *f = fopen("/proc/self/cgroup", "re");
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (r < 0 && fgets(line, sizeof(line), f)) {
		if (cg_parse_proc_cgroup(line, &ctls, &path) < 0)
			continue;
		if ((ctl[0] && cg_list_has(ctls, ctl)) || (!ctl[0] && !ctls[0])) {
			snprintf(out, len, "%s", strcmp(path, "/") ? path : "");
			r = 0;
		}
	}
	fclose(f);
	return r;
}

/* Mount points of the v2 tree and of each controller's v1 hierarchy. */
static void find_mounts(char *v2, size_t len, char v1[CG_NCTL][256])
{
	char line[2048], *mnt, *type, *opts;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	v2[0] = '\0';
	for (int i = 0; i < CG_NCTL; i++)
		v1[i][0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (cg_parse_mountinfo(line, &mnt, &type, &opts) < 0)
			continue;
		if (!strcmp(type, "cgroup2") && !v2[0])
			snprintf(v2, len, "%s", mnt);
		if (strcmp(type, "cgroup"))
			continue;
		for (int i = 0; i < CG_NCTL; i++)
			if (!v1[i][0] && cg_list_has(opts, ctl_names[i]))
				snprintf(v1[i], 256, "%s", mnt);
	}
	fclose(f);
}

static int write_file(const char *dir, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int write_file(const char *dir, const char *file, const char *fmt, ...)
{
	char path[1600], text[64];
	autoclose int fd = -1;
	va_list ap;
	int n;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return write(fd, text, n) == n ? 0 : -errno;
}

static bool has_controllers(const char *dir, bool all)
{
	char path[1600], line[512] = "";
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "%s/cgroup.controllers", dir);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	for (int i = 0; i < CG_NCTL; i++)
		found += cg_list_has(line, ctl_names[i]);
	return all ? found == CG_NCTL : found > 0;
}

/* v2 allows controllers below a cgroup only if it has no processes of
 * its own (the root excepted): when ours has, the daemon moves into a
 * leaf beside the sandboxes, as a delegated service does. */
static int v2_enable(const char *own)
{
	char leaf[1200];
	int r = write_file(own, "cgroup.subtree_control", "+memory +cpu +pids");

	if (r != -EBUSY)
		return r;
	snprintf(leaf, sizeof(leaf), "%s/sbxfs-daemon", own);
	if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
		return -errno;
	r = write_file(leaf, "cgroup.procs", "0");
	if (r < 0)
		return r;
	return write_file(own, "cgroup.subtree_control", "+memory +cpu +pids");
}

/* sbxfs-PID dirs of daemons that are gone: remove what is empty. */
static void sweep_stale(const char *parent)
{
	DIR *d = opendir(parent);
	struct dirent *e;
	char path[1600];

	if (!d)
		return;
	while ((e = readdir(d))) {
		long pid;
		DIR *sd;
		struct dirent *se;

		if (sscanf(e->d_name, "sbxfs-%ld", &pid) != 1 || pid <= 0 ||
		    pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", parent, e->d_name);
		sd = opendir(path);
		while (sd && (se = readdir(sd))) {
			char sub[1900];

			if (se->d_type != DT_DIR || se->d_name[0] == '.')
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, se->d_name);
			rmdir(sub);
		}
		if (sd)
			closedir(sd);
		rmdir(path);
	}
	closedir(d);
}

static int make_base(const char *parent, char *base, size_t len)
{
	sweep_stale(parent);
	snprintf(base, len, "%s/sbxfs-%ld", parent, (long)getpid());
	if (mkdir(base, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int init_v2(const char *mnt, char *msg, size_t msglen)
{
	char own[256], parent[1100];
	int r = own_path("", own, sizeof(own));

	if (r < 0)
		return r;
	snprintf(parent, sizeof(parent), "%s%s", mnt, own);
	if (!has_controllers(parent, true))
		return -ENOENT;
	r = v2_enable(parent);
	if (r == 0)
		r = make_base(parent, cg.base[0], sizeof(cg.base[0]));
	if (r == 0)
		r = write_file(cg.base[0], "cgroup.subtree_control",
			       "+memory +cpu +pids");
	if (r < 0) {
		snprintf(msg, msglen, "cgroup v2 at '%s': %s", parent,
			 strerror(-r));
		return r;
	}
	for (int i = 0; i < CG_NCTL; i++) {
		snprintf(cg.base[i], sizeof(cg.base[i]), "%s", cg.base[0]);
		cg.v2[i] = true;
	}
	snprintf(cg.desc, sizeof(cg.desc), "v2");
	return 0;
}

static int init_v1(char v1[CG_NCTL][256], char *msg, size_t msglen)
{
	char own[256], parent[1100];
	int r;

	for (int i = 0; i < CG_NCTL; i++) {
		if (!v1[i][0]) {
			snprintf(msg, msglen, "no cgroup v1 hierarchy has the %s "
				 "controller", ctl_names[i]);
			return -ENOENT;
		}
		r = own_path(ctl_names[i], own, sizeof(own));
		if (r < 0)
			own[0] = '\0';
		snprintf(parent, sizeof(parent), "%s%s", v1[i], own);
		r = make_base(parent, cg.base[i], sizeof(cg.base[i]));
		if (r < 0) {
			snprintf(msg, msglen, "cgroup v1 %s at '%s': %s",
				 ctl_names[i], parent, strerror(-r));
			return r;
		}
	}
	snprintf(cg.desc, sizeof(cg.desc), "v1");
	return 0;
}

int cgroup_init(const char *mode, char *msg, size_t msglen)
{
	char v2[256], v1[CG_NCTL][256];
	int r = -ENOENT;

	msg[0] = '\0';
	if (!strcmp(mode, "off"))
		return 0;
	if (strcmp(mode, "auto") && strcmp(mode, "v1") && strcmp(mode, "v2")) {
		snprintf(msg, msglen, "expected auto, v1, v2 or off");
		return -EINVAL;
	}
	find_mounts(v2, sizeof(v2), v1);
	snprintf(cg.v2mnt, sizeof(cg.v2mnt), "%s", v2);
	memcpy(cg.v1mnt, v1, sizeof(cg.v1mnt));
	/* A pure v2 host, or a hybrid one whose v2 tree got the controllers. */
	if (strcmp(mode, "v1") && v2[0])
		r = init_v2(v2, msg, msglen);
	if (r < 0 && strcmp(mode, "v2"))
		r = init_v1(v1, msg, msglen);
	if (r < 0 && !msg[0])
		snprintf(msg, msglen, "no cgroup tree has the memory, cpu and "
			 "pids controllers");
	if (r < 0)
		return !strcmp(mode, "auto") ? 0 : r;
	cg.on = true;
	return 0;
}

void cgroup_fini(void)
{
	if (!cg.on)
		return;
	for (int i = 0; i < CG_NCTL; i++)
		if (!i || strcmp(cg.base[i], cg.base[0]))
			rmdir(cg.base[i]);
	cg.on = false;
}

static int write_limits(const char *dir, int ctl, const struct cg_limits *l,
			bool v2)
{
	const unsigned long long period = 100000;
	unsigned long long quota = period * l->cpu_pct / 100;

	switch (ctl) {
	case 0:
		if (v2) {
			/* No swap: the limit is the limit. */
			write_file(dir, "memory.swap.max", "0");
			return write_file(dir, "memory.max", "%llu",
					  (unsigned long long)l->mem_bytes);
		}
		return write_file(dir, "memory.limit_in_bytes", "%llu",
				  (unsigned long long)l->mem_bytes);
	case 1:
		if (v2)
			return write_file(dir, "cpu.max", "%llu %llu", quota,
					  period);
		write_file(dir, "cpu.cfs_period_us", "%llu", period);
		return write_file(dir, "cpu.cfs_quota_us", "%llu", quota);
	default:
		return write_file(dir, "pids.max", "%u", l->pids);
	}
}

/* Adds dir to out unless a controller co-mounted with an earlier one
 * already put it there. */
static int add_dir(struct vmcg *out, const char *dir)
{
	for (unsigned k = 0; k < out->npaths; k++)
		if (!strcmp(out->path[k], dir))
			return 0;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	snprintf(out->path[out->npaths++], sizeof(out->path[0]), "%s", dir);
	return 0;
}

int cgroup_create(const char *name, const struct cg_limits *l,
		  struct vmcg *out)
{
	char dir[sizeof(out->path[0])];
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (!cg.on)
		return 0;
	for (int i = 0; i < CG_NCTL && r == 0; i++) {
		snprintf(dir, sizeof(dir), "%s/%s", cg.base[i], name);
		r = add_dir(out, dir);
		if (r == 0)
			r = write_limits(dir, i, l, cg.v2[i]);
	}
	if (r < 0)
		cgroup_remove(out);
	return r;
}

int cgroup_procs_fds(const struct vmcg *cg_, int *fds, unsigned max)
{
	char path[1600];
	unsigned n = 0;

	for (unsigned i = 0; i < cg_->npaths && n < max; i++) {
		snprintf(path, sizeof(path), "%s/cgroup.procs", cg_->path[i]);
		fds[n] = open(path, O_WRONLY | O_CLOEXEC);
		if (fds[n] < 0) {
			int e = -errno;

			while (n)
				close(fds[--n]);
			return e;
		}
		n++;
	}
	return n;
}

bool cgroup_oom_killed(const struct vmcg *v)
{
	static const char *const files[] = { "memory.events",
					     "memory.oom_control" };
	char path[1600], line[128];
	bool killed = false;

	if (!cg.on)
		return false;
	/* Whichever dir has the memory controller's file: an adopted VMM's
	 * dirs come in /proc/PID/cgroup's order. */
	for (unsigned i = 0; i < v->npaths * 2 && !killed; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", v->path[i / 2],
			 files[i % 2]);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "oom_kill ", 9) && atoll(line + 9) > 0)
				killed = true;
		fclose(f);
	}
	return killed;
}

static bool is_base(const char *dir)
{
	for (int i = 0; i < CG_NCTL; i++)
		if (!strcmp(dir, cg.base[i]))
			return true;
	return false;
}

int cgroup_adopt(pid_t pid, struct vmcg *out)
{
	char file[64], line[1024], dir[sizeof(out->path[0])], *ctls, *path;
	FILE *f;

	memset(out, 0, sizeof(*out));
	if (!cg.on)
		return 0;
	snprintf(file, sizeof(file), "/proc/%d/cgroup", (int)pid);
	f = fopen(file, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (cg_parse_proc_cgroup(line, &ctls, &path) < 0 ||
		    !strstr(path, "/sbxfs-"))
			continue;
		for (int i = 0; i < CG_NCTL; i++) {
			const char *mnt = !ctls[0] ? cg.v2mnt :
					  cg_list_has(ctls, ctl_names[i]) ?
					  cg.v1mnt[i] : NULL;
			bool known = false;

			if (!mnt || !mnt[0] || out->npaths == CG_NCTL)
				continue;
			snprintf(dir, sizeof(dir), "%s%s", mnt, path);
			for (unsigned k = 0; k < out->npaths; k++)
				known |= !strcmp(out->path[k], dir);
			if (!known)
				snprintf(out->path[out->npaths++],
					 sizeof(out->path[0]), "%s", dir);
		}
	}
	fclose(f);
	return 0;
}

int cgroup_remove(struct vmcg *v)
{
	int r = 0;

	for (unsigned i = 0; i < v->npaths; i++) {
		char *slash;

		if (!v->path[i][0])
			continue;
		if (rmdir(v->path[i]) < 0 && errno != ENOENT) {
			r = -errno;
			continue;
		}
		/* An adopted VMM's dir was in a dead daemon's sbxfs-PID/,
		 * which goes once its last VMM has. */
		slash = strrchr(v->path[i], '/');
		if (slash)
			*slash = '\0';
		slash = strrchr(v->path[i], '/');
		if (slash && !strncmp(slash + 1, "sbxfs-", 6) &&
		    !is_base(v->path[i]))
			rmdir(v->path[i]);
		v->path[i][0] = '\0';
	}
	return r;
}
