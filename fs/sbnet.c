/* Glue only: the tap, filter and quota live in netpol/; the egress file's
 * semantics in fs/egress_file.c. */
#include <string.h>

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
	}
}

void sbnet_close(struct sandbox *sb)
{
	netpol_free(sb->np);
	sb->np = NULL;
}

void sbnet_qemu(struct sandbox *sb, struct qemu_cfg *qc)
{
	if (!sb->np)
		return;
	qc->tap_fd = netpol_tap_fd(sb->np);
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
