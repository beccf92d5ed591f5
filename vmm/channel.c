/* Buffers both ways; a frame is dispatched only once it is whole.  The
 * handler may close the channel (a sandbox that crashes), so reading
 * stops as soon as that is noticed. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "channel.h"
#include "frame.h"
#include "unixsock.h"

struct channel {
	int fd;
	struct buf in, out;
	channel_frame_fn fn;
	void *ctx;
	bool *closed_flag;	/* set when closed inside a handler */
};

int channel_fd(const struct channel *ch)
{
	return ch->fd;
}

int channel_connect(const char *path, channel_frame_fn fn, void *ctx,
		    struct channel **out)
{
	struct channel *ch;
	int fd = unix_connect(path);

	if (fd < 0)
		return fd;
	ch = calloc(1, sizeof(*ch));
	if (!ch) {
		close(fd);
		return -ENOMEM;
	}
	ch->fd = fd;
	ch->fn = fn;
	ch->ctx = ctx;
	*out = ch;
	return 0;
}

void channel_close(struct channel *ch)
{
	if (!ch)
		return;
	if (ch->closed_flag)
		*ch->closed_flag = true;
	close(ch->fd);
	buf_free(&ch->in);
	buf_free(&ch->out);
	free(ch);
}

int channel_send(struct channel *ch, json_t *hdr, const void *payload,
		 size_t n)
{
	int r;

	if (!hdr)
		return -ENOMEM;
	if (n > FRAME_PAYLOAD_MAX) {
		json_decref(hdr);
		return -EMSGSIZE;
	}
	r = frame_encode(&ch->out, hdr, payload, n);
	json_decref(hdr);
	if (r < 0)
		return r;
	r = channel_flush(ch);
	return r < 0 ? r : 0;
}

size_t channel_queued(const struct channel *ch)
{
	return buf_used(&ch->out);
}

int channel_read(struct channel *ch)
{
	uint8_t chunk[65536];
	ssize_t n = read(ch->fd, chunk, sizeof(chunk));
	bool closed = false;
	int r;

	if (n == 0)
		return -EPIPE;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (buf_append(&ch->in, chunk, n) < 0)
		return -ENOMEM;

	ch->closed_flag = &closed;
	for (;;) {
		json_t *hdr;
		uint8_t *payload;
		size_t len;

		r = frame_decode(&ch->in, &hdr, &payload, &len);
		if (r <= 0)
			break;
		ch->fn(ch->ctx, hdr, payload, len);
		json_decref(hdr);
		free(payload);
		if (closed)
			return 0;
	}
	ch->closed_flag = NULL;
	return r;
}

int channel_flush(struct channel *ch)
{
	return buf_write_fd(&ch->out, ch->fd);
}
