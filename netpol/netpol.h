/* The network of each sandbox: its tap and addresses, its egress filter,
 * its allowlist and quota, the events they raise.  The daemon calls in
 * from the loop; sandbox.c owns one struct netpol per sandbox. */
#ifndef SBXFS_NETPOL_H
#define SBXFS_NETPOL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "egress_list.h"

#define NETPOL_UNLIMITED UINT64_MAX

struct netpol_config {
	const char *uplink;	/* NULL: sandboxes get no network */
	const char *pool4;	/* e.g. "10.251.0.0/16": a /30 per sandbox */
	const char *pool6;	/* e.g. "fd5b:f500::/64": a /120 each */
	uint64_t quota;		/* default, NETPOL_UNLIMITED for none */
	const char *dns;	/* upstream resolver, NULL: resolv.conf's */
};

struct netpol;

/* type is "egress-denied", "quota-exhausted", "recharged"; kv the rest. */
typedef void (*netpol_event_fn)(void *data, const char *type,
				const char *kv);

int netpol_init(const struct netpol_config *c, char *err, size_t errlen);
void netpol_fini(void);
bool netpol_enabled(void);

/* A tap, addresses and an attached filter with an empty list.  When the
 * filter cannot be attached the netpol still exists, broken: the guest's
 * frames are then dropped by the nftables rule (fail closed). */
int netpol_create(unsigned long id, netpol_event_fn fn, void *data,
		  struct netpol **out);
/* (Re)loads and attaches the filter on the existing tap, with the list
 * and quota in force: after a daemon restart or a lost attachment. */
int netpol_attach(struct netpol *np);

/* What a restarted daemon needs to take a sandbox's network over. */
struct netpol_saved {
	char tap[16];
	unsigned slot;
	uint64_t limit, tx, rx;
	struct egress_list list;
};

void netpol_save(const struct netpol *np, struct netpol_saved *out);
/* Takes over the tap of a sandbox whose QEMU outlived the daemon: the
 * same slot, the filter attached anew (its counters carried over from
 * the old program when it is still there), list and quota as saved. */
int netpol_adopt(const struct netpol_saved *s, netpol_event_fn fn,
		 void *data, struct netpol **out);
/* Makes the tap again when it went with its QEMU (a suspended sandbox
 * of a previous daemon); 0 when there is an fd to hand over. */
int netpol_ensure_tap(struct netpol *np);
/* A fork's child starts with its parent's list and what is left of its
 * quota. */
void netpol_inherit(struct netpol *child, const struct netpol *parent);
void netpol_free(struct netpol *np);

/* The fd QEMU gets for -netdev tap,fd=N.  The daemon keeps it open for
 * the sandbox's life (a template boot and its restore are two QEMUs on
 * one tap); netpol_tap_handed_over closes it when no more QEMUs come. */
int netpol_tap_fd(const struct netpol *np);
void netpol_tap_handed_over(struct netpol *np);
const char *netpol_tap_name(const struct netpol *np);
/* The "net" field of the agent's setup message. */
json_t *netpol_setup_json(const struct netpol *np);

const char *netpol_state(const struct netpol *np);	/* enforced|broken */
void netpol_address(const struct netpol *np, char *buf, size_t len);

/* Puts l in force at once (copied). */
int netpol_set_list(struct netpol *np, const struct egress_list *l);
const struct egress_list *netpol_list(const struct netpol *np);

uint64_t netpol_egress_bytes(const struct netpol *np);
uint64_t netpol_used(const struct netpol *np);
uint64_t netpol_limit(const struct netpol *np);
bool netpol_exhausted(const struct netpol *np);
void netpol_recharge(struct netpol *np, uint64_t bytes);

/* An address a listed name resolved to, allowed for ttl seconds. */
void netpol_learn(struct netpol *np, const struct egress_entry *e,
		  int family, const uint8_t *addr, uint32_t ttl);

#endif
