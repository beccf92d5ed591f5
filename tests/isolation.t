#!/bin/bash
# Two sandboxes at once are two machines: neither sees the other's files,
# and rmdir leaves no QEMU of the removed one behind.
. "$(dirname "$0")/lib.sh"

need_daemon_prereqs
start_daemon || fatal "daemon mounts the tree"
fs mkdir "$M/x" || fatal "mkdir x"
fs mkdir "$M/y" || fatal "mkdir y"
is "$(status_of "$M/status" sandboxes)" 2 "two sandboxes"

px=$(status_of "$M/x/status" pid)
py=$(status_of "$M/y/status" pid)
ok "each has its own qemu ($px, $py)" test -n "$px" -a -n "$py" -a "$px" != "$py"

run_job x -- 'echo secret-of-x >/tmp/mark && cat /tmp/mark'
is "$OUT" secret-of-x "x writes a file"
run_job y -- 'cat /tmp/mark'
like "$STATUS" '^exited [1-9]' "y does not see x's file"
is "$OUT" "" "and reads nothing of it"
run_job y -- 'echo y-was-here >/root.y; ls /'
run_job x -- 'test -e /root.y'
is "$STATUS" "exited 1" "x does not see y's file either"

run_job x -- 'cat /proc/sys/kernel/random/boot_id'
bx=$OUT
run_job y -- 'cat /proc/sys/kernel/random/boot_id'
ok "two kernels: different boot ids" test -n "$bx" -a "$bx" != "$OUT"

jx=$(ls "$M/x/jobs" | wc -l)
jy=$(ls "$M/y/jobs" | wc -l)
is "$jx/$jy" 3/3 "each sandbox lists only its own jobs"

ok "rmdir x" fs rmdir "$M/x"
ok "x's qemu ($px) is gone when rmdir returns" pid_gone "$px"
left=
for pid in $(test_qemus); do
	grep -qs -- "/x/\|/x\$" "/proc/$pid/cmdline" && left="$left $pid"
	case $(readlink "/proc/$pid/cwd") in */x) left="$left $pid" ;; esac
done
is "$left" "" "no qemu process of x is left"
is "$(find "$STATE" \( -name x -o -path '*/x/*' \) 2>/dev/null)" "" "x's state files are gone"
is "$(status_of "$M/status" sandboxes)" 1 "one sandbox left"

run_job y -- 'cat /root.y'
is "$OUT" y-was-here "y runs on, its files intact"
ok "y's qemu is the same process" test "$(status_of "$M/y/status" pid)" = "$py"
ok "rmdir y" fs rmdir "$M/y"
ok "y's qemu is gone" pid_gone "$py"
is "$(test_qemus)" "" "no qemu of this test is left"
