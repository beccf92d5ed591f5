/* The resolver on each sandbox's gateway address.  A query for a name on
 * the sandbox's list (exactly, or under a "*." entry) is forwarded to the
 * upstream with a fresh id; the A and AAAA records of the answer become
 * allowlist entries for their TTL before the answer goes back.  Any other
 * name gets NXDOMAIN, so the list cannot be probed or tunnelled through
 * DNS.  Non-blocking, on the daemon's loop; parsing with libresolv.
 * XXX: UDP on the IPv4 gateway only: a query over TCP (a truncated
 * answer's retry) is reset by the host; answers fit 4 KiB in practice;
 * docs/egress.md "What is not there". */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns.h"
#include "log.h"
#include "loop.h"
#include "netpol.h"
#include "util.h"

#define PENDING_MAX 64
#define PENDING_MS 5000

struct pending {
	bool used;
	uint16_t id, orig_id;
	uint64_t sent_ms;
	struct sockaddr_in client;
	char name[NS_MAXDNAME];
};

struct dns_server {
	struct netpol *np;
	int fd, up;
	struct loop_src *src, *up_src;
	struct pending p[PENDING_MAX];
};

static struct sockaddr_storage upstream;
static socklen_t upstream_len;

static int parse_upstream(const char *s)
{
	struct sockaddr_in *u4 = (struct sockaddr_in *)&upstream;
	struct sockaddr_in6 *u6 = (struct sockaddr_in6 *)&upstream;

	memset(&upstream, 0, sizeof(upstream));
	if (inet_pton(AF_INET, s, &u4->sin_addr) == 1) {
		u4->sin_family = AF_INET;
		u4->sin_port = htons(53);
		upstream_len = sizeof(*u4);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &u6->sin6_addr) == 1) {
		u6->sin6_family = AF_INET6;
		u6->sin6_port = htons(53);
		upstream_len = sizeof(*u6);
		return 0;
	}
	return -EINVAL;
}

int dns_init(const char *up, char *err, size_t errlen)
{
	char line[256], addr[INET6_ADDRSTRLEN];
	FILE *f;

	upstream_len = 0;
	if (up) {
		if (parse_upstream(up) < 0) {
			snprintf(err, errlen, "--dns '%s': not an address", up);
			return -EINVAL;
		}
		return 0;
	}
	f = fopen("/etc/resolv.conf", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "nameserver %45s", addr) == 1 &&
		    parse_upstream(addr) == 0)
			break;
	if (f)
		fclose(f);
	if (!upstream_len)
		log_warn("no nameserver in /etc/resolv.conf and no --dns: "
			 "listed names will not resolve");
	return 0;
}

void dns_fini(void)
{
	upstream_len = 0;
}

/* The question's name, lowercase, no final dot; 0 or -1. */
static int question(const uint8_t *msg, int len, char *name, int *type)
{
	ns_msg h;
	ns_rr rr;

	if (ns_initparse(msg, len, &h) < 0 || ns_msg_count(h, ns_s_qd) != 1 ||
	    ns_parserr(&h, ns_s_qd, 0, &rr) < 0)
		return -1;
	snprintf(name, NS_MAXDNAME, "%s", ns_rr_name(rr));
	for (char *c = name; *c; c++)
		*c = tolower((unsigned char)*c);
	if (*name && name[strlen(name) - 1] == '.')
		name[strlen(name) - 1] = '\0';
	*type = ns_rr_type(rr);
	return ns_rr_class(rr) == ns_c_in ? 0 : -1;
}

static bool listed(struct netpol *np, const char *name)
{
	const struct egress_list *l = netpol_list(np);

	for (size_t i = 0; i < l->n; i++)
		if (egress_name_match(&l->e[i], name))
			return true;
	return false;
}

/* Turns the query in buf into an answer with rcode and no records. */
static void refuse(struct dns_server *s, uint8_t *buf, int len, int rcode,
		   const struct sockaddr_in *to)
{
	const uint8_t *q = buf + NS_HFIXEDSZ;

	/* Keep only the header and the one question. */
	if (len < NS_HFIXEDSZ || ns_name_skip(&q, buf + len) < 0 ||
	    q + 4 > buf + len)
		return;
	buf[2] = 0x80 | (buf[2] & 0x79);	/* QR; opcode and RD kept */
	buf[3] = 0x80 | rcode;			/* RA */
	buf[4] = 0, buf[5] = 1;
	memset(buf + 6, 0, 6);
	sendto(s->fd, buf, q + 4 - buf, 0, (const void *)to, sizeof(*to));
}

static struct pending *slot(struct dns_server *s)
{
	struct pending *old = &s->p[0];
	uint64_t now = loop_now_ms();

	for (int i = 0; i < PENDING_MAX; i++) {
		if (!s->p[i].used || now - s->p[i].sent_ms > PENDING_MS)
			return &s->p[i];
		if (s->p[i].sent_ms < old->sent_ms)
			old = &s->p[i];
	}
	return old;
}

static void on_query(void *data, uint32_t events)
{
	struct dns_server *s = data;
	uint8_t buf[NS_PACKETSZ * 2];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	char name[NS_MAXDNAME];
	struct pending *p;
	int n, type;

	while ((n = recvfrom(s->fd, buf, sizeof(buf), 0, (void *)&from,
			     &fl)) > 0) {
		if (n < NS_HFIXEDSZ || (buf[2] & 0x80))
			continue;
		if (question(buf, n, name, &type) < 0) {
			refuse(s, buf, n, ns_r_formerr, &from);
			continue;
		}
		if (!listed(s->np, name)) {
			log_debug("dns: '%s' is not listed, nxdomain", name);
			refuse(s, buf, n, ns_r_nxdomain, &from);
			continue;
		}
		if (s->up < 0) {
			refuse(s, buf, n, ns_r_servfail, &from);
			continue;
		}
		p = slot(s);
		*p = (struct pending){ .used = true, .sent_ms = loop_now_ms(),
				       .client = from,
				       .orig_id = buf[0] << 8 | buf[1] };
		if (getrandom(&p->id, sizeof(p->id), 0) != sizeof(p->id))
			p->id ^= (uint16_t)loop_now_ms();
		snprintf(p->name, sizeof(p->name), "%s", name);
		buf[0] = p->id >> 8;
		buf[1] = p->id;
		if (send(s->up, buf, n, 0) < 0)
			p->used = false;
		fl = sizeof(from);
	}
}

/* Every A and AAAA of the answer, CNAME targets too: the upstream
 * answered our question, so its records are about the listed name. */
static void learn(struct dns_server *s, const uint8_t *msg, int len,
		  const char *name)
{
	const struct egress_list *l = netpol_list(s->np);
	ns_msg h;
	ns_rr rr;

	if (ns_initparse(msg, len, &h) < 0)
		return;
	for (int i = 0; i < ns_msg_count(h, ns_s_an); i++) {
		int t, fam;

		if (ns_parserr(&h, ns_s_an, i, &rr) < 0)
			break;
		t = ns_rr_type(rr);
		fam = t == ns_t_a && ns_rr_rdlen(rr) == 4 ? 4 :
		      t == ns_t_aaaa && ns_rr_rdlen(rr) == 16 ? 6 : 0;
		if (!fam)
			continue;
		for (size_t j = 0; j < l->n; j++)
			if (egress_name_match(&l->e[j], name))
				netpol_learn(s->np, &l->e[j], fam,
					     ns_rr_rdata(rr), ns_rr_ttl(rr));
	}
}

static void on_answer(void *data, uint32_t events)
{
	struct dns_server *s = data;
	uint8_t buf[4096];
	char name[NS_MAXDNAME];
	int n, type;

	while ((n = recv(s->up, buf, sizeof(buf), 0)) > 0) {
		uint16_t id = buf[0] << 8 | buf[1];
		struct pending *p = NULL;

		if (n < NS_HFIXEDSZ)
			continue;
		for (int i = 0; i < PENDING_MAX && !p; i++)
			if (s->p[i].used && s->p[i].id == id)
				p = &s->p[i];
		/* The question must be ours too: a guessed id is not enough. */
		if (!p || question(buf, n, name, &type) < 0 ||
		    strcmp(name, p->name) != 0)
			continue;
		p->used = false;
		learn(s, buf, n, p->name);
		buf[0] = p->orig_id >> 8;
		buf[1] = p->orig_id;
		sendto(s->fd, buf, n, 0, (void *)&p->client, sizeof(p->client));
	}
}

int dns_serve(struct netpol *np, uint32_t gw4_be, struct dns_server **out)
{
	struct dns_server *s = calloc(1, sizeof(*s));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(53),
				 .sin_addr.s_addr = gw4_be };
	int one = 1, r;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->np = np;
	s->up = -1;
	s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		goto fail;
	/* The tap's address may not be up yet. */
	setsockopt(s->fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
	if (bind(s->fd, (void *)&a, sizeof(a)) < 0)
		goto fail;
	if (upstream_len) {
		s->up = socket(upstream.ss_family,
			       SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (s->up < 0 || connect(s->up, (void *)&upstream,
					 upstream_len) < 0)
			goto fail;
		s->up_src = loop_add(s->up, EPOLLIN, on_answer, s);
		if (!s->up_src)
			goto fail;
	}
	s->src = loop_add(s->fd, EPOLLIN, on_query, s);
	if (!s->src)
		goto fail;
	*out = s;
	return 0;
fail:
	r = -errno;
	dns_stop(s);
	return r;
}

void dns_stop(struct dns_server *s)
{
	if (!s)
		return;
	loop_del(s->src);
	loop_del(s->up_src);
	if (s->fd >= 0)
		close(s->fd);
	if (s->up >= 0)
		close(s->up);
	free(s);
}
