/* sbxfs: options, the FUSE session, signals, and the loop that drives
 * them.  Shutdown (SIGTERM, SIGINT or an unmount) stops every VM before
 * the daemon exits, so nothing is left behind. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accel.h"
#include "guard.h"
#include "log.h"
#include "loop.h"
#include "netpol.h"
#include "ops.h"
#include "sandbox.h"
#include "size.h"
#include "spool.h"
#include "template.h"

#define SBXFS_VERSION "0.1.0"

struct options {
	bool foreground;
	const char *state;
	const char *images;
	const char *accel;
	const char *qemu;
	const char *log_level;
	bool syslog;
	unsigned boot_timeout;
	unsigned suspend_after;
	const char *ram_dir;
	struct guard_config guard;
	struct netpol_config net;
	const char *mountpoint;
};

/* Long-only options of the failure limits (fs/guard.h). */
enum { OPT_CGROUPS = 0x100, OPT_MAX_MEMORY, OPT_JOB_TIMEOUT,
       OPT_JOB_OUTPUT_MAX, OPT_CONSOLE_MAX, OPT_HEARTBEAT,
       OPT_UPLINK, OPT_POOL, OPT_POOL6, OPT_QUOTA, OPT_DNS };

static struct fuse_session *se;
static struct fuse_buf fbuf;
static bool stopping;
static struct loop_src *fuse_src;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sbxfs [options] MOUNTPOINT\n"
		"  -f, --foreground        stay in the foreground\n"
		"  --state DIR             per-sandbox state (default /run/sbxfs)\n"
		"  --images DIR            guest images (default: images next to\n"
		"                          the binary, else /usr/lib/sbxfs/images)\n"
		"  --accel auto|kvm|tcg    QEMU accelerator (default auto)\n"
		"  --qemu PATH             QEMU binary (default qemu-system-x86_64)\n"
		"  --boot-timeout SECS     how long mkdir waits for the agent (120)\n"
		"  --suspend-after SECS    write a sandbox paused this long to disk\n"
		"                          and end its QEMU (600; 0 = never)\n"
		"  --ram-dir DIR           tmpfs for template RAM (/dev/shm)\n"
		"  --cgroups auto|v1|v2|off  host cgroups for each VMM (auto)\n"
		"  --max-memory SIZE       host memory sandboxes may commit\n"
		"                          (default 80%% of MemTotal)\n"
		"  --job-timeout SECS      for exec without timeout= (0 = none)\n"
		"  --job-output-max SIZE   stdout+stderr kept per job (1G)\n"
		"  --console-max SIZE      console.log kept per sandbox (1M)\n"
		"  --heartbeat SECS        agent silent this long: the sandbox\n"
		"                          is crashed, agent-unresponsive (10)\n"
		"  --uplink IF             give sandboxes a network, NATed out of IF\n"
		"                          (default: no network at all)\n"
		"  --pool CIDR             IPv4 addresses, a /30 each (10.251.0.0/16)\n"
		"  --pool6 CIDR|off        IPv6 addresses, a /120 each (fd5b:f500::/64)\n"
		"  --quota SIZE|unlimited  default bytes in+out per sandbox (unlimited)\n"
		"  --dns ADDR              upstream resolver for listed names\n"
		"                          (default: first nameserver of resolv.conf)\n"
		"  --log-level LEVEL       error, warn, info or debug (default info)\n"
		"  --syslog                log to syslog instead of stderr\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "state", required_argument, NULL, 's' },
		{ "images", required_argument, NULL, 'i' },
		{ "accel", required_argument, NULL, 'a' },
		{ "qemu", required_argument, NULL, 'q' },
		{ "boot-timeout", required_argument, NULL, 'b' },
		{ "suspend-after", required_argument, NULL, 'u' },
		{ "ram-dir", required_argument, NULL, 'r' },
		{ "cgroups", required_argument, NULL, OPT_CGROUPS },
		{ "max-memory", required_argument, NULL, OPT_MAX_MEMORY },
		{ "job-timeout", required_argument, NULL, OPT_JOB_TIMEOUT },
		{ "job-output-max", required_argument, NULL, OPT_JOB_OUTPUT_MAX },
		{ "console-max", required_argument, NULL, OPT_CONSOLE_MAX },
		{ "heartbeat", required_argument, NULL, OPT_HEARTBEAT },
		{ "uplink", required_argument, NULL, OPT_UPLINK },
		{ "pool", required_argument, NULL, OPT_POOL },
		{ "pool6", required_argument, NULL, OPT_POOL6 },
		{ "quota", required_argument, NULL, OPT_QUOTA },
		{ "dns", required_argument, NULL, OPT_DNS },
		{ "log-level", required_argument, NULL, 'l' },
		{ "syslog", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t mem = 0;
	int c, bad = 0;

	*o = (struct options){ .state = "/run/sbxfs", .accel = "auto",
			       .qemu = "qemu-system-x86_64",
			       .log_level = "info", .boot_timeout = 120,
			       .suspend_after = 600, .ram_dir = "/dev/shm",
			       .guard = { .cgroups = "auto",
					  .job_output_max = 1ULL << 30,
					  .console_max = 1 << 20,
					  .heartbeat_s = 10 },
			       .net = { .pool4 = "10.251.0.0/16",
					.pool6 = "fd5b:f500::/64",
					.quota = NETPOL_UNLIMITED } };
	while ((c = getopt_long(argc, argv, "fh", longs, NULL)) != -1) {
		switch (c) {
		case 'f': o->foreground = true; break;
		case 's': o->state = optarg; break;
		case 'i': o->images = optarg; break;
		case 'a': o->accel = optarg; break;
		case 'q': o->qemu = optarg; break;
		case 'b': o->boot_timeout = strtoul(optarg, NULL, 10); break;
		case 'u': o->suspend_after = strtoul(optarg, NULL, 10); break;
		case 'r': o->ram_dir = optarg; break;
		case 'l': o->log_level = optarg; break;
		case 'S': o->syslog = true; break;
		case OPT_CGROUPS: o->guard.cgroups = optarg; break;
		case OPT_MAX_MEMORY:
			bad |= size_parse(optarg, &mem) < 0 || mem < (1 << 20);
			o->guard.max_memory_mib = mem >> 20;
			break;
		case OPT_JOB_TIMEOUT:
			o->guard.job_timeout_s = strtoul(optarg, NULL, 10);
			break;
		case OPT_JOB_OUTPUT_MAX:
			bad |= size_parse(optarg, &o->guard.job_output_max) < 0;
			break;
		case OPT_CONSOLE_MAX:
			bad |= size_parse(optarg, &o->guard.console_max) < 0;
			break;
		case OPT_HEARTBEAT:
			o->guard.heartbeat_s = strtoul(optarg, NULL, 10);
			break;
		case OPT_UPLINK: o->net.uplink = optarg; break;
		case OPT_POOL: o->net.pool4 = optarg; break;
		case OPT_POOL6:
			o->net.pool6 = strcmp(optarg, "off") ? optarg : NULL;
			break;
		case OPT_QUOTA:
			if (strcmp(optarg, "unlimited") == 0)
				o->net.quota = NETPOL_UNLIMITED;
			else
				bad |= size_parse(optarg, &o->net.quota) < 0;
			break;
		case OPT_DNS: o->net.dns = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: return -EINVAL;
		}
	}
	if (optind != argc - 1 || o->boot_timeout == 0 || bad)
		return -EINVAL;
	o->mountpoint = argv[optind];
	return 0;
}

/* images next to the binary when run from a build tree. */
static char *default_images(void)
{
	char exe[PATH_MAX], *slash, path[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(path, sizeof(path), "%s/images", exe);
			if (access(path, R_OK) == 0)
				return realpath(path, NULL);
		}
	}
	return strdup("/usr/lib/sbxfs/images");
}

/* The daemon must never touch a path inside its own mount: a request to
 * itself from its only thread would deadlock. */
static int check_outside(const char *dir, const char *mnt, const char *what)
{
	size_t n = strlen(mnt);

	if (strncmp(dir, mnt, n) == 0 && (dir[n] == '/' || dir[n] == '\0')) {
		log_err("%s '%s' is inside the mountpoint '%s'", what, dir, mnt);
		return -EINVAL;
	}
	return 0;
}

static void begin_stop(const char *why)
{
	if (stopping)
		return;
	stopping = true;
	log_info("stopping (%s): stopping %u sandboxes", why, sandbox_count());
	sandbox_shutdown_all();
}

static void on_fuse(void *data, uint32_t events)
{
	for (int i = 0; i < 64 && !fuse_session_exited(se); i++) {
		int r = fuse_session_receive_buf(se, &fbuf);

		if (r == -EAGAIN || r == -EINTR)
			break;
		if (r <= 0) {
			fuse_session_exit(se);
			break;
		}
		fuse_session_process_buf(se, &fbuf);
		spool_flush_interrupts();
	}
	if (fuse_session_exited(se)) {
		loop_del(fuse_src);
		fuse_src = NULL;
		begin_stop("unmounted");
	}
}

static void on_signal(void *data, uint32_t events)
{
	struct signalfd_siginfo si;
	int fd = *(int *)data;

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			continue;	/* QEMU's exits arrive on pidfds */
		begin_stop(strsignal(si.ssi_signo));
	}
}

/* Once every sandbox is gone, the loop can end. */
static void check_done(void *data)
{
	if (stopping && sandbox_count() == 0) {
		loop_quit(0);
		return;
	}
	loop_timer_add(50, check_done, NULL);
}

static int setup_signals(int *fd_out)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	*fd_out = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return *fd_out < 0 ? -errno : 0;
}

static int mount_tree(const struct options *o)
{
	char *fargv[] = { "sbxfs", "-o", "fsname=sbxfs,subtype=sbxfs", NULL,
			  NULL, NULL };
	struct fuse_args args;
	int fargc = 3, fd;

	/* Containers and other users reach the tree through the mount;
	 * the mode bits of each file still apply. */
	if (geteuid() == 0) {
		fargv[fargc++] = "-o";
		fargv[fargc++] = "allow_other,default_permissions";
	}
	args = (struct fuse_args)FUSE_ARGS_INIT(fargc, fargv);
	se = fuse_session_new(&args, &sbxfs_ops, sizeof(sbxfs_ops), NULL);
	if (!se)
		return -EIO;
	if (fuse_session_mount(se, o->mountpoint) != 0) {
		fuse_session_destroy(se);
		se = NULL;
		return -EIO;
	}
	fd = fuse_session_fd(se);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return 0;
}

int main(int argc, char **argv)
{
	struct options o;
	enum log_level lvl;
	const char *accel;
	char *images, *state, *mnt, errmsg[256];
	struct stat st;
	int sigfd, r;

	if (parse_options(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	if (log_level_parse(o.log_level, &lvl) < 0) {
		fprintf(stderr, "sbxfs: bad --log-level '%s'\n", o.log_level);
		return 2;
	}
	log_init("sbxfs", lvl, o.syslog);
	r = accel_resolve(o.accel, &accel);
	if (r < 0) {
		log_err("--accel %s: %s", o.accel, r == -ENODEV ?
			"no usable /dev/kvm on this host" :
			"expected auto, kvm or tcg");
		return 2;
	}
	if (mkdir(o.state, 0700) < 0 && errno != EEXIST) {
		log_err("state folder '%s': %s", o.state, strerror(errno));
		return 1;
	}
	state = realpath(o.state, NULL);
	images = o.images ? realpath(o.images, NULL) : default_images();
	if (stat(o.mountpoint, &st) < 0 && errno == ENOTCONN) {
		/* The mount of a daemon that died: detach it and take over. */
		log_warn("'%s' is a dead fuse mount, detaching it", o.mountpoint);
		umount2(o.mountpoint, MNT_DETACH);
	}
	mnt = realpath(o.mountpoint, NULL);
	if (!state || !images || !mnt) {
		log_err("'%s': %s", !state ? o.state : !images ? o.images :
			o.mountpoint, strerror(errno));
		return 1;
	}
	if (check_outside(state, mnt, "state folder") < 0 ||
	    check_outside(images, mnt, "images folder") < 0)
		return 1;

	sandbox_init(&(struct sb_config){ .state_dir = state,
					  .images_dir = images,
					  .accel = accel, .qemu = o.qemu,
					  .boot_timeout_s = o.boot_timeout,
					  .suspend_after_s = o.suspend_after });
	template_init(o.ram_dir, state);
	if (loop_init() < 0) {
		log_err("setting up the event loop: %s", strerror(errno));
		return 1;
	}
	/* Before recovery: sandboxes of a previous daemon take their taps
	 * over (fs/sbnet.c). */
	r = netpol_init(&o.net, errmsg, sizeof(errmsg));
	if (r < 0) {
		log_err("--uplink %s: %s", o.net.uplink, errmsg);
		return 1;
	}
	sandbox_recover_all();
	ops_init(&(struct ops_config){ .version = SBXFS_VERSION,
				       .accel = accel, .images_dir = images });
	if (setup_signals(&sigfd) < 0) {
		log_err("setting up the event loop: %s", strerror(errno));
		return 1;
	}
	if (mount_tree(&o) < 0) {
		log_err("mounting '%s' failed", mnt);
		return 1;
	}
	if (!o.foreground && fuse_daemonize(0) != 0)
		return 1;
	/* After daemonizing: the host cgroups are named after our pid. */
	r = guard_init(&o.guard, errmsg, sizeof(errmsg));
	if (r < 0) {
		log_err("--cgroups %s: %s", o.guard.cgroups, errmsg);
		fuse_session_unmount(se);
		return 1;
	}
	if (errmsg[0])
		log_warn("host cgroups: %s: sandboxes run without host limits",
			 errmsg);
	log_info("sbxfs %s mounted on '%s' (state '%s', images '%s', accel %s, "
		 "%s)", SBXFS_VERSION, mnt, state, images, accel,
		 guard_describe());

	fuse_src = loop_add(fuse_session_fd(se), EPOLLIN, on_fuse, NULL);
	if (!fuse_src || !loop_add(sigfd, EPOLLIN, on_signal, &sigfd)) {
		log_err("watching the fuse fd: %s", strerror(errno));
		return 1;
	}
	loop_timer_add(50, check_done, NULL);
	r = loop_run();

	/* A clean stop leaves nothing; after a crash the templates would
	 * have been reused by the next daemon. */
	template_remove_all();
	netpol_fini();
	guard_fini();
	fuse_session_unmount(se);
	fuse_session_destroy(se);
	free(fbuf.mem);
	loop_fini();
	log_info("stopped");
	free(state);
	free(images);
	free(mnt);
	return r < 0 ? 1 : 0;
}
