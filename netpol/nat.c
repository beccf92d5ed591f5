/* The table is made with libnftables and flagged "owner": the kernel
 * deletes it when the daemon's netlink socket closes, so even a crashed
 * daemon leaves no rule behind.  Taps are matched by the "sbx" prefix. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nftables/libnftables.h>

#include "egress.h"
#include "nat.h"

static struct nft_ctx *nft;

static int run(const char *cmd, char *err, size_t errlen)
{
	const char *e;

	nft_ctx_buffer_error(nft);
	if (nft_run_cmd_from_buffer(nft, cmd) == 0)
		return 0;
	e = nft_ctx_get_error_buffer(nft);
	snprintf(err, errlen, "nftables: %.*s", (int)strcspn(e, "\n"), e);
	return -EIO;
}

int nat_init(const char *uplink, const char *pool4, const char *pool6,
	     char *err, size_t errlen)
{
	char *cmd;
	int r;

	nft = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!nft)
		return -ENOMEM;
	/* A daemon that crashed before the owner flag existed, or one run
	 * by hand, may have left a table of that name. */
	run("delete table inet sbxfs", err, errlen);
	r = asprintf(&cmd,
		"table inet sbxfs {\n"
		" flags owner\n"
		" chain forward_guard {\n"
		"  type filter hook forward priority -10; policy accept;\n"
		"  iifname \"sbx*\" meta mark != 0x%x drop\n"
		"  iifname \"sbx*\" oifname \"sbx*\" drop\n"
		"  oifname \"sbx*\" ct state established,related accept\n"
		"  oifname \"sbx*\" drop\n"
		" }\n"
		" chain input_guard {\n"
		"  type filter hook input priority -10; policy accept;\n"
		"  iifname \"sbx*\" meta mark != 0x%x drop\n"
		"  iifname \"sbx*\" udp dport 53 accept\n"
		"  iifname \"sbx*\" meta l4proto ipv6-icmp accept\n"
		"  iifname \"sbx*\" meta l4proto tcp reject with tcp reset\n"
		"  iifname \"sbx*\" drop\n"
		" }\n"
		" chain output_guard {\n"
		"  type filter hook output priority -10; policy accept;\n"
		"  oifname \"sbx*\" ct state established,related accept\n"
		"  oifname \"sbx*\" meta l4proto ipv6-icmp accept\n"
		"  oifname \"sbx*\" drop\n"
		" }\n"
		" chain nat_out {\n"
		"  type nat hook postrouting priority 100; policy accept;\n"
		"  oifname \"%s\" ip saddr %s masquerade\n"
		"%s%s%s%s%s"
		" }\n"
		"}\n",
		EGRESS_MARK_OK, EGRESS_MARK_OK, uplink, pool4,
		pool6 ? "  oifname \"" : "", pool6 ? uplink : "",
		pool6 ? "\" ip6 saddr " : "", pool6 ? pool6 : "",
		pool6 ? " masquerade\n" : "");
	if (r < 0)
		return -ENOMEM;
	r = run(cmd, err, errlen);
	free(cmd);
	return r;
}

int nat_check(void)
{
	char err[64];

	if (!nft)
		return -ENOENT;
	nft_ctx_buffer_output(nft);
	return run("list table inet sbxfs", err, sizeof(err)) < 0 ? -ENOENT : 0;
}

void nat_fini(void)
{
	char err[64];

	if (!nft)
		return;
	run("delete table inet sbxfs", err, sizeof(err));
	nft_ctx_free(nft);
	nft = NULL;
}
