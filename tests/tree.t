#!/bin/bash
# The tree itself: root files, a sandbox's files and status keys, and the
# errors every bad input must get (errno plus a message in status).
. "$(dirname "$0")/lib.sh"

need_daemon_prereqs

start_daemon || fatal "daemon mounts the tree"

# --- root ---
ok "root has ctl" test -e "$M/ctl"
ok "root has status" test -f "$M/status"
ok "root has shapes" test -f "$M/shapes"
ok "root has images" test -f "$M/images"

rs=$(fs cat "$M/status")
like "$rs" $'(^|\n)version [^\n]+' "root status has version"
like "$rs" $'(^|\n)accel (kvm|tcg)(\n|$)' "root status has accel kvm|tcg"
if ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
	is "$(status_of "$M/status" accel)" tcg "no hardware virtualisation: accel is tcg"
else
	ok "hardware virtualisation present: accel is either" true
fi
is "$(status_of "$M/status" sandboxes)" 0 "no sandboxes yet"
is "$(status_of "$M/status" error)" - "no error yet"

shapes=$(fs cat "$M/shapes")
like "$shapes" $'(^|\n)s-1vcpu-256mb 1 256(\n|$)' "shape s-1vcpu-256mb 1 256"
like "$shapes" $'(^|\n)s-1vcpu-1gb 1 1024(\n|$)' "shape s-1vcpu-1gb 1 1024"
like "$shapes" $'(^|\n)s-2vcpu-2gb 2 2048(\n|$)' "shape s-2vcpu-2gb 2 2048"
like "$shapes" $'(^|\n)s-4vcpu-4gb 4 4096(\n|$)' "shape s-4vcpu-4gb 4 4096"
like "$(fs cat "$M/images")" $'(^|\n)base:1(\n|$)' "images lists base:1"

# --- bad names: refused before anything boots ---
long255=$(printf 'a%.0s' {1..255})
long64=$(printf 'a%.0s' {1..64})
for n in Bad .hidden -x _x "a b" "$long64" "$long255"; do
	is "$(errno_of mkdir "$M/$n")" EINVAL "mkdir '${n:0:20}' (${#n} bytes) is EINVAL"
done
e=$(status_of "$M/status" error)
ok "a bad name sets the root error line ('$e')" test "$e" != -

# --- one sandbox for the rest ---
t0=$(now_ms)
ok "mkdir a" fs mkdir "$M/a"
diag "mkdir took $(($(now_ms) - t0)) ms"
for f in ctl status status.json events console jobs; do
	ok "a/$f exists" test -e "$M/a/$f"
done
is "$(status_of "$M/status" sandboxes)" 1 "root status counts one sandbox"

keys=$(fs awk '{ print $1 }' "$M/a/status" | tr '\n' ' ')
is "$keys" "name state reason shape image accel pid uptime jobs egress egress_bytes quota_left address error " \
	"status keys in the contract's order"
is "$(status_of "$M/a/status" name)" a "status name"
is "$(status_of "$M/a/status" state)" running "mkdir returned: state running"
is "$(status_of "$M/a/status" reason)" - "reason -"
is "$(status_of "$M/a/status" shape)" s-1vcpu-256mb "default shape"
is "$(status_of "$M/a/status" image)" base:1 "default image"
is "$(status_of "$M/a/status" accel)" "$(status_of "$M/status" accel)" "accel as the root says"
pid=$(status_of "$M/a/status" pid)
ok "pid $pid is a live qemu" grep -q qemu-system "/proc/$pid/cmdline"
is "$(status_of "$M/a/status" jobs)" 0/0 "jobs 0/0"
is "$(status_of "$M/a/status" error)" - "error -"
ok "status.json is one JSON object with name a and state running" \
	fs perl -MJSON::PP -e '
		local $/; my $j = decode_json(<STDIN>);
		exit !($j->{name} eq "a" && $j->{state} eq "running")' <"$M/a/status.json"

# --- errors ---
is "$(errno_of mkdir "$M/a")" EEXIST "mkdir of an existing sandbox is EEXIST"

is "$(errno_of write "$M/a/ctl" $'frobnicate\n')" EINVAL "unknown verb is EINVAL"
like "$(status_of "$M/a/status" error)" 'frobnicate' "error line names the unknown verb"

is "$(errno_of write "$M/a/ctl" $'exec timeout=x -- true\n')" EINVAL "bad exec option is EINVAL"
like "$(status_of "$M/a/status" error)" 'timeout' "error line says what was wrong"

is "$(errno_of write "$M/a/ctl" $'exec -- true\nfrobnicate\n')" EINVAL \
	"a write with one bad line is EINVAL"
is "$(status_of "$M/a/status" jobs)" 0/0 "and changes nothing: no job was started"

r=$(errno_of write "$M/a/ctl" $'kill 99\n')
nok "kill of a job that does not exist fails ($r)" test "$r" = OK
like "$(status_of "$M/a/status" error)" '99' "error line names the job"

for f in status shapes images; do
	r=$(errno_of write "$M/$f" $'x\n')
	nok "write to read-only /$f fails ($r)" test "$r" = OK
done
for f in status status.json events console; do
	r=$(errno_of write "$M/a/$f" $'x\n')
	nok "write to read-only a/$f fails ($r)" test "$r" = OK
done

# --- a line split over two write calls ---
is "$(errno_of write "$M/a/ctl" 'exec -- echo spl' $'it\n')" OK "a line split over two writes is accepted"
n=$(ls "$M/a/jobs" | sort -n | tail -n 1)
is "$(fs cat "$M/a/jobs/$n/stdout")" split "and runs whole"
is "$(fs cat "$M/a/jobs/$n/cmd")" "echo split" "jobs/N/cmd is the command line as given"
r=$(errno_of write "$M/a/jobs/$n/status" $'x\n')
nok "write to read-only jobs/N/status fails ($r)" test "$r" = OK

# --- global ctl ---
is "$(errno_of write "$M/ctl" $'frobnicate\n')" EINVAL "unknown global verb is EINVAL"
like "$(status_of "$M/status" error)" 'frobnicate' "root error line names it"
r=$(errno_of write "$M/ctl" $'new c shape=no-such-shape\n')
nok "new with an unknown shape fails ($r)" test "$r" = OK
ok "and creates nothing" test ! -e "$M/c"

# --- rmdir ---
ok "rmdir a" fs rmdir "$M/a"
ok "a is gone" test ! -e "$M/a"
ok "its qemu (pid $pid) is gone" wait_gone "$pid" 5
is "$(errno_of rmdir "$M/a")" ENOENT "rmdir of a missing sandbox is ENOENT"
