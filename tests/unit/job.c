/* TAP tests of fs/job.c's output accounting: offsets from the agent,
 * resends and gaps, the output cap across stdout and stderr, the totals
 * of an exit after the agent dropped output itself, and the status
 * line's "truncated" mark.  Spools are real files in a temp dir. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job.h"

#include "tap.h"

static long file_size(const char *dir, unsigned long n, const char *f)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/jobs/%lu/%s", dir, n, f);
	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

int main(void)
{
	char dir[] = "/tmp/sbxfs-unit-job.XXXXXX", jobs[64], cmd[600];
	char status[64], buf[100];
	struct job *j;

	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	snprintf(jobs, sizeof(jobs), "%s/jobs", dir);
	mkdir(jobs, 0700);
	memset(buf, 'x', sizeof(buf));

	ok(job_new(dir, 1, "true", &j) == 0, "job_new");
	ok(job_output(j, 1, 0, buf, 10, 0) == 0 && job_received(j, 1) == 10,
	   "10 bytes at 0 are stored");
	ok(job_output(j, 1, 0, buf, 10, 0) == 0 && job_received(j, 1) == 10,
	   "a resend of them changes nothing");
	ok(job_output(j, 1, 5, buf, 10, 0) == 0 && job_received(j, 1) == 15 &&
	   file_size(dir, 1, "stdout") == 15,
	   "an overlapping resend stores only the new part");
	ok(job_output(j, 1, 20, buf, 10, 0) == -EAGAIN &&
	   job_received(j, 1) == 15, "a gap is refused");
	ok(job_output(j, 2, 0, buf, 7, 0) == 0 && job_received(j, 2) == 7 &&
	   job_received(j, 1) == 15, "stderr counts apart");
	job_free(j);

	ok(job_new(dir, 2, "flood", &j) == 0, "job_new with a cap");
	ok(job_output(j, 1, 0, buf, 60, 100) == 0, "60 of a 100-byte cap");
	ok(job_output(j, 2, 0, buf, 30, 100) == 0, "30 more on stderr");
	ok(job_output(j, 1, 60, buf, 20, 100) == 1 && j->truncated,
	   "the write across the cap starts the dropping (returns 1)");
	ok(file_size(dir, 2, "stdout") == 70 && file_size(dir, 2, "stderr") == 30,
	   "stdout and stderr together hold the cap exactly");
	ok(job_received(j, 1) == 80, "what was dropped still counts as received");
	ok(job_output(j, 1, 80, buf, 50, 100) == 0 && job_received(j, 1) == 130 &&
	   file_size(dir, 2, "stdout") == 70,
	   "later output is dropped, received goes on, 0 returned");
	job_dropped_to(j, 5000, 30);
	ok(job_received(j, 1) == 5000 && job_received(j, 2) == 30,
	   "an exit's totals past what was sent are taken once truncated");
	j->state = JOB_EXITED;
	j->code = 0;
	job_status_text(j, status, sizeof(status));
	ok(!strcmp(status, "exited 0 truncated\n"), "status \"exited 0 truncated\"");
	j->state = JOB_RUNNING;
	job_status_text(j, status, sizeof(status));
	ok(!strcmp(status, "running\n"), "while running, status is \"running\"");
	j->state = JOB_KILLED;
	snprintf(j->why, sizeof(j->why), "oom");
	job_status_text(j, status, sizeof(status));
	ok(!strcmp(status, "killed oom truncated\n"), "\"killed oom truncated\"");
	job_free(j);

	ok(job_new(dir, 3, "quiet", &j) == 0, "a job that is not truncated");
	job_dropped_to(j, 5000, 0);
	ok(job_received(j, 1) == 0, "ignores exit totals beyond what it got");
	job_free(j);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
