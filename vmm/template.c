/* Template files: RAM in ram_dir (tmpfs, so the mapping costs no disk
 * I/O), device state and stamp in state_dir/templates.  The stamp names
 * the image files by size and mtime plus the QEMU binary, so a rebuilt
 * image or an upgraded QEMU never restores an old snapshot. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "template.h"
#include "util.h"

static char ram_dir[PATH_MAX], tpl_dir[PATH_MAX];
static struct template *all;

static void remove_ram_dir(const char *dir)
{
	char path[PATH_MAX + 300];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* RAM files outlive a daemon that crashed, for the next one to reuse.
 * Each folder names the state folder it belongs to; once that is gone
 * nobody will, so the first daemon to start removes it. */
static void sweep_orphans(const char *rdir)
{
	char dir[PATH_MAX], owner[PATH_MAX + 16], state[PATH_MAX];
	struct dirent *e;
	DIR *d = opendir(rdir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		autoclose int fd = -1;
		ssize_t n;

		if (strncmp(e->d_name, "sbxfs-", 6) != 0)
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", rdir, e->d_name);
		snprintf(owner, sizeof(owner), "%s/owner", dir);
		fd = open(owner, O_RDONLY | O_CLOEXEC);
		n = fd < 0 ? -1 : read(fd, state, sizeof(state) - 1);
		if (n <= 0)
			continue;
		state[n] = '\0';
		if (access(state, F_OK) < 0 && errno == ENOENT)
			remove_ram_dir(dir);
	}
	closedir(d);
}

void template_init(const char *rdir, const char *state_dir)
{
	char owner[PATH_MAX + 16];
	autoclose int fd = -1;
	struct stat st;

	sweep_orphans(rdir);
	/* Two daemons with different --state must not share RAM files. */
	if (stat(state_dir, &st) < 0)
		st.st_ino = 0;
	snprintf(ram_dir, sizeof(ram_dir), "%s/sbxfs-%lx", rdir,
		 (unsigned long)st.st_ino);
	snprintf(tpl_dir, sizeof(tpl_dir), "%s/templates", state_dir);
	mkdir(ram_dir, 0700);
	mkdir(tpl_dir, 0700);
	snprintf(owner, sizeof(owner), "%s/owner", ram_dir);
	fd = open(owner, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0 && write(fd, state_dir, strlen(state_dir)) < 0)
		return;
}

static void file_id(const char *path, char *buf, size_t len)
{
	struct stat st;

	if (stat(path, &st) < 0)
		snprintf(buf, len, "%s:missing", path);
	else
		snprintf(buf, len, "%s:%lld:%lld.%09ld", path,
			 (long long)st.st_size, (long long)st.st_mtim.tv_sec,
			 st.st_mtim.tv_nsec);
}

static void make_stamp(const char *kernel, const char *initrd, char *buf,
		       size_t len)
{
	char k[PATH_MAX + 64], i[PATH_MAX + 64];

	file_id(kernel, k, sizeof(k));
	file_id(initrd, i, sizeof(i));
	snprintf(buf, len, "%s %s", k, i);
}

static bool stamp_matches(const struct template *t)
{
	char path[sizeof(t->dev) + 8], buf[sizeof(t->stamp)] = "";
	autoclose int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "%s.stamp", t->dev);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strcmp(buf, t->stamp) == 0 && access(t->ram, R_OK) == 0 &&
	       access(t->dev, R_OK) == 0;
}

struct template *template_get(const char *image, const char *shape,
			      const char *kernel, const char *initrd)
{
	char stamp[sizeof(all->stamp)];
	struct template *t;

	make_stamp(kernel, initrd, stamp, sizeof(stamp));
	for (t = all; t; t = t->next) {
		if (strcmp(t->image, image) || strcmp(t->shape, shape))
			continue;
		if (t->state == TPL_READY && strcmp(t->stamp, stamp) != 0)
			template_drop(t);
		return t;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	snprintf(t->image, sizeof(t->image), "%s", image);
	snprintf(t->shape, sizeof(t->shape), "%s", shape);
	snprintf(t->stamp, sizeof(t->stamp), "%s", stamp);
	snprintf(t->ram, sizeof(t->ram), "%s/%s.%s.ram", ram_dir, image, shape);
	snprintf(t->dev, sizeof(t->dev), "%s/%s.%s.dev", tpl_dir, image, shape);
	/* A template left by an earlier run of the daemon is still good if
	 * the image has not changed since. */
	t->state = stamp_matches(t) ? TPL_READY : TPL_NONE;
	t->next = all;
	all = t;
	return t;
}

int template_done(struct template *t)
{
	char path[sizeof(t->dev) + 8];
	autoclose int fd = -1;
	size_t n = strlen(t->stamp);

	snprintf(path, sizeof(path), "%s.stamp", t->dev);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, t->stamp, n) != (ssize_t)n || fsync(fd) < 0)
		return -EIO;
	t->state = TPL_READY;
	return 0;
}

void template_drop(struct template *t)
{
	char path[sizeof(t->dev) + 8];

	/* Sandboxes still mapping the old RAM file keep their pages: an
	 * unlinked file lives on while it is mapped. */
	unlink(t->ram);
	unlink(t->dev);
	snprintf(path, sizeof(path), "%s.stamp", t->dev);
	unlink(path);
	t->state = TPL_NONE;
}

void template_remove_all(void)
{
	while (all) {
		struct template *t = all;

		all = t->next;
		template_drop(t);
		free(t);
	}
	remove_ram_dir(ram_dir);
	rmdir(tpl_dir);
}
