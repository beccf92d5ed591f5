/* QMP is newline-delimited JSON.  Replies are matched on "id", which we
 * set to a counter; QEMU's greeting and events carry no id. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "qmp.h"
#include "unixsock.h"
#include "util.h"

struct pending {
	unsigned long id;
	qmp_reply_fn fn;
	void *data;
	struct pending *next;
};

struct qmp {
	int fd;
	struct buf in, out;
	unsigned long next_id;
	struct pending *pending;
	qmp_event_fn on_event;
	void *ctx;
};

int qmp_fd(const struct qmp *q)
{
	return q->fd;
}

int qmp_connect(const char *path, qmp_event_fn on_event, void *ctx,
		struct qmp **out)
{
	struct qmp *q;
	int fd = unix_connect(path), r;

	if (fd < 0)
		return fd;
	q = calloc(1, sizeof(*q));
	if (!q) {
		close(fd);
		return -ENOMEM;
	}
	q->fd = fd;
	q->next_id = 1;
	q->on_event = on_event;
	q->ctx = ctx;
	r = qmp_cmd(q, "qmp_capabilities", NULL, NULL, NULL);
	if (r < 0) {
		qmp_close(q);
		return r;
	}
	*out = q;
	return 0;
}

void qmp_close(struct qmp *q)
{
	if (!q)
		return;
	while (q->pending) {
		struct pending *p = q->pending;

		q->pending = p->next;
		if (p->fn)
			p->fn(p->data, NULL, NULL);
		free(p);
	}
	close(q->fd);
	buf_free(&q->in);
	buf_free(&q->out);
	free(q);
}

int qmp_cmd(struct qmp *q, const char *cmd, json_t *args, qmp_reply_fn fn,
	    void *data)
{
	json_t *msg = json_pack("{s:s, s:I}", "execute", cmd, "id",
				(json_int_t)q->next_id);
	struct pending *p = calloc(1, sizeof(*p));
	char *text = NULL;
	int r = -ENOMEM;

	if (!msg || !p)
		goto out;
	if (args && json_object_set(msg, "arguments", args) < 0)
		goto out;
	text = json_dumps(msg, JSON_COMPACT);
	if (!text)
		goto out;
	r = buf_append(&q->out, text, strlen(text));
	if (r == 0)
		r = buf_append(&q->out, "\n", 1);
	if (r < 0)
		goto out;
	*p = (struct pending){ .id = q->next_id++, .fn = fn, .data = data,
			       .next = q->pending };
	q->pending = take_ptr(&p);
	qmp_flush(q);
out:
	free(text);
	free(p);
	json_decref(args);
	json_decref(msg);
	return r;
}

static void dispatch_reply(struct qmp *q, json_t *msg, json_t *id)
{
	struct pending **pp, *p;

	for (pp = &q->pending; (p = *pp); pp = &p->next) {
		if ((json_int_t)p->id != json_integer_value(id))
			continue;
		*pp = p->next;
		if (p->fn)
			p->fn(p->data, json_object_get(msg, "return"),
			      json_object_get(msg, "error"));
		free(p);
		return;
	}
}

static void dispatch(struct qmp *q, const char *line, size_t n)
{
	json_t *msg = json_loadb(line, n, 0, NULL);
	json_t *id, *ev;

	if (!json_is_object(msg)) {
		json_decref(msg);
		return;
	}
	id = json_object_get(msg, "id");
	ev = json_object_get(msg, "event");
	if (json_is_integer(id))
		dispatch_reply(q, msg, id);
	else if (json_is_string(ev) && q->on_event)
		q->on_event(q->ctx, json_string_value(ev),
			    json_object_get(msg, "data"));
	json_decref(msg);
}

int qmp_read(struct qmp *q)
{
	char chunk[16384];
	ssize_t n = read(q->fd, chunk, sizeof(chunk));
	const uint8_t *d, *nl;

	if (n == 0)
		return -EPIPE;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (buf_append(&q->in, chunk, n) < 0)
		return -ENOMEM;
	while ((d = buf_data(&q->in)) &&
	       (nl = memchr(d, '\n', buf_used(&q->in)))) {
		size_t len = nl - d;

		dispatch(q, (const char *)d, len);
		buf_consume(&q->in, len + 1);
	}
	/* QEMU never sends a line this long; a stream that does is broken. */
	return buf_used(&q->in) > (1 << 20) ? -EPROTO : 0;
}

int qmp_flush(struct qmp *q)
{
	return buf_write_fd(&q->out, q->fd);
}
