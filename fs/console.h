/* A sandbox's serial console: QEMU serves it on console.sock, the daemon
 * reads it into console.log and keeps at most a cap of it, so a guest
 * that floods its console cannot fill the host's disk.  The last bytes
 * are kept in memory too, for telling why a guest died. */
#ifndef SBXFS_CONSOLE_H
#define SBXFS_CONSOLE_H

#include <stdbool.h>
#include <stdint.h>

#include "spool.h"

#define CONSOLE_TAIL 4096

struct loop_src;

struct console {
	int fd;			/* the socket, -1 when not connected */
	struct loop_src *src;
	struct spool log;
	uint64_t cap, seen;
	bool capped;
	char tail[CONSOLE_TAIL];	/* ring of the last bytes */
	size_t tail_pos;
	bool tail_full;
};

/* Opens (appending) path as the log; cap 0 means no cap. */
int console_open(struct console *c, const char *path, uint64_t cap);
/* Connects to QEMU's socket; -ENOENT/-ECONNREFUSED until it listens. */
int console_connect(struct console *c, const char *sock);
bool console_connected(const struct console *c);
/* Reads what is left, then closes the socket (the VM is gone); a capped
 * log then gets the tail it dropped, after a marker line. */
void console_disconnect(struct console *c);
void console_fini(struct console *c);
/* Whether the tail holds text (a panic message, say). */
bool console_tail_has(const struct console *c, const char *text);

#endif
