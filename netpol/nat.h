/* The daemon's one nftables table: NAT out of the uplink, conntrack so
 * nothing reaches a guest unless it answers the guest, and the fail-closed
 * rule that drops sandbox traffic the egress filter did not mark. */
#ifndef SBXFS_NAT_H
#define SBXFS_NAT_H

/* pool4/pool6 are CIDR text; pool6 may be NULL. */
int nat_init(const char *uplink, const char *pool4, const char *pool6,
	     char *err, size_t errlen);
/* Is the table still there?  0 or -ENOENT. */
int nat_check(void);
void nat_fini(void);

#endif
