/* One sandbox's egress filter in the kernel: the BPF skeleton, its tc
 * attachment to the tap both ways, the allowlist maps, the byte counters
 * and the ring buffer of denials.  Policy (what to allow) is netpol.c's. */
#ifndef SBXFS_FILTER_H
#define SBXFS_FILTER_H

#include <stdbool.h>
#include <stdint.h>

#include "egress.h"

struct filter;

struct filter_addrs {
	uint32_t guest4, gw4, pool4_net, pool4_mask;	/* network order */
	uint8_t guest6[16], gw6[16], pool6_net[16], pool6_mask[16];
};

/* An allowlist entry as the maps hold it; expiry as egress_expiry_t. */
struct filter_rule {
	uint8_t family, proto, prefix;
	uint16_t port;		/* host order, 0 = any */
	uint8_t addr[16];
	uint64_t expiry;
};

typedef void (*filter_event_fn)(void *data, const struct egress_event *e);

int filter_attach(int ifindex, const struct filter_addrs *a,
		  filter_event_fn fn, void *data, struct filter **out);
/* Detaches (when the tap still exists) and frees everything; NULL ok. */
void filter_free(struct filter *f);
/* 0 while both programs are attached to the tap, else -ENOENT. */
int filter_check(struct filter *f);

/* Replaces the rules in force: written under the spare generation, then
 * the generation flips, so each packet sees the old or the new set. */
int filter_set_rules(struct filter *f, const struct filter_rule *r, size_t n);
/* Adds one rule to the set in force (names answered by the resolver). */
int filter_add_rule(struct filter *f, const struct filter_rule *r);

int filter_ring_fd(struct filter *f);
void filter_ring_poll(struct filter *f);
/* Calls fn for each merged destination with the packets not yet
 * reported, and forgets them. */
void filter_sweep(struct filter *f,
		  void (*fn)(void *data, const struct egress_dst *d,
			     uint64_t packets),
		  void *data);

uint64_t filter_tx_bytes(struct filter *f);
uint64_t filter_used(struct filter *f);
void filter_set_limit(struct filter *f, uint64_t limit);
void filter_quota_rearm(struct filter *f);
/* Sets counters of a filter that replaces another (re-attach). */
void filter_set_counters(struct filter *f, uint64_t tx, uint64_t rx);
uint64_t filter_rx_bytes(struct filter *f);

#endif
