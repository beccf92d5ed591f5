/* libbpf's tc API attaches the programs (bpf_tc_hook_create makes the
 * clsact qdisc); nothing here shells out to tc.  The skeleton's .data and
 * .bss are mmapped, so counters and settings are plain memory shared with
 * the programs, read and written without a syscall. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "egress.skel.h"
#include "filter.h"

struct filter {
	struct egress_bpf *skel;
	struct ring_buffer *rb;
	int ifindex;
	struct bpf_tc_hook hook;
	struct bpf_tc_opts out_opts, in_opts;
	filter_event_fn fn;
	void *data;
};

static int on_ring(void *ctx, void *data, size_t len)
{
	struct filter *f = ctx;

	if (len >= sizeof(struct egress_event))
		f->fn(f->data, data);
	return 0;
}

static int attach_one(struct filter *f, int fd, enum bpf_tc_attach_point at,
		      struct bpf_tc_opts *o)
{
	f->hook.attach_point = at;
	*o = (struct bpf_tc_opts){ .sz = sizeof(*o), .handle = 1,
				   .priority = 1, .prog_fd = fd,
				   .flags = BPF_TC_F_REPLACE };
	return bpf_tc_attach(&f->hook, o);
}

int filter_attach(int ifindex, const struct filter_addrs *a,
		  filter_event_fn fn, void *data, struct filter **out)
{
	struct filter *f = calloc(1, sizeof(*f));
	int r;

	if (!f)
		return -ENOMEM;
	f->ifindex = ifindex;
	f->fn = fn;
	f->data = data;
	f->hook = (struct bpf_tc_hook){ .sz = sizeof(f->hook),
					.ifindex = ifindex,
					.attach_point = BPF_TC_INGRESS |
							BPF_TC_EGRESS };
	f->skel = egress_bpf__open_and_load();
	if (!f->skel) {
		r = -errno ? -errno : -EINVAL;
		goto fail;
	}
	f->skel->bss->guest4 = a->guest4;
	f->skel->bss->gw4 = a->gw4;
	f->skel->bss->pool4_net = a->pool4_net;
	f->skel->bss->pool4_mask = a->pool4_mask;
	memcpy(f->skel->bss->guest6, a->guest6, 16);
	memcpy(f->skel->bss->gw6, a->gw6, 16);
	memcpy(f->skel->bss->pool6_net, a->pool6_net, 16);
	memcpy(f->skel->bss->pool6_mask, a->pool6_mask, 16);

	f->rb = ring_buffer__new(bpf_map__fd(f->skel->maps.events), on_ring,
				 f, NULL);
	if (!f->rb) {
		r = -errno ? -errno : -ENOMEM;
		goto fail;
	}
	r = bpf_tc_hook_create(&f->hook);
	if (r < 0 && r != -EEXIST)
		goto fail;
	r = attach_one(f, bpf_program__fd(f->skel->progs.egress_out),
		       BPF_TC_INGRESS, &f->out_opts);
	if (r < 0)
		goto fail;
	r = attach_one(f, bpf_program__fd(f->skel->progs.egress_in),
		       BPF_TC_EGRESS, &f->in_opts);
	if (r < 0)
		goto fail;
	*out = f;
	return 0;
fail:
	filter_free(f);
	return r;
}

void filter_free(struct filter *f)
{
	char name[IF_NAMESIZE];

	if (!f)
		return;
	/* Removing the qdisc takes both filters with it; a tap that is
	 * already gone took them along itself. */
	if (f->skel && if_indextoname(f->ifindex, name)) {
		f->hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&f->hook);
	}
	ring_buffer__free(f->rb);
	egress_bpf__destroy(f->skel);
	free(f);
}

static int query(struct filter *f, enum bpf_tc_attach_point at,
		 const struct bpf_tc_opts *want, struct bpf_program *p)
{
	struct bpf_tc_opts o = { .sz = sizeof(o), .handle = want->handle,
				 .priority = want->priority };
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);

	f->hook.attach_point = at;
	if (bpf_tc_query(&f->hook, &o) < 0)
		return -ENOENT;
	if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) < 0)
		return -errno;
	return o.prog_id == info.id ? 0 : -ENOENT;
}

int filter_check(struct filter *f)
{
	int r = query(f, BPF_TC_INGRESS, &f->out_opts, f->skel->progs.egress_out);

	if (r == 0)
		r = query(f, BPF_TC_EGRESS, &f->in_opts, f->skel->progs.egress_in);
	return r;
}

static int put_rule(struct filter *f, const struct filter_rule *r, __u8 gen)
{
	int fd;

	if (r->family == 4) {
		struct egress_key4 k = { .prefixlen = EGRESS_KEY_FIXED_BITS +
						      r->prefix,
					 .gen = gen, .proto = r->proto,
					 .port = htons(r->port) };

		memcpy(&k.addr, r->addr, 4);
		fd = bpf_map__fd(f->skel->maps.allow4);
		return bpf_map_update_elem(fd, &k, &r->expiry, BPF_ANY);
	}
	struct egress_key6 k = { .prefixlen = EGRESS_KEY_FIXED_BITS + r->prefix,
				 .gen = gen, .proto = r->proto,
				 .port = htons(r->port) };

	memcpy(k.addr, r->addr, 16);
	fd = bpf_map__fd(f->skel->maps.allow6);
	return bpf_map_update_elem(fd, &k, &r->expiry, BPF_ANY);
}

/* Deletes every key of generation gen from one LPM map.  The keys are
 * collected first: deleting during the walk would restart it, which is
 * quadratic in a list of thousands. */
static void drop_gen(int fd, size_t ksize, __u8 gen)
{
	unsigned char *keys = malloc(EGRESS_MAX_ENTRIES * ksize);
	unsigned char cur[sizeof(struct egress_key6)];
	void *prev = NULL;
	size_t n = 0;

	if (!keys)
		return;
	while (n < EGRESS_MAX_ENTRIES &&
	       bpf_map_get_next_key(fd, prev, cur) == 0) {
		/* keys[n] holds the walk's place; it is kept when the key
		 * is of gen (the byte after the 4-byte prefixlen). */
		prev = memcpy(keys + n * ksize, cur, ksize);
		if (cur[4] == gen)
			n++;
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(fd, keys + i * ksize);
	free(keys);
}

int filter_set_rules(struct filter *f, const struct filter_rule *r, size_t n)
{
	__u8 old = f->skel->bss->gen, spare = !old;
	int fd4 = bpf_map__fd(f->skel->maps.allow4);
	int fd6 = bpf_map__fd(f->skel->maps.allow6);

	drop_gen(fd4, sizeof(struct egress_key4), spare);
	drop_gen(fd6, sizeof(struct egress_key6), spare);
	for (size_t i = 0; i < n; i++) {
		if (put_rule(f, &r[i], spare) < 0) {
			int e = -errno;

			drop_gen(fd4, sizeof(struct egress_key4), spare);
			drop_gen(fd6, sizeof(struct egress_key6), spare);
			return e;
		}
	}
	__atomic_store_n(&f->skel->bss->gen, spare, __ATOMIC_SEQ_CST);
	drop_gen(fd4, sizeof(struct egress_key4), old);
	drop_gen(fd6, sizeof(struct egress_key6), old);
	return 0;
}

int filter_add_rule(struct filter *f, const struct filter_rule *r)
{
	return put_rule(f, r, f->skel->bss->gen) < 0 ? -errno : 0;
}

int filter_ring_fd(struct filter *f)
{
	return ring_buffer__epoll_fd(f->rb);
}

void filter_ring_poll(struct filter *f)
{
	ring_buffer__consume(f->rb);
}

void filter_sweep(struct filter *f,
		  void (*fn)(void *data, const struct egress_dst *d,
			     uint64_t packets),
		  void *data)
{
	int fd = bpf_map__fd(f->skel->maps.denied);
	struct egress_dst k, next;
	struct { __u64 packets, reported; } v;
	void *prev = NULL;

	/* A deleted key restarts the walk from the first; the bound keeps a
	 * key that will not delete from looping. */
	for (int i = 0; i < 2 * EGRESS_DENY_SLOTS &&
	     bpf_map_get_next_key(fd, prev, &next) == 0; i++) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_and_delete_elem(fd, &k, &v) == 0 &&
		    v.packets > v.reported)
			fn(data, &k, v.packets - v.reported);
	}
}

uint64_t filter_tx_bytes(struct filter *f)
{
	return f->skel->bss->tx_bytes;
}

uint64_t filter_rx_bytes(struct filter *f)
{
	return f->skel->bss->rx_bytes;
}

uint64_t filter_used(struct filter *f)
{
	return f->skel->bss->tx_bytes + f->skel->bss->rx_bytes;
}

void filter_set_limit(struct filter *f, uint64_t limit)
{
	f->skel->data->limit = limit;
}

void filter_quota_rearm(struct filter *f)
{
	f->skel->bss->quota_hit = 0;
}

void filter_set_counters(struct filter *f, uint64_t tx, uint64_t rx)
{
	f->skel->bss->tx_bytes = tx;
	f->skel->bss->rx_bytes = rx;
}
