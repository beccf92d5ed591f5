/* A file that only grows (job output, the event log), kept on disk under
 * the state folder, with the FUSE reads and polls that wait for it to
 * grow.  A read at the end is parked here and answered when bytes arrive,
 * when the stream ends (EOF) or when the reader is interrupted (EINTR). */
#ifndef SBXFS_SPOOL_H
#define SBXFS_SPOOL_H

#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>

struct waiter;

struct spool {
	int fd;
	uint64_t size;
	bool ended;		/* no more bytes will come: readers get EOF */
	struct waiter *waiters;
	struct fuse_pollhandle **polls;
	size_t npolls;
};

/* Opens (creating if needed) path for appending; size starts as the
 * file's current size, so a restarted daemon continues an old log. */
int spool_open(struct spool *s, const char *path);
/* Answers every parked reader with EOF, drops poll handles, closes. */
void spool_fini(struct spool *s);

int spool_append(struct spool *s, const void *data, size_t n);
/* The stream is over: parked readers get what is left, then EOF. */
void spool_end(struct spool *s);

/* Serves a FUSE read at off; replies now or parks the request.  *pos is
 * the reader's position, kept for poll; it must outlive the parked read
 * (the kernel holds the file open while its read is pending). */
void spool_read(struct spool *s, fuse_req_t req, size_t size, off_t off,
		uint64_t *pos);
void spool_poll(struct spool *s, fuse_req_t req, struct fuse_pollhandle *ph,
		uint64_t pos);

/* Replies EINTR to reads interrupted since the last call.  libfuse calls
 * the interrupt callback with the request locked, where replying is not
 * allowed, so the reply waits until the loop is back in control. */
void spool_flush_interrupts(void);

#endif
