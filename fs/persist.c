/* Mapping between struct sandbox and its state.json.  Times are
 * CLOCK_MONOTONIC milliseconds, which every process on one boot shares,
 * so uptime survives a daemon restart (not a host reboot: the folder of
 * a sandbox from an earlier boot has no VM left to attach to anyway). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "persist.h"
#include "sandbox.h"
#include "util.h"

static json_t *job_json(const struct job *j)
{
	return json_pack("{s:I, s:s, s:i, s:i, s:i, s:s, s:I, s:I, s:b}",
			 "n", (json_int_t)j->n, "cmd", j->cmd,
			 "state", (int)j->state, "code", j->code, "sig", j->sig,
			 "why", j->why, "acked_out", (json_int_t)j->acked_out,
			 "acked_err", (json_int_t)j->acked_err,
			 "stdin_closed", j->stdin_closed);
}

static json_t *sandbox_json(const struct sandbox *sb)
{
	json_t *jobs = json_array();
	json_t *o;

	for (size_t i = 0; jobs && i < sb->njobs; i++)
		if (sb->jobs[i])
			json_array_append_new(jobs, job_json(sb->jobs[i]));
	o = json_pack("{s:i, s:s, s:s, s:s, s:i, s:s, s:s, s:I, s:I, s:I, "
		      "s:I, s:I, s:b, s:b, s:o}",
		      "version", 1, "name", sb->name, "shape", sb->shape,
		      "image", sb->image, "state", (int)sb->state,
		      "reason", sb->reason, "error", sb->error,
		      "pid", (json_int_t)sb->pid,
		      "started_ms", (json_int_t)sb->started_ms,
		      "paused_ms", (json_int_t)sb->paused_ms,
		      "paused_at", (json_int_t)sb->paused_at,
		      "ended_ms", (json_int_t)sb->ended_ms,
		      "suspended", sb->suspended, "saved", sb->saved,
		      "jobs", jobs);
	return o;
}

int persist_save(const struct sandbox *sb)
{
	char tmp[PATH_MAX + 32], path[PATH_MAX + 32];
	json_t *o = sandbox_json(sb);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	autoclose int fd = -1;
	size_t n;
	int r = 0;

	json_decref(o);
	if (!text)
		return -ENOMEM;
	n = strlen(text);
	snprintf(tmp, sizeof(tmp), "%s/state.json.tmp", sb->dir);
	snprintf(path, sizeof(path), "%s/state.json", sb->dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, n) != (ssize_t)n || fsync(fd) < 0 ||
	    rename(tmp, path) < 0)
		r = errno ? -errno : -EIO;
	free(text);
	return r;
}

static void copy_str(char *dst, size_t len, json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	snprintf(dst, len, "%s", v ? v : "");
}

static uint64_t num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

int persist_load(const char *dir, struct sandbox *sb, char *shape,
		 size_t shapelen, json_t **jobs_out)
{
	char path[PATH_MAX + 32];
	json_t *o;
	int state;

	snprintf(path, sizeof(path), "%s/state.json", dir);
	if (access(path, R_OK) < 0)
		return -errno;
	o = json_load_file(path, 0, NULL);
	if (!json_is_object(o) || num(o, "version") != 1) {
		json_decref(o);
		return -EINVAL;
	}
	copy_str(sb->name, sizeof(sb->name), o, "name");
	copy_str(sb->image, sizeof(sb->image), o, "image");
	copy_str(sb->reason, sizeof(sb->reason), o, "reason");
	copy_str(sb->error, sizeof(sb->error), o, "error");
	state = num(o, "state");
	sb->state = state >= SB_STARTING && state <= SB_CRASHED ? state :
		    SB_CRASHED;
	sb->pid = num(o, "pid");
	sb->started_ms = num(o, "started_ms");
	sb->paused_ms = num(o, "paused_ms");
	sb->paused_at = num(o, "paused_at");
	sb->ended_ms = num(o, "ended_ms");
	sb->suspended = json_is_true(json_object_get(o, "suspended"));
	sb->saved = json_is_true(json_object_get(o, "saved"));
	*jobs_out = json_incref(json_object_get(o, "jobs"));
	/* The caller looks the shape up in the table it owns. */
	copy_str(shape, shapelen, o, "shape");
	json_decref(o);
	return *jobs_out ? 0 : -ENOMEM;
}
