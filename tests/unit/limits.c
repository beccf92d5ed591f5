/* TAP tests of the parsers behind the failure limits: sizes on the
 * command line (lib/size.c) and the host's cgroup files (vmm/cgroup.c),
 * with lines as hybrid and pure v2 hosts write them. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cgroup.h"
#include "size.h"

#include "tap.h"

static void sizes(void)
{
	static const struct { const char *s; uint64_t v; } good[] = {
		{ "0", 0 }, { "1", 1 }, { "65536", 65536 }, { "64K", 65536 },
		{ "64k", 65536 }, { "256M", 256ULL << 20 }, { "2G", 2ULL << 30 },
		{ "8589934592", 8ULL << 30 },
	};
	static const char *bad[] = {
		"", "-1", "+1", " 1", "1 ", "1T", "1KB", "K", "1.5M", "0x10",
		"1e3", "99999999999999999999", "9999999999G",
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		v = 7;
		ok(size_parse(good[i].s, &v) == 0 && v == good[i].v,
		   "size \"%s\" is %llu", good[i].s,
		   (unsigned long long)good[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		ok(size_parse(bad[i], &v) < 0, "size \"%s\" is refused", bad[i]);
}

static void mountinfo(void)
{
	char l1[] = "35 24 0:30 / /sys/fs/cgroup/memory rw,nosuid,nodev,"
		    "noexec,relatime shared:15 - cgroup cgroup rw,memory\n";
	char l2[] = "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,"
		    "relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
	char l3[] = "40 24 0:35 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup "
		    "cgroup rw,cpu,cpuacct\n";
	char l4[] = "22 1 8:1 / / rw,relatime - ext4 /dev/vda rw\n";
	char bad1[] = "22 1 8:1 / / rw,relatime ext4 /dev/vda rw\n";
	char bad2[] = "22 1 - ext4\n";
	char *mnt, *type, *opts;

	ok(cg_parse_mountinfo(l1, &mnt, &type, &opts) == 0 &&
	   !strcmp(mnt, "/sys/fs/cgroup/memory") && !strcmp(type, "cgroup") &&
	   cg_list_has(opts, "memory") && !cg_list_has(opts, "cpu"),
	   "mountinfo: a v1 memory hierarchy");
	ok(cg_parse_mountinfo(l2, &mnt, &type, &opts) == 0 &&
	   !strcmp(mnt, "/sys/fs/cgroup") && !strcmp(type, "cgroup2"),
	   "mountinfo: the v2 tree, past an optional field");
	ok(cg_parse_mountinfo(l3, &mnt, &type, &opts) == 0 &&
	   cg_list_has(opts, "cpu") && cg_list_has(opts, "cpuacct") &&
	   !cg_list_has(opts, "cpuset"), "mountinfo: co-mounted cpu,cpuacct");
	ok(cg_parse_mountinfo(l4, &mnt, &type, &opts) == 0 &&
	   !strcmp(type, "ext4"), "mountinfo: a line with no optional field");
	ok(cg_parse_mountinfo(bad1, &mnt, &type, &opts) < 0,
	   "mountinfo: no separator is refused");
	ok(cg_parse_mountinfo(bad2, &mnt, &type, &opts) < 0,
	   "mountinfo: a short line is refused");
}

static void proc_cgroup(void)
{
	char v1[] = "4:memory:/process_api/09f4\n";
	char v2[] = "0::/system.slice/sbxfs.service\n";
	char co[] = "2:cpu,cpuacct:/\n";
	char named[] = "9:name=systemd:/\n";
	char bad1[] = "4:memory\n", bad2[] = "4:memory:relative\n";
	char *ctls, *path;

	ok(cg_parse_proc_cgroup(v1, &ctls, &path) == 0 &&
	   !strcmp(ctls, "memory") && !strcmp(path, "/process_api/09f4"),
	   "/proc/self/cgroup: a v1 line");
	ok(cg_parse_proc_cgroup(v2, &ctls, &path) == 0 && !ctls[0] &&
	   !strcmp(path, "/system.slice/sbxfs.service"),
	   "/proc/self/cgroup: the v2 line has no controllers");
	ok(cg_parse_proc_cgroup(co, &ctls, &path) == 0 &&
	   cg_list_has(ctls, "cpu") && !cg_list_has(ctls, "pids"),
	   "/proc/self/cgroup: co-mounted controllers");
	ok(cg_parse_proc_cgroup(named, &ctls, &path) == 0 &&
	   !cg_list_has(ctls, "systemd"),
	   "/proc/self/cgroup: a named hierarchy is no controller");
	ok(cg_parse_proc_cgroup(bad1, &ctls, &path) < 0 &&
	   cg_parse_proc_cgroup(bad2, &ctls, &path) < 0,
	   "/proc/self/cgroup: malformed lines are refused");
	ok(cg_list_has("hugetlb", "hugetlb") &&
	   !cg_list_has("cpuset cpu_x", "cpu") &&
	   cg_list_has("cpuset cpu io memory pids", "pids") &&
	   !cg_list_has("nomemory", "memory"),
	   "controller lists match whole words only");
}

int main(void)
{
	sizes();
	mountinfo();
	proc_cgroup();
	return tap_done();
}
