/* TAP tests of netpol/egress_list.c: the egress grammar, its normal
 * form, and the messages that name the bad line. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "egress_list.h"

#include "tap.h"

/* input, normal form */
static const char *good[][2] = {
	{ "1.2.3.4:80", "1.2.3.4:80" },
	{ "  tcp/1.2.3.4:443  ", "tcp/1.2.3.4:443" },
	{ "udp/1.2.3.4:*", "udp/1.2.3.4:*" },
	{ "10.1.2.3/8:*", "10.0.0.0/8:*" },
	{ "1.2.3.4/32:22", "1.2.3.4:22" },
	{ "0.0.0.0/0:443", "0.0.0.0/0:443" },
	{ "[2001:DB8::1]:443", "[2001:db8::1]:443" },
	{ "[2001:db8::/32]:53", "[2001:db8::/32]:53" },
	{ "[2001:db8:ff::1]/32:53", "[2001:db8::/32]:53" },
	{ "tcp/[::]/0:*", "tcp/[::/0]:*" },
	{ "Example.COM:443", "example.com:443" },
	{ "*.example.com:443", "*.example.com:443" },
	{ "a-b.c0.example:65535", "a-b.c0.example:65535" },
};

static const char *bad[][2] = {
	{ "example.com:http", "port must be a number or *" },
	{ "example.com", "expected HOST:PORT" },
	{ "1.2.3.4:0", "port must be" },
	{ "1.2.3.4:65536", "port must be" },
	{ "1.2.3.4:-1", "port must be" },
	{ "1.2.3.4/33:80", "prefix length must be 0..32" },
	{ "[::1]/129:80", "prefix length must be 0..128" },
	{ "2001:db8::1:80", "in brackets" },
	{ "[2001:db8::1:80", "in brackets" },
	{ "[1.2.3.4]:80", "not an IPv6 address" },
	{ "localhost:80", "not a host name" },
	{ "-a.example:80", "not a host name" },
	{ "a..b:80", "not a host name" },
	{ "a_b.example:80", "not a host name" },
	{ "*.:80", "not a host name" },
	{ "foo.*.example:80", "not a host name" },
	{ "sctp/1.2.3.4:80", "protocol must be tcp/ or udp/" },
	{ "name.example/8:80", "a prefix needs" },
	{ "1.2.3.4:80 extra", "port must be" },
};

int main(void)
{
	struct egress_entry e;
	struct egress_list l = { 0 };
	char err[256], buf[300], *text;
	size_t len;
	int r;

	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		r = egress_parse_line(good[i][0], 1, &e, err, sizeof(err));
		buf[0] = '\0';
		if (r == 1)
			egress_format(&e, buf, sizeof(buf));
		ok(r == 1 && strcmp(buf, good[i][1]) == 0,
		   "\"%s\" normalises to \"%s\" (got %d \"%s\")", good[i][0],
		   good[i][1], r, buf);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		err[0] = '\0';
		r = egress_parse_line(bad[i][0], 7, &e, err, sizeof(err));
		ok(r == -EINVAL && strstr(err, bad[i][1]) &&
		   strncmp(err, "egress: line 7: \"", 17) == 0,
		   "\"%s\" is refused: %s", bad[i][0], err);
	}
	ok(egress_parse_line("", 1, &e, err, sizeof(err)) == 0, "blank line");
	ok(egress_parse_line("  # note", 1, &e, err, sizeof(err)) == 0,
	   "comment line");
	egress_parse_line("example.com:http", 2, &e, err, sizeof(err));
	ok(strcmp(err, "egress: line 2: \"example.com:http\": port must be a "
		  "number or *") == 0, "the contract's example message");

	egress_parse_line("1.2.3.4:80", 1, &e, err, sizeof(err));
	egress_list_add(&l, &e);
	egress_list_add(&l, &e);
	egress_parse_line("*.example.com:443", 1, &e, err, sizeof(err));
	egress_list_add(&l, &e);
	ok(l.n == 2, "duplicates are kept once");
	egress_list_text(&l, &text, &len);
	ok(strcmp(text, "1.2.3.4:80\n*.example.com:443\n") == 0,
	   "list text, one entry a line");
	free(text);
	ok(egress_name_match(&l.e[1], "a.example.com") &&
	   egress_name_match(&l.e[1], "x.y.example.com") &&
	   !egress_name_match(&l.e[1], "example.com") &&
	   !egress_name_match(&l.e[1], "badexample.com"),
	   "*.example.com matches subdomains only");
	for (int i = 0; i < EGRESS_LIST_MAX + 5; i++) {
		snprintf(buf, sizeof(buf), "10.%d.%d.1:80", i / 256, i % 256);
		egress_parse_line(buf, 1, &e, err, sizeof(err));
		r = egress_list_add(&l, &e);
	}
	ok(r == -E2BIG && l.n == EGRESS_LIST_MAX, "a list holds at most %d",
	   EGRESS_LIST_MAX);
	egress_list_clear(&l);

	return tap_done();
}
