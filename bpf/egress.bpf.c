// SPDX-License-Identifier: GPL-2.0
/* The egress filter of one sandbox, on its tap.  egress_out runs on tc
 * ingress (frames the guest sends): only allowlisted destinations, ARP,
 * neighbour discovery and DNS to the sandbox's own gateway pass, and they
 * are marked so the host's nftables table lets them on.  egress_in runs
 * on tc egress (frames to the guest) and counts what comes back.  Both
 * meter the quota.  Conntrack (nftables) keeps unsolicited traffic out. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/icmpv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "egress.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct egress_key4);
	__type(value, egress_expiry_t);
	__uint(max_entries, EGRESS_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} allow4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct egress_key6);
	__type(value, egress_expiry_t);
	__uint(max_entries, EGRESS_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} allow6 SEC(".maps");

struct deny_count {
	__u64 packets;
	__u64 reported;		/* 1 when the first one went to the ring */
};

/* Denied packets are merged here per destination; the daemon sweeps it
 * once a second.  LRU: a scan of many destinations evicts old ones
 * rather than failing. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct egress_dst);
	__type(value, struct deny_count);
	__uint(max_entries, EGRESS_DENY_SLOTS);
} denied SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

/* Set by the daemon through the skeleton's mmap of .data/.bss. */
volatile __u32 gen;		/* the allowlist generation in force */
volatile __u64 limit = ~0ULL;	/* quota in bytes, both ways; ~0 = none */
volatile __u64 tx_bytes, rx_bytes;
volatile __u32 quota_hit;	/* reported; the daemon clears it */
volatile __u32 reset_denied = 1;	/* answer denied TCP SYNs with RST */
__be32 guest4, gw4, pool4_net, pool4_mask;
__u8 guest6[16], gw6[16], pool6_net[16], pool6_mask[16];

volatile __u64 ev_window, ev_sent, ev_lost;
volatile __u64 icmp_window, icmp_sent;

static __always_inline int ev_allowed(void)
{
	__u64 now = bpf_ktime_get_ns();

	if (now - ev_window > 1000000000ULL) {
		ev_window = now;
		ev_sent = 0;
	}
	if (ev_sent >= EGRESS_EV_PER_SEC) {
		__sync_fetch_and_add(&ev_lost, 1);
		return 0;
	}
	__sync_fetch_and_add(&ev_sent, 1);
	return 1;
}

static __always_inline void emit(__u32 type, struct egress_dst *d)
{
	struct egress_event *e;

	if (!ev_allowed())
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&ev_lost, 1);
		return;
	}
	e->type = type;
	e->pad = 0;
	__builtin_memcpy(&e->dst, d, sizeof(*d));
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void note_denied(struct egress_dst *d)
{
	struct deny_count *c = bpf_map_lookup_elem(&denied, d), nc = { 1, 0 };

	if (c) {
		__sync_fetch_and_add(&c->packets, 1);
		return;
	}
	/* The ring gets the first packet to a destination at once; the rest
	 * are counted and swept.  A full ring only loses the first word. */
	if (ev_allowed()) {
		struct egress_event *e;

		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (e) {
			e->type = EGRESS_EV_DENIED;
			e->pad = 0;
			__builtin_memcpy(&e->dst, d, sizeof(*d));
			bpf_ringbuf_submit(e, 0);
			nc.reported = 1;
		}
	}
	bpf_map_update_elem(&denied, d, &nc, BPF_ANY);
}

/* The quota covers both ways: a download costs what it brings in. */
static __always_inline int meter(struct __sk_buff *skb, int out)
{
	struct egress_dst none = {};

	if (limit != ~0ULL && tx_bytes + rx_bytes >= limit) {
		if (__sync_val_compare_and_swap(&quota_hit, 0, 1) == 0)
			emit(EGRESS_EV_QUOTA, &none);
		return 0;
	}
	if (out)
		__sync_fetch_and_add(&tx_bytes, skb->len);
	else
		__sync_fetch_and_add(&rx_bytes, skb->len);
	return 1;
}

static __always_inline __u16 csum_fold(__s64 s)
{
	__u64 c = (__u32)s;

	c = (c & 0xffff) + (c >> 16);
	c = (c & 0xffff) + (c >> 16);
	return ~c;
}

/* Answers a denied SYN with a RST, sent back out of the tap to the guest,
 * so its connect fails at once with ECONNREFUSED instead of hanging. */
static __always_inline int reset4(struct __sk_buff *skb, struct ethhdr *eth,
				  struct iphdr *ip, struct tcphdr *tcp)
{
	struct ethhdr re = {};
	struct iphdr ri = {};
	struct tcphdr rt = {};
	struct { __be32 s, d; __u8 z, p; __be16 len; } ps;
	__s64 c;

	__builtin_memcpy(re.h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(re.h_source, eth->h_dest, ETH_ALEN);
	re.h_proto = bpf_htons(ETH_P_IP);
	ri.version = 4;
	ri.ihl = 5;
	ri.tot_len = bpf_htons(sizeof(ri) + sizeof(rt));
	ri.frag_off = bpf_htons(0x4000);
	ri.ttl = 64;
	ri.protocol = IPPROTO_TCP;
	ri.saddr = ip->daddr;
	ri.daddr = ip->saddr;
	rt.source = tcp->dest;
	rt.dest = tcp->source;
	rt.ack_seq = bpf_htonl(bpf_ntohl(tcp->seq) + 1);
	rt.doff = 5;
	rt.rst = 1;
	rt.ack = 1;

	c = bpf_csum_diff(0, 0, (__be32 *)&ri, sizeof(ri), 0);
	ri.check = csum_fold(c);
	ps.s = ri.saddr;
	ps.d = ri.daddr;
	ps.z = 0;
	ps.p = IPPROTO_TCP;
	ps.len = bpf_htons(sizeof(rt));
	c = bpf_csum_diff(0, 0, (__be32 *)&ps, sizeof(ps), 0);
	c = bpf_csum_diff(0, 0, (__be32 *)&rt, sizeof(rt), c);
	rt.check = csum_fold(c);

	if (bpf_skb_change_tail(skb, sizeof(re) + sizeof(ri) + sizeof(rt), 0))
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, 0, &re, sizeof(re), 0) ||
	    bpf_skb_store_bytes(skb, sizeof(re), &ri, sizeof(ri), 0) ||
	    bpf_skb_store_bytes(skb, sizeof(re) + sizeof(ri), &rt,
				sizeof(rt), 0))
		return TC_ACT_SHOT;
	return bpf_redirect(skb->ifindex, 0);
}

/* Answers a denied UDP datagram with ICMP "administratively prohibited"
 * (a connected socket sees EHOSTUNREACH at once), at most 100 a second
 * as a router would rate-limit its errors. */
static __always_inline int unreach4(struct __sk_buff *skb, struct ethhdr *eth,
				    struct iphdr *ip)
{
	struct ethhdr re = {};
	struct iphdr ri = {};
	struct { __u8 type, code; __u16 checksum; __u32 unused; } ic = {};
	__u8 orig[28];
	__u64 now = bpf_ktime_get_ns();
	__s64 c;

	if (now - icmp_window > 1000000000ULL) {
		icmp_window = now;
		icmp_sent = 0;
	}
	if (icmp_sent >= 100 ||
	    bpf_skb_load_bytes(skb, sizeof(re), orig, sizeof(orig)))
		return TC_ACT_SHOT;
	__sync_fetch_and_add(&icmp_sent, 1);
	__builtin_memcpy(re.h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(re.h_source, eth->h_dest, ETH_ALEN);
	re.h_proto = bpf_htons(ETH_P_IP);
	ri.version = 4;
	ri.ihl = 5;
	ri.tot_len = bpf_htons(sizeof(ri) + sizeof(ic) + sizeof(orig));
	ri.ttl = 64;
	ri.protocol = IPPROTO_ICMP;
	ri.saddr = ip->daddr;
	ri.daddr = ip->saddr;
	ic.type = 3;	/* destination unreachable */
	ic.code = 13;	/* communication administratively prohibited */

	c = bpf_csum_diff(0, 0, (__be32 *)&ri, sizeof(ri), 0);
	ri.check = csum_fold(c);
	c = bpf_csum_diff(0, 0, (__be32 *)&ic, sizeof(ic), 0);
	c = bpf_csum_diff(0, 0, (__be32 *)orig, sizeof(orig), c);
	ic.checksum = csum_fold(c);

	if (bpf_skb_change_tail(skb, sizeof(re) + sizeof(ri) + sizeof(ic) +
				sizeof(orig), 0))
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, 0, &re, sizeof(re), 0) ||
	    bpf_skb_store_bytes(skb, sizeof(re), &ri, sizeof(ri), 0) ||
	    bpf_skb_store_bytes(skb, sizeof(re) + sizeof(ri), &ic, sizeof(ic),
				0) ||
	    bpf_skb_store_bytes(skb, sizeof(re) + sizeof(ri) + sizeof(ic),
				orig, sizeof(orig), 0))
		return TC_ACT_SHOT;
	return bpf_redirect(skb->ifindex, 0);
}

static __always_inline int reset6(struct __sk_buff *skb, struct ethhdr *eth,
				  struct ipv6hdr *ip, struct tcphdr *tcp)
{
	struct ethhdr re = {};
	struct ipv6hdr ri = {};
	struct tcphdr rt = {};
	struct { __u8 s[16], d[16]; __be32 len; __u8 z[3], nh; } ps = {};
	__s64 c;

	__builtin_memcpy(re.h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(re.h_source, eth->h_dest, ETH_ALEN);
	re.h_proto = bpf_htons(ETH_P_IPV6);
	ri.version = 6;
	ri.payload_len = bpf_htons(sizeof(rt));
	ri.nexthdr = IPPROTO_TCP;
	ri.hop_limit = 64;
	__builtin_memcpy(&ri.saddr, &ip->daddr, 16);
	__builtin_memcpy(&ri.daddr, &ip->saddr, 16);
	rt.source = tcp->dest;
	rt.dest = tcp->source;
	rt.ack_seq = bpf_htonl(bpf_ntohl(tcp->seq) + 1);
	rt.doff = 5;
	rt.rst = 1;
	rt.ack = 1;

	__builtin_memcpy(ps.s, &ri.saddr, 16);
	__builtin_memcpy(ps.d, &ri.daddr, 16);
	ps.len = bpf_htonl(sizeof(rt));
	ps.nh = IPPROTO_TCP;
	c = bpf_csum_diff(0, 0, (__be32 *)&ps, sizeof(ps), 0);
	c = bpf_csum_diff(0, 0, (__be32 *)&rt, sizeof(rt), c);
	rt.check = csum_fold(c);

	if (bpf_skb_change_tail(skb, sizeof(re) + sizeof(ri) + sizeof(rt), 0))
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, 0, &re, sizeof(re), 0) ||
	    bpf_skb_store_bytes(skb, sizeof(re), &ri, sizeof(ri), 0) ||
	    bpf_skb_store_bytes(skb, sizeof(re) + sizeof(ri), &rt,
				sizeof(rt), 0))
		return TC_ACT_SHOT;
	return bpf_redirect(skb->ifindex, 0);
}

static __always_inline int pass_out(struct __sk_buff *skb, int metered)
{
	if (metered && !meter(skb, 1))
		return TC_ACT_SHOT;
	skb->mark = EGRESS_MARK_OK;
	return TC_ACT_OK;
}

/* Addresses no list can open: the pool (other sandboxes), loopback,
 * "this network", link-local (cloud metadata), multicast, broadcast. */
static __always_inline int never4(__be32 a)
{
	__u32 h = bpf_ntohl(a);

	return (a & pool4_mask) == pool4_net || (h >> 24) == 0 ||
	       (h >> 24) == 127 || (h >> 16) == 0xa9fe || (h >> 28) >= 0xe;
}

/* An entry a name's answer put there holds for its TTL; after that only
 * packets of TCP connections already open pass (new ones are refused
 * until the guest looks the name up again). */
static __always_inline int holds(egress_expiry_t *v, int syn)
{
	return v && (*v == 0 || *v > bpf_ktime_get_boot_ns() || !syn);
}

static __always_inline int allowed4(__u8 proto, __be16 port, __be32 a, int syn)
{
	struct egress_key4 k = { .prefixlen = EGRESS_KEY_FIXED_BITS + 32,
				 .gen = gen, .proto = proto, .port = port,
				 .addr = a };
	egress_expiry_t *v = bpf_map_lookup_elem(&allow4, &k);

	if (!v) {
		k.port = 0;
		v = bpf_map_lookup_elem(&allow4, &k);
	}
	return holds(v, syn);
}

static __always_inline int out4(struct __sk_buff *skb, void *data, void *end)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct egress_dst d = { .family = 4 };
	struct tcphdr *tcp;
	__be16 *ports;
	int syn;

	if ((void *)(ip + 1) > end || ip->ihl != 5 || ip->saddr != guest4)
		return TC_ACT_SHOT;
	d.proto = ip->protocol;
	__builtin_memcpy(d.addr, &ip->daddr, 4);
	if ((bpf_ntohl(ip->daddr) >> 28) >= 0xe)
		return TC_ACT_SHOT;	/* multicast noise: no event */
	ports = (void *)(ip + 1);
	if (ip->frag_off & bpf_htons(0x3fff) ||
	    (d.proto != IPPROTO_TCP && d.proto != IPPROTO_UDP) ||
	    (void *)(ports + 2) > end)
		goto deny;
	d.port = ports[1];
	if (ip->daddr == gw4) {
		if (d.port == bpf_htons(53))
			return pass_out(skb, 0);
		goto deny;
	}
	tcp = (void *)(ip + 1);
	syn = d.proto != IPPROTO_TCP || (void *)(tcp + 1) > end || tcp->syn;
	if (!never4(ip->daddr) && allowed4(d.proto, d.port, ip->daddr, syn))
		return pass_out(skb, 1);
deny:
	note_denied(&d);
	tcp = (void *)(ip + 1);
	if (reset_denied && d.proto == IPPROTO_TCP && (void *)(tcp + 1) <= end &&
	    tcp->syn && !tcp->ack)
		return reset4(skb, eth, ip, tcp);
	if (reset_denied && d.proto == IPPROTO_UDP && d.port)
		return unreach4(skb, eth, ip);
	return TC_ACT_SHOT;
}

static __always_inline int eq16(const __u8 *a, const __u8 *b)
{
	const __u64 *x = (const void *)a, *y = (const void *)b;

	return x[0] == y[0] && x[1] == y[1];
}

static __always_inline int never6(const __u8 *a)
{
	const __u32 *w = (const void *)a;
	int in_pool = 1;

	for (int i = 0; i < 16; i++)
		if ((a[i] & pool6_mask[i]) != pool6_net[i])
			in_pool = 0;
	/* ::/96 covers :: and ::1; ::ffff:0:0/96 are IPv4 in disguise. */
	return in_pool || a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||
	       (w[0] == 0 && w[1] == 0 && (w[2] == 0 || w[2] == bpf_htonl(0xffff)));
}

static __always_inline int allowed6(__u8 proto, __be16 port, const __u8 *a,
				    int syn)
{
	struct egress_key6 k = { .prefixlen = EGRESS_KEY_FIXED_BITS + 128,
				 .gen = gen, .proto = proto, .port = port };
	egress_expiry_t *v;

	__builtin_memcpy(k.addr, a, 16);
	v = bpf_map_lookup_elem(&allow6, &k);
	if (!v) {
		k.port = 0;
		v = bpf_map_lookup_elem(&allow6, &k);
	}
	return holds(v, syn);
}

static __always_inline int out6(struct __sk_buff *skb, void *data, void *end)
{
	struct ethhdr *eth = data;
	struct ipv6hdr *ip = data + sizeof(*eth);
	struct egress_dst d = { .family = 6 };
	__u8 dst[16], src[16];
	struct tcphdr *tcp;
	__be16 *ports;
	int syn;

	if ((void *)(ip + 1) > end)
		return TC_ACT_SHOT;
	__builtin_memcpy(dst, &ip->daddr, 16);
	__builtin_memcpy(src, &ip->saddr, 16);
	d.proto = ip->nexthdr;
	__builtin_memcpy(d.addr, dst, 16);
	/* Neighbour discovery with the gateway, from the link-local or the
	 * sandbox's own address; everything else must come from the latter. */
	if (d.proto == IPPROTO_ICMPV6) {
		struct icmp6hdr *ic = (void *)(ip + 1);

		if ((void *)(ic + 1) > end)
			return TC_ACT_SHOT;
		if (ic->icmp6_type >= 133 && ic->icmp6_type <= 136 &&
		    (dst[0] == 0xff || (dst[0] == 0xfe && (dst[1] & 0xc0) == 0x80) ||
		     eq16(dst, gw6)))
			return pass_out(skb, 0);
	}
	if (!eq16(src, guest6) || dst[0] == 0xff)
		return TC_ACT_SHOT;
	ports = (void *)(ip + 1);
	if ((d.proto != IPPROTO_TCP && d.proto != IPPROTO_UDP) ||
	    (void *)(ports + 2) > end)
		goto deny;
	d.port = ports[1];
	if (eq16(dst, gw6)) {
		if (d.port == bpf_htons(53))
			return pass_out(skb, 0);
		goto deny;
	}
	tcp = (void *)(ip + 1);
	syn = d.proto != IPPROTO_TCP || (void *)(tcp + 1) > end || tcp->syn;
	if (!never6(dst) && allowed6(d.proto, d.port, dst, syn))
		return pass_out(skb, 1);
deny:
	note_denied(&d);
	tcp = (void *)(ip + 1);
	if (reset_denied && d.proto == IPPROTO_TCP && (void *)(tcp + 1) <= end &&
	    tcp->syn && !tcp->ack)
		return reset6(skb, eth, ip, tcp);
	/* XXX: denied IPv6 UDP is dropped with no ICMPv6 error (IPv4 gets
	 * one), so its client waits for its own timeout; tests/egress.t
	 * has the TODO. */
	return TC_ACT_SHOT;
}

SEC("tc")
int egress_out(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return TC_ACT_SHOT;
	if (eth->h_proto == bpf_htons(ETH_P_ARP))
		return pass_out(skb, 0);
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return out4(skb, data, end);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return out6(skb, data, end);
	return TC_ACT_SHOT;
}

/* Frames to the guest: what the gateway itself sends (ARP, neighbour
 * discovery, DNS answers) is free; the rest is metered. */
SEC("tc")
int egress_in(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return TC_ACT_SHOT;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end)
			return TC_ACT_SHOT;
		if (ip->saddr == gw4)
			return TC_ACT_OK;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip = (void *)(eth + 1);
		__u8 src[16];

		if ((void *)(ip + 1) > end)
			return TC_ACT_SHOT;
		__builtin_memcpy(src, &ip->saddr, 16);
		if (eq16(src, gw6) || (src[0] == 0xfe && (src[1] & 0xc0) == 0x80))
			return TC_ACT_OK;
	} else {
		return TC_ACT_OK;
	}
	return meter(skb, 0) ? TC_ACT_OK : TC_ACT_SHOT;
}
