/* Shared by bpf/egress.bpf.c and netpol/filter.c: map keys, the event
 * record of the ring buffer and the skb mark.  Fixed-width types only, so
 * both sides agree on the layout. */
#ifndef SBXFS_EGRESS_H
#define SBXFS_EGRESS_H

#include <linux/types.h>

/* Set on every packet the filter lets through; the daemon's nftables
 * table drops packets from a sandbox tap without it, so a tap whose
 * filter is gone has no network (fail closed). */
#define EGRESS_MARK_OK 0x5bf50001

#define EGRESS_MAX_ENTRIES 4096	/* per family, both generations */
#define EGRESS_DENY_SLOTS 256	/* denied destinations merged at once */
#define EGRESS_EV_PER_SEC 16	/* ring buffer events a second, at most */

/* Allowlist keys.  LPM matches from the first byte, so the exact parts
 * (generation, protocol, port) come before the address: prefixlen is
 * EGRESS_KEY_FIXED_BITS plus the address prefix.  port 0 = any port. */
#define EGRESS_KEY_FIXED_BITS 32

struct egress_key4 {
	__u32 prefixlen;
	__u8 gen;
	__u8 proto;
	__be16 port;
	__be32 addr;
};

struct egress_key6 {
	__u32 prefixlen;
	__u8 gen;
	__u8 proto;
	__be16 port;
	__u8 addr[16];
};

/* The value of an allowlist entry: 0 = for ever, else CLOCK_BOOTTIME
 * (bpf_ktime_get_boot_ns) nanoseconds after which it no longer holds. */
typedef __u64 egress_expiry_t;

/* A denied destination, the key of the merging map. */
struct egress_dst {
	__u8 family;	/* 4 or 6 */
	__u8 proto;	/* IPPROTO_* */
	__be16 port;
	__u8 addr[16];	/* IPv4 in the first 4 bytes */
};

enum egress_ev_type {
	EGRESS_EV_DENIED = 1,	/* first packet to dst since the last sweep */
	EGRESS_EV_QUOTA = 2,	/* the quota ran out */
};

struct egress_event {
	__u32 type;
	__u32 pad;
	struct egress_dst dst;
};

#endif
