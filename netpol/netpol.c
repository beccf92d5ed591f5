/* Per-sandbox networking: addresses come from the pool by slot (lowest
 * free), the tap is named after the sandbox's numeric id, the filter is
 * kept attached (checked every second, re-attached, else "broken"), and
 * denials and quota events go to the sandbox's event log. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dns.h"
#include "egress.skel.h"
#include "filter.h"
#include "log.h"
#include "loop.h"
#include "nat.h"
#include "netpol.h"
#include "tap.h"

#define TICK_MS 1000
#define LEARNED_MAX 1024

struct learned {
	struct egress_entry entry;	/* the name entry it came from */
	struct filter_rule rule;
};

struct netpol {
	unsigned long id;
	unsigned slot;
	char tap[16];
	int ifindex, tap_fd;
	struct filter_addrs a;
	struct filter *f;
	struct loop_src *ring_src;
	struct dns_server *dns;
	struct egress_list list;
	struct learned *learned;
	size_t nlearned;
	uint64_t limit, tx_base, rx_base;
	bool exhausted_said;
	netpol_event_fn fn;
	void *data;
	struct netpol *next;
};

static struct {
	bool on;
	uint32_t net4;			/* host order */
	unsigned bits4, slots;
	uint8_t net6[16];
	unsigned bits6;
	bool v6;
	uint64_t quota;
	uint8_t *used;			/* slot map */
	struct loop_timer *tick;
	struct netpol *all;
} G;

static void on_tick(void *data);

static int parse_cidr(const char *s, int af, uint8_t *addr, unsigned *bits)
{
	char buf[64], *slash;

	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash++ = '\0';
	*bits = strtoul(slash, NULL, 10);
	return inet_pton(af, buf, addr) == 1 ? 0 : -EINVAL;
}

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		r = -errno;
	close(fd);
	return r;
}

int netpol_init(const struct netpol_config *c, char *err, size_t errlen)
{
	uint8_t a4[4];
	int r;

	G.quota = c->quota;
	if (!c->uplink)
		return 0;
	if (parse_cidr(c->pool4, AF_INET, a4, &G.bits4) < 0 || G.bits4 < 8 ||
	    G.bits4 > 28) {
		snprintf(err, errlen, "--pool '%s': expected A.B.C.D/N, N 8..28",
			 c->pool4);
		return -EINVAL;
	}
	memcpy(&G.net4, a4, 4);
	G.net4 = ntohl(G.net4) & (~0U << (32 - G.bits4));
	G.slots = 1U << (30 - G.bits4);
	if (G.slots > 65536)
		G.slots = 65536;
	if (c->pool6) {
		if (parse_cidr(c->pool6, AF_INET6, G.net6, &G.bits6) < 0 ||
		    G.bits6 > 104) {
			snprintf(err, errlen, "--pool6 '%s': expected X::/N, "
				 "N <= 104", c->pool6);
			return -EINVAL;
		}
		G.v6 = true;
	}
	G.used = calloc(G.slots, 1);
	if (!G.used)
		return -ENOMEM;
	/* Routing between the taps and the uplink is the point. */
	r = write_file("/proc/sys/net/ipv4/ip_forward", "1");
	if (r == 0 && G.v6)
		r = write_file("/proc/sys/net/ipv6/conf/all/forwarding", "1");
	if (r < 0) {
		snprintf(err, errlen, "enabling ip forwarding: %s", strerror(-r));
		return r;
	}
	r = nat_init(c->uplink, c->pool4, c->pool6, err, errlen);
	if (r < 0)
		return r;
	r = dns_init(c->dns, err, errlen);
	if (r < 0)
		return r;
	G.tick = loop_timer_add(TICK_MS, on_tick, NULL);
	G.on = true;
	return 0;
}

void netpol_fini(void)
{
	while (G.all)
		netpol_free(G.all);
	loop_timer_del(G.tick);
	G.tick = NULL;
	dns_fini();
	nat_fini();
	free(G.used);
	G.used = NULL;
	G.on = false;
}

bool netpol_enabled(void)
{
	return G.on;
}

/* Addresses: slot k of the IPv4 pool is the /30 at net + 4k (gateway
 * +1, guest +2); of the IPv6 pool the /120 at net + 256k. */
static void slot_addrs(unsigned k, struct filter_addrs *a)
{
	uint32_t base = G.net4 + 4 * k, w;

	a->gw4 = htonl(base + 1);
	a->guest4 = htonl(base + 2);
	a->pool4_net = htonl(G.net4);
	a->pool4_mask = htonl(~0U << (32 - G.bits4));
	if (!G.v6)
		return;
	memcpy(a->gw6, G.net6, 16);
	memcpy(&w, G.net6 + 12, 4);
	w = htonl(ntohl(w) + (k << 8) + 1);
	memcpy(a->gw6 + 12, &w, 4);
	memcpy(a->guest6, a->gw6, 16);
	a->guest6[15]++;
	memcpy(a->pool6_net, G.net6, 16);
	for (unsigned i = 0; i < 16; i++) {
		unsigned b = G.bits6 > 8 * i ? G.bits6 - 8 * i : 0;

		a->pool6_mask[i] = b >= 8 ? 0xff : (uint8_t)(0xff00 >> b);
	}
}

static const char *proto_name(uint8_t p, char *buf)
{
	switch (p) {
	case 6: return "tcp";
	case 17: return "udp";
	case 1: return "icmp";
	case 58: return "icmp6";
	default:
		sprintf(buf, "%u", p);
		return buf;
	}
}

static void dst_text(const struct egress_dst *d, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN], pb[8];
	const char *proto = proto_name(d->proto, pb);
	bool ports = d->proto == 6 || d->proto == 17;

	inet_ntop(d->family == 6 ? AF_INET6 : AF_INET, d->addr, a, sizeof(a));
	if (!ports)
		snprintf(buf, len, "proto=%s dst=%s", proto, a);
	else if (d->family == 6)
		snprintf(buf, len, "proto=%s dst=[%s]:%u", proto, a,
			 ntohs(d->port));
	else
		snprintf(buf, len, "proto=%s dst=%s:%u", proto, a,
			 ntohs(d->port));
}

static void on_event(void *data, const struct egress_event *e)
{
	struct netpol *np = data;
	char kv[128];

	if (e->type == EGRESS_EV_DENIED) {
		dst_text(&e->dst, kv, sizeof(kv));
		np->fn(np->data, "egress-denied", kv);
	} else if (e->type == EGRESS_EV_QUOTA && !np->exhausted_said) {
		np->exhausted_said = true;
		np->fn(np->data, "quota-exhausted", "");
		log_info("tap '%s': quota of %llu bytes used up", np->tap,
			 (unsigned long long)np->limit);
	}
}

static void on_swept(void *data, const struct egress_dst *d, uint64_t n)
{
	struct netpol *np = data;
	char kv[160];

	dst_text(d, kv, sizeof(kv));
	snprintf(kv + strlen(kv), sizeof(kv) - strlen(kv), " count=%llu",
		 (unsigned long long)n);
	np->fn(np->data, "egress-denied", kv);
}

static void on_ring(void *data, uint32_t events)
{
	struct netpol *np = data;

	if (np->f)
		filter_ring_poll(np->f);
}

static void drop_filter(struct netpol *np)
{
	if (!np->f)
		return;
	np->tx_base = netpol_egress_bytes(np);
	np->rx_base = filter_rx_bytes(np->f);
	loop_del(np->ring_src);
	np->ring_src = NULL;
	filter_free(np->f);
	np->f = NULL;
}

/* Entry -> map rules: one per protocol; names give none here. */
static size_t entry_rules(const struct egress_entry *e, struct filter_rule *r)
{
	size_t n = 0;

	for (int p = 0; p < 2; p++) {
		if (!(e->protos & (p ? EGRESS_UDP : EGRESS_TCP)) || !e->family)
			continue;
		r[n] = (struct filter_rule){ .family = e->family,
					     .proto = p ? 17 : 6,
					     .prefix = e->prefix,
					     .port = e->port };
		memcpy(r[n].addr, e->addr, 16);
		n++;
	}
	return n;
}

static bool learned_live(const struct learned *l, uint64_t now)
{
	return l->rule.expiry > now;
}

static uint64_t boot_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The list's rules plus what its names resolved to and still hold. */
static int push_rules(struct netpol *np)
{
	size_t cap = 2 * np->list.n + np->nlearned, n = 0;
	struct filter_rule *r = calloc(cap ? cap : 1, sizeof(*r));
	uint64_t now = boot_ns();
	int ret;

	if (!r)
		return -ENOMEM;
	for (size_t i = 0; i < np->list.n; i++)
		n += entry_rules(&np->list.e[i], r + n);
	for (size_t i = 0; i < np->nlearned; i++)
		if (learned_live(&np->learned[i], now))
			r[n++] = np->learned[i].rule;
	ret = filter_set_rules(np->f, r, n);
	free(r);
	return ret;
}

int netpol_attach(struct netpol *np)
{
	int r;

	drop_filter(np);
	r = tap_ifindex(np->tap, &np->ifindex);
	if (r < 0)
		return r;
	r = filter_attach(np->ifindex, &np->a, on_event, np, &np->f);
	if (r < 0)
		return r;
	filter_set_counters(np->f, np->tx_base, np->rx_base);
	filter_set_limit(np->f, np->limit);
	np->ring_src = loop_add(filter_ring_fd(np->f), EPOLLIN, on_ring, np);
	r = np->ring_src ? push_rules(np) : -ENOMEM;
	if (r < 0)
		drop_filter(np);
	return r;
}

static int alloc_slot(unsigned *out)
{
	for (unsigned k = 0; k < G.slots; k++) {
		if (!G.used[k]) {
			G.used[k] = 1;
			*out = k;
			return 0;
		}
	}
	return -ENOSPC;
}

static int setup_tap(struct netpol *np)
{
	int r = tap_create(np->tap, &np->tap_fd, &np->ifindex);

	if (r == 0)
		r = tap_set_addr4(np->tap, np->a.gw4, 30);
	if (r == 0 && G.v6)
		r = tap_set_addr6(np->ifindex, np->a.gw6, 120);
	if (r == 0)
		r = tap_up(np->tap);
	return r;
}

static void old_counters(struct netpol *np);

int netpol_create(unsigned long id, netpol_event_fn fn, void *data,
		  struct netpol **out)
{
	struct netpol *np = calloc(1, sizeof(*np));
	int r;

	if (!np)
		return -ENOMEM;
	np->id = id;
	np->tap_fd = -1;
	np->fn = fn;
	np->data = data;
	np->limit = G.quota;
	r = alloc_slot(&np->slot);
	if (r < 0) {
		free(np);
		return r;
	}
	snprintf(np->tap, sizeof(np->tap), "sbx%lu", id);
	slot_addrs(np->slot, &np->a);
	r = setup_tap(np);
	if (r < 0) {
		log_err("tap '%s': %s", np->tap, strerror(-r));
		netpol_free(np);
		return r;
	}
	np->next = G.all;
	G.all = np;
	r = netpol_attach(np);
	if (r < 0)
		log_err("tap '%s': attaching the egress filter: %s; the "
			"sandbox has no network", np->tap, strerror(-r));
	r = dns_serve(np, np->a.gw4, &np->dns);
	if (r < 0)
		log_warn("tap '%s': resolver on the gateway: %s, ignoring",
			 np->tap, strerror(-r));
	*out = np;
	return 0;
}

void netpol_free(struct netpol *np)
{
	struct netpol **pp;

	if (!np)
		return;
	for (pp = &G.all; *pp; pp = &(*pp)->next) {
		if (*pp == np) {
			*pp = np->next;
			break;
		}
	}
	dns_stop(np->dns);
	drop_filter(np);
	if (np->tap_fd >= 0)
		close(np->tap_fd);
	if (G.used && np->slot < G.slots)
		G.used[np->slot] = 0;
	egress_list_clear(&np->list);
	free(np->learned);
	free(np);
}

int netpol_tap_fd(const struct netpol *np)
{
	return np->tap_fd;
}

void netpol_tap_handed_over(struct netpol *np)
{
	if (np->tap_fd >= 0)
		close(np->tap_fd);
	np->tap_fd = -1;
}

const char *netpol_tap_name(const struct netpol *np)
{
	return np->tap;
}

json_t *netpol_setup_json(const struct netpol *np)
{
	char g4[INET_ADDRSTRLEN], a4[INET_ADDRSTRLEN];
	char g6[INET6_ADDRSTRLEN], a6[INET6_ADDRSTRLEN];
	json_t *o;

	inet_ntop(AF_INET, &np->a.gw4, g4, sizeof(g4));
	inet_ntop(AF_INET, &np->a.guest4, a4, sizeof(a4));
	o = json_pack("{s:s, s:i, s:s, s:s}", "addr4", a4, "prefix4", 30,
		      "gw4", g4, "dns", g4);
	if (o && G.v6) {
		inet_ntop(AF_INET6, np->a.gw6, g6, sizeof(g6));
		inet_ntop(AF_INET6, np->a.guest6, a6, sizeof(a6));
		json_object_set_new(o, "addr6", json_string(a6));
		json_object_set_new(o, "prefix6", json_integer(120));
		json_object_set_new(o, "gw6", json_string(g6));
	}
	return o;
}

const char *netpol_state(const struct netpol *np)
{
	return np->f ? "enforced" : "broken";
}

void netpol_address(const struct netpol *np, char *buf, size_t len)
{
	char a6[INET6_ADDRSTRLEN];

	inet_ntop(AF_INET, &np->a.guest4, buf, len);
	if (G.v6) {
		inet_ntop(AF_INET6, np->a.guest6, a6, sizeof(a6));
		snprintf(buf + strlen(buf), len - strlen(buf), ",%s", a6);
	}
}

/* Learned addresses of names no longer listed (with that protocol and
 * port) stop holding with the list that dropped them. */
static void prune_learned(struct netpol *np)
{
	size_t k = 0;
	uint64_t now = boot_ns();

	for (size_t i = 0; i < np->nlearned; i++) {
		struct learned *l = &np->learned[i];
		bool listed = false;

		for (size_t j = 0; j < np->list.n && !listed; j++)
			listed = memcmp(&np->list.e[j], &l->entry,
					sizeof(l->entry)) == 0;
		if (listed && learned_live(l, now))
			np->learned[k++] = *l;
	}
	np->nlearned = k;
}

int netpol_set_list(struct netpol *np, const struct egress_list *l)
{
	int r = egress_list_copy(&np->list, l);

	if (r < 0)
		return r;
	prune_learned(np);
	return np->f ? push_rules(np) : 0;
}

const struct egress_list *netpol_list(const struct netpol *np)
{
	return &np->list;
}

uint64_t netpol_egress_bytes(const struct netpol *np)
{
	return np->f ? filter_tx_bytes(np->f) : np->tx_base;
}

uint64_t netpol_used(const struct netpol *np)
{
	return np->f ? filter_used(np->f) : np->tx_base + np->rx_base;
}

uint64_t netpol_limit(const struct netpol *np)
{
	return np->limit;
}

bool netpol_exhausted(const struct netpol *np)
{
	return np->limit != NETPOL_UNLIMITED && netpol_used(np) >= np->limit;
}

void netpol_recharge(struct netpol *np, uint64_t bytes)
{
	char kv[40];

	if (np->limit != NETPOL_UNLIMITED)
		np->limit = bytes > NETPOL_UNLIMITED - 1 - np->limit ?
			    NETPOL_UNLIMITED - 1 : np->limit + bytes;
	if (np->f) {
		filter_set_limit(np->f, np->limit);
		if (!netpol_exhausted(np))
			filter_quota_rearm(np->f);
	}
	if (!netpol_exhausted(np))
		np->exhausted_said = false;
	snprintf(kv, sizeof(kv), "bytes=%llu", (unsigned long long)bytes);
	np->fn(np->data, "recharged", kv);
}

void netpol_learn(struct netpol *np, const struct egress_entry *e,
		  int family, const uint8_t *addr, uint32_t ttl)
{
	struct filter_rule r[2];
	struct egress_entry ae = *e;
	uint64_t exp = boot_ns() + (uint64_t)(ttl ? ttl : 1) * 1000000000;
	size_t n;

	ae.family = family;
	ae.prefix = family == 6 ? 128 : 32;
	memset(ae.addr, 0, sizeof(ae.addr));
	memcpy(ae.addr, addr, family == 6 ? 16 : 4);
	n = entry_rules(&ae, r);
	for (size_t i = 0; i < n; i++) {
		struct learned *l = NULL;

		r[i].expiry = exp;
		for (size_t j = 0; j < np->nlearned && !l; j++)
			if (memcmp(&np->learned[j].rule, &r[i],
				   offsetof(struct filter_rule, expiry)) == 0)
				l = &np->learned[j];
		if (!l && np->nlearned < LEARNED_MAX) {
			struct learned *nl = realloc(np->learned,
				(np->nlearned + 1) * sizeof(*nl));

			if (!nl)
				return;
			np->learned = nl;
			l = &np->learned[np->nlearned++];
		}
		if (!l)
			return;
		l->entry = *e;
		l->rule = r[i];
		if (np->f)
			filter_add_rule(np->f, &r[i]);
	}
}

static void check_one(struct netpol *np)
{
	if (np->f) {
		filter_sweep(np->f, on_swept, np);
		if (filter_check(np->f) == 0)
			return;
		log_err("tap '%s': the egress filter is no longer attached, "
			"attaching it again", np->tap);
	}
	if (tap_ifindex(np->tap, &np->ifindex) < 0)
		return;		/* QEMU gone; the sandbox is ending */
	if (netpol_attach(np) < 0 && np->f == NULL)
		log_debug("tap '%s': filter still not attached", np->tap);
}

static void on_tick(void *data)
{
	G.tick = loop_timer_add(TICK_MS, on_tick, NULL);
	for (struct netpol *np = G.all; np; np = np->next)
		check_one(np);
}

void netpol_save(const struct netpol *np, struct netpol_saved *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->tap, sizeof(out->tap), "%s", np->tap);
	out->slot = np->slot;
	out->limit = np->limit;
	out->tx = netpol_egress_bytes(np);
	out->rx = np->f ? filter_rx_bytes(np->f) : np->rx_base;
	egress_list_copy(&out->list, &np->list);
}

/* The counters of the program a previous daemon attached, read from its
 * .bss map before ours replaces it. */
static void old_counters(struct netpol *np)
{
	struct bpf_tc_hook h = { .sz = sizeof(h), .ifindex = np->ifindex,
				 .attach_point = BPF_TC_INGRESS };
	struct bpf_tc_opts o = { .sz = sizeof(o), .handle = 1, .priority = 1 };
	struct bpf_prog_info pi = { 0 };
	__u32 ids[8], len = sizeof(pi);
	int pfd;

	if (bpf_tc_query(&h, &o) < 0)
		return;
	pfd = bpf_prog_get_fd_by_id(o.prog_id);
	if (pfd < 0)
		return;
	pi.nr_map_ids = 8;
	pi.map_ids = (uintptr_t)ids;
	if (bpf_obj_get_info_by_fd(pfd, &pi, &len) == 0) {
		for (__u32 i = 0; i < pi.nr_map_ids && i < 8; i++) {
			struct bpf_map_info mi = { 0 };
			__u32 ml = sizeof(mi), key = 0;
			int mfd = bpf_map_get_fd_by_id(ids[i]);
			struct egress_bpf__bss *bss;

			if (mfd < 0)
				continue;
			if (bpf_obj_get_info_by_fd(mfd, &mi, &ml) == 0 &&
			    strstr(mi.name, ".bss") &&
			    mi.value_size >= sizeof(*bss) &&
			    (bss = calloc(1, mi.value_size))) {
				if (bpf_map_lookup_elem(mfd, &key, bss) == 0) {
					np->tx_base = bss->tx_bytes;
					np->rx_base = bss->rx_bytes;
				}
				free(bss);
			}
			close(mfd);
		}
	}
	close(pfd);
}

int netpol_adopt(const struct netpol_saved *s, netpol_event_fn fn,
		 void *data, struct netpol **out)
{
	struct netpol *np;
	int r;

	if (!G.on || s->slot >= G.slots || G.used[s->slot])
		return -EINVAL;
	np = calloc(1, sizeof(*np));
	if (!np)
		return -ENOMEM;
	G.used[s->slot] = 1;
	np->slot = s->slot;
	np->tap_fd = -1;
	np->fn = fn;
	np->data = data;
	np->limit = s->limit;
	np->tx_base = s->tx;
	np->rx_base = s->rx;
	snprintf(np->tap, sizeof(np->tap), "%s", s->tap);
	slot_addrs(np->slot, &np->a);
	r = egress_list_copy(&np->list, &s->list);
	if (r < 0) {
		netpol_free(np);
		return r;
	}
	np->next = G.all;
	G.all = np;
	if (tap_ifindex(np->tap, &np->ifindex) == 0) {
		old_counters(np);
		r = netpol_attach(np);
		if (r < 0)
			log_err("tap '%s': attaching the egress filter: %s",
				np->tap, strerror(-r));
	}
	r = dns_serve(np, np->a.gw4, &np->dns);
	if (r < 0)
		log_warn("tap '%s': resolver on the gateway: %s, ignoring",
			 np->tap, strerror(-r));
	*out = np;
	return 0;
}

int netpol_ensure_tap(struct netpol *np)
{
	int r;

	if (np->tap_fd >= 0)
		return 0;
	/* Held by a QEMU of the previous daemon: no fd for a new one. */
	if (tap_ifindex(np->tap, &np->ifindex) == 0)
		return -EBUSY;
	r = setup_tap(np);
	if (r == 0)
		r = netpol_attach(np);
	return r;
}

void netpol_inherit(struct netpol *child, const struct netpol *parent)
{
	uint64_t used = netpol_used(parent);

	if (parent->limit != NETPOL_UNLIMITED)
		child->limit = used >= parent->limit ? 0 : parent->limit - used;
	if (child->f)
		filter_set_limit(child->f, child->limit);
	netpol_set_list(child, &parent->list);
}
