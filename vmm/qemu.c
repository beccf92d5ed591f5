/* The QEMU command line lives here alone.  Under TCG only -M pc boots the
 * Debian kernel (microvm hangs calibrating the TSC, see MACHINE-NOTES);
 * the guest's root is its initramfs, in guest RAM, so no disk is needed. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "qemu.h"
#include "util.h"

#define ARGV_MAX 64

struct argv {
	char *v[ARGV_MAX + 1];
	int n;
	char store[8192];
	size_t used;
};

static void add(struct argv *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add(struct argv *a, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (a->n >= ARGV_MAX)
		return;
	va_start(ap, fmt);
	n = vsnprintf(a->store + a->used, sizeof(a->store) - a->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(a->store) - a->used)
		return;
	a->v[a->n++] = a->store + a->used;
	a->used += n + 1;
}

static int build_argv(const struct qemu_cfg *c, struct argv *a)
{
	add(a, "%s", c->binary);
	add(a, "-nodefaults");
	add(a, "-no-user-config");
	add(a, "-display");
	add(a, "none");
	add(a, "-M");
	add(a, "pc,memory-backend=ram0");
	add(a, "-object");
	add(a, "memory-backend-file,id=ram0,size=%uM,mem-path=%s,share=%s",
	    c->mem_mib, c->ram_path, c->ram_shared ? "on" : "off");
	add(a, "-accel");
	if (strcmp(c->accel, "kvm") == 0) {
		add(a, "kvm");
		add(a, "-cpu");
		add(a, "host");
	} else {
		/* A fixed translation cache (7.2 defaults to 1 GiB) keeps
		 * QEMU's own memory inside its cgroup's limit (fs/guard.c). */
		add(a, "tcg,thread=multi,tb-size=128");
		add(a, "-cpu");
		add(a, "max");
	}
	add(a, "-smp");
	add(a, "%u", c->vcpus);
	add(a, "-m");
	add(a, "%u", c->mem_mib);
	add(a, "-kernel");
	add(a, "%s", c->kernel);
	add(a, "-initrd");
	add(a, "%s", c->initrd);
	add(a, "-append");
	add(a, "console=ttyS0 panic=-1 quiet");
	/* A panicking or rebooting guest ends QEMU, which the daemon sees. */
	add(a, "-no-reboot");
	add(a, "-chardev");
	/* The daemon reads the console and caps what it keeps (fs/console.c):
	 * a file chardev would let a flooding guest fill the host's disk. */
	add(a, "socket,id=con,path=console.sock,server=on,wait=off");
	add(a, "-serial");
	add(a, "chardev:con");
	add(a, "-qmp");
	add(a, "unix:qmp.sock,server=on,wait=off");
	add(a, "-device");
	add(a, "virtio-serial-pci");
	add(a, "-chardev");
	add(a, "socket,id=agent,path=agent.sock,server=on,wait=off");
	add(a, "-device");
	add(a, "virtserialport,chardev=agent,name=agent");
	/* A guest panic becomes GUEST_PANICKED on QMP, not a silent reset. */
	add(a, "-device");
	add(a, "pvpanic-pci");
	/* The sandbox's own tap (netpol/), handed over open as fd 3: the
	 * device dies with QEMU, so nothing is left when it goes. */
	if (c->tap_fd > 0) {
		add(a, "-netdev");
		add(a, "tap,id=net0,fd=3");
		add(a, "-device");
		add(a, "virtio-net-pci,netdev=net0,mac=%s", c->mac);
	}
	/* Devices above this line are part of the snapshot: a restore needs
	 * the same list, in the same order. */
	if (c->incoming) {
		add(a, "-S");
		add(a, "-incoming");
		add(a, "defer");
	}
	if (a->n >= ARGV_MAX)
		return -E2BIG;
	a->v[a->n] = NULL;
	return 0;
}

static void child(const struct qemu_cfg *c, struct argv *a)
{
	int null = open("/dev/null", O_RDONLY);
	int fd;

	/* Socket paths are relative to the state folder: sun_path holds only
	 * 108 bytes, too few for a long --state plus a 63-byte name. */
	if (chdir(c->dir) < 0)
		_exit(126);
	fd = open("qemu.log", O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (null < 0 || fd < 0)
		_exit(126);
	dup2(null, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	/* Into the sandbox's cgroups before exec: every page and thread
	 * QEMU ever has is charged there. */
	for (unsigned i = 0; i < c->ncgroup_fds; i++) {
		if (write(c->cgroup_fds[i], "0", 1) < 0) {
			fprintf(stderr, "sbxfs: joining cgroup: %s\n",
				strerror(errno));
			_exit(125);
		}
	}
	if (c->tap_fd > 0) {
		/* dup2 clears close-on-exec; on fd 3 already, clear it. */
		if (c->tap_fd == 3)
			fcntl(3, F_SETFD, 0);
		else if (dup2(c->tap_fd, 3) < 0)
			_exit(126);
		syscall(SYS_close_range, 4U, ~0U, 0);
	} else {
		syscall(SYS_close_range, 3U, ~0U, 0);
	}
	setsid();
	/* The daemon blocks these for its signalfd; QEMU must see them. */
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	execvp(a->v[0], a->v);
	fprintf(stderr, "sbxfs: exec %s: %s\n", a->v[0], strerror(errno));
	_exit(127);
}

int qemu_spawn(const struct qemu_cfg *cfg, pid_t *pid_out, int *pidfd_out)
{
	struct argv *a = calloc(1, sizeof(*a));
	pid_t pid;
	int r, pidfd;

	if (!a)
		return -ENOMEM;
	r = build_argv(cfg, a);
	if (r < 0) {
		free(a);
		return r;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		free(a);
		return r;
	}
	if (pid == 0)
		child(cfg, a);
	free(a);

	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		r = -errno;
		kill(pid, SIGKILL);
		return r;
	}
	fcntl(pidfd, F_SETFD, FD_CLOEXEC);
	*pid_out = pid;
	*pidfd_out = pidfd;
	return 0;
}
