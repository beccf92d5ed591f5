#!/bin/bash
# Stopping the daemon, by SIGTERM or by unmounting, stops every VM it
# started and leaves no process, socket or mount behind.
. "$(dirname "$0")/lib.sh"

need_daemon_prereqs

# What must be gone once a daemon on $M with state $STATE has stopped.
check_nothing_left() {
	local how=$1; shift
	local pid left=

	ok "$how: the daemon exits" wait_gone "$DAEMON_PID" 30
	for pid in "$@"; do
		pid_gone "$pid" || left="$left $pid"
	done
	is "$left" "" "$how: every qemu it started is gone"
	is "$(test_qemus)" "" "$how: no qemu of this test is left"
	ok "$how: the tree is unmounted" sh -c "! awk -v m='$M' '\$2 == m { f = 1 } END { exit !f }' /proc/self/mounts"
	is "$(find "$STATE" -type s 2>/dev/null)" "" "$how: no socket is left in the state folder"
}

# --- SIGTERM ---
M=$T/mnt1 STATE=$T/state1
start_daemon || fatal "daemon mounts the tree"
fs mkdir "$M/a" || fatal "mkdir a"
fs mkdir "$M/b" || fatal "mkdir b"
pids=("$(status_of "$M/a/status" pid)" "$(status_of "$M/b/status" pid)")
fs sh -c "echo 'exec -- sleep 1000' > '$M/a/ctl'"
ok "two qemus running (${pids[*]})" test -n "${pids[0]}" -a -n "${pids[1]}"
kill -TERM "$DAEMON_PID"
check_nothing_left SIGTERM "${pids[@]}"

# --- unmount ---
M=$T/mnt2 STATE=$T/state2
start_daemon || fatal "daemon mounts the tree again"
fs mkdir "$M/c" || fatal "mkdir c"
pids=("$(status_of "$M/c/status" pid)")
ok "fusermount3 -u" timeout 30 fusermount3 -u "$M"
check_nothing_left unmount "${pids[@]}"
