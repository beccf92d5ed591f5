/* x-ignore-shared makes QEMU skip RAM blocks backed by a shared file: a
 * template's snapshot is then its device state alone (hundreds of KB),
 * and a sandbox's private, copy-on-write RAM is still saved in full.
 * "events" turns on the MIGRATION events that report the end. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

static json_t *caps(void)
{
	return json_pack("{s:[{s:s, s:b}, {s:s, s:b}]}", "capabilities",
			 "capability", "x-ignore-shared", "state", 1,
			 "capability", "events", "state", 1);
}

/* exec: runs through /bin/sh, so the path is quoted for it. */
static char *exec_uri(const char *prefix, const char *path)
{
	size_t n = strlen(path);
	char *q = malloc(4 * n + 3), *p = q, *uri;

	if (!q)
		return NULL;
	*p++ = '\'';
	for (size_t i = 0; i < n; i++) {
		if (path[i] == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else {
			*p++ = path[i];
		}
	}
	*p++ = '\'';
	*p = '\0';
	if (asprintf(&uri, "%s%s", prefix, q) < 0)
		uri = NULL;
	free(q);
	return uri;
}

static int run(struct qmp *q, const char *cmd, const char *prefix,
	       const char *path, qmp_reply_fn fn, void *data)
{
	char *uri = exec_uri(prefix, path);
	int r;

	if (!uri)
		return -ENOMEM;
	r = qmp_cmd(q, "migrate-set-capabilities", caps(), NULL, NULL);
	if (r == 0)
		r = qmp_cmd(q, cmd, json_pack("{s:s}", "uri", uri), fn, data);
	free(uri);
	return r;
}

int snapshot_save(struct qmp *q, const char *path, qmp_reply_fn fn,
		  void *data)
{
	return run(q, "migrate", "exec:cat > ", path, fn, data);
}

int snapshot_load(struct qmp *q, const char *path, qmp_reply_fn fn,
		  void *data)
{
	return run(q, "migrate-incoming", "exec:cat ", path, fn, data);
}
