/* Warm-start templates, one per (image, shape): a RAM file on tmpfs and
 * the device state QEMU saved beside it.  This file only knows where they
 * are and whether they still match the image; building one is the
 * sandbox lifecycle's job. */
#ifndef SBXFS_TEMPLATE_H
#define SBXFS_TEMPLATE_H

#include <limits.h>
#include <stdbool.h>

enum tpl_state { TPL_NONE, TPL_BUILDING, TPL_READY };

struct template {
	char image[64], shape[32];
	char ram[PATH_MAX + 128];	/* guest RAM, mapped by every sandbox */
	char dev[PATH_MAX + 128];	/* QEMU device state (x-ignore-shared) */
	char stamp[2 * PATH_MAX + 256];	/* what the image was when it was built */
	enum tpl_state state;
	struct template *next;
};

/* ram_dir holds RAM files (tmpfs); state_dir the device state.  The
 * kernel and initrd paths make the stamp: a template is rebuilt when
 * either file changes. */
void template_init(const char *ram_dir, const char *state_dir);
struct template *template_get(const char *image, const char *shape,
			      const char *kernel, const char *initrd);
/* The snapshot at dev is complete: record the stamp. */
int template_done(struct template *t);
/* Throws away a template that failed or went stale. */
void template_drop(struct template *t);
/* Removes every template's files; for daemon shutdown. */
void template_remove_all(void);

#endif
