/* The TAP output every C unit test prints: one "ok N - what" line per
 * check, the plan at the end, and an exit status prove reads. */
#ifndef SBXFS_TAP_H
#define SBXFS_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int tests, failures;

static __attribute__((format(printf, 2, 3), unused))
bool ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	tests++;
	if (!cond)
		failures++;
	printf("%sok %d - ", cond ? "" : "not ", tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	return cond;
}

/* Prints the plan; main returns this. */
static __attribute__((unused)) int tap_done(void)
{
	printf("1..%d\n", tests);
	return failures ? 1 : 0;
}

#endif
