/* Line numbers in messages count every line written through one open
 * file, blank ones too, so "line 3" is the third line the user wrote. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "egress_file.h"
#include "egress_list.h"
#include "log.h"
#include "netpol.h"
#include "sandbox.h"
#include "sbnet.h"

#define EGRESS_LINE_MAX 1024

struct egress_open {
	bool collect;		/* opened with O_TRUNC */
	bool failed;		/* a write failed: the close applies nothing */
	struct egress_list list;	/* collect: the new list so far */
	unsigned lineno;
	char part[EGRESS_LINE_MAX];	/* a line without its newline yet */
	size_t plen;
};

static int no_network(struct sandbox *sb)
{
	if (sb->np)
		return 0;
	if (!sb->net_broken && !netpol_enabled()) {
		sandbox_set_error(sb, "egress: the daemon runs without "
				  "--uplink: sandboxes have no network");
		return -EOPNOTSUPP;
	}
	sandbox_set_error(sb, "egress: the sandbox has no network "
			  "(egress broken)");
	return -EIO;
}

int egress_file_open(struct sandbox *sb, int flags, struct egress_open **out)
{
	struct egress_open *eo;
	int r = no_network(sb);

	if (r < 0)
		return r;
	eo = calloc(1, sizeof(*eo));
	if (!eo)
		return -ENOMEM;
	eo->collect = flags & O_TRUNC;
	*out = eo;
	return 0;
}

static int add_line(struct sandbox *sb, const char *line, unsigned lineno,
		    struct egress_list *l)
{
	char err[CTL_ERR_MAX];
	struct egress_entry e;
	int r = egress_parse_line(line, lineno, &e, err, sizeof(err));

	if (r < 0) {
		sandbox_set_error(sb, "%s", err);
		return r;
	}
	if (r == 0)
		return 0;
	r = egress_list_add(l, &e);
	if (r == -E2BIG) {
		sandbox_set_error(sb, "egress: line %u: more than %d entries",
				  lineno, EGRESS_LIST_MAX);
		return -EINVAL;
	}
	return r;
}

/* Parses the complete lines of buf (plus the held part) into l; on error
 * the caller throws l away.  *used is how many bytes of buf went in. */
static int feed(struct sandbox *sb, struct egress_open *eo, const char *buf,
		size_t size, bool final, struct egress_list *l,
		unsigned *lineno, char *part, size_t *plen)
{
	size_t i = 0;
	int r;

	while (i < size || (final && *plen)) {
		const char *nl = i < size ? memchr(buf + i, '\n', size - i) : NULL;
		size_t k = nl ? (size_t)(nl - (buf + i)) : size - i;

		if (k && memchr(buf + i, '\0', k)) {
			sandbox_set_error(sb, "egress: line %u: a NUL byte",
					  *lineno + 1);
			return -EINVAL;
		}
		if (*plen + k >= EGRESS_LINE_MAX) {
			sandbox_set_error(sb, "egress: line %u: longer than "
					  "%d bytes", *lineno + 1,
					  EGRESS_LINE_MAX - 1);
			return -EINVAL;
		}
		memcpy(part + *plen, buf + i, k);
		*plen += k;
		i += k;
		if (!nl && !final)
			break;
		part[*plen] = '\0';
		r = add_line(sb, part, ++*lineno, l);
		*plen = 0;
		if (r < 0)
			return r;
		if (nl)
			i++;
	}
	return 0;
}

static int apply(struct sandbox *sb, const struct egress_list *l)
{
	int r = netpol_set_list(sb->np, l);

	if (r < 0)
		sandbox_set_error(sb, "egress: putting the list in force: %s",
				  strerror(-r));
	else
		sbnet_save(sb);
	return r;
}

int egress_file_write(struct sandbox *sb, struct egress_open *eo,
		      const char *buf, size_t size)
{
	struct egress_list l = { 0 };
	char part[EGRESS_LINE_MAX];
	size_t plen = eo->plen;
	unsigned lineno = eo->lineno;
	int r = no_network(sb);

	if (r < 0)
		return r;
	/* Work on copies: a bad line leaves everything as it was. */
	memcpy(part, eo->part, plen);
	r = egress_list_copy(&l, eo->collect ? &eo->list : netpol_list(sb->np));
	if (r == 0)
		r = feed(sb, eo, buf, size, false, &l, &lineno, part, &plen);
	if (r == 0 && !eo->collect)
		r = apply(sb, &l);
	if (r < 0) {
		eo->failed = eo->collect;
		egress_list_clear(&l);
		return r;
	}
	memcpy(eo->part, part, plen);
	eo->plen = plen;
	eo->lineno = lineno;
	if (eo->collect) {
		egress_list_clear(&eo->list);
		eo->list = l;
	} else {
		egress_list_clear(&l);
	}
	return 0;
}

void egress_file_release(struct sandbox *sb, struct egress_open *eo)
{
	struct egress_list l = { 0 };

	if (!eo)
		return;
	if (sb && sb->np && !eo->failed && (eo->collect || eo->plen) &&
	    egress_list_copy(&l, eo->collect ? &eo->list :
			     netpol_list(sb->np)) == 0) {
		/* A last line without its newline counts too. */
		if (feed(sb, eo, NULL, 0, true, &l, &eo->lineno, eo->part,
			 &eo->plen) == 0)
			apply(sb, &l);
		else
			log_info("sandbox '%s': error: %s (on close; the old "
				 "list stays)", sb->name, sb->error);
	}
	egress_list_clear(&l);
	egress_list_clear(&eo->list);
	free(eo);
}

int egress_file_text(struct sandbox *sb, char **text, size_t *len)
{
	static const struct egress_list none;

	return egress_list_text(sb->np ? netpol_list(sb->np) : &none, text,
				len);
}

int quota_file_text(struct sandbox *sb, char **text, size_t *len)
{
	uint64_t lim = sb->np ? netpol_limit(sb->np) : NETPOL_UNLIMITED;
	char limit[24];

	if (lim == NETPOL_UNLIMITED)
		strcpy(limit, "unlimited");
	else
		snprintf(limit, sizeof(limit), "%" PRIu64, lim);
	*len = asprintf(text, "limit %s\nused %" PRIu64 "\n", limit,
			sb->np ? netpol_used(sb->np) : 0);
	return *len == (size_t)-1 ? -ENOMEM : 0;
}

int egress_recharge(struct sandbox *sb, unsigned long long bytes)
{
	int r = no_network(sb);

	if (r < 0) {
		sandbox_set_error(sb, "recharge: the sandbox has no network");
		return r;
	}
	netpol_recharge(sb->np, bytes);
	sbnet_save(sb);
	return 0;
}

const char *egress_status(const struct sandbox *sb)
{
	if (sb->np)
		return netpol_state(sb->np);
	return sb->net_broken ? "broken" : "off";
}

uint64_t egress_status_bytes(const struct sandbox *sb)
{
	return sb->np ? netpol_egress_bytes(sb->np) : 0;
}

void egress_quota_left(const struct sandbox *sb, char *buf, size_t len)
{
	uint64_t lim = sb->np ? netpol_limit(sb->np) : NETPOL_UNLIMITED;
	uint64_t used = sb->np ? netpol_used(sb->np) : 0;

	if (lim == NETPOL_UNLIMITED)
		snprintf(buf, len, "unlimited");
	else
		snprintf(buf, len, "%" PRIu64, used >= lim ? 0 : lim - used);
}

void egress_address(const struct sandbox *sb, char *buf, size_t len)
{
	if (sb->np)
		netpol_address(sb->np, buf, len);
	else
		snprintf(buf, len, "-");
}

const char *egress_reason(const struct sandbox *sb)
{
	if (sb->np && netpol_exhausted(sb->np) && strcmp(sb->reason, "-") == 0)
		return "quota";
	return sb->reason;
}
