/* Event lines are formatted here and nowhere else, so every type has the
 * same "SEQ UNIX_MS TYPE" prefix the contract promises. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evlog.h"

/* The last SEQ in an existing log: read its tail only. */
static unsigned long long last_seq(int fd, uint64_t size)
{
	char buf[4096];
	uint64_t start = size > sizeof(buf) - 1 ? size - (sizeof(buf) - 1) : 0;
	ssize_t n = pread(fd, buf, size - start, start);
	char *line;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	line = strrchr(buf, '\n');
	return strtoull(line ? line + 1 : buf, NULL, 10);
}

int evlog_open(struct evlog *ev, const char *path)
{
	int r = spool_open(&ev->sp, path);

	if (r < 0)
		return r;
	ev->seq = last_seq(ev->sp.fd, ev->sp.size);
	return 0;
}

void evlog_fini(struct evlog *ev)
{
	spool_fini(&ev->sp);
}

int evlog_add(struct evlog *ev, const char *type, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(line, sizeof(line), "%llu %lld %s", ev->seq + 1,
		     (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, type);
	if (fmt && n < (int)sizeof(line) - 2) {
		va_list ap;

		line[n++] = ' ';
		va_start(ap, fmt);
		n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		va_end(ap);
	}
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	ev->seq++;
	return spool_append(&ev->sp, line, n);
}
