#!/bin/bash
# Failure modes, one after another in the same sandbox c, while a second
# sandbox w answers `exec true` after every step: a memory hog, a spin
# with a timeout, a loop killed by hand, a fork bomb, a 2 GiB flood of
# stdout (daemon RSS bounded, output capped and marked), a full /tmp, a
# console flood, a guest panic, a killed QEMU, a guest-wide OOM, a
# stopped QEMU (heartbeat).
# At the end nothing of the crashed sandboxes is left on the host.
. "$(dirname "$0")/lib.sh"

OUT_MAX=$((64 << 20))
CONSOLE_MAX=$((256 << 10))
HEARTBEAT=3
# The daemon holds no output in memory: its peak RSS through the flood
# stays under this (measured about 4 MiB).
RSS_MAX_KB=$((32 << 10))

need_daemon_prereqs
start_daemon --heartbeat "$HEARTBEAT" --job-output-max "$OUT_MAX" \
	--console-max "$CONSOLE_MAX" || fatal "daemon mounts the tree"
fs mkdir "$M/c" || fatal "mkdir c"
fs mkdir "$M/w" || fatal "mkdir w"

w_answers() {
	run_job w -- true
	is "$STATUS" "exited 0" "w still answers exec true ($1)"
}

# The sbxfs cgroup dirs a QEMU is in, from /proc/PID/cgroup.
qemu_cgroups() {
	local id ctl path mnt

	while IFS=: read -r id ctl path; do
		case $path in */sbxfs-*) ;; *) continue ;; esac
		if [ -z "$ctl" ]; then
			mnt=$(findmnt -n -t cgroup2 -o TARGET | head -n 1)
		else
			mnt=$(findmnt -n -t cgroup -O "${ctl%%,*}" -o TARGET | head -n 1)
		fi
		[ -n "$mnt" ] && echo "$mnt$path"
	done <"/proc/$1/cgroup"
}

# crash_wait SB: waits up to 5 s for state crashed; prints the ms taken.
crash_wait() {
	local t0=$1 sb=$2 i

	for ((i = 0; i < 100; i++)); do
		[ "$(status_of "$M/$sb/status" state)" = crashed ] && break
		sleep 0.05
	done
	echo $(($(now_ms) - t0))
}

# Readers blocked on a running job's stdout and on events: both must end
# (EOF) when the sandbox crashes.  Sets OUTR and EVR, their pids.
blocked_readers() {
	local sb=$1 n

	n=$(exec_job "$sb" -- sleep 300)
	timeout 30 cat "$M/$sb/jobs/$n/stdout" >/dev/null 2>&1 &
	OUTR=$!
	timeout 30 cat "$M/$sb/events" >"$T/events.$sb" 2>&1 &
	EVR=$!
	sleep 0.3
}

readers_woke() {
	local r1=0 r2=0

	wait "$OUTR" || r1=$?
	wait "$EVR" || r2=$?
	is "$r1/$r2" "0/0" "$1: blocked readers of stdout and events got end of file"
}

# After rmdir: no process, no cgroup dir, no state folder left.
gone_from_host() {
	local sb=$1 pid=$2 cgs=$3 left=

	for d in $cgs; do
		[ -d "$d" ] && left="$left $d"
	done
	ok "$sb: its QEMU $pid is gone" wait_gone "$pid" 5
	is "$left" "" "$sb: its cgroups are gone"
	ok "$sb: its state folder is gone" test ! -e "$STATE/sandboxes/$sb"
}

cpid=$(status_of "$M/c/status" pid)
ccg=$(qemu_cgroups "$cpid")
ok "c's QEMU runs in its own cgroups" test -n "$ccg"

# --- memory hog: the job's cgroup OOM kills it, not the agent ---
run_job c -- 'dd if=/dev/zero of=/dev/null bs=200M count=1; echo survived'
is "$STATUS" "killed oom" "memory hog: killed oom"
like "$(events_now c)" "[0-9]+ [0-9]+ oom job=$JOB(\$|"$'\n'")" "events has 'oom job=$JOB'"
run_job c -- echo alive
is "$STATUS/$OUT" "exited 0/alive" "c runs the next exec"
w_answers "after the memory hog"

# --- a spin with a timeout ---
t0=$(now_ms)
run_job c timeout=2 -- 'while :; do :; done'
is "$STATUS" "killed timeout" "while :; do :; done with timeout=2: killed timeout"
ok "after about 2 s ($(($(now_ms) - t0)) ms)" test $(($(now_ms) - t0)) -lt 8000
w_answers "after the spin"

# --- an endless loop killed from ctl; w answers while it spins ---
n=$(exec_job c -- 'while :; do :; done')
sleep 1
t0=$(now_ms)
run_job w -- true
took=$(($(now_ms) - t0))
is "$STATUS" "exited 0" "w answers while c spins ($took ms)"
echo "kill $n" >"$M/c/ctl"
like "$(wait_job c "$n" 10)" '^killed signal 9$' "kill $n: the loop is killed"

# --- fork bomb: pids.max, then the job is killed ---
run_job c -- 'f() { f | f & }; f; sleep 120'
is "$STATUS" "killed pids" "fork bomb: killed pids"
like "$(events_now c)" "[0-9]+ [0-9]+ pids job=$JOB(\$|"$'\n'")" "events has 'pids job=$JOB'"
# The kill and the reaping of some hundred processes take a moment
# under TCG; this job counts itself (about three processes).
run_job c -- 'i=0; while [ $(cat /sys/fs/cgroup/jobs/pids.current) -gt 4 ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done; cat /sys/fs/cgroup/jobs/pids.current'
is "$STATUS" exited\ 0 "c runs the next exec"
ok "the bomb's processes are gone ($OUT left in the jobs' cgroup)" test "${OUT:-999}" -lt 5
w_answers "after the fork bomb"

# --- 2 GiB on stdout: capped on disk, marked, daemon RSS bounded ---
t0=$(now_ms)
n=$(exec_job c -- 'dd if=/dev/zero bs=1M count=2048 2>/dev/null; echo end >&2')
s=$(wait_job c "$n" 300)
diag "2 GiB flood took $(($(now_ms) - t0)) ms"
is "$s" "exited 0 truncated" "2 GiB flood: exited 0, marked truncated"
is "$(stat -c %s "$STATE/sandboxes/c/jobs/$n/stdout")" "$OUT_MAX" "stdout kept is --job-output-max bytes"
is "$(fs cat "$M/c/jobs/$n/stdout" | wc -c)" "$OUT_MAX" "and reads back whole"
like "$(events_now c)" "output-truncated job=$n" "events has 'output-truncated job=$n'"
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$DAEMON_PID/status")
ok "daemon peak RSS ${hwm} kB < $RSS_MAX_KB kB" test "${hwm:-999999}" -lt "$RSS_MAX_KB"
w_answers "after the flood"

# --- a full /tmp: ENOSPC inside the guest only ---
run_job c -- 'dd if=/dev/zero of=/tmp/fill bs=1M 2>&1; rm -f /tmp/fill'
like "$OUT" "No space left on device" "filling /tmp: ENOSPC in the guest"
is "$STATUS" "exited 0" "the job goes on after ENOSPC"
run_job c -- 'echo x >/tmp/y && cat /tmp/y'
is "$OUT" x "/tmp works again once the file is gone"
w_answers "after filling /tmp"

# --- console flood: console.log is capped ---
run_job c -- 'head -c 400000 /dev/zero | tr "\0" x >/dev/console; echo done'
is "$STATUS" "exited 0" "a console flood runs"
size=$(stat -c %s "$STATE/sandboxes/c/console.log")
ok "console.log holds $size bytes, capped near $CONSOLE_MAX" \
	test "$size" -le $((CONSOLE_MAX + 8192))
like "$(fs tail -c 300 "$M/c/console")" "console log capped" "the cap is marked in the console"
w_answers "after the console flood"

# --- guest panic: crashed, reason panic, within a second or two ---
blocked_readers c
t0=$(now_ms)
printf 'exec -- echo c >/proc/sysrq-trigger\n' >"$M/c/ctl" 2>/dev/null
took=$(crash_wait "$t0" c)
is "$(status_of "$M/c/status" state)/$(status_of "$M/c/status" reason)" \
	"crashed/panic" "sysrq c: crashed, reason panic"
ok "detected in $took ms (< 2000)" test "$took" -lt 2000
readers_woke "panic"
like "$(cat "$T/events.c")" "crashed reason=panic" "events has 'crashed reason=panic'"
ok "rmdir of the crashed c" fs rmdir "$M/c"
gone_from_host c "$cpid" "$ccg"
w_answers "after c panicked"

# --- kill -9 of one QEMU: crashed, reason vmm-exited ---
fs mkdir "$M/k" || fatal "mkdir k"
kpid=$(status_of "$M/k/status" pid)
kcg=$(qemu_cgroups "$kpid")
blocked_readers k
t0=$(now_ms)
kill -KILL "$kpid"
took=$(crash_wait "$t0" k)
is "$(status_of "$M/k/status" state)/$(status_of "$M/k/status" reason)" \
	"crashed/vmm-exited" "kill -9 of its QEMU: crashed, reason vmm-exited"
ok "detected in $took ms (< 2000)" test "$took" -lt 2000
readers_woke "kill -9"
ok "rmdir of the crashed k" fs rmdir "$M/k"
gone_from_host k "$kpid" "$kcg"
w_answers "after k's QEMU was killed"

# --- the guest as a whole out of memory: crashed, reason oom ---
# Root in the guest can leave the jobs' cgroup and shield itself like the
# agent; then nothing is left to kill and the kernel panics.
fs mkdir "$M/o" || fatal "mkdir o"
opid=$(status_of "$M/o/status" pid)
ocg=$(qemu_cgroups "$opid")
# Out of the jobs' cgroup but not shielded: the OOM killer takes it, the
# guest lives on, and the agent reports the kill at its next heartbeat.
run_job o -- 'echo $$ >/sys/fs/cgroup/cgroup.procs; dd if=/dev/zero of=/dev/null bs=210M count=1'
is "$STATUS" "killed signal 9" "an OOM outside the jobs' cgroup kills that process"
for ((i = 0; i < 50; i++)); do
	events_now o 1 | grep -q ' oom kills=' && break
	sleep 0.1
done
like "$(events_now o)" "[0-9]+ [0-9]+ oom kills=[0-9]+" "events has a guest-wide 'oom kills=N'"
run_job o -- echo alive
is "$STATUS/$OUT" "exited 0/alive" "and the sandbox goes on"
printf '%s\n' 'exec -- echo $$ >/sys/fs/cgroup/cgroup.procs; echo -1000 >/proc/self/oom_score_adj; dd if=/dev/zero of=/dev/null bs=210M count=1' \
	>"$M/o/ctl" 2>/dev/null
for ((i = 0; i < 300; i++)); do
	[ "$(status_of "$M/o/status" state)" = crashed ] && break
	sleep 0.1
done
is "$(status_of "$M/o/status" state)/$(status_of "$M/o/status" reason)" \
	"crashed/oom" "guest-wide OOM: crashed, reason oom"
ok "rmdir of the crashed o" fs rmdir "$M/o"
gone_from_host o "$opid" "$ocg"
w_answers "after o ran out of memory"

# --- a QEMU that stops answering: the heartbeat gives up on it ---
fs mkdir "$M/s" || fatal "mkdir s"
spid=$(status_of "$M/s/status" pid)
scg=$(qemu_cgroups "$spid")
blocked_readers s
t0=$(now_ms)
kill -STOP "$spid"
for ((i = 0; i < 200; i++)); do
	[ "$(status_of "$M/s/status" state)" = crashed ] && break
	sleep 0.05
done
took=$(($(now_ms) - t0))
is "$(status_of "$M/s/status" state)/$(status_of "$M/s/status" reason)" \
	"crashed/agent-unresponsive" "SIGSTOP of its QEMU: crashed, reason agent-unresponsive"
ok "after the $HEARTBEAT s heartbeat ($took ms)" test "$took" -lt $(((HEARTBEAT + 3) * 1000))
readers_woke "heartbeat"
ok "rmdir of the unresponsive s" fs rmdir "$M/s"
gone_from_host s "$spid" "$scg"
w_answers "after s stopped answering"

# --- the end: nothing left ---
wpid=$(status_of "$M/w/status" pid)
wcg=$(qemu_cgroups "$wpid")
ok "rmdir w" fs rmdir "$M/w"
gone_from_host w "$wpid" "$wcg"
is "$(test_qemus)" "" "no QEMU of this test is left"
base=$(dirname "$(echo "$wcg" | head -n 1)")
kill -TERM "$DAEMON_PID"
ok "the daemon stops on SIGTERM" wait_gone "$DAEMON_PID" 10
ok "its cgroup folder $base is gone" test -n "$base" -a ! -e "$base"
