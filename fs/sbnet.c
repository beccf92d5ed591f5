/* Glue only: the tap, filter and quota live in netpol/; the egress file's
 * semantics in fs/egress_file.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "egress_list.h"
#include "log.h"
#include "netpol.h"
#include "qemu.h"
#include "sandbox.h"
#include "sbnet.h"

/* Every guest has this MAC: each tap is a link of its own, and a guest
 * restored from a template keeps the template's device state anyway. */
#define GUEST_MAC "02:5b:f5:00:00:02"

static void on_net_event(void *data, const char *type, const char *kv)
{
	struct sandbox *sb = data;

	if (kv[0])
		evlog_add(&sb->ev, type, "%s", kv);
	else
		evlog_add(&sb->ev, type, NULL);
}

void sbnet_open(struct sandbox *sb)
{
	int r;

	if (!netpol_enabled())
		return;
	r = netpol_create(sb->id, on_net_event, sb, &sb->np);
	if (r < 0) {
		sb->net_broken = true;
		sandbox_set_error(sb, "egress: no network: %s", strerror(-r));
		log_err("sandbox '%s': no network: %s", sb->name, strerror(-r));
		return;
	}
	sbnet_save(sb);
}

void sbnet_close(struct sandbox *sb)
{
	netpol_free(sb->np);
	sb->np = NULL;
}

void sbnet_qemu(struct sandbox *sb, struct qemu_cfg *qc)
{
	int r;

	if (!sb->np)
		return;
	r = netpol_ensure_tap(sb->np);
	if (r < 0)
		log_err("sandbox '%s': its tap: %s; starting without a network",
			sb->name, strerror(-r));
	qc->tap_fd = r < 0 ? 0 : netpol_tap_fd(sb->np);
	qc->mac = GUEST_MAC;
}

void sbnet_setup(struct sandbox *sb, json_t *m)
{
	json_t *net;

	if (!sb->np || !(net = netpol_setup_json(sb->np)))
		return;
	json_object_set_new(net, "mac", json_string(GUEST_MAC));
	json_object_set_new(m, "net", net);
}

void sbnet_save(struct sandbox *sb)
{
	struct netpol_saved sv;
	char path[PATH_MAX + 16], tmp[PATH_MAX + 24], line[300];
	json_t *o, *list;
	int r = -ENOMEM;

	if (!sb->np)
		return;
	netpol_save(sb->np, &sv);
	list = json_array();
	for (size_t i = 0; list && i < sv.list.n; i++) {
		egress_format(&sv.list.e[i], line, sizeof(line));
		json_array_append_new(list, json_string(line));
	}
	snprintf(line, sizeof(line), "%llu", (unsigned long long)sv.limit);
	o = json_pack("{s:s, s:I, s:s, s:I, s:I, s:o}", "tap", sv.tap,
		      "slot", (json_int_t)sv.slot, "limit",
		      sv.limit == NETPOL_UNLIMITED ? "unlimited" : line,
		      "tx", (json_int_t)sv.tx, "rx", (json_int_t)sv.rx,
		      "list", list);
	snprintf(path, sizeof(path), "%s/net.json", sb->dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (o && json_dump_file(o, tmp, 0) == 0)
		r = rename(tmp, path) < 0 ? -errno : 0;
	if (r < 0)
		log_warn("sandbox '%s': saving net.json: %s, ignoring",
			 sb->name, strerror(-r));
	json_decref(o);
	egress_list_clear(&sv.list);
}

void sbnet_recover(struct sandbox *sb)
{
	struct netpol_saved sv = { 0 };
	char path[PATH_MAX + 16], err[256];
	const char *limit;
	json_t *o, *v;
	size_t i;
	int r;

	snprintf(path, sizeof(path), "%s/net.json", sb->dir);
	o = json_load_file(path, 0, NULL);
	if (!o || !netpol_enabled()) {
		json_decref(o);
		return;
	}
	snprintf(sv.tap, sizeof(sv.tap), "%s",
		 json_string_value(json_object_get(o, "tap")) ?: "");
	sv.slot = json_integer_value(json_object_get(o, "slot"));
	limit = json_string_value(json_object_get(o, "limit"));
	sv.limit = !limit || strcmp(limit, "unlimited") == 0 ?
		   NETPOL_UNLIMITED : strtoull(limit, NULL, 10);
	sv.tx = json_integer_value(json_object_get(o, "tx"));
	sv.rx = json_integer_value(json_object_get(o, "rx"));
	json_array_foreach(json_object_get(o, "list"), i, v) {
		struct egress_entry e;

		if (json_is_string(v) &&
		    egress_parse_line(json_string_value(v), i + 1, &e, err,
				      sizeof(err)) == 1)
			egress_list_add(&sv.list, &e);
	}
	json_decref(o);
	r = netpol_adopt(&sv, on_net_event, sb, &sb->np);
	egress_list_clear(&sv.list);
	if (r < 0) {
		sb->net_broken = true;
		log_err("sandbox '%s': taking its network over: %s", sb->name,
			strerror(-r));
	}
}

void sbnet_fork(struct sandbox *child, const struct sandbox *parent)
{
	if (!child->np || !parent->np)
		return;
	netpol_inherit(child->np, parent->np);
	sbnet_save(child);
}
