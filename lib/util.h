/* Small helpers every part of sbxfs uses: scoped cleanup of locals and
 * handing ownership on.  Nothing here allocates on its own. */
#ifndef SBXFS_UTIL_H
#define SBXFS_UTIL_H

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;

		close(*fd);
		errno = saved;
	}
}

#define autofree __attribute__((cleanup(freep)))
#define autoclose __attribute__((cleanup(closep)))

static inline void *take_ptr_(void **p)
{
	void *v = *p;

	*p = NULL;
	return v;
}
#define take_ptr(pp) take_ptr_((void **)(pp))

static inline int take_fd(int *fd)
{
	int v = *fd;

	*fd = -1;
	return v;
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
