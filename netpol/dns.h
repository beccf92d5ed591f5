/* The resolver each sandbox sees on its gateway address: it answers only
 * names on the sandbox's egress list, forwards those upstream, and lets
 * netpol learn the answered addresses for their TTL. */
#ifndef SBXFS_DNS_H
#define SBXFS_DNS_H

#include <stddef.h>
#include <stdint.h>

struct netpol;
struct dns_server;

/* upstream "ADDR" or NULL for the first nameserver of /etc/resolv.conf. */
int dns_init(const char *upstream, char *err, size_t errlen);
void dns_fini(void);
int dns_serve(struct netpol *np, uint32_t gw4_be, struct dns_server **out);
void dns_stop(struct dns_server *s);

#endif
