# Sourced after lib.sh by the network tests: a world of their own, made
# and torn down here.  Two namespaces joined by a veth:
#   $DAEMON_NETNS  the daemon's; uplink up0 198.51.100.1/24, 2001:db8:100::1
#   $SERVER_NETNS  the "outside": 198.51.100.2 and .3, 2001:db8:100::2
#                  with echo servers, a 5 MB download and dnsmasq
# Sandboxes get 198.18.0.0/16 and 2001:db8:5b::/64.  All of these are
# documentation or benchmark ranges, and no packet leaves the two
# namespaces: the server namespace has no other link.

NETPROBE=${NETPROBE:-$ROOT/build/tests/netprobe}
DAEMON_NETNS=sbxd-$$
SERVER_NETNS=sbxs-$$
NET_ARGS=(--uplink up0 --pool 198.18.0.0/16 --pool6 2001:db8:5b::/64
	  --dns 198.51.100.2)

need_net_prereqs() {
	local missing=() c

	for c in ip nsenter socat dnsmasq nft bpftool; do
		command -v "$c" >/dev/null 2>&1 || missing+=("$c")
	done
	[ -x "$NETPROBE" ] || missing+=("$NETPROBE (run make)")
	[ ${#missing[@]} -eq 0 ] && return 0
	[ -n "$_planned" ] || plan 1
	fatal "prerequisites: missing ${missing[*]} (contrib/install-deps.sh)"
}

in_server() {
	ip netns exec "$SERVER_NETNS" "$@"
}

in_daemon() {
	ip netns exec "$DAEMON_NETNS" "$@"
}

_net_teardown() {
	local ns pid

	for ns in "$SERVER_NETNS" "$DAEMON_NETNS"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
	done
	sleep 0.2
	ip netns del "$SERVER_NETNS" 2>/dev/null
	ip netns del "$DAEMON_NETNS" 2>/dev/null
	return 0
}

# Servers in the server namespace: TCP echo on 7000 and 7001, UDP echo on
# 7002, 5 MB of zeros on 8000, dnsmasq on 53 with the test names.  Not
# jobs of the test's shell (whose trap would report their deaths):
# _net_teardown ends every process of the two namespaces.
_net_servers() {
	local p

	for p in 7000 7001; do
		(in_server socat TCP6-LISTEN:$p,fork,reuseaddr,ipv6only=0 \
			EXEC:cat >/dev/null 2>&1 &)
	done
	(in_server socat UDP6-RECVFROM:7002,fork,ipv6only=0 EXEC:cat \
		>/dev/null 2>&1 &)
	(in_server socat TCP6-LISTEN:8000,fork,reuseaddr,ipv6only=0 \
		SYSTEM:'head -c 5000000 /dev/zero' >/dev/null 2>&1 &)
	(in_server dnsmasq --keep-in-foreground --no-resolv --no-hosts \
		--bind-interfaces --listen-address=198.51.100.2 \
		--pid-file="$T/dnsmasq.pid" --user=root --local-ttl=60 \
		--address=/allowed.test/198.51.100.2 \
		--address=/blocked.test/198.51.100.3 \
		--address=/wild.test/198.51.100.2 \
		--host-record=short.test,198.51.100.3,2 \
		>"$T/dnsmasq.log" 2>&1 &)
}

net_world() {
	local D=$DAEMON_NETNS S=$SERVER_NETNS i

	at_exit _net_teardown
	ip netns add "$D" && ip netns add "$S" &&
	ip link add up0 netns "$D" type veth peer name srv0 netns "$S" &&
	ip -n "$D" link set lo up && ip -n "$S" link set lo up &&
	ip -n "$D" addr add 198.51.100.1/24 dev up0 &&
	ip -n "$D" -6 addr add 2001:db8:100::1/64 dev up0 nodad &&
	ip -n "$D" link set up0 up &&
	ip -n "$D" route add default via 198.51.100.2 &&
	ip -n "$D" -6 route add default via 2001:db8:100::2 &&
	ip -n "$S" addr add 198.51.100.2/24 dev srv0 &&
	ip -n "$S" addr add 198.51.100.3/24 dev srv0 &&
	ip -n "$S" -6 addr add 2001:db8:100::2/64 dev srv0 nodad &&
	ip -n "$S" -6 addr add 2001:db8:100::3/64 dev srv0 nodad &&
	ip -n "$S" link set srv0 up || return 1
	_net_servers
	for ((i = 0; i < 50; i++)); do
		in_server sh -c 'ss -ltn | grep -q ":8000 " && ss -lun | grep -q "198.51.100.2:53 "' && return 0
		sleep 0.1
	done
	diag "servers did not come up: $(cat "$T/dnsmasq.log" 2>/dev/null)"
	return 1
}

# put_netprobe SANDBOX: copies the probe into the guest as /bin/netprobe.
put_netprobe() {
	local n

	n=$(exec_job "$1" -- 'cat >/bin/netprobe && chmod +x /bin/netprobe') || return 1
	fs sh -c 'cat "$1" >"$2"' - "$NETPROBE" "$M/$1/jobs/$n/stdin" || return 1
	[ "$(wait_job "$1" "$n")" = "exited 0" ]
}

# probe SANDBOX ARGS...: runs netprobe ARGS in the guest; OUT, STATUS.
probe() {
	local sb=$1

	shift
	run_job "$sb" -- netprobe "$*"
}

# The ms= figure of the last probe's output.
probe_ms() {
	sed -n 's/.* ms=\([0-9]*\).*/\1/p' <<<"$OUT" | head -n 1
}

# events_matching SANDBOX ERE: is there an event line so far that matches?
events_matching() {
	events_now "$1" | grep -qE -- "$2"
}
