#!/bin/bash
# The main job, end to end, printing each step: install what is missing,
# build, mount a tree on a fresh mountpoint (default /sandboxes, or $1),
# boot a sandbox with mkdir, run commands in it through ctl, show their
# output and status, rmdir it and unmount.  The daemon runs in a new
# network namespace, so nothing it starts can send a packet off this
# machine.  On any failure the trap undoes what was done; safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."

MNT=${1:-/sandboxes}
SB=demo
STATE=
DAEMON=
MADE_MNT=

step() {
	printf '\n==> %s\n' "$*"
}

die() {
	echo "main-job: $*" >&2
	exit 1
}

mounted() {
	awk -v m="$MNT" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts
}

cleanup() {
	local rc=$? i pid

	trap - EXIT
	set +e
	[ -n "$DAEMON" ] || { [ -n "$STATE" ] && rm -rf "$STATE"; exit "$rc"; }
	[ "$rc" -eq 0 ] || echo "main-job: failed, cleaning up" >&2
	if mounted; then
		[ -d "$MNT/$SB" ] && timeout 60 rmdir "$MNT/$SB" 2>/dev/null
		timeout 10 fusermount3 -u "$MNT" 2>/dev/null ||
			umount -l "$MNT" 2>/dev/null || true
	fi
	for ((i = 0; i < 100; i++)); do
		kill -0 "$DAEMON" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$DAEMON" 2>/dev/null || true
	# A QEMU the daemon failed to stop runs with its cwd in $STATE.
	for pid in $(ls /proc | grep -E '^[0-9]+$'); do
		case $(readlink "/proc/$pid/cwd" 2>/dev/null) in
		"$STATE"/*) kill -KILL "$pid" 2>/dev/null || true ;;
		esac
	done
	if [ "$rc" -ne 0 ] && [ -s "$STATE.log" ]; then
		echo "main-job: the daemon's last words:" >&2
		tail -n 20 "$STATE.log" >&2
	fi
	rm -rf "$STATE" "$STATE.log"
	[ -n "$MADE_MNT" ] && rmdir "$MNT" 2>/dev/null
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

[ "$(id -u)" -eq 0 ] || die "run as root (FUSE mount, network namespace)"

step "installing missing Debian packages"
contrib/install-deps.sh

step "building (make)"
make

step "preparing the mountpoint $MNT"
if mounted; then
	# A mount whose daemon died answers ENOTCONN: that one is ours to clear.
	if ! stat "$MNT" >/dev/null 2>&1; then
		echo "clearing a dead mount at $MNT"
		umount -l "$MNT"
	else
		die "$MNT is already mounted; unmount it or give another mountpoint"
	fi
fi
if [ ! -d "$MNT" ]; then
	mkdir -p "$MNT"
	MADE_MNT=1
fi
[ -z "$(ls -A "$MNT")" ] || die "$MNT is not empty; give another mountpoint"
STATE=$(mktemp -d /run/sbxfs-main-job.XXXXXX)

step "mounting: unshare --net build/sbxfs -f --state $STATE $MNT"
unshare --net build/sbxfs -f --state "$STATE" --images build/images "$MNT" \
	>"$STATE.log" 2>&1 &
DAEMON=$!
for ((i = 0; i < 100; i++)); do
	mounted && [ -f "$MNT/status" ] && break
	kill -0 "$DAEMON" 2>/dev/null || die "the daemon exited"
	sleep 0.1
done
mounted || die "the tree did not appear at $MNT"
ls -l "$MNT"
cat "$MNT/status"

step "mkdir $MNT/$SB (boots a micro-VM; returns when its agent answers)"
t0=$(date +%s%N)
timeout 120 mkdir "$MNT/$SB"
echo "ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
cat "$MNT/$SB/status"

# run_job COMMAND: echoes an exec line into ctl as a user would, then
# shows the job's output and status.
run_job() {
	local n s

	echo "\$ echo 'exec -- $1' > $MNT/$SB/ctl"
	echo "exec -- $1" >"$MNT/$SB/ctl"
	n=$(ls "$MNT/$SB/jobs" | sort -n | tail -n 1)
	echo "--- jobs/$n/stdout"
	timeout 60 cat "$MNT/$SB/jobs/$n/stdout"
	for ((i = 0; i < 100; i++)); do
		s=$(cat "$MNT/$SB/jobs/$n/status")
		[ "$s" != running ] && break
		sleep 0.1
	done
	echo "--- jobs/$n/status: $s"
	JOB_OUT=$(cat "$MNT/$SB/jobs/$n/stdout")
}

step "running uname -a inside the sandbox"
run_job 'uname -a'

step "showing it is another kernel"
run_job 'uname -r'
guest=$JOB_OUT
run_job 'cat /proc/version; grep -c ^processor /proc/cpuinfo; head -n 1 /proc/meminfo'
echo "host kernel:  $(uname -r)"
echo "guest kernel: $guest"
[ -n "$guest" ] && [ "$guest" != "$(uname -r)" ] || die "the guest kernel is the host's"

step "events of the sandbox"
timeout 2 cat "$MNT/$SB/events" || true

step "rmdir $MNT/$SB (stops the VM, frees what it held)"
timeout 60 rmdir "$MNT/$SB"
cat "$MNT/status"

step "unmounting $MNT"
fusermount3 -u "$MNT"
for ((i = 0; i < 100; i++)); do
	kill -0 "$DAEMON" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$DAEMON" 2>/dev/null && die "the daemon did not exit after unmount"

step "done: a sandbox booted its own kernel, ran commands, and is gone"
