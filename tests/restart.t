#!/bin/bash
# A daemon killed with -9 leaves its VMs running; a new one on the same
# state shows the same tree and finishes what the old one started.  A VM
# that died while no daemon watched shows as crashed.
. "$(dirname "$0")/lib.sh"

need_daemon_prereqs
plan 18
start_daemon || fatal "daemon mounts the tree"
fs mkdir "$M/a" || fatal "mkdir a"
fs mkdir "$M/b" || fatal "mkdir b"
slow='i=0; while [ $i -lt 8 ]; do i=$((i+1)); echo line $i; sleep 0.5; done'
ja=$(exec_job a -- "$slow")
jb=$(exec_job b -- "$slow; echo to-stderr >&2")
pa=$(status_of "$M/a/status" pid)
pb=$(status_of "$M/b/status" pid)
sleep 1

kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
ok "the vms outlive the daemon" sh -c "kill -0 $pa && kill -0 $pb"
sleep 3
start_daemon || fatal "a new daemon mounts the same state"
is "$(ls "$M" | grep -v -e ctl -e status -e shapes -e images -e networks | tr '\n' ' ')" "a b " \
	"both sandboxes are there"
is "$(status_of "$M/a/status" state)/$(status_of "$M/b/status" state)" running/running \
	"both running"
is "$(status_of "$M/a/status" pid)" "$pa" "the same vm, not a new one"
is "$(wait_job a "$ja" 30)" "exited 0" "a's job ran to its end"
is "$(wait_job b "$jb" 30)" "exited 0" "b's job too"
is "$(fs cat "$M/a/jobs/$ja/stdout" | wc -l)" 8 "a's output is complete"
is "$(fs cat "$M/b/jobs/$jb/stdout" | tr '\n' ' ')" \
	"line 1 line 2 line 3 line 4 line 5 line 6 line 7 line 8 " \
	"b's output is complete and in order"
is "$(fs cat "$M/b/jobs/$jb/stderr")" to-stderr "stderr too"
like "$(event_types a)" "job-start job-exit$" "the events go on in the same log"
ok "seq goes on without repeating" sh -c \
	"timeout 2 cat '$M/a/events' | awk '\$1 != NR { exit 1 }'"
run_job a -- 'echo after-restart'
is "$OUT" after-restart "a new exec works"

kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
kill -9 "$pb"
ok "b's vm is killed while no daemon runs" wait_gone "$pb" 5
start_daemon || fatal "a third daemon mounts the same state"
is "$(status_of "$M/b/status" state)/$(status_of "$M/b/status" reason)" \
	crashed/vmm-exited "b shows as crashed, reason vmm-exited"
like "$(event_types b)" "crashed$" "with a crashed event"
is "$(status_of "$M/a/status" state)" running "a is untouched"
ok "rmdir works on both" sh -c "timeout 30 rmdir '$M/a' '$M/b'"
is "$(test_qemus)" "" "no qemu of this test is left"
