/* epoll plus a sorted list of timers.  Deleted sources are only marked
 * and freed after the current batch of events, because a handler may
 * delete a source whose event is still queued in the same batch. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

struct loop_src {
	int fd;
	loop_fd_fn fn;
	void *data;
	bool dead;
	struct loop_src *next_dead;
};

struct loop_timer {
	uint64_t due;
	loop_timer_fn fn;
	void *data;
	struct loop_timer *next;
};

static int epfd = -1;
static struct loop_src *dead_list;
static struct loop_timer *timers;
static bool quitting;
static int quit_code;

uint64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int loop_init(void)
{
	epfd = epoll_create1(EPOLL_CLOEXEC);
	return epfd < 0 ? -errno : 0;
}

static void reap_dead(void)
{
	while (dead_list) {
		struct loop_src *s = dead_list;

		dead_list = s->next_dead;
		free(s);
	}
}

void loop_fini(void)
{
	while (timers)
		loop_timer_del(timers);
	reap_dead();
	if (epfd >= 0)
		close(epfd);
	epfd = -1;
}

struct loop_src *loop_add(int fd, uint32_t events, loop_fd_fn fn, void *data)
{
	struct loop_src *s = calloc(1, sizeof(*s));
	struct epoll_event ev = { .events = events };

	if (!s)
		return NULL;
	s->fd = fd;
	s->fn = fn;
	s->data = data;
	ev.data.ptr = s;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;

		free(s);
		errno = e;
		return NULL;
	}
	return s;
}

int loop_mod(struct loop_src *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	return epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev) < 0 ? -errno : 0;
}

void loop_del(struct loop_src *s)
{
	if (!s || s->dead)
		return;
	epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
	s->dead = true;
	s->next_dead = dead_list;
	dead_list = s;
}

struct loop_timer *loop_timer_add(unsigned ms, loop_timer_fn fn, void *data)
{
	struct loop_timer *t = calloc(1, sizeof(*t)), **p;

	if (!t)
		return NULL;
	t->due = loop_now_ms() + ms;
	t->fn = fn;
	t->data = data;
	for (p = &timers; *p && (*p)->due <= t->due; p = &(*p)->next)
		;
	t->next = *p;
	*p = t;
	return t;
}

void loop_timer_del(struct loop_timer *t)
{
	struct loop_timer **p;

	if (!t)
		return;
	for (p = &timers; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			free(t);
			return;
		}
	}
}

static int next_timeout(void)
{
	uint64_t now;

	if (!timers)
		return -1;
	now = loop_now_ms();
	return timers->due <= now ? 0 : (int)(timers->due - now);
}

static void run_timers(void)
{
	uint64_t now = loop_now_ms();

	while (timers && timers->due <= now) {
		struct loop_timer *t = timers;

		timers = t->next;
		t->fn(t->data);
		free(t);
	}
}

void loop_quit(int code)
{
	quitting = true;
	quit_code = code;
}

int loop_run(void)
{
	struct epoll_event evs[64];

	while (!quitting) {
		int n = epoll_wait(epfd, evs, 64, next_timeout());

		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++) {
			struct loop_src *s = evs[i].data.ptr;

			if (!s->dead)
				s->fn(s->data, evs[i].events);
		}
		reap_dead();
		run_timers();
	}
	return quit_code;
}
