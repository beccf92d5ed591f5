/* Applying a "setup" message (docs/agent-protocol.md).  Each field is
 * optional, so the daemon sends only what changed: after a resume only
 * the clock. */
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "setup.h"
#include "util.h"

#define ENTROPY_MAX 512

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Mixing bytes in is not enough: the CRNG of a cloned guest keeps
 * producing the template's stream until its next reseed, minutes away.
 * RNDRESEEDCRNG forces that reseed now. */
static int add_entropy(const char *hex, char *err, size_t errlen)
{
	size_t n = strlen(hex) / 2;
	struct rand_pool_info *info;
	autoclose int fd = -1;
	int r = 0;

	if (n == 0 || n > ENTROPY_MAX || strlen(hex) % 2) {
		snprintf(err, errlen, "setup: entropy must be 2..%d hex digits",
			 2 * ENTROPY_MAX);
		return -EINVAL;
	}
	info = calloc(1, sizeof(*info) + n);
	if (!info)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			snprintf(err, errlen, "setup: entropy is not hex");
			free(info);
			return -EINVAL;
		}
		((unsigned char *)info->buf)[i] = hi << 4 | lo;
	}
	info->entropy_count = n * 8;
	info->buf_size = n;
	fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, RNDADDENTROPY, info) < 0 ||
	    ioctl(fd, RNDRESEEDCRNG) < 0) {
		r = -errno;
		snprintf(err, errlen, "setup: entropy: %s", strerror(errno));
	}
	free(info);
	return r;
}

static int set_clock(json_int_t ns, char *err, size_t errlen)
{
	struct timespec ts = { .tv_sec = ns / 1000000000,
			       .tv_nsec = ns % 1000000000 };

	if (ns <= 0 || clock_settime(CLOCK_REALTIME, &ts) < 0) {
		snprintf(err, errlen, "setup: clock: %s",
			 ns <= 0 ? "time_ns must be positive" : strerror(errno));
		return ns <= 0 ? -EINVAL : -errno;
	}
	return 0;
}

int setup_apply(json_t *h, char *err, size_t errlen)
{
	const char *host = json_string_value(json_object_get(h, "hostname"));
	const char *ent = json_string_value(json_object_get(h, "entropy"));
	json_t *ns = json_object_get(h, "time_ns");
	int r;

	if (ent) {
		r = add_entropy(ent, err, errlen);
		if (r < 0)
			return r;
	}
	if (json_is_integer(ns)) {
		r = set_clock(json_integer_value(ns), err, errlen);
		if (r < 0)
			return r;
	}
	if (host && sethostname(host, strlen(host)) < 0) {
		snprintf(err, errlen, "setup: hostname: %s", strerror(errno));
		return -errno;
	}
	if (json_is_object(json_object_get(h, "net")))
		return net_apply(json_object_get(h, "net"), err, errlen);
	return 0;
}
