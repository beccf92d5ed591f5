#!/bin/bash
# A daemon killed with -9 leaves a sandbox's QEMU and tap; its filter
# stays attached.  Without the daemon its nftables table is gone (owner
# flag), so the guest has no way out; a new daemon on the same state
# takes the tap over with the same list, quota and counters.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netlib.sh"

plan 10
need_daemon_prereqs
need_net_prereqs
net_world || fatal "the test's network namespaces"
start_daemon "${NET_ARGS[@]}" --quota 50M || fatal "daemon mounts the tree"
fs mkdir "$M/a" || fatal "mkdir a"
put_netprobe a || fatal "netprobe copied into the guest"
fs sh -c "echo 198.51.100.2:7000 >'$M/a/egress'"
probe a tcp 198.51.100.2 7000 before
is "$(sed -n 's/^reply=//p' <<<"$OUT")" before "the listed address answers"
used=$(fs awk '$1 == "used" { print $2 }' "$M/a/quota")

kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
ok "the tap outlives the daemon" in_daemon ip link show sbx1
ok "with its filter" sh -c "ip netns exec $DAEMON_NETNS tc filter show dev sbx1 ingress | grep -q egress_out"
is "$(in_daemon nft list tables 2>&1)" "" "the crashed daemon's nftables table is gone"
sleep 1
fusermount3 -u "$M" 2>/dev/null || umount -l "$M"
start_daemon "${NET_ARGS[@]}" --quota 50M || fatal "a new daemon mounts the same state"
is "$(status_of "$M/a/status" egress)" enforced "egress enforced again"
is "$(fs cat "$M/a/egress")" "198.51.100.2:7000" "with the same list"
probe a tcp 198.51.100.2 7000 after
is "$(sed -n 's/^reply=//p' <<<"$OUT")" after "the listed address answers"
probe a tcp 198.51.100.2 7001
like "$OUT" '^refused' "others are still refused"
now=$(fs awk '$1 == "used" { print $2 }' "$M/a/quota")
ok "the quota's use went on ($used -> $now)" test "${now:-0}" -ge "${used:-1}"
is "$(fs awk '$1 == "limit" { print $2 }' "$M/a/quota")" 52428800 "and its limit"
