/* TAP test of vmm/frame.c: round trips, frames cut at every byte, several
 * frames in one buffer, and the malformed input a hostile or confused
 * peer could send. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "frame.h"

static int n_test, n_failed;

static void ok(bool cond, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	n_test++;
	if (!cond)
		n_failed++;
	printf("%sok %d - ", cond ? "" : "not ", n_test);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static json_t *hdr_out_type(const char *t, int id)
{
	return json_pack("{s:s, s:i}", "t", t, "id", id);
}

/* Decodes one frame and checks it is type t, id id, with payload p/n. */
static bool decodes_to(struct buf *in, const char *t, int id,
		       const uint8_t *p, size_t n)
{
	uint8_t *payload = NULL;
	json_t *hdr = NULL;
	size_t got;
	bool good;

	if (frame_decode(in, &hdr, &payload, &got) != 1)
		return false;
	good = !strcmp(json_string_value(json_object_get(hdr, "t")), t) &&
	       json_integer_value(json_object_get(hdr, "id")) == id &&
	       got == n && (n == 0 ? payload == NULL : !memcmp(payload, p, n));
	json_decref(hdr);
	free(payload);
	return good;
}

static void test_round_trip(void)
{
	uint8_t all[256];
	struct buf b = { 0 };
	json_t *h = hdr_out_type("out", 7);

	for (int i = 0; i < 256; i++)
		all[i] = i;
	ok(frame_encode(&b, h, all, sizeof(all)) == 0, "encode 256 bytes");
	ok(decodes_to(&b, "out", 7, all, sizeof(all)),
	   "all 256 byte values survive a round trip");
	ok(buf_used(&b) == 0, "decode consumes the whole frame");

	ok(frame_encode(&b, h, NULL, 0) == 0 && decodes_to(&b, "out", 7, NULL, 0),
	   "empty payload decodes to NULL, 0");
	json_decref(h);
	buf_free(&b);
}

static void test_limits(void)
{
	static uint8_t big[FRAME_PAYLOAD_MAX + 1];
	struct buf b = { 0 };
	json_t *h = hdr_out_type("out", 1);
	json_t *arr = json_array();
	char *pad = calloc(1, FRAME_HEADER_MAX + 1);

	ok(frame_encode(&b, h, big, FRAME_PAYLOAD_MAX) == 0 &&
	   decodes_to(&b, "out", 1, big, FRAME_PAYLOAD_MAX),
	   "largest payload round trips");
	ok(frame_encode(&b, h, big, sizeof(big)) == -EINVAL && !buf_used(&b),
	   "payload over FRAME_PAYLOAD_MAX is refused, nothing appended");

	memset(pad, 'x', FRAME_HEADER_MAX);
	json_object_set_new(h, "pad", json_string(pad));
	ok(frame_encode(&b, h, NULL, 0) == -EINVAL && !buf_used(&b),
	   "header over FRAME_HEADER_MAX is refused");
	ok(frame_encode(&b, arr, NULL, 0) == -EINVAL, "array header refused");

	free(pad);
	json_decref(arr);
	json_decref(h);
	buf_free(&b);
}

static void test_split(void)
{
	uint8_t payload[300];
	struct buf whole = { 0 };
	json_t *h = hdr_out_type("stdin", 3);
	bool good = true;
	size_t len;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = i * 7;
	frame_encode(&whole, h, payload, sizeof(payload));
	len = buf_used(&whole);

	/* Feed the frame in two parts cut at every byte: before the cut
	 * nothing comes out, after it exactly the frame. */
	for (size_t cut = 0; cut < len && good; cut++) {
		struct buf in = { 0 };
		json_t *hdr = NULL;
		uint8_t *p = NULL;
		size_t n;

		buf_append(&in, buf_data(&whole), cut);
		good = frame_decode(&in, &hdr, &p, &n) == 0 &&
		       buf_used(&in) == cut;
		buf_append(&in, buf_data(&whole) + cut, len - cut);
		good = good && decodes_to(&in, "stdin", 3, payload,
					  sizeof(payload));
		buf_free(&in);
	}
	ok(good, "frame split at each of %zu byte boundaries", len);

	/* Byte at a time, like the slowest possible pipe. */
	struct buf in = { 0 };
	int r = 0;

	for (size_t i = 0; i < len - 1 && r == 0; i++) {
		json_t *hdr = NULL;
		uint8_t *p = NULL;
		size_t n;

		buf_append(&in, buf_data(&whole) + i, 1);
		r = frame_decode(&in, &hdr, &p, &n);
	}
	buf_append(&in, buf_data(&whole) + len - 1, 1);
	ok(r == 0 && decodes_to(&in, "stdin", 3, payload, sizeof(payload)),
	   "frame fed one byte at a time");

	buf_free(&in);
	buf_free(&whole);
	json_decref(h);
}

static void test_several(void)
{
	struct buf b = { 0 };
	uint8_t p[3] = { 0, 0xff, 0 };
	bool good = true;

	for (int i = 0; i < 100; i++) {
		json_t *h = hdr_out_type("out", i);

		frame_encode(&b, h, p, i % 4 == 0 ? 0 : sizeof(p));
		json_decref(h);
	}
	for (int i = 0; i < 100 && good; i++)
		good = decodes_to(&b, "out", i, p, i % 4 == 0 ? 0 : sizeof(p));
	ok(good, "100 frames in one buffer decode in order");

	json_t *hdr = NULL;
	uint8_t *pl = NULL;
	size_t n;

	ok(frame_decode(&b, &hdr, &pl, &n) == 0 && buf_used(&b) == 0,
	   "then the buffer is empty");
	buf_free(&b);
}

/* Builds a raw frame: LEN, HLEN, header bytes as given, payload n
 * zeros.  len_fix and hlen_fix, when not -1, override the fields. */
static void raw(struct buf *b, long len_fix, long hlen_fix,
		const char *h, size_t hlen, size_t n)
{
	uint32_t len = len_fix >= 0 ? (uint32_t)len_fix : 2 + hlen + n;
	uint16_t hl = hlen_fix >= 0 ? (uint16_t)hlen_fix : hlen;
	uint8_t pre[6] = { len >> 24, len >> 16, len >> 8, len, hl >> 8, hl };
	static uint8_t zeros[FRAME_MAX];

	buf_append(b, pre, sizeof(pre));
	buf_append(b, h, hlen);
	buf_append(b, zeros, n);
}

static int decode_raw(long len_fix, long hlen_fix, const char *h,
		      size_t hlen, size_t n)
{
	struct buf b = { 0 };
	json_t *hdr = NULL;
	uint8_t *p = NULL;
	size_t got;
	int r;

	raw(&b, len_fix, hlen_fix, h, hlen, n);
	r = frame_decode(&b, &hdr, &p, &got);
	json_decref(hdr);
	free(p);
	buf_free(&b);
	return r;
}

static void test_hostile(void)
{
	const char *good = "{\"t\":\"x\"}";
	size_t gl = strlen(good);

	ok(decode_raw(-1, -1, good, gl, 5) == 1, "well-formed raw frame decodes");
	ok(decode_raw(0, 0, "", 0, 0) == -EPROTO, "LEN 0 is a protocol error");
	ok(decode_raw(1, 0, "", 0, 0) == -EPROTO, "LEN 1 is a protocol error");
	ok(decode_raw(FRAME_MAX - 3, -1, good, gl, 0) == -EPROTO,
	   "LEN over FRAME_MAX-4 is refused before the body arrives");
	ok(decode_raw(0xffffffff, -1, good, gl, 0) == -EPROTO,
	   "LEN 0xffffffff is refused");
	ok(decode_raw(2 + gl, gl + 1, good, gl, 0) == -EPROTO,
	   "HLEN > LEN-2 is refused");
	ok(decode_raw(-1, 1, "{", 1, 0) == -EPROTO, "HLEN 1 is refused");
	ok(decode_raw(-1, FRAME_HEADER_MAX + 1, good, gl,
		      FRAME_HEADER_MAX + 1) == -EPROTO,
	   "HLEN over FRAME_HEADER_MAX is refused");
	ok(decode_raw(-1, 2, "{}", 2, FRAME_PAYLOAD_MAX + 1) == -EPROTO,
	   "payload over FRAME_PAYLOAD_MAX is refused");
	ok(decode_raw(-1, -1, "hello", 5, 0) == -EPROTO,
	   "header that is not JSON");
	ok(decode_raw(-1, -1, "[1,2]", 5, 0) == -EPROTO,
	   "header that is a JSON array");
	ok(decode_raw(-1, -1, "\"str\"", 5, 0) == -EPROTO,
	   "header that is a JSON string");
	ok(decode_raw(-1, -1, "{\"t\":\"x\"}{}", 11, 0) == -EPROTO,
	   "header with trailing bytes after the object");
	ok(decode_raw(-1, -1, "{\"t\":\"x\0\"}", 10, 0) == -EPROTO,
	   "NUL inside the header");
	ok(decode_raw(-1, -1, "{\"t\":\"x\"}\0", 10, 0) == -EPROTO,
	   "NUL after the header object");
	ok(decode_raw(-1, -1, "{\"t\":\"\xff\"}", 8, 0) == -EPROTO,
	   "header that is not UTF-8");
	ok(decode_raw(6, 4, "{}", 2, 0) == 0,
	   "short frame with a valid prefix waits for more");
}

int main(void)
{
	printf("1..29\n");
	test_round_trip();
	test_limits();
	test_split();
	test_several();
	test_hostile();
	if (n_test != 29)
		printf("# planned 29 tests, ran %d\n", n_test);
	return n_failed || n_test != 29;
}
