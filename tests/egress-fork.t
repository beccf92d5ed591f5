#!/bin/bash
# A fork's child gets a network of its own without a reboot: its own tap
# and addresses (set by the agent from setup), its parent's list, and
# what was left of its parent's quota.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netlib.sh"

plan 8
need_daemon_prereqs
need_net_prereqs
net_world || fatal "the test's network namespaces"
start_daemon "${NET_ARGS[@]}" --quota 50M || fatal "daemon mounts the tree"
fs mkdir "$M/a" || fatal "mkdir a"
put_netprobe a || fatal "netprobe copied into the guest"
fs sh -c "echo 198.51.100.2:7000 >'$M/a/egress'"
probe a tcp 198.51.100.2 7000 parent
is "$(sed -n 's/^reply=//p' <<<"$OUT")" parent "the parent connects"

fs sh -c "echo pause >'$M/a/ctl'" && fs sh -c "echo 'fork kid' >'$M/a/ctl'" ||
	fatal "pause and fork"
is "$(status_of "$M/kid/status" state)" running "the child runs"
is "$(status_of "$M/kid/status" address)" "198.18.0.6,2001:db8:5b::102" \
	"with addresses of its own"
is "$(fs cat "$M/kid/egress")" "198.51.100.2:7000" "and its parent's list"
probe kid tcp 198.51.100.2 7000 child
is "$(sed -n 's/^reply=//p' <<<"$OUT")" child "the child connects from its own tap"
probe kid tcp 198.51.100.2 7001
like "$OUT" '^refused' "and is refused the rest"
left=$(status_of "$M/kid/status" quota_left)
ok "its quota is what its parent had left ($left)" test "${left:-0}" -gt 0 -a "${left:-0}" -le 52428800
fs sh -c "echo resume >'$M/a/ctl'"
probe a tcp 198.51.100.2 7000 again
is "$(sed -n 's/^reply=//p' <<<"$OUT")" again "the parent still connects"
