/* TAP tests of fs/names.c: which sandbox and image names the tree takes.
 * The kernel hands the daemon names up to 255 bytes, so the edges matter. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "names.h"

#include "tap.h"

static char *repeat(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

static const char *good_names[] = {
	"a", "0", "a-b", "a.b", "a_b", "box1", "9lives", "a..b", "a-", "a.",
};

static const char *bad_names[] = {
	"", "A", "aB", "Box", ".a", "-a", "_a", ".", "..", "a/b", "/a",
	"a/", "a b", " a", "a\t", "a\n", "a:b", "caf\xc3\xa9", "a*", "a\\b",
	"\x01", "a\x7f",
};

static const char *good_images[] = {
	"base:1", "devbox:1", "a:b", "a.b-c_d:1.2-rc1", "0:0",
};

static const char *bad_images[] = {
	"", "base", "base:", ":1", "Base:1", "base:X", "base:1:2", "base:/1",
	"base/x:1", "base :1", "base: 1", "base:1 ", ".base:1", "base:-1",
	"base::1", "../base:1",
};

int main(void)
{
	char buf[300], img[300];
	size_t i;

	for (i = 0; i < sizeof(good_names) / sizeof(*good_names); i++)
		ok(name_valid(good_names[i]), "name \"%s\" is valid",
		   good_names[i]);
	for (i = 0; i < sizeof(bad_names) / sizeof(*bad_names); i++)
		ok(!name_valid(bad_names[i]), "name #%zu (bad) is refused", i);
	ok(!name_valid(NULL), "NULL name is refused");

	ok(name_valid(repeat(buf, 'a', 63)), "63-byte name is valid");
	ok(!name_valid(repeat(buf, 'a', 64)), "64-byte name is refused");
	ok(!name_valid(repeat(buf, 'a', 255)), "255-byte name is refused");
	ok(!name_valid(repeat(buf, 'a', 256)), "256-byte name is refused");
	repeat(buf, 'a', 62);
	strcat(buf, "/");
	ok(!name_valid(buf), "63 bytes ending in '/' is refused");

	for (i = 0; i < sizeof(good_images) / sizeof(*good_images); i++)
		ok(image_name_valid(good_images[i]), "image \"%s\" is valid",
		   good_images[i]);
	for (i = 0; i < sizeof(bad_images) / sizeof(*bad_images); i++)
		ok(!image_name_valid(bad_images[i]),
		   "image \"%s\" is refused", bad_images[i]);
	ok(!image_name_valid(NULL), "NULL image is refused");

	snprintf(img, sizeof(img), "%s:1", repeat(buf, 'b', 61));
	ok(image_name_valid(img), "63-byte image name is valid");
	snprintf(img, sizeof(img), "%s:1", repeat(buf, 'b', 62));
	ok(!image_name_valid(img), "64-byte image name is refused");
	snprintf(img, sizeof(img), "%s:1", repeat(buf, 'b', 253));
	ok(!image_name_valid(img), "255-byte image name is refused");
	ok(!name_valid("base:1"), "an image name is not a sandbox name");

	return tap_done();
}
