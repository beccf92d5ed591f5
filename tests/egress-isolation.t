#!/bin/bash
# Even a list that opens every address leaves some shut: another
# sandbox, the host itself (gateway and uplink addresses), link-local
# metadata; sandboxes have no shared link; a lost filter means no network
# until the daemon puts it back; a daemon that stops leaves no
# tap, tc filter, BPF program or nftables table.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netlib.sh"

plan 19
need_daemon_prereqs
need_net_prereqs
net_world || fatal "the test's network namespaces"
# A service on the host: what a guest must not reach.
(in_daemon socat TCP-LISTEN:7777,fork,reuseaddr EXEC:cat >/dev/null 2>&1 &)
start_daemon "${NET_ARGS[@]}" --heartbeat 60 || fatal "daemon mounts the tree"
fs mkdir "$M/a" || fatal "mkdir a"
fs mkdir "$M/b" || fatal "mkdir b"
put_netprobe a || fatal "netprobe copied into a"
put_netprobe b || fatal "netprobe copied into b"
ab=$(status_of "$M/b/status" address)
b4=${ab%%,*}
is "$b4" 198.18.0.6 "b has the second /30"

for sb in a b; do
	fs sh -c "printf '0.0.0.0/0:*\n[::]/0:*\n' >'$M/$sb/egress'"
done
exec_job b -- 'nc -l -p 9000 -e echo hi' >/dev/null
probe a tcp 198.51.100.2 7000 open
is "$(sed -n 's/^reply=//p' <<<"$OUT")" open "with 0.0.0.0/0:* the outside answers"
probe a tcp "$b4" 9000
like "$OUT" '^refused' "a cannot reach b's address"
probe a tcp 2001:db8:5b::102 9000
like "$OUT" '^refused' "nor b's IPv6 address"
probe a tcp 198.18.0.1 7777
like "$OUT" '^refused' "nor the host on its gateway address"
probe a tcp 198.51.100.1 7777
unlike=$OUT
ok "nor the host on its uplink address ($unlike)" test "${OUT#connected}" = "$OUT"
probe a tcp 169.254.169.254 80
like "$OUT" '^refused' "nor link-local metadata"
probe a tcp 127.0.0.1 7777
unlike=$OUT
ok "its own loopback is its own ($unlike)" test "${OUT#connected}" = "$OUT"
ok "denials of a are a's events" events_matching a "egress-denied proto=tcp dst=$b4:9000"
nok "and not b's" events_matching b "egress-denied proto=tcp dst=$b4:9000"
is "$(in_daemon ip -o link show type bridge | wc -l)" 0 "no bridge joins the taps"

# Fail closed: with its filter gone (the daemon stopped, so it cannot put
# it back) the guest has no network; once running, the daemon re-attaches.
n=$(exec_job a -- 'sleep 1; netprobe tcp 198.51.100.2 7000 gap')
kill -STOP "$DAEMON_PID"
in_daemon tc qdisc del dev sbx1 clsact
sleep 7
kill -CONT "$DAEMON_PID"
gap=$(fs cat "$M/a/jobs/$n/stdout" | head -n 1)
ok "without its filter the guest gets nowhere ($gap)" test "${gap#connected}" = "$gap"
sleep 2
ok "the daemon attached the filter again" sh -c \
	"ip netns exec $DAEMON_NETNS tc filter show dev sbx1 ingress | grep -q egress_out"
probe a tcp 198.51.100.2 7000 back
is "$(sed -n 's/^reply=//p' <<<"$OUT")" back "with the list it had"
ok "and said so in the log" grep -q "no longer attached" "$LOG"

ids=$(for t in sbx1 sbx2; do in_daemon tc filter show dev $t ingress; done |
      sed -n 's/.* id \([0-9]*\) .*/\1/p')
fusermount3 -u "$M"
wait_gone "$DAEMON_PID" 20
ok "the daemon stops on unmount" pid_gone "$DAEMON_PID"
is "$(in_daemon ip -o link show | grep -c ': sbx[0-9]')" 0 "no tap is left"
is "$(in_daemon nft list tables 2>&1)" "" "no nftables table is left"
left=
for id in $ids; do bpftool prog show id "$id" >/dev/null 2>&1 && left="$left $id"; done
is "$left" "" "no BPF program is left"
