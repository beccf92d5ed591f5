#!/bin/bash
# Warm starts from a template, pause and resume, fork, suspend to disk and
# the sandbox lifetime, against real VMs.
. "$(dirname "$0")/lib.sh"

need_daemon_prereqs
plan 51
start_daemon || fatal "daemon mounts the tree"

# --- warm starts -------------------------------------------------------
fs mkdir "$M/first" || fatal "mkdir first"
like "$(events_now first | grep ' running ')" "running from=template template=new" \
	"the first sandbox built the template and was restored from it"

names="w1 w2 w3 w4 w5 w6 w7 w8 w9 w10"
restored=0 made=0
for n in $names; do
	fs mkdir "$M/$n" && made=$((made + 1))
	[ "$(events_now "$n" | awk '$3 == "running" { print $4, $5 }')" = "from=template " ] &&
		restored=$((restored + 1))
done
is "$made" 10 "ten more mkdirs"
is "$restored" 10 "each restored from the template, none booted"
rnd= hosts=
for n in $names; do
	run_job "$n" -- 'hostname; head -c 16 /dev/urandom | od -An -tx1 | tr -d " \n"'
	hosts="$hosts $(echo "$OUT" | head -n 1)"
	rnd="$rnd $(echo "$OUT" | tail -n 1)"
done
is "$(echo $hosts | tr ' ' '\n' | sort -u | wc -l)" 10 "ten different hostnames"
is "$(echo $hosts | tr ' ' '\n' | sort | tr '\n' ' ')" "w1 w10 w2 w3 w4 w5 w6 w7 w8 w9 " \
	"each named after its sandbox"
is "$(echo $rnd | tr ' ' '\n' | grep -c '^[0-9a-f]\{32\}$')" 10 "ten reads of /dev/urandom"
is "$(echo $rnd | tr ' ' '\n' | sort -u | wc -l)" 10 "and no two alike"
run_job w1 -- 'date +%s'
ok "the restored guest's clock is right (guest $OUT, host $(date +%s))" \
	test "$(( OUT - $(date +%s) ))" -ge -5 -a "$(( OUT - $(date +%s) ))" -le 5
gone=0
for n in $names; do fs rmdir "$M/$n" && gone=$((gone + 1)); done
is "$gone" 10 "the ten are removed"

# --- pause and resume -------------------------------------------------
p=first
J=$(exec_job $p -- 'echo parent-file >/tmp/mark; i=0; while [ $i -lt 200 ]; do i=$((i+1)); echo tick $i; sleep 0.2; done')
sleep 2
is "$(errno_of write "$M/$p/ctl" $'pause\n')" OK "pause"
is "$(status_of "$M/$p/status" state)" paused "state paused"
s1=$(stat -c %s "$M/$p/jobs/$J/stdout")
u1=$(status_of "$M/$p/status" uptime)
sleep 3
s2=$(stat -c %s "$M/$p/jobs/$J/stdout")
u2=$(status_of "$M/$p/status" uptime)
is "$s2" "$s1" "a paused job's output stops growing"
is "$u2" "$u1" "uptime stops while paused"
is "$(errno_of write "$M/$p/ctl" $'pause\n')" EALREADY "pausing twice fails"
like "$(status_of "$M/$p/status" error)" "already|paused" "and says why"
is "$(status_of "$M/$p/status" state)" paused "and changes nothing"
ok "a paused sandbox answers events" sh -c "timeout 2 cat '$M/$p/events' | grep -q ' paused'"

# --- fork -------------------------------------------------------------
is "$(errno_of write "$M/$p/ctl" $'fork first\n')" EEXIST "fork to an existing name fails"
like "$(status_of "$M/$p/status" error)" 'exists' "with a message"
t0=$(now_ms)
is "$(errno_of write "$M/$p/ctl" $'fork kid\n')" OK "fork kid"
diag "fork took $(( $(now_ms) - t0 )) ms"
is "$(status_of "$M/kid/status" state)" running "the child is running"
like "$(events_now kid | grep ' running ')" "running from=fork" "its events say it came from a fork"
is "$(status_of "$M/$p/status" state)" paused "the parent is still paused"
ok "the child has the parent's jobs" test -e "$M/kid/jobs/$J/stdout"
sleep 2
c1=$(stat -c %s "$M/kid/jobs/$J/stdout")
ok "the parent's job runs on in the child ($c1 > $s1 bytes)" test "$c1" -gt "$s1"
is "$(stat -c %s "$M/$p/jobs/$J/stdout")" "$s1" "while the parent's copy stays still"
is "$(errno_of write "$M/$p/ctl" $'fork kid3\n')" OK "a second fork of the same paused parent"
run_job kid3 -- 'cat /tmp/mark'
is "$OUT" parent-file "has the parent's files too"
ok "rmdir the second child" fs rmdir "$M/kid3"
run_job kid -- 'cat /tmp/mark; echo child-file >/tmp/mark'
is "$OUT" parent-file "the child has the parent's files"
is "$(errno_of write "$M/kid/ctl" $'fork kid2\n')" EBUSY "fork of a running sandbox fails"
like "$(status_of "$M/kid/status" error)" 'pause first' "saying pause first"
ok "and makes no child" test ! -e "$M/kid2"
is "$(errno_of write "$M/kid/ctl" $'pause\n' $'fork kid2\n')" OK "a fork of a fork"
run_job kid2 -- 'cat /tmp/mark'
is "$OUT" child-file "has the child's files"

is "$(errno_of write "$M/$p/ctl" $'resume\n')" OK "resume the parent"
is "$(errno_of write "$M/$p/ctl" $'resume\n')" EINVAL "resuming a running sandbox fails"
sleep 2
ok "its job's output grows again" test "$(stat -c %s "$M/$p/jobs/$J/stdout")" -gt "$s1"
run_job $p -- 'cat /tmp/mark'
is "$OUT" parent-file "the child's changes are not seen in the parent"
u3=$(status_of "$M/$p/status" uptime)
ok "uptime goes on after resume ($u1 -> $u3)" test "$u3" -ge "$u1"

# --- suspend to disk ----------------------------------------------------
qpid=$(status_of "$M/kid2/status" pid)
is "$(errno_of write "$M/kid2/ctl" $'pause\n' $'suspend\n')" OK "suspend a paused sandbox"
ok "its qemu has ended" wait_gone "$qpid" 5
is "$(status_of "$M/kid2/status" state)/$(status_of "$M/kid2/status" reason)" \
	paused/suspended "state paused, reason suspended"
is "$(errno_of write "$M/kid2/ctl" $'resume\n')" OK "resume from disk"
run_job kid2 -- 'cat /tmp/mark'
is "$OUT" child-file "its files came back"
is "$(errno_of write "$M/kid/ctl" $'suspend\n')" OK "suspend a running sandbox: paused, then written out"
is "$(status_of "$M/kid/status" state)/$(status_of "$M/kid/status" pid)" paused/0 \
	"paused, with no qemu process"

# --- lifetime ---------------------------------------------------------
is "$(errno_of write "$M/kid2/ctl" $'timeout 2\n')" OK "timeout 2"
sleep 4
is "$(status_of "$M/kid2/status" state)/$(status_of "$M/kid2/status" reason)" \
	paused/timeout "when the lifetime runs out the sandbox is paused"
like "$(event_types kid2)" 'paused timeout$' "and a timeout event says so"

for n in kid2 kid first; do fs rmdir "$M/$n"; done
is "$(test_qemus)" "" "no qemu of this test is left"
