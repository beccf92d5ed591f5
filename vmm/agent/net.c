/* Plain ioctls (SIOCSIFADDR, SIOCADDRT and their IPv6 forms): no DHCP,
 * no busybox, nothing to reap from PID 1. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/ipv6.h>

#include "net.h"
#include "util.h"

static void put(const char *path, const char *val)
{
	autoclose int fd = open(path, O_WRONLY | O_CLOEXEC);

	/* A knob this kernel lacks is not fatal. */
	if (fd >= 0 && write(fd, val, strlen(val)) < 0)
		return;
}

static int find_if(const char *mac, char *name)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	char path[64], addr[32];
	int found = -ENODEV;

	if (!ifs)
		return -errno;
	for (i = ifs; i->if_index && found < 0; i++) {
		FILE *f;

		if (strcmp(i->if_name, "lo") == 0)
			continue;
		snprintf(path, sizeof(path), "/sys/class/net/%s/address",
			 i->if_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(addr, sizeof(addr), f) &&
		    strncasecmp(addr, mac, 17) == 0) {
			snprintf(name, IFNAMSIZ, "%s", i->if_name);
			found = i->if_index;
		}
		fclose(f);
	}
	if_freenameindex(ifs);
	return found;
}

static int fail(char *err, size_t errlen, const char *what)
{
	int e = errno;

	snprintf(err, errlen, "setup: net: %s: %s", what, strerror(e));
	return -e;
}

static int set4(int s, const char *ifn, const char *addr, int prefix,
		const char *gw, char *err, size_t errlen)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	struct rtentry rt = { 0 };

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifn);
	sin->sin_family = AF_INET;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1) {
		errno = EINVAL;
		return fail(err, errlen, "addr4");
	}
	if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
		return fail(err, errlen, "address");
	sin->sin_addr.s_addr = htonl(~0U << (32 - prefix));
	if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
		return fail(err, errlen, "netmask");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return fail(err, errlen, "flags");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return fail(err, errlen, "link up");

	sin = (struct sockaddr_in *)&rt.rt_dst;
	sin->sin_family = AF_INET;
	sin = (struct sockaddr_in *)&rt.rt_genmask;
	sin->sin_family = AF_INET;
	sin = (struct sockaddr_in *)&rt.rt_gateway;
	sin->sin_family = AF_INET;
	if (inet_pton(AF_INET, gw, &sin->sin_addr) != 1) {
		errno = EINVAL;
		return fail(err, errlen, "gw4");
	}
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	/* A forked copy still has its template's default route. */
	while (ioctl(s, SIOCDELRT, &(struct rtentry){
			.rt_dst = rt.rt_dst, .rt_genmask = rt.rt_genmask }) == 0)
		;
	if (ioctl(s, SIOCADDRT, &rt) < 0 && errno != EEXIST)
		return fail(err, errlen, "default route");
	return 0;
}

/* Global addresses of ifindex, from /proc/net/if_inet6, are removed: a
 * forked copy must not keep its template's. */
static void drop6(int s, int ifindex)
{
	FILE *f = fopen("/proc/net/if_inet6", "r");
	char hex[33];
	unsigned idx, plen, scope, flags;
	char name[IFNAMSIZ + 1];

	if (!f)
		return;
	while (fscanf(f, "%32s %x %x %x %x %16s", hex, &idx, &plen, &scope,
		      &flags, name) == 6) {
		struct in6_ifreq r = { .ifr6_prefixlen = plen,
				       .ifr6_ifindex = idx };
		uint8_t *a = (uint8_t *)&r.ifr6_addr;

		if ((int)idx != ifindex || scope != 0)
			continue;
		for (int i = 0; i < 16; i++)
			sscanf(hex + 2 * i, "%2hhx", &a[i]);
		ioctl(s, SIOCDIFADDR, &r);
	}
	fclose(f);
}

static int set6(const char *ifn, int ifindex, const char *addr, int prefix,
		const char *gw, char *err, size_t errlen)
{
	autoclose int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct in6_ifreq r = { .ifr6_prefixlen = prefix,
			       .ifr6_ifindex = ifindex };
	struct in6_rtmsg rt = { .rtmsg_flags = RTF_UP | RTF_GATEWAY,
				.rtmsg_metric = 1, .rtmsg_ifindex = ifindex };
	char path[96];

	if (s < 0)
		return fail(err, errlen, "ipv6 socket");
	/* No duplicate detection (the tap has no one else on it) and no
	 * router advertisements: the address and route are ours to set. */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_dad", ifn);
	put(path, "0");
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_ra", ifn);
	put(path, "0");
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/autoconf", ifn);
	put(path, "0");
	drop6(s, ifindex);
	if (inet_pton(AF_INET6, addr, &r.ifr6_addr) != 1 ||
	    inet_pton(AF_INET6, gw, &rt.rtmsg_gateway) != 1) {
		errno = EINVAL;
		return fail(err, errlen, "addr6 or gw6");
	}
	if (ioctl(s, SIOCSIFADDR, &r) < 0 && errno != EEXIST)
		return fail(err, errlen, "ipv6 address");
	while (ioctl(s, SIOCDELRT, &(struct in6_rtmsg){
			.rtmsg_flags = RTF_UP, .rtmsg_ifindex = ifindex,
			.rtmsg_metric = 1 }) == 0)
		;
	if (ioctl(s, SIOCADDRT, &rt) < 0 && errno != EEXIST)
		return fail(err, errlen, "ipv6 default route");
	return 0;
}

int net_apply(json_t *net, char *err, size_t errlen)
{
	const char *mac = json_string_value(json_object_get(net, "mac"));
	const char *a4 = json_string_value(json_object_get(net, "addr4"));
	const char *g4 = json_string_value(json_object_get(net, "gw4"));
	const char *a6 = json_string_value(json_object_get(net, "addr6"));
	const char *g6 = json_string_value(json_object_get(net, "gw6"));
	const char *dns = json_string_value(json_object_get(net, "dns"));
	int p4 = json_integer_value(json_object_get(net, "prefix4"));
	int p6 = json_integer_value(json_object_get(net, "prefix6"));
	autoclose int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	char ifn[IFNAMSIZ];
	FILE *f;
	int idx, r;

	if (!mac || !a4 || !g4 || p4 < 1 || p4 > 30) {
		snprintf(err, errlen, "setup: net: needs mac, addr4, prefix4 "
			 "and gw4");
		return -EINVAL;
	}
	if (s < 0)
		return fail(err, errlen, "socket");
	/* virtio_net may still be probing when the agent starts. */
	for (int i = 0; (idx = find_if(mac, ifn)) < 0 && i < 200; i++)
		usleep(10000);
	if (idx < 0) {
		snprintf(err, errlen, "setup: net: no interface with mac %s", mac);
		return -ENODEV;
	}
	r = set4(s, ifn, a4, p4, g4, err, errlen);
	if (r == 0 && a6 && g6)
		r = set6(ifn, idx, a6, p6 ? p6 : 64, g6, err, errlen);
	if (r < 0)
		return r;
	f = fopen("/etc/resolv.conf", "w");
	if (!f)
		return fail(err, errlen, "/etc/resolv.conf");
	fprintf(f, "nameserver %s\n", dns ? dns : g4);
	fclose(f);
	return 0;
}
