/* A QMP client for one VM: commands carry an id and their replies are
 * matched back through a table of pending requests, so replies and
 * asynchronous events (STOP, SHUTDOWN, ...) never get mixed up.  The
 * socket is non-blocking; the owner polls qmp_fd() and calls qmp_read()
 * and qmp_flush(). */
#ifndef SBXFS_QMP_H
#define SBXFS_QMP_H

#include <jansson.h>
#include <stdbool.h>

struct qmp;

/* ret is the "return" value, or NULL and err the "error" object. */
typedef void (*qmp_reply_fn)(void *data, json_t *ret, json_t *err);
typedef void (*qmp_event_fn)(void *ctx, const char *event, json_t *data);

/* Connects to the unix socket at path and sends qmp_capabilities.
 * -ENOENT or -ECONNREFUSED while QEMU has not made the socket yet. */
int qmp_connect(const char *path, qmp_event_fn on_event, void *ctx,
		struct qmp **out);
/* Frees the client; pending replies are called with err = NULL and
 * ret = NULL (the VM went away).  NULL is ignored. */
void qmp_close(struct qmp *q);
int qmp_fd(const struct qmp *q);

/* Queues a command; args may be NULL, and is stolen.  fn may be NULL. */
int qmp_cmd(struct qmp *q, const char *cmd, json_t *args, qmp_reply_fn fn,
	    void *data);

/* Reads what is there and dispatches it.  -EPIPE at end of stream. */
int qmp_read(struct qmp *q);
/* Writes queued bytes; returns 1 while some are still queued. */
int qmp_flush(struct qmp *q);

#endif
