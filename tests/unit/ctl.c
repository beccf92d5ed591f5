/* TAP tests of fs/ctl.c: cutting writes into lines, and the grammar of the
 * sandbox, global and job ctl files, with the hostile input a mounted
 * file gets: NUL bytes, overlong lines, split and batched writes, CRLF. */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#include "tap.h"

static void diag(const char *what, const char *s)
{
	printf("# %s: %s\n", what, s ? s : "(null)");
}

static bool streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* --- the line buffer --------------------------------------------------- */

struct fed {
	int r;
	char **lines;
	size_t n;
	char err[CTL_ERR_MAX];
};

static struct fed feed(struct linebuf *lb, const char *data, size_t n)
{
	struct fed f;

	f.r = linebuf_feed(lb, data, n, &f.lines, &f.n, f.err, sizeof(f.err));
	return f;
}

static void fed_free(struct fed *f)
{
	ctl_lines_free(f->lines, f->n);
}

static void test_linebuf(void)
{
	struct linebuf lb = { 0 };
	struct fed f;
	char *big;
	size_t i;

	f = feed(&lb, "pause\n", 6);
	ok(f.r == 0 && f.n == 1 && streq(f.lines[0], "pause") && lb.len == 0,
	   "one line in one write");
	fed_free(&f);

	f = feed(&lb, "exec -- ec", 10);
	ok(f.r == 0 && f.n == 0 && f.lines == NULL && lb.len == 10,
	   "a line without newline is held back");
	fed_free(&f);
	f = feed(&lb, "ho hi\n", 6);
	ok(f.r == 0 && f.n == 1 && streq(f.lines[0], "exec -- echo hi"),
	   "a line split over two writes comes out whole");
	fed_free(&f);

	f = feed(&lb, "a\nb\nc\nd", 7);
	ok(f.r == 0 && f.n == 3 && streq(f.lines[0], "a") &&
	   streq(f.lines[1], "b") && streq(f.lines[2], "c") && lb.len == 1,
	   "several lines in one write, in order, tail kept");
	fed_free(&f);
	f = feed(&lb, "\n", 1);
	ok(f.r == 0 && f.n == 1 && streq(f.lines[0], "d"),
	   "the tail completes on the next write");
	fed_free(&f);

	big = malloc(1000 * 8);
	big[0] = '\0';
	for (i = 0; i < 1000; i++)
		sprintf(big + strlen(big), "kill %zu\n", i % 10);
	f = feed(&lb, big, strlen(big));
	ok(f.r == 0 && f.n == 1000 && streq(f.lines[999], "kill 9"),
	   "a thousand lines in one write");
	fed_free(&f);
	free(big);

	f = feed(&lb, "pause\r\nresume\r\n", 15);
	ok(f.r == 0 && f.n == 2 && streq(f.lines[0], "pause") &&
	   streq(f.lines[1], "resume"), "CRLF: the trailing CR is stripped");
	fed_free(&f);

	f = feed(&lb, "pause\r", 6);
	fed_free(&f);
	f = feed(&lb, "\n", 1);
	ok(f.r == 0 && f.n == 1 && streq(f.lines[0], "pause"),
	   "CRLF split between two writes");
	fed_free(&f);

	f = feed(&lb, "exec -- printf 'a\rb'\n", 21);
	ok(f.r == 0 && f.n == 1 && streq(f.lines[0], "exec -- printf 'a\rb'"),
	   "a CR inside a line is kept");
	fed_free(&f);

	f = feed(&lb, "\n\n  \n\t\n\r\n \t\r\npause\n\n", 20);
	ok(f.r == 0 && f.n == 1 && streq(f.lines[0], "pause"),
	   "empty and blank lines are dropped");
	fed_free(&f);

	f = feed(&lb, "", 0);
	ok(f.r == 0 && f.n == 0 && lb.len == 0, "an empty write is fine");
	fed_free(&f);

	f = feed(&lb, "pau", 3);
	fed_free(&f);
	f = feed(&lb, "se\nres\0ume\n", 11);
	ok(f.r == -EINVAL && f.n == 0 && f.lines == NULL,
	   "a NUL byte fails the write with EINVAL");
	ok(f.err[0] && strstr(f.err, "NUL"), "the message names the NUL byte");
	diag("message", f.err);
	ok(lb.len == 3 && memcmp(lb.buf, "pau", 3) == 0,
	   "a failed write leaves the buffer as it was");
	f = feed(&lb, "se\n", 3);
	ok(f.r == 0 && f.n == 1 && streq(f.lines[0], "pause"),
	   "and the next write carries on from there");
	fed_free(&f);

	big = malloc(CTL_LINE_MAX + 3);
	memset(big, 'x', CTL_LINE_MAX + 2);
	big[CTL_LINE_MAX] = '\n';
	f = feed(&lb, big, CTL_LINE_MAX + 1);
	ok(f.r == 0 && f.n == 1 && strlen(f.lines[0]) == CTL_LINE_MAX,
	   "a line of exactly CTL_LINE_MAX bytes is taken");
	fed_free(&f);

	big[CTL_LINE_MAX] = '\r';
	big[CTL_LINE_MAX + 1] = '\n';
	f = feed(&lb, big, CTL_LINE_MAX + 2);
	ok(f.r == 0 && f.n == 1 && strlen(f.lines[0]) == CTL_LINE_MAX,
	   "CTL_LINE_MAX bytes plus CRLF is taken");
	fed_free(&f);

	memset(big, 'x', CTL_LINE_MAX + 2);
	big[CTL_LINE_MAX + 1] = '\n';
	f = feed(&lb, big, CTL_LINE_MAX + 2);
	ok(f.r == -EINVAL && f.n == 0 && lb.len == 0,
	   "a line of CTL_LINE_MAX+1 bytes fails with EINVAL");
	ok(strstr(f.err, "too long") != NULL, "the message says too long");
	diag("message", f.err);

	memset(big, 'x', CTL_LINE_MAX + 2);
	f = feed(&lb, big, CTL_LINE_MAX + 2);
	ok(f.r == -EINVAL && lb.len == 0,
	   "an overlong line fails before its newline arrives");

	f = feed(&lb, "pause\n", 6);
	fed_free(&f);
	f = feed(&lb, big, CTL_LINE_MAX);
	fed_free(&f);
	f = feed(&lb, "yy", 2);
	ok(f.r == -EINVAL && lb.len == CTL_LINE_MAX,
	   "overlong across writes fails and keeps the old buffer");
	linebuf_free(&lb);
	ok(lb.buf == NULL && lb.len == 0, "linebuf_free empties the buffer");
	linebuf_free(&lb);
	free(big);

	big = malloc(CTL_LINE_MAX + 8);
	memcpy(big, "pause\n", 6);
	memset(big + 6, 'x', CTL_LINE_MAX + 1);
	big[CTL_LINE_MAX + 7] = '\n';
	f = feed(&lb, big, CTL_LINE_MAX + 8);
	ok(f.r == -EINVAL && f.n == 0 && lb.len == 0,
	   "a good line before an overlong one is not handed out either");
	linebuf_free(&lb);
	free(big);
}

/* --- the grammars ------------------------------------------------------ */

typedef int (*parser)(const char *, struct ctl_cmd *, char *, size_t);

static struct ctl_cmd cmd;
static char err[CTL_ERR_MAX];

static bool parses(parser p, const char *line)
{
	ctl_cmd_clear(&cmd);
	if (p(line, &cmd, err, sizeof(err)) == 0)
		return true;
	diag("unexpected error", err);
	return false;
}

static bool zeroed(const struct ctl_cmd *c)
{
	return !c->cwd && !c->env && !c->nenv && !c->line && !c->name &&
	       !c->shape && !c->image && !c->nets && !c->nnets;
}

/* A good message: says something, starts lowercase, no final period
 * (a usage's "..." is fine),
 * no raw control bytes, fits. */
static bool good_message(const char *m)
{
	size_t n = strlen(m), i;

	if (n == 0 || n >= CTL_ERR_MAX || isupper((unsigned char)m[0]) ||
	    (m[n - 1] == '.' && (n < 3 || strcmp(m + n - 3, "...") != 0)))
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)m[i] < 0x20 || m[i] == 0x7f)
			return false;
	return true;
}

static void bad(parser p, const char *line, const char *desc)
{
	int r;

	ctl_cmd_clear(&cmd);
	r = p(line, &cmd, err, sizeof(err));
	ok(r == -EINVAL && zeroed(&cmd) && good_message(err),
	   "refused: %s", desc);
	diag("message", err);
}

static void bad_msg(parser p, const char *line, const char *want)
{
	int r;

	ctl_cmd_clear(&cmd);
	r = p(line, &cmd, err, sizeof(err));
	ok(r == -EINVAL && streq(err, want), "message: %s", want);
	if (!streq(err, want))
		diag("got", err);
}

static void test_exec(void)
{
	parser p = ctl_parse_sandbox;

	ok(parses(p, "exec -- echo hi") && cmd.verb == CTL_EXEC &&
	   streq(cmd.line, "echo hi") && cmd.timeout == 0 && !cmd.cwd &&
	   cmd.nenv == 0, "exec -- echo hi");

	ok(parses(p, "exec timeout=5 cwd=/tmp env=A=1 env=_b2= -- ls -l") &&
	   cmd.timeout == 5 && streq(cmd.cwd, "/tmp") && cmd.nenv == 2 &&
	   streq(cmd.env[0], "A=1") && streq(cmd.env[1], "_b2=") &&
	   streq(cmd.line, "ls -l"), "exec with every option");

	ok(parses(p, "exec env=X=a=b cwd=/ timeout=0 -- true") &&
	   streq(cmd.env[0], "X=a=b") && streq(cmd.cwd, "/") &&
	   cmd.timeout == 0, "options in any order; '=' inside a value");

	ok(parses(p, "exec --   echo  'a   b'\t  ") &&
	   streq(cmd.line, "echo  'a   b'\t  "),
	   "the command line is kept verbatim after the blanks of \"-- \"");

	ok(parses(p, "exec -- echo -- x timeout=3") &&
	   streq(cmd.line, "echo -- x timeout=3") && cmd.timeout == 0,
	   "only the first -- separates");

	ok(parses(p, "  \texec\t--\tuname -a") && streq(cmd.line, "uname -a"),
	   "leading blanks and tabs separate tokens");

	ok(parses(p, "exec -- sh -c 'kill -9 $$' ; echo \"$HOME\" | cat") &&
	   streq(cmd.line, "sh -c 'kill -9 $$' ; echo \"$HOME\" | cat"),
	   "shell syntax passes through untouched");

	ok(parses(p, "exec timeout=4294967295 -- x") &&
	   cmd.timeout == 4294967295u, "largest timeout");

	bad_msg(p, "exec timeout=x -- true",
		"exec: \"timeout=x\": timeout must be a whole number of seconds");
	bad_msg(p, "frobnicate",
		"unknown command \"frobnicate\": expected exec, pause, resume, suspend, fork, timeout, recharge or kill");

	bad(p, "exec", "exec alone");
	bad(p, "exec echo hi", "exec without --");
	bad(p, "exec --", "exec -- with nothing after");
	bad(p, "exec --   \t ", "exec -- with only blanks after");
	bad(p, "exec --echo hi", "--echo is not --");
	bad(p, "exec timeout=-1 -- x", "negative timeout");
	bad(p, "exec timeout=+1 -- x", "timeout with a plus sign");
	bad(p, "exec timeout= -- x", "empty timeout");
	bad(p, "exec timeout=1.5 -- x", "fractional timeout");
	bad(p, "exec timeout=4294967296 -- x", "timeout overflowing 32 bits");
	bad(p, "exec timeout=99999999999999999999999 -- x",
	    "timeout overflowing 64 bits");
	bad(p, "exec timeout=1 timeout=2 -- x", "timeout twice");
	bad(p, "exec timeout 3 -- x", "timeout without =");
	bad(p, "exec cwd=tmp -- x", "relative cwd");
	bad(p, "exec cwd= -- x", "empty cwd");
	bad(p, "exec cwd=/a cwd=/b -- x", "cwd twice");
	bad(p, "exec env=1A=b -- x", "env key starting with a digit");
	bad(p, "exec env=A-B=c -- x", "env key with '-'");
	bad(p, "exec env==x -- x", "empty env key");
	bad(p, "exec env=A -- x", "env without =V");
	bad(p, "exec env= -- x", "empty env");
	bad(p, "exec nice=1 -- x", "unknown option");
	bad(p, "EXEC -- x", "verbs are lowercase");
}

static void test_sandbox_verbs(void)
{
	parser p = ctl_parse_sandbox;
	char line[300];

	ok(parses(p, "pause") && cmd.verb == CTL_PAUSE, "pause");
	ok(parses(p, "resume") && cmd.verb == CTL_RESUME, "resume");
	ok(parses(p, "suspend ") && cmd.verb == CTL_SUSPEND,
	   "suspend with a trailing blank");
	bad(p, "pause now", "pause takes no argument");
	bad(p, "resume 1", "resume takes no argument");

	ok(parses(p, "fork child-1") && cmd.verb == CTL_FORK &&
	   streq(cmd.name, "child-1"), "fork NEWNAME");
	bad(p, "fork", "fork without a name");
	bad(p, "fork Child", "fork uppercase name");
	bad(p, "fork a/b", "fork name with /");
	bad(p, "fork .x", "fork name with leading .");
	bad(p, "fork -x", "fork name with leading -");
	bad(p, "fork a b", "fork with two names");
	memset(line, 0, sizeof(line));
	strcpy(line, "fork ");
	memset(line + 5, 'a', 63);
	ok(parses(p, line) && strlen(cmd.name) == 63, "fork 63-byte name");
	memset(line + 5, 'a', 255);
	bad(p, line, "fork 255-byte name");

	ok(parses(p, "timeout 3600") && cmd.verb == CTL_TIMEOUT &&
	   cmd.num == 3600, "timeout SECS");
	ok(parses(p, "timeout 0") && cmd.num == 0, "timeout 0 means none");
	bad(p, "timeout", "timeout without seconds");
	bad(p, "timeout -1", "negative timeout");
	bad(p, "timeout 1h", "timeout with a unit");
	bad(p, "timeout 1 2", "timeout with two numbers");
	bad(p, "timeout 18446744073709551616", "timeout overflow");

	ok(parses(p, "recharge 1000000") && cmd.verb == CTL_RECHARGE &&
	   cmd.num == 1000000, "recharge BYTES");
	bad(p, "recharge", "recharge without bytes");
	bad(p, "recharge -5", "negative recharge");
	bad(p, "recharge 18446744073709551616", "recharge overflow");
	bad(p, "recharge 10MB", "recharge with a unit");

	ok(parses(p, "kill 3") && cmd.verb == CTL_KILL && cmd.job == 3,
	   "kill N");
	ok(parses(p, "kill 4294967295") && cmd.job == 4294967295ul,
	   "kill of the largest job number");
	bad(p, "kill", "kill without a job");
	bad(p, "kill 0", "kill 0");
	bad(p, "kill -1", "kill -1");
	bad(p, "kill +1", "kill +1");
	bad(p, "kill x", "kill x");
	bad(p, "kill 1 2", "kill of two jobs");
	bad(p, "kill 99999999999999999999", "kill overflow");

	bad(p, "", "empty line");
	bad(p, "   ", "blank line");
	bad(p, "new a", "a global verb in a sandbox ctl");
	bad(p, "fr\x01\x1b[31mob", "control bytes in the verb");
	ok(strstr(err, "\\x01") && strstr(err, "\\x1b"),
	   "control bytes are escaped in the message");
}

static void test_hostile(void)
{
	parser p = ctl_parse_sandbox;
	char *big = malloc(CTL_LINE_MAX + 1);
	char small[8];

	memset(big, 'z', CTL_LINE_MAX);
	big[CTL_LINE_MAX] = '\0';
	bad(p, big, "a 64 KiB unknown verb");
	ok(strstr(err, "...") != NULL, "the quoted verb is cut short");

	memcpy(big, "exec -- ", 8);
	ok(parses(p, big) && strlen(cmd.line) == CTL_LINE_MAX - 8,
	   "a 64 KiB command line is taken whole");

	memcpy(big, "exec timeout=", 13);
	memset(big + 13, '9', CTL_LINE_MAX - 13);
	bad(p, big, "a 64 KiB timeout number");

	ctl_cmd_clear(&cmd);
	ok(ctl_parse_sandbox("frobnicate", &cmd, small, sizeof(small)) ==
	   -EINVAL && strlen(small) == sizeof(small) - 1,
	   "a short error buffer is filled, not overrun");
	ok(ctl_parse_sandbox("frobnicate", &cmd, NULL, 0) == -EINVAL,
	   "no error buffer at all");
	free(big);
}

static void test_global(void)
{
	parser p = ctl_parse_global;

	ok(parses(p, "new a") && cmd.verb == CTL_NEW && streq(cmd.name, "a") &&
	   !cmd.shape && !cmd.image && cmd.nnets == 0, "new NAME");
	ok(parses(p, "new b1 shape=s-1vcpu-1gb image=base:1 net=n1 net=n2") &&
	   streq(cmd.shape, "s-1vcpu-1gb") && streq(cmd.image, "base:1") &&
	   cmd.nnets == 2 && streq(cmd.nets[0], "n1") &&
	   streq(cmd.nets[1], "n2"), "new with every option");
	ok(parses(p, "new c shape=no-such-shape") &&
	   streq(cmd.shape, "no-such-shape"),
	   "shape existence is not the parser's business");
	bad(p, "new", "new without a name");
	bad(p, "new A", "new uppercase name");
	bad(p, "new a/b", "new name with /");
	bad(p, "new a shape=", "new empty shape");
	bad(p, "new a shape=S1", "new uppercase shape");
	bad(p, "new a shape=x shape=y", "new shape twice");
	bad(p, "new a image=base", "new image without version");
	bad(p, "new a image=base:1 image=base:2", "new image twice");
	bad(p, "new a net=", "new empty net");
	bad(p, "new a net=N", "new uppercase net");
	bad(p, "new a cpus=4", "new unknown option");
	bad(p, "new a b", "new with two names");

	ok(parses(p, "default shape=s-2vcpu-2gb") && cmd.verb == CTL_DEFAULT &&
	   streq(cmd.shape, "s-2vcpu-2gb") && !cmd.image, "default shape");
	ok(parses(p, "default image=devbox:1") && streq(cmd.image, "devbox:1") &&
	   !cmd.shape, "default image");
	bad(p, "default", "default with nothing");
	bad(p, "default net=x", "default net");
	bad(p, "default shape", "default shape without =");
	bad(p, "default image=devbox", "default image without version");

	bad_msg(p, "exec -- x",
		"unknown command \"exec\": expected new or default");
}

static void test_job(void)
{
	static const struct {
		const char *line;
		int sig;
	} good[] = {
		{ "kill", SIGKILL }, { "kill 9", SIGKILL }, { "kill 15", SIGTERM },
		{ "kill KILL", SIGKILL }, { "kill SIGKILL", SIGKILL },
		{ "kill TERM", SIGTERM }, { "kill SIGTERM", SIGTERM },
		{ "kill INT", SIGINT }, { "kill HUP", SIGHUP },
		{ "kill QUIT", SIGQUIT }, { "kill USR1", SIGUSR1 },
		{ "kill USR2", SIGUSR2 }, { "kill STOP", SIGSTOP },
		{ "kill CONT", SIGCONT }, { "kill sigint", SIGINT },
		{ "kill 64", 64 },
	};
	parser p = ctl_parse_job;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(*good); i++)
		ok(parses(p, good[i].line) && cmd.verb == CTL_JOB_KILL &&
		   cmd.sig == good[i].sig, "job ctl: %s", good[i].line);
	bad(p, "kill 0", "signal 0");
	bad(p, "kill 65", "signal 65");
	bad(p, "kill -9", "signal -9");
	bad(p, "kill SIG", "signal SIG");
	bad(p, "kill BOGUS", "unknown signal name");
	bad(p, "kill 9 9", "two signals");
	bad(p, "stop", "a verb other than kill");
	bad(p, "", "empty job ctl line");
}

int main(void)
{
	test_linebuf();
	test_exec();
	test_sandbox_verbs();
	test_hostile();
	test_global();
	test_job();
	ctl_cmd_clear(&cmd);
	ctl_cmd_clear(NULL);

	return tap_done();
}
