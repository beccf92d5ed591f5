#!/bin/bash
# Shapes enforced on the host: each QEMU in cgroups of its own with the
# memory, CPU and pids limits of its shape; --max-memory admits sandboxes
# until the host is full, then mkdir fails with ENOSPC and says why; a
# default job timeout for exec without timeout=.
. "$(dirname "$0")/lib.sh"

need_daemon_prereqs
# One s-1vcpu-256mb commits 256 + 128 + 96 + 8 = 488 MiB (fs/guard.c).
start_daemon --max-memory 700M --job-timeout 3 || fatal "daemon mounts the tree"

is "$(errno_of mkdir "$M/x")" OK "mkdir x fits"
pid=$(status_of "$M/x/status" pid)

# The limits, read back from whichever cgroup tree holds each controller.
cg_file() {
	local ctl=$1 file=$2 path mnt

	path=$(awk -F: -v c="$ctl" '$2 == c { print $3 }' "/proc/$pid/cgroup")
	if [ -n "$path" ] && [ "$path" != / ]; then
		mnt=$(findmnt -n -t cgroup -O "$ctl" -o TARGET | head -n 1)
	else
		path=$(awk -F: '$2 == "" { print $3 }' "/proc/$pid/cgroup")
		mnt=$(findmnt -n -t cgroup2 -o TARGET | head -n 1)
		file=$3
	fi
	cat "$mnt$path/$file" 2>/dev/null
}

mem=$(cg_file memory memory.limit_in_bytes memory.max)
is "$mem" $(((488 + 256) << 20)) "memory limit: commit plus guest RAM once more (COW of the template file)"
quota=$(cg_file cpu cpu.cfs_quota_us cpu.max)
like "$quota" '^125000( 100000)?$' "cpu limit: 1 vCPU and a quarter for QEMU's own threads"
is "$(cg_file pids pids.max pids.max)" 256 "pids limit 256"

is "$(errno_of mkdir "$M/y")" ENOSPC "mkdir y beyond --max-memory: ENOSPC"
like "$(status_of "$M/status" error)" "host is full: s-1vcpu-256mb needs 488 MiB, 488 of 700 MiB are committed" \
	"the root's status says why"
ok "y does not exist" test ! -e "$M/y"

# A crashed sandbox's VMM is gone and holds no memory.
kill -KILL "$pid"
for ((i = 0; i < 50; i++)); do
	[ "$(status_of "$M/x/status" state)" = crashed ] && break
	sleep 0.1
done
is "$(errno_of mkdir "$M/y")" OK "with x crashed, y fits"

# --job-timeout applies to exec without timeout=; timeout= still wins.
run_job y -- sleep 60
is "$STATUS" "killed timeout" "--job-timeout 3: sleep 60 is killed timeout"
run_job y timeout=1 -- sleep 60
is "$STATUS" "killed timeout" "timeout=1 beside --job-timeout"
run_job y -- sleep 1
is "$STATUS" "exited 0" "a job within the default timeout exits"

# A fork commits memory like a mkdir.
echo pause >"$M/y/ctl"
is "$(errno_of write "$M/y/ctl" $'fork z\n')" ENOSPC "fork beyond --max-memory: ENOSPC"
like "$(status_of "$M/y/status" error)" "^fork: host is full" "y's status says why"
ok "z does not exist" test ! -e "$M/z"
echo resume >"$M/y/ctl"

ok "rmdir x" fs rmdir "$M/x"
ok "rmdir y" fs rmdir "$M/y"
is "$(test_qemus)" "" "no QEMU left"
