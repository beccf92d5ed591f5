/* Logger sink: stderr with a level tag, or syslog.  Level filtering
 * happens here so callers never test the level themselves. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static enum log_level max_level = LOG_LVL_INFO;
static bool to_syslog;
static const char *tags[] = { "error", "warning", "info", "debug" };
static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

void log_init(const char *ident, enum log_level max, bool use_syslog)
{
	max_level = max;
	to_syslog = use_syslog;
	if (use_syslog)
		openlog(ident, LOG_PID, LOG_DAEMON);
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (unsigned i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		if (strcmp(s, tags[i]) == 0 ||
		    (i == LOG_LVL_ERR && strcmp(s, "err") == 0) ||
		    (i == LOG_LVL_WARN && strcmp(s, "warn") == 0)) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (lvl > max_level)
		return;
	va_start(ap, fmt);
	if (to_syslog) {
		vsyslog(prio[lvl], fmt, ap);
	} else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		fprintf(stderr, "sbxfs %02d:%02d:%02d.%03ld %s: ", tm.tm_hour,
			tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, tags[lvl]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}
