/* The egress allowlist grammar of INTERFACE.md:
 *   [tcp/|udp/]HOST:PORT   HOST = name | *.name | IPv4 | [IPv6]
 *   [tcp/|udp/]CIDR:PORT   CIDR = IPv4/N | [IPv6/N] | [IPv6]/N
 * with PORT a number 1-65535 or "*".  Pure text in, entries out. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "egress_list.h"

#define LINE_MAX_SHOWN 80

static int fail(char *err, size_t errlen, unsigned lineno, const char *line,
		const char *why)
{
	snprintf(err, errlen, "egress: line %u: \"%.*s\": %s", lineno,
		 LINE_MAX_SHOWN, line, why);
	return -EINVAL;
}

static int parse_port(const char *s, uint16_t *out)
{
	char *end;
	unsigned long v;

	if (strcmp(s, "*") == 0) {
		*out = 0;
		return 0;
	}
	if (!isdigit((unsigned char)*s) || strlen(s) > 5)
		return -1;
	v = strtoul(s, &end, 10);
	if (*end || v == 0 || v > 65535)
		return -1;
	*out = v;
	return 0;
}

static int parse_prefix(const char *s, unsigned max, uint8_t *out)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)*s) || strlen(s) > 3)
		return -1;
	v = strtoul(s, &end, 10);
	if (*end || v > max)
		return -1;
	*out = v;
	return 0;
}

static void clear_host_bits(uint8_t *a, unsigned bytes, unsigned prefix)
{
	for (unsigned i = 0; i < bytes; i++) {
		unsigned keep = prefix >= 8 * (i + 1) ? 8 :
				prefix > 8 * i ? prefix - 8 * i : 0;

		a[i] &= (uint8_t)(0xff00 >> keep);
	}
}

/* RFC 1123 labels, optionally behind "*.", at least one dot. */
static int parse_name(const char *s, char *out)
{
	size_t n = strlen(s), label = 0;
	const char *p = s;

	if (n > 2 && s[0] == '*' && s[1] == '.')
		p += 2;
	if (n == 0 || n > EGRESS_NAME_MAX || !strchr(p, '.'))
		return -1;
	for (; *p; p++) {
		if (*p == '.') {
			if (label == 0 || p[-1] == '-')
				return -1;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && !(*p == '-' && label > 0))
			return -1;
		if (++label > 63)
			return -1;
	}
	if (label == 0)
		return -1;
	for (size_t i = 0; i <= n; i++)
		out[i] = tolower((unsigned char)s[i]);
	return 0;
}

/* host is what comes before ":PORT", brackets removed by the caller;
 * v6 says it was in brackets. */
static const char *parse_host(char *host, int v6, struct egress_entry *e)
{
	char *slash = strchr(host, '/');
	unsigned max = v6 ? 128 : 32;

	if (slash)
		*slash++ = '\0';
	e->family = v6 ? 6 : 4;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host, e->addr) != 1) {
		if (v6)
			return "not an IPv6 address";
		if (slash)
			return "a prefix needs an IPv4 or [IPv6] address";
		e->family = 0;
		if (parse_name(host, e->name) < 0)
			return "not a host name, an IPv4 or an [IPv6] address";
		return NULL;
	}
	e->prefix = max;
	if (slash && parse_prefix(slash, max, &e->prefix) < 0)
		return v6 ? "prefix length must be 0..128" :
			    "prefix length must be 0..32";
	clear_host_bits(e->addr, v6 ? 16 : 4, e->prefix);
	return NULL;
}

int egress_parse_line(const char *line, unsigned lineno,
		      struct egress_entry *out, char *err, size_t errlen)
{
	char buf[512], *s, *colon, *end;
	const char *why;
	int v6 = 0;

	while (isspace((unsigned char)*line))
		line++;
	if (*line == '\0' || *line == '#')
		return 0;
	if (strlen(line) >= sizeof(buf))
		return fail(err, errlen, lineno, line, "entry too long");
	strcpy(buf, line);
	for (end = buf + strlen(buf); end > buf && isspace((unsigned char)end[-1]);)
		*--end = '\0';
	memset(out, 0, sizeof(*out));
	out->protos = EGRESS_TCP | EGRESS_UDP;
	s = buf;
	if (strncmp(s, "tcp/", 4) == 0) {
		out->protos = EGRESS_TCP;
		s += 4;
	} else if (strncmp(s, "udp/", 4) == 0) {
		out->protos = EGRESS_UDP;
		s += 4;
	} else if (strchr(s, '/') && strcspn(s, "/") < strcspn(s, ".:[")) {
		return fail(err, errlen, lineno, line,
			    "protocol must be tcp/ or udp/ (or none for both)");
	}
	colon = strrchr(s, ':');
	if (!colon)
		return fail(err, errlen, lineno, line,
			    "expected HOST:PORT, CIDR:PORT or HOST:*");
	*colon = '\0';
	if (parse_port(colon + 1, &out->port) < 0)
		return fail(err, errlen, lineno, line,
			    "port must be a number or *");
	if (*s == '[') {
		char *close = strchr(s, ']');

		/* "[2001:db8::/32]" and "[2001:db8::]/32" both work. */
		if (!close || (close[1] && close[1] != '/'))
			return fail(err, errlen, lineno, line,
				    "an IPv6 address goes in brackets: [ADDR]:PORT");
		memmove(close, close + 1, strlen(close + 1) + 1);
		s++;
		v6 = 1;
	} else if (strchr(s, ':')) {
		return fail(err, errlen, lineno, line,
			    "an IPv6 address goes in brackets: [ADDR]:PORT");
	}
	why = parse_host(s, v6, out);
	if (why)
		return fail(err, errlen, lineno, line, why);
	return 1;
}

void egress_format(const struct egress_entry *e, char *buf, size_t len)
{
	const char *proto = e->protos == EGRESS_TCP ? "tcp/" :
			    e->protos == EGRESS_UDP ? "udp/" : "";
	char addr[INET6_ADDRSTRLEN + 8] = "", port[8];

	if (e->port)
		snprintf(port, sizeof(port), "%u", e->port);
	else
		strcpy(port, "*");
	if (e->family == 0) {
		snprintf(buf, len, "%s%s:%s", proto, e->name, port);
		return;
	}
	inet_ntop(e->family == 6 ? AF_INET6 : AF_INET, e->addr, addr,
		  sizeof(addr));
	if (e->prefix != (e->family == 6 ? 128 : 32))
		snprintf(addr + strlen(addr), 8, "/%u", e->prefix);
	if (e->family == 6)
		snprintf(buf, len, "%s[%s]:%s", proto, addr, port);
	else
		snprintf(buf, len, "%s%s:%s", proto, addr, port);
}

static int entry_eq(const struct egress_entry *a, const struct egress_entry *b)
{
	return a->protos == b->protos && a->family == b->family &&
	       a->prefix == b->prefix && a->port == b->port &&
	       memcmp(a->addr, b->addr, sizeof(a->addr)) == 0 &&
	       strcmp(a->name, b->name) == 0;
}

int egress_list_add(struct egress_list *l, const struct egress_entry *e)
{
	struct egress_entry *ne;

	for (size_t i = 0; i < l->n; i++)
		if (entry_eq(&l->e[i], e))
			return 0;
	if (l->n >= EGRESS_LIST_MAX)
		return -E2BIG;
	ne = realloc(l->e, (l->n + 1) * sizeof(*ne));
	if (!ne)
		return -ENOMEM;
	l->e = ne;
	l->e[l->n++] = *e;
	return 0;
}

int egress_list_copy(struct egress_list *dst, const struct egress_list *src)
{
	struct egress_entry *e = NULL;

	if (src->n && !(e = malloc(src->n * sizeof(*e))))
		return -ENOMEM;
	if (src->n)
		memcpy(e, src->e, src->n * sizeof(*e));
	free(dst->e);
	dst->e = e;
	dst->n = src->n;
	return 0;
}

void egress_list_clear(struct egress_list *l)
{
	free(l->e);
	l->e = NULL;
	l->n = 0;
}

int egress_list_text(const struct egress_list *l, char **text, size_t *len)
{
	FILE *f = open_memstream(text, len);
	char line[EGRESS_NAME_MAX + 32];

	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++) {
		egress_format(&l->e[i], line, sizeof(line));
		fprintf(f, "%s\n", line);
	}
	return fclose(f) == 0 ? 0 : -ENOMEM;
}

int egress_name_match(const struct egress_entry *e, const char *name)
{
	size_t n = strlen(name), m;

	if (e->family != 0)
		return 0;
	if (strncmp(e->name, "*.", 2) != 0)
		return strcmp(e->name, name) == 0;
	m = strlen(e->name + 1);	/* ".example.com" */
	return n > m && strcmp(name + n - m, e->name + 1) == 0;
}
