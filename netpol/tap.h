/* A sandbox's tap: created by the daemon, handed to QEMU as an open fd,
 * and addressed on the host side (the guest's gateway).  Not persistent:
 * the device goes away with the last fd, so a crashed daemon whose QEMU
 * has exited leaves no tap behind. */
#ifndef SBXFS_TAP_H
#define SBXFS_TAP_H

#include <stdint.h>

/* Creates tap NAME (<= 15 bytes); *fd_out keeps it alive. */
int tap_create(const char *name, int *fd_out, int *ifindex_out);
int tap_set_addr4(const char *name, uint32_t addr_be, unsigned prefix);
int tap_set_addr6(int ifindex, const uint8_t addr[16], unsigned prefix);
int tap_up(const char *name);
/* 0 when a link called name exists, -ENODEV when not. */
int tap_ifindex(const char *name, int *ifindex_out);

#endif
