/* The rules for names that come in through the tree or a ctl line:
 * sandbox, network and shape names, and image names.  Only checks; what a
 * name refers to is the caller's business. */
#include <string.h>

#include "names.h"

static bool is_first(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_rest(char c)
{
	return is_first(c) || c == '_' || c == '.' || c == '-';
}

/* Length of the [a-z0-9][a-z0-9_.-]* run at s, 0 if s does not start one. */
static size_t word_len(const char *s)
{
	size_t n;

	if (!is_first(s[0]))
		return 0;
	for (n = 1; is_rest(s[n]); n++)
		;
	return n;
}

bool name_valid(const char *s)
{
	size_t n;

	if (!s)
		return false;
	n = word_len(s);
	return n > 0 && n <= NAME_MAX_LEN && s[n] == '\0';
}

bool image_name_valid(const char *s)
{
	size_t a, b;

	if (!s || strlen(s) > NAME_MAX_LEN)
		return false;
	a = word_len(s);
	if (a == 0 || s[a] != ':')
		return false;
	b = word_len(s + a + 1);
	return b > 0 && s[a + 1 + b] == '\0';
}

void text_escape(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (!outlen)
		return;
	for (; *in && o + 1 < outlen; in++) {
		unsigned char c = *in;

		if (c >= 0x20 && c != 0x7f && c != '\\') {
			out[o++] = c;
			continue;
		}
		if (o + 5 >= outlen)
			break;
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 15];
	}
	out[o] = '\0';
}
