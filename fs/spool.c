/* Growing files and their parked readers.  All of this runs on the one
 * loop thread, including libfuse's interrupt callback, so the lists need
 * no locks; they need care only because that callback may not reply. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"

struct waiter {
	fuse_req_t req;
	size_t size;
	off_t off;
	uint64_t *pos;
	struct waiter *next, **pprev;
};

static struct waiter *interrupted;

static void waiter_unlink(struct waiter *w)
{
	*w->pprev = w->next;
	if (w->next)
		w->next->pprev = w->pprev;
}

static void waiter_push(struct waiter **head, struct waiter *w)
{
	w->next = *head;
	if (*head)
		(*head)->pprev = &w->next;
	w->pprev = head;
	*head = w;
}

int spool_open(struct spool *s, const char *path)
{
	struct stat st;

	*s = (struct spool){ .fd = -1 };
	s->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (s->fd < 0)
		return -errno;
	if (fstat(s->fd, &st) < 0) {
		int e = -errno;

		close(s->fd);
		s->fd = -1;
		return e;
	}
	s->size = st.st_size;
	return 0;
}

/* Answers one parked read if it can be answered; returns whether it was. */
static bool try_answer(struct spool *s, fuse_req_t req, size_t size, off_t off,
		       uint64_t *pos)
{
	char *buf;
	ssize_t n;

	if ((uint64_t)off >= s->size) {
		if (!s->ended)
			return false;
		fuse_reply_buf(req, NULL, 0);
		return true;
	}
	if (size > s->size - off)
		size = s->size - off;
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return true;
	}
	n = pread(s->fd, buf, size, off);
	if (n < 0) {
		fuse_reply_err(req, errno);
	} else {
		*pos = off + n;
		fuse_reply_buf(req, buf, n);
	}
	free(buf);
	return true;
}

static void wake(struct spool *s)
{
	struct waiter *w = s->waiters, *next;

	for (; w; w = next) {
		next = w->next;
		if (try_answer(s, w->req, w->size, w->off, w->pos)) {
			waiter_unlink(w);
			free(w);
		}
	}
	for (size_t i = 0; i < s->npolls; i++) {
		fuse_lowlevel_notify_poll(s->polls[i]);
		fuse_pollhandle_destroy(s->polls[i]);
	}
	s->npolls = 0;
}

int spool_append(struct spool *s, const void *data, size_t n)
{
	const char *p = data;

	while (n) {
		ssize_t w = write(s->fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= w;
		s->size += w;
	}
	wake(s);
	return 0;
}

void spool_end(struct spool *s)
{
	s->ended = true;
	wake(s);
}

void spool_fini(struct spool *s)
{
	if (s->fd < 0 && !s->waiters && !s->npolls)
		return;
	spool_end(s);
	free(s->polls);
	s->polls = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static void on_interrupt(fuse_req_t req, void *data)
{
	struct waiter *w = data;

	waiter_unlink(w);
	waiter_push(&interrupted, w);
}

void spool_read(struct spool *s, fuse_req_t req, size_t size, off_t off,
		uint64_t *pos)
{
	struct waiter *w;

	if (try_answer(s, req, size, off, pos))
		return;
	w = calloc(1, sizeof(*w));
	if (!w) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	*w = (struct waiter){ .req = req, .size = size, .off = off, .pos = pos };
	waiter_push(&s->waiters, w);
	/* May call on_interrupt at once if the read was already interrupted. */
	fuse_req_interrupt_func(req, on_interrupt, w);
}

void spool_poll(struct spool *s, fuse_req_t req, struct fuse_pollhandle *ph,
		uint64_t pos)
{
	unsigned revents = (pos < s->size || s->ended) ? POLLIN : 0;

	if (ph) {
		struct fuse_pollhandle **p;

		if (revents) {
			fuse_pollhandle_destroy(ph);
		} else {
			p = realloc(s->polls, (s->npolls + 1) * sizeof(*p));
			if (!p) {
				fuse_pollhandle_destroy(ph);
				fuse_reply_err(req, ENOMEM);
				return;
			}
			s->polls = p;
			s->polls[s->npolls++] = ph;
		}
	}
	fuse_reply_poll(req, revents);
}

void spool_flush_interrupts(void)
{
	while (interrupted) {
		struct waiter *w = interrupted;

		waiter_unlink(w);
		fuse_reply_err(w->req, EINTR);
		free(w);
	}
}
