/* Tap devices through the tun ioctls and addresses through the classic
 * SIOCSIF* ioctls: a handful of calls, no netlink library needed. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <linux/ipv6.h>

#include "tap.h"
#include "util.h"

static int write_sysctl(const char *path, const char *val)
{
	autoclose int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, val, strlen(val)) < 0)
		return -errno;
	return 0;
}

int tap_create(const char *name, int *fd_out, int *ifindex_out)
{
	struct ifreq ifr = { 0 };
	autoclose int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	char path[96];
	int r;

	if (fd < 0)
		return -errno;
	if (strlen(name) >= IFNAMSIZ)
		return -ENAMETOOLONG;
	/* No IFF_VNET_HDR: frames from the guest arrive with complete
	 * checksums, so the filter can rewrite them (denied SYN -> RST). */
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return -errno;
	/* The host side answers neighbour discovery at once and takes no
	 * router advertisements from a guest. */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_dad",
		 name);
	write_sysctl(path, "0");
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_ra",
		 name);
	write_sysctl(path, "0");
	r = tap_ifindex(name, ifindex_out);
	if (r < 0)
		return r;
	*fd_out = take_fd(&fd);
	return 0;
}

int tap_ifindex(const char *name, int *ifindex_out)
{
	unsigned i = if_nametoindex(name);

	if (!i)
		return -ENODEV;
	*ifindex_out = i;
	return 0;
}

int tap_set_addr4(const char *name, uint32_t addr_be, unsigned prefix)
{
	autoclose int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;

	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = addr_be;
	if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
		return -errno;
	sin->sin_addr.s_addr = prefix ? htonl(~0U << (32 - prefix)) : 0;
	if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
		return -errno;
	return 0;
}

int tap_set_addr6(int ifindex, const uint8_t addr[16], unsigned prefix)
{
	autoclose int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct in6_ifreq r = { .ifr6_prefixlen = prefix,
			       .ifr6_ifindex = ifindex };

	if (s < 0)
		return -errno;
	memcpy(&r.ifr6_addr, addr, 16);
	if (ioctl(s, SIOCSIFADDR, &r) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int tap_up(const char *name)
{
	autoclose int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };

	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return -errno;
	return 0;
}
