/* The daemon's end of the agent channel: a non-blocking unix socket to
 * QEMU's virtio-serial chardev, framed as in docs/agent-protocol.md.
 * What the frames mean is the sandbox's business, not this file's. */
#ifndef SBXFS_CHANNEL_H
#define SBXFS_CHANNEL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct channel;

/* Called once per received frame; hdr is borrowed, payload too. */
typedef void (*channel_frame_fn)(void *ctx, json_t *hdr, const uint8_t *payload,
				 size_t n);

int channel_connect(const char *path, channel_frame_fn fn, void *ctx,
		    struct channel **out);
void channel_close(struct channel *ch);
int channel_fd(const struct channel *ch);

/* Queues one frame; hdr is stolen.  Returns -EMSGSIZE when the payload
 * is over FRAME_PAYLOAD_MAX. */
int channel_send(struct channel *ch, json_t *hdr, const void *payload,
		 size_t n);
/* Bytes queued and not yet written. */
size_t channel_queued(const struct channel *ch);

/* Reads and dispatches; -EPIPE at end of stream, -EPROTO on a bad frame. */
int channel_read(struct channel *ch);
/* Writes queued bytes; returns 1 while some are still queued. */
int channel_flush(struct channel *ch);

#endif
