/* The frame codec of docs/agent-protocol.md and the byte queue it works
 * on.  Both the daemon and the static guest agent link it, so it logs
 * nothing and knows nothing of message types or jobs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "util.h"

/* Grow to at least this much at once, so small appends do not realloc
 * every time. */
#define BUF_MIN_CAP 4096

void buf_free(struct buf *b)
{
	free(b->mem);
	*b = (struct buf){ 0 };
}

size_t buf_used(const struct buf *b)
{
	return b->len - b->off;
}

const uint8_t *buf_data(const struct buf *b)
{
	return b->mem + b->off;
}

static int buf_reserve(struct buf *b, size_t n)
{
	size_t used = buf_used(b), cap;
	uint8_t *mem;

	if (b->cap - b->len >= n)
		return 0;

	/* Reuse the consumed front only when it is at least as big as what
	 * is still queued, so each byte is moved O(1) times on average. */
	if (b->cap - used >= n && b->off >= used) {
		memmove(b->mem, b->mem + b->off, used);
		b->off = 0;
		b->len = used;
		return 0;
	}

	if (n > SIZE_MAX / 2 - used)
		return -ENOMEM;
	cap = b->cap ? b->cap * 2 : BUF_MIN_CAP;
	while (cap - used < n)
		cap *= 2;

	mem = malloc(cap);
	if (!mem)
		return -ENOMEM;
	if (used)
		memcpy(mem, b->mem + b->off, used);
	free(b->mem);
	b->mem = mem;
	b->off = 0;
	b->len = used;
	b->cap = cap;
	return 0;
}

int buf_append(struct buf *b, const void *data, size_t n)
{
	int r;

	if (!n)
		return 0;
	r = buf_reserve(b, n);
	if (r < 0)
		return r;

	memcpy(b->mem + b->len, data, n);
	b->len += n;
	return 0;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n > buf_used(b))
		n = buf_used(b);
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

int buf_write_fd(struct buf *b, int fd)
{
	while (buf_used(b)) {
		ssize_t n = write(fd, buf_data(b), buf_used(b));

		if (n < 0)
			return errno == EAGAIN ? 1 : -errno;
		buf_consume(b, n);
	}
	return 0;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

int frame_encode(struct buf *out, json_t *hdr, const void *payload, size_t n)
{
	autofree char *json = NULL;
	uint8_t prefix[6];
	size_t hlen;
	int r;

	if (!json_is_object(hdr) || n > FRAME_PAYLOAD_MAX)
		return -EINVAL;

	json = json_dumps(hdr, JSON_COMPACT);
	if (!json)
		return -ENOMEM;
	hlen = strlen(json);
	if (hlen < 2 || hlen > FRAME_HEADER_MAX)
		return -EINVAL;

	/* Reserve the whole frame first so a failure leaves out as it was,
	 * never holding half a frame. */
	r = buf_reserve(out, sizeof(prefix) + hlen + n);
	if (r < 0)
		return r;

	put_be32(prefix, 2 + hlen + n);
	prefix[4] = hlen >> 8;
	prefix[5] = hlen;
	buf_append(out, prefix, sizeof(prefix));
	buf_append(out, json, hlen);
	buf_append(out, payload, n);
	return 0;
}

/* Checks the two length fields once they are in; the rest of the frame
 * need not have arrived, so a bad length is caught without waiting. */
static int check_lengths(const uint8_t *p, size_t have)
{
	uint32_t len;
	size_t hlen;

	if (have < 4)
		return 0;
	len = get_be32(p);
	if (len < 2 || len > FRAME_MAX - 4)
		return -EPROTO;

	if (have < 6)
		return 0;
	hlen = (size_t)p[4] << 8 | p[5];
	if (hlen < 2 || hlen > FRAME_HEADER_MAX || hlen > len - 2)
		return -EPROTO;
	if (len - 2 - hlen > FRAME_PAYLOAD_MAX)
		return -EPROTO;
	return 1;
}

static int parse_header(const uint8_t *p, size_t hlen, json_t **hdr_out)
{
	json_t *hdr;

	if (memchr(p, '\0', hlen))
		return -EPROTO;
	hdr = json_loadb((const char *)p, hlen, 0, NULL);
	if (!hdr)
		return -EPROTO;
	if (!json_is_object(hdr)) {
		json_decref(hdr);
		return -EPROTO;
	}
	*hdr_out = hdr;
	return 0;
}

int frame_decode(struct buf *in, json_t **hdr_out, uint8_t **payload_out,
		 size_t *n_out)
{
	const uint8_t *p = buf_data(in);
	size_t have = buf_used(in), hlen, n;
	uint8_t *payload = NULL;
	json_t *hdr;
	int r;

	r = check_lengths(p, have);
	if (r <= 0)
		return r;
	if (have < 4 + (size_t)get_be32(p))
		return 0;

	hlen = (size_t)p[4] << 8 | p[5];
	n = get_be32(p) - 2 - hlen;
	r = parse_header(p + 6, hlen, &hdr);
	if (r < 0)
		return r;

	if (n) {
		payload = malloc(n);
		if (!payload) {
			json_decref(hdr);
			return -ENOMEM;
		}
		memcpy(payload, p + 6 + hlen, n);
	}

	buf_consume(in, 6 + hlen + n);
	*hdr_out = hdr;
	*payload_out = payload;
	*n_out = n;
	return 1;
}
