/* Starting one QEMU process for one sandbox: its command line and the
 * files it owns in the sandbox's state folder (qmp.sock, agent.sock,
 * console.log, qemu.log), named relative to that folder, its cwd.
 * Talking to it is qmp.c's and channel.c's job. */
#ifndef SBXFS_QEMU_H
#define SBXFS_QEMU_H

#include <stdbool.h>
#include <sys/types.h>

struct qemu_cfg {
	const char *binary;	/* qemu-system-x86_64 unless overridden */
	const char *dir;	/* the sandbox's state folder */
	const char *kernel;
	const char *initrd;
	const char *accel;	/* "kvm" or "tcg" */
	unsigned vcpus;
	unsigned mem_mib;
	/* Guest RAM lives in this file: shared while a template boots (so
	 * its snapshot needs no RAM), a private copy-on-write mapping for a
	 * sandbox made from it. */
	const char *ram_path;
	bool ram_shared;
	/* Restore: QEMU starts paused, waiting for migrate-incoming. */
	bool incoming;
	/* cgroup.procs files the child joins before exec (vmm/cgroup.h). */
	const int *cgroup_fds;
	unsigned ncgroup_fds;
	/* The sandbox's tap (netpol/), > 0 to give the guest a virtio-net
	 * device with this MAC; 0 for none. */
	int tap_fd;
	const char *mac;
};

/* Forks and execs QEMU in its own session, so it outlives a daemon
 * crash and gets no signal meant for the daemon's terminal.  Sets *pid_out
 * and *pidfd_out (a pidfd, readable when QEMU exits). */
int qemu_spawn(const struct qemu_cfg *cfg, pid_t *pid_out, int *pidfd_out);

#endif
