/* The guest's network, from the "net" field of a setup message: address,
 * route and resolver on the virtio-net device with the given MAC.  Applied
 * again on a forked copy, which gets new addresses without a reboot. */
#ifndef SBXFS_AGENT_NET_H
#define SBXFS_AGENT_NET_H

#include <jansson.h>
#include <stddef.h>

int net_apply(json_t *net, char *err, size_t errlen);

#endif
