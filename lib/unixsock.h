/* Non-blocking connects to unix sockets. */
#ifndef SBXFS_UNIXSOCK_H
#define SBXFS_UNIXSOCK_H

/* Returns a non-blocking, close-on-exec fd, or -errno (-ENOENT or
 * -ECONNREFUSED while nobody listens at path yet). */
int unix_connect(const char *path);

#endif
