#!/bin/bash
# The tree driven the way users' scripts drive it: mkdir, echo, cat, head
# and rmdir, nothing else touching the mount.  Job numbers start at 1.
. "$(dirname "$0")/lib.sh"

need_daemon_prereqs
start_daemon || fatal "daemon mounts the tree"
S=$M/sh1

ok "mkdir sandbox" fs mkdir "$S"
is "$(fs head -n 1 "$S/status")" "name sh1" "head -n 1 status"
is "$(fs head -n 2 "$S/status")" $'name sh1\nstate running' "head -n 2 status: running"

ok "echo exec > ctl" fs sh -c "echo 'exec -- echo hello from \$(uname -s)' > '$S/ctl'"
is "$(fs cat "$S/jobs/1/stdout")" "hello from Linux" "cat jobs/1/stdout"
is "$(fs cat "$S/jobs/1/status")" "exited 0" "cat jobs/1/status"
is "$(fs cat "$S/jobs/1/cmd")" 'echo hello from $(uname -s)' "cat jobs/1/cmd"

ok "echo exec >> ctl" fs sh -c "echo 'exec -- echo oops >&2; exit 3' >> '$S/ctl'"
is "$(fs cat "$S/jobs/2/stderr")" oops "cat jobs/2/stderr"
is "$(fs cat "$S/jobs/2/stdout")" "" "jobs/2/stdout is empty"
is "$(fs cat "$S/jobs/2/status")" "exited 3" "jobs/2/status: exited 3"

ok "two lines in one echo" fs sh -c "echo 'exec -- echo first
exec -- echo second' > '$S/ctl'"
is "$(fs cat "$S/jobs/3/stdout")/$(fs cat "$S/jobs/4/stdout")" first/second "both ran, in order"

ok "echo into a job's stdin" fs sh -c "echo 'exec -- read l; echo got \$l' > '$S/ctl'; echo ping > '$S/jobs/5/stdin'"
is "$(fs cat "$S/jobs/5/stdout")" "got ping" "the job read it"

nok "echo of a bad command fails" fs sh -c "echo 'exec nonsense' > '$S/ctl'"
like "$(fs cat "$S/status")" $'\nerror exec: [^\n]+' "cat status shows the error"

ok "echo kill > jobs/N/ctl" fs sh -c "echo 'exec -- sleep 100' > '$S/ctl'; echo kill > '$S/jobs/6/ctl'; cat '$S/jobs/6/stdout'"
like "$(fs cat "$S/jobs/6/status")" '^killed signal' "cat jobs/6/status: killed"

ev=$(FS_TIMEOUT=20 fs head -n 4 "$S/events")
like "$ev" $'^1 [0-9]+ created[^\n]*\n2 [0-9]+ running[^\n]*\n3 [0-9]+ job-start job=1[^\n]*\n4 [0-9]+ job-exit job=1 code=0' \
	"head -n 4 events"

ok "rmdir sandbox" fs rmdir "$S"
nok "cat of its status now fails" fs cat "$S/status"
