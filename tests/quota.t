#!/bin/bash
# The byte quota: counted in the kernel both ways, a 1 MB quota stops a
# 5 MB download part way with one quota-exhausted event, status and the
# quota file say so, and recharge lifts the cap at once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netlib.sh"

plan 17
need_daemon_prereqs
need_net_prereqs
net_world || fatal "the test's network namespaces"
start_daemon "${NET_ARGS[@]}" --quota 1M || fatal "daemon mounts the tree"
fs mkdir "$M/q" || fatal "mkdir q"
put_netprobe q || fatal "netprobe copied into the guest"

is "$(fs cat "$M/q/quota")" $'limit 1048576\nused 0' "quota: the daemon's default, nothing used"
is "$(status_of "$M/q/status" quota_left)" 1048576 "status: quota_left"
ok "allow the download server" fs sh -c "echo tcp/198.51.100.2:8000 >'$M/q/egress'"

probe q get 198.51.100.2 8000
got=$(sed -n 's/.* bytes=\([0-9]*\).*/\1/p' <<<"$OUT")
like "$OUT" '^stalled' "a 5 MB download stalls"
ok "part way ($got bytes)" test "${got:-0}" -gt 500000 -a "${got:-0}" -lt 1500000
ok "quota-exhausted is raised" events_matching q ' quota-exhausted$'
is "$(status_of "$M/q/status" quota_left)" 0 "status: quota_left 0"
is "$(status_of "$M/q/status" reason)" quota "status: reason quota"
used=$(fs awk '$1 == "used" { print $2 }' "$M/q/quota")
ok "quota: used $used >= limit" test "${used:-0}" -ge 1048576
eb=$(status_of "$M/q/status" egress_bytes)
ok "egress_bytes counts what the guest sent ($eb)" test "${eb:-0}" -gt 0 -a "${eb:-0}" -lt "${used:-0}"

probe q get 198.51.100.2 8000
like "$OUT" '^(stalled|timeout|refused)' "the next download gets nothing while the quota is used up"
is "$(events_now q | grep -c ' quota-exhausted$')" 1 "quota-exhausted is raised once"

ok "recharge 20000000" fs sh -c "echo 'recharge 20000000' >'$M/q/ctl'"
ok "recharged is raised" events_matching q ' recharged bytes=20000000$'
like "$(status_of "$M/q/status" reason)" '^-$' "reason is back to -"
probe q get 198.51.100.2 8000
like "$OUT" '^eof bytes=5000000 ' "after recharge the next download goes through"
is "$(fs awk '$1 == "limit" { print $2 }' "$M/q/quota")" 21048576 "quota: the limit grew by the recharge"
