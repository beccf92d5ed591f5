/* Parsing byte counts with an optional K, M or G suffix. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "size.h"

int size_parse(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (*end)
		return -EINVAL;
	if (v > (UINT64_MAX >> 1) >> shift)
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}
