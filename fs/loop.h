/* The daemon's one event loop: epoll over every fd (FUSE, QMP, agent
 * channels, pidfds, signals) plus one-shot timers.  Single-threaded, so
 * handlers never lock; a handler must not block. */
#ifndef SBXFS_LOOP_H
#define SBXFS_LOOP_H

#include <stdint.h>

struct loop_src;
struct loop_timer;

/* events are EPOLLIN/EPOLLOUT/... as returned by epoll. */
typedef void (*loop_fd_fn)(void *data, uint32_t events);
typedef void (*loop_timer_fn)(void *data);

int loop_init(void);
void loop_fini(void);

/* Watches fd for events.  Returns NULL on failure (errno set). */
struct loop_src *loop_add(int fd, uint32_t events, loop_fd_fn fn, void *data);
int loop_mod(struct loop_src *s, uint32_t events);
/* Stops watching; safe from inside the source's own handler.  Does not
 * close the fd. NULL is ignored. */
void loop_del(struct loop_src *s);

/* Calls fn once after ms milliseconds. */
struct loop_timer *loop_timer_add(unsigned ms, loop_timer_fn fn, void *data);
/* Cancels a timer that has not fired; NULL is ignored. */
void loop_timer_del(struct loop_timer *t);

/* Runs until loop_quit(); returns its code. */
int loop_run(void);
void loop_quit(int code);

uint64_t loop_now_ms(void);

#endif
