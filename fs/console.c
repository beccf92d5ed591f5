/* Reading the guest's console into a capped log.  Reads are bounded per
 * wake-up so a flooding guest shares the loop with the others. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "console.h"
#include "loop.h"
#include "unixsock.h"

#define READS_PER_WAKE 4

int console_open(struct console *c, const char *path, uint64_t cap)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->cap = cap;
	return spool_open(&c->log, path);
}

bool console_connected(const struct console *c)
{
	return c->fd >= 0;
}

static void tail_add(struct console *c, const char *p, size_t n)
{
	if (n >= CONSOLE_TAIL) {
		memcpy(c->tail, p + n - CONSOLE_TAIL, CONSOLE_TAIL);
		c->tail_pos = 0;
		c->tail_full = true;
		return;
	}
	while (n) {
		size_t k = CONSOLE_TAIL - c->tail_pos;

		if (k > n)
			k = n;
		memcpy(c->tail + c->tail_pos, p, k);
		c->tail_pos = (c->tail_pos + k) % CONSOLE_TAIL;
		c->tail_full |= c->tail_pos == 0;
		p += k;
		n -= k;
	}
}

static void take(struct console *c, const char *p, size_t n)
{
	uint64_t room = c->cap > c->log.size ? c->cap - c->log.size : 0;
	char note[128];

	tail_add(c, p, n);
	c->seen += n;
	if (c->capped)
		return;
	if (c->cap && n > room) {
		spool_append(&c->log, p, room);
		snprintf(note, sizeof(note), "\n[sbxfs: console log capped at "
			 "%llu bytes; later output is dropped]\n",
			 (unsigned long long)c->cap);
		spool_append(&c->log, note, strlen(note));
		c->capped = true;
		return;
	}
	spool_append(&c->log, p, n);
}

/* Returns -1 once the socket is at its end. */
static int drain(struct console *c, int max_reads)
{
	char buf[65536];

	for (int i = 0; i < max_reads; i++) {
		ssize_t n = read(c->fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		take(c, buf, n);
	}
	return 0;
}

static void on_console(void *data, uint32_t events)
{
	struct console *c = data;

	if (drain(c, READS_PER_WAKE) < 0) {
		loop_del(c->src);
		c->src = NULL;
		close(c->fd);
		c->fd = -1;
	}
}

int console_connect(struct console *c, const char *sock)
{
	int fd = unix_connect(sock);

	if (fd < 0)
		return fd;
	c->fd = fd;
	c->src = loop_add(fd, EPOLLIN, on_console, c);
	if (!c->src) {
		close(fd);
		c->fd = -1;
		return -ENOMEM;
	}
	return 0;
}

void console_disconnect(struct console *c)
{
	char note[128];

	if (c->fd >= 0) {
		drain(c, 64);
		loop_del(c->src);
		c->src = NULL;
		close(c->fd);
		c->fd = -1;
	}
	if (!c->capped || c->log.fd < 0)
		return;
	/* The end is what tells why a guest died: keep it after all. */
	snprintf(note, sizeof(note), "[sbxfs: %llu bytes in all; the last "
		 "%d before the end follow]\n", (unsigned long long)c->seen,
		 CONSOLE_TAIL);
	spool_append(&c->log, note, strlen(note));
	if (c->tail_full)
		spool_append(&c->log, c->tail + c->tail_pos,
			     CONSOLE_TAIL - c->tail_pos);
	spool_append(&c->log, c->tail, c->tail_pos);
}

void console_fini(struct console *c)
{
	console_disconnect(c);
	spool_fini(&c->log);
}

bool console_tail_has(const struct console *c, const char *text)
{
	char flat[CONSOLE_TAIL + 1];
	size_t n = 0;

	if (c->tail_full) {
		memcpy(flat, c->tail + c->tail_pos, CONSOLE_TAIL - c->tail_pos);
		n = CONSOLE_TAIL - c->tail_pos;
	}
	memcpy(flat + n, c->tail, c->tail_pos);
	n += c->tail_pos;
	flat[n] = '\0';
	/* Console bytes may hold NULs; search each stretch between them. */
	for (size_t i = 0; i < n; i += strlen(flat + i) + 1)
		if (strstr(flat + i, text))
			return true;
	return false;
}
