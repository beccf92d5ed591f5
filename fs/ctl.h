/* Parsing of the text written to ctl files: splitting writes into lines
 * and lines into commands.  Pure: no I/O, no sandbox state, so every
 * rule here is unit-tested (tests/unit/ctl.c). */
#ifndef SBXFS_CTL_H
#define SBXFS_CTL_H

#include <stdbool.h>
#include <stddef.h>

/* Longest line accepted, newline excluded. */
#define CTL_LINE_MAX 65536
#define CTL_ERR_MAX 256

enum ctl_verb {
	/* sandbox ctl */
	CTL_EXEC,
	CTL_PAUSE,
	CTL_RESUME,
	CTL_SUSPEND,
	CTL_FORK,
	CTL_TIMEOUT,
	CTL_RECHARGE,
	CTL_KILL,
	/* global ctl */
	CTL_NEW,
	CTL_DEFAULT,
	/* jobs/N/ctl */
	CTL_JOB_KILL,
};

struct ctl_cmd {
	enum ctl_verb verb;
	/* exec: timeout in seconds (0 = none), cwd (NULL = "/"), env as
	 * "K=V" strings, line is everything after "--". */
	unsigned timeout;
	char *cwd;
	char **env;
	size_t nenv;
	char *line;
	/* fork NEWNAME, new NAME */
	char *name;
	/* new, default: NULL when not given */
	char *shape;
	char *image;
	char **nets;
	size_t nnets;
	/* timeout SECS, recharge BYTES */
	unsigned long long num;
	/* kill N */
	unsigned long job;
	/* jobs/N/ctl "kill [SIGNAL]": signal number, default SIGKILL */
	int sig;
};

/* Accumulates written bytes and hands out whole lines. */
struct linebuf {
	char *buf;
	size_t len;
};

/* Appends data and returns the complete lines it closes, in order, as a
 * malloc'd array of malloc'd strings without their newline (free with
 * ctl_lines_free).  A trailing partial line stays in lb for the next
 * call.  Empty lines and lines of only blanks are dropped.  On error
 * (a NUL byte, a line longer than CTL_LINE_MAX) returns -EINVAL with a
 * message in err and leaves lb exactly as it was before the call. */
int linebuf_feed(struct linebuf *lb, const char *data, size_t n,
		 char ***lines_out, size_t *nlines_out, char *err,
		 size_t errlen);
void linebuf_free(struct linebuf *lb);
void ctl_lines_free(char **lines, size_t n);

/* Each parses one line into *out (zeroed first).  Returns 0, or -EINVAL
 * with a message in err of the form `exec: "timeout=x": timeout must be
 * a whole number of seconds` that says what was wrong and what was
 * expected.  On error *out holds nothing that needs freeing. */
int ctl_parse_sandbox(const char *line, struct ctl_cmd *out, char *err,
		      size_t errlen);
int ctl_parse_global(const char *line, struct ctl_cmd *out, char *err,
		     size_t errlen);
int ctl_parse_job(const char *line, struct ctl_cmd *out, char *err,
		  size_t errlen);
void ctl_cmd_clear(struct ctl_cmd *c);

#endif
