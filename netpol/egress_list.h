/* The egress allowlist as text: one entry a line, parsed and normalised
 * here, with no side effects, so the grammar has unit tests of its own
 * (tests/unit/egress_list.c).  Applying a list is netpol.c's job. */
#ifndef SBXFS_EGRESS_LIST_H
#define SBXFS_EGRESS_LIST_H

#include <stddef.h>
#include <stdint.h>

#define EGRESS_TCP 1
#define EGRESS_UDP 2
#define EGRESS_LIST_MAX 1000
#define EGRESS_NAME_MAX 253

struct egress_entry {
	uint8_t protos;		/* EGRESS_TCP | EGRESS_UDP */
	uint8_t family;		/* 4, 6, or 0 for a name */
	uint8_t prefix;		/* 0..32 or 0..128 */
	uint16_t port;		/* host order; 0 = any port */
	uint8_t addr[16];	/* network order, host bits cleared */
	char name[EGRESS_NAME_MAX + 1];	/* lowercase; may start "*." */
};

struct egress_list {
	struct egress_entry *e;
	size_t n;
};

/* Parses one line (no newline).  Returns 1 with *out set, 0 for a blank
 * line or a # comment, or -EINVAL with a message naming line lineno. */
int egress_parse_line(const char *line, unsigned lineno,
		      struct egress_entry *out, char *err, size_t errlen);

/* The normalised text of e, e.g. "tcp/10.0.0.0/8:443". */
void egress_format(const struct egress_entry *e, char *buf, size_t len);

/* Adds e unless an equal entry is there.  -E2BIG past EGRESS_LIST_MAX. */
int egress_list_add(struct egress_list *l, const struct egress_entry *e);
int egress_list_copy(struct egress_list *dst, const struct egress_list *src);
void egress_list_clear(struct egress_list *l);
/* One normalised entry a line; *text is malloc'd. */
int egress_list_text(const struct egress_list *l, char **text, size_t *len);

/* Does name match the entry's name (exactly, or "*.x" any name ending
 * ".x")?  name is lowercase without a final dot. */
int egress_name_match(const struct egress_entry *e, const char *name);

#endif
