/* Job bookkeeping on the host side; running it is the agent's job. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job.h"
#include "util.h"

static int write_file(const char *path, const char *text)
{
	autoclose int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
				0600);
	size_t n = strlen(text);

	if (fd < 0)
		return -errno;
	if (write(fd, text, n) != (ssize_t)n || write(fd, "\n", 1) != 1)
		return -EIO;
	return 0;
}

int job_new(const char *sbdir, unsigned long n, const char *cmd,
	    struct job **out)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];
	struct job *j;
	int r;

	snprintf(dir, sizeof(dir), "%s/jobs/%lu", sbdir, n);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->n = n;
	j->out.fd = j->err.fd = -1;
	j->cmd = strdup(cmd);
	if (!j->cmd) {
		r = -ENOMEM;
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/cmd", dir);
	r = write_file(path, cmd);
	if (r < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/stdout", dir);
	r = spool_open(&j->out, path);
	if (r < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/stderr", dir);
	r = spool_open(&j->err, path);
	if (r < 0)
		goto fail;
	j->got_out = j->out.size;
	j->got_err = j->err.size;
	*out = j;
	return 0;
fail:
	job_free(j);
	return r;
}

void job_free(struct job *j)
{
	if (!j)
		return;
	spool_fini(&j->out);
	spool_fini(&j->err);
	free(j->cmd);
	free(j);
}

void job_dropped_to(struct job *j, uint64_t out, uint64_t err)
{
	if (!j->truncated)
		return;
	if (out > j->got_out)
		j->got_out = out;
	if (err > j->got_err)
		j->got_err = err;
}

uint64_t job_received(const struct job *j, int fd)
{
	return fd == 2 ? j->got_err : j->got_out;
}

int job_output(struct job *j, int fd, uint64_t off, const void *p, size_t n,
	       uint64_t cap)
{
	uint64_t *got = fd == 2 ? &j->got_err : &j->got_out;
	struct spool *s = fd == 2 ? &j->err : &j->out;
	uint64_t skip, stored = j->out.size + j->err.size, room;
	bool was = j->truncated;
	int r = 0;

	if (off + n <= *got)
		return 0;
	if (off > *got)
		return -EAGAIN;
	skip = *got - off;
	p = (const char *)p + skip;
	n -= skip;
	*got += n;
	room = cap && stored < cap ? cap - stored : 0;
	if (cap && n > room) {
		j->truncated = true;
		n = room;
	}
	if (n)
		r = spool_append(s, p, n);
	if (r < 0)
		return r;
	return j->truncated && !was;
}

void job_end(struct job *j)
{
	spool_end(&j->out);
	spool_end(&j->err);
}

int job_status_text(const struct job *j, char *buf, size_t len)
{
	/* A word after the final status, so `read st code rest` still works;
	 * "running" stays alone, scripts compare it whole. */
	const char *mark = j->truncated ? " truncated" : "";

	switch (j->state) {
	case JOB_STARTING:
	case JOB_RUNNING:
		return snprintf(buf, len, "running\n");
	case JOB_EXITED:
		return snprintf(buf, len, "exited %d%s\n", j->code, mark);
	case JOB_KILLED:
		if (strcmp(j->why, "signal") == 0)
			return snprintf(buf, len, "killed signal %d%s\n", j->sig,
					mark);
		return snprintf(buf, len, "killed %s%s\n", j->why, mark);
	}
	return snprintf(buf, len, "unknown\n");
}
