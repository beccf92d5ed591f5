/* Starting one QEMU process for one sandbox: its command line and the
 * files it owns in the sandbox's state folder (qmp.sock, agent.sock,
 * console.log, qemu.log), named relative to that folder, its cwd.
 * Talking to it is qmp.c's and channel.c's job. */
#ifndef SBXFS_QEMU_H
#define SBXFS_QEMU_H

#include <sys/types.h>

struct qemu_cfg {
	const char *binary;	/* qemu-system-x86_64 unless overridden */
	const char *dir;	/* the sandbox's state folder */
	const char *kernel;
	const char *initrd;
	const char *accel;	/* "kvm" or "tcg" */
	unsigned vcpus;
	unsigned mem_mib;
};

/* Forks and execs QEMU in its own session, so it outlives a daemon
 * crash and gets no signal meant for the daemon's terminal.  Sets *pid_out
 * and *pidfd_out (a pidfd, readable when QEMU exits). */
int qemu_spawn(const struct qemu_cfg *cfg, pid_t *pid_out, int *pidfd_out);

#endif
