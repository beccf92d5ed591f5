/* The wire format between the daemon and the guest agent: length-prefixed
 * frames, each a JSON header plus raw payload bytes.  Shared by both ends;
 * it knows nothing of jobs, only of bytes.  See docs/agent-protocol.md. */
#ifndef SBXFS_FRAME_H
#define SBXFS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Largest payload a sender may put in one frame, and the largest whole
 * frame a receiver accepts; anything bigger is a protocol error. */
#define FRAME_PAYLOAD_MAX (64 * 1024)
#define FRAME_HEADER_MAX (16 * 1024)
#define FRAME_MAX (4 + 2 + FRAME_HEADER_MAX + FRAME_PAYLOAD_MAX)

/* A growable byte queue: data lives in [off, len) of mem. */
struct buf {
	uint8_t *mem;
	size_t off, len, cap;
};

void buf_free(struct buf *b);
size_t buf_used(const struct buf *b);
const uint8_t *buf_data(const struct buf *b);
int buf_append(struct buf *b, const void *data, size_t n);
void buf_consume(struct buf *b, size_t n);
/* Writes what b holds to a non-blocking fd: 0 when all is written, 1
 * while some is left (EAGAIN), or -errno. */
int buf_write_fd(struct buf *b, int fd);

/* Appends one frame to out.  hdr must be a JSON object; payload may be
 * NULL when n is 0.  Returns 0 or -EINVAL (header too big, payload too
 * big) or -ENOMEM.  Does not steal hdr. */
int frame_encode(struct buf *out, json_t *hdr, const void *payload, size_t n);

/* Takes one whole frame off the front of in.  Returns 1 and sets
 * *hdr_out (a new reference, an object) and *payload_out and *n_out (pointing
 * into a copy owned by the caller, free() it; NULL when n is 0); returns
 * 0 when in holds no whole frame yet; returns -EPROTO on a malformed
 * frame (bad length, header not a JSON object), after which the stream
 * cannot be resynchronised and the caller must drop the connection. */
int frame_decode(struct buf *in, json_t **hdr_out, uint8_t **payload_out,
		 size_t *n_out);

#endif
