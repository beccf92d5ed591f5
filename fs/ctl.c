/* The ctl languages: bytes written to a ctl file become lines, lines
 * become struct ctl_cmd.  Syntax only: whether a shape, image, job or
 * sandbox exists is for the daemon to say. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl.h"
#include "names.h"

/* A quoted token in a message shows at most this many input bytes. */
#define QUOTE_MAX 40

#define EXEC_USAGE "exec [timeout=SECS] [cwd=DIR] [env=K=V]... -- COMMAND LINE"
#define NEW_USAGE "new NAME [shape=SHAPE] [image=IMAGE] [net=NET]..."
#define NAME_RULE "[a-z0-9][a-z0-9_.-]{0,62}"

/* One line being parsed: the verb for messages, the unread rest. */
struct line {
	const char *verb;
	const char *usage;
	const char *p;
	char *err;
	size_t errlen;
};

/* A token: a run of non-blank bytes inside the line. */
struct tok {
	const char *s;
	size_t n;
};

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

static __attribute__((format(printf, 3, 4)))
int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Writes s[0..n) as "..." into q, escaping what is not printable and
 * cutting long input, so a message never carries raw control bytes. */
static const char *quote(char *q, size_t qlen, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	q[o++] = '"';
	for (i = 0; i < n && i < QUOTE_MAX && o + 8 < qlen; i++) {
		unsigned char c = s[i];

		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			q[o++] = '\\';
			q[o++] = 'x';
			q[o++] = hex[c >> 4];
			q[o++] = hex[c & 15];
		} else {
			q[o++] = c;
		}
	}
	if (i < n) {
		memcpy(q + o, "...", 3);
		o += 3;
	}
	q[o++] = '"';
	q[o] = '\0';
	return q;
}

#define QBUF (QUOTE_MAX * 4 + 8)
#define Q(t) quote((char[QBUF]){0}, QBUF, (t).s, (t).n)

static bool next_tok(struct line *l, struct tok *t)
{
	while (blank(*l->p))
		l->p++;
	t->s = l->p;
	while (*l->p && !blank(*l->p))
		l->p++;
	t->n = l->p - t->s;
	return t->n > 0;
}

static bool tok_is(const struct tok *t, const char *word)
{
	size_t n = strlen(word);

	return t->n == n && memcmp(t->s, word, n) == 0;
}

/* The value of a "key=value" token, or NULL if t is not one. */
static const char *tok_value(const struct tok *t, const char *key,
			     size_t *vlen)
{
	size_t k = strlen(key);

	if (t->n <= k || memcmp(t->s, key, k) != 0 || t->s[k] != '=')
		return NULL;
	*vlen = t->n - k - 1;
	return t->s + k + 1;
}

/* Decimal digits only: no sign, no blank, no empty, nothing above max. */
static bool parse_num(const char *s, size_t n, unsigned long long max,
		      unsigned long long *out)
{
	unsigned long long v = 0;
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static int missing(struct line *l, const char *what)
{
	return fail(l->err, l->errlen, "%s: missing %s: expected %s",
		    l->verb, what, l->usage);
}

static int no_more(struct line *l)
{
	struct tok t;

	if (!next_tok(l, &t))
		return 0;
	return fail(l->err, l->errlen, "%s: unexpected %s: expected %s",
		    l->verb, Q(t), l->usage);
}

static int dup_str(const char *s, size_t n, char **out)
{
	*out = strndup(s, n);
	return *out ? 0 : -ENOMEM;
}

static int push_str(char ***v, size_t *nv, const char *s, size_t n)
{
	char **nvv = realloc(*v, (*nv + 1) * sizeof(**v));

	if (!nvv)
		return -ENOMEM;
	*v = nvv;
	nvv[*nv] = strndup(s, n);
	if (!nvv[*nv])
		return -ENOMEM;
	(*nv)++;
	return 0;
}

static bool env_key_valid(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!(c == '_' || (c >= 'A' && c <= 'Z') ||
		      (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

static int exec_env(struct line *l, struct tok t, const char *v, size_t vn,
		    struct ctl_cmd *c)
{
	const char *eq = memchr(v, '=', vn);

	if (!eq)
		return fail(l->err, l->errlen,
			    "exec: %s: env needs a value: expected env=K=V",
			    Q(t));
	if (!env_key_valid(v, eq - v))
		return fail(l->err, l->errlen,
			    "exec: %s: env name must match [A-Za-z_][A-Za-z0-9_]*",
			    Q(t));
	return push_str(&c->env, &c->nenv, v, vn);
}

static int exec_option(struct line *l, struct tok t, bool *seen_timeout,
		       struct ctl_cmd *c)
{
	unsigned long long num;
	const char *v;
	size_t vn;

	if ((v = tok_value(&t, "timeout", &vn)) || tok_is(&t, "timeout=")) {
		if (*seen_timeout)
			return fail(l->err, l->errlen,
				    "exec: %s: timeout given twice: expected at most one",
				    Q(t));
		if (!v || !parse_num(v, vn, UINT_MAX, &num))
			return fail(l->err, l->errlen,
				    "exec: %s: timeout must be a whole number of seconds",
				    Q(t));
		*seen_timeout = true;
		c->timeout = num;
		return 0;
	}
	if ((v = tok_value(&t, "cwd", &vn)) || tok_is(&t, "cwd=")) {
		if (c->cwd)
			return fail(l->err, l->errlen,
				    "exec: %s: cwd given twice: expected at most one",
				    Q(t));
		if (!v || v[0] != '/')
			return fail(l->err, l->errlen,
				    "exec: %s: cwd must be an absolute path, starting with /",
				    Q(t));
		return dup_str(v, vn, &c->cwd);
	}
	if ((v = tok_value(&t, "env", &vn)) || tok_is(&t, "env="))
		return exec_env(l, t, v ? v : "", v ? vn : 0, c);
	return fail(l->err, l->errlen,
		    "exec: %s: unknown option: expected timeout=SECS, cwd=DIR, env=K=V or --",
		    Q(t));
}

static int parse_exec(struct line *l, struct ctl_cmd *c)
{
	bool seen_timeout = false;
	const char *rest;
	struct tok t;
	int r;

	for (;;) {
		if (!next_tok(l, &t))
			return fail(l->err, l->errlen,
				    "exec: missing \"--\" before the command line: expected %s",
				    EXEC_USAGE);
		if (tok_is(&t, "--"))
			break;
		r = exec_option(l, t, &seen_timeout, c);
		if (r < 0)
			return r;
	}

	/* The blanks after "--" only separate; the rest goes to sh -c
	 * exactly as written. */
	rest = l->p;
	while (blank(*rest))
		rest++;
	if (*rest == '\0')
		return fail(l->err, l->errlen,
			    "exec: empty command line after \"--\": expected %s",
			    EXEC_USAGE);
	return dup_str(rest, strlen(rest), &c->line);
}

static int parse_bare(struct line *l, struct ctl_cmd *c)
{
	return no_more(l);
}

/* The sandbox name that fork and new take first. */
static int take_name(struct line *l, struct ctl_cmd *c)
{
	struct tok t;
	int r;

	if (!next_tok(l, &t))
		return missing(l, "name");
	r = dup_str(t.s, t.n, &c->name);
	if (r < 0)
		return r;
	if (!name_valid(c->name))
		return fail(l->err, l->errlen,
			    "%s: %s: invalid name: expected " NAME_RULE,
			    l->verb, Q(t));
	return 0;
}

static int parse_fork(struct line *l, struct ctl_cmd *c)
{
	int r = take_name(l, c);

	return r < 0 ? r : no_more(l);
}

/* One number argument between min and max; rule ends "must be ...". */
static int parse_number(struct line *l, const char *what, const char *rule,
			unsigned long long min, unsigned long long max,
			unsigned long long *out)
{
	struct tok t;

	if (!next_tok(l, &t))
		return missing(l, what);
	if (!parse_num(t.s, t.n, max, out) || *out < min)
		return fail(l->err, l->errlen, "%s: %s: %s", l->verb, Q(t),
			    rule);
	return no_more(l);
}

static int parse_timeout(struct line *l, struct ctl_cmd *c)
{
	struct tok t;

	if (!next_tok(l, &t))
		return missing(l, "seconds");
	if (!parse_num(t.s, t.n, UINT_MAX, &c->num))
		return fail(l->err, l->errlen,
			    "timeout: %s: timeout must be a whole number of seconds (0 = none)",
			    Q(t));
	return no_more(l);
}

static int parse_recharge(struct line *l, struct ctl_cmd *c)
{
	return parse_number(l, "bytes",
			    "recharge must be a whole number of bytes",
			    0, INT64_MAX, &c->num);
}

static int parse_kill(struct line *l, struct ctl_cmd *c)
{
	unsigned long long n;
	int r;

	r = parse_number(l, "job",
			 "job must be a whole number from 1 to 4294967295",
			 1, UINT_MAX, &n);
	c->job = n;
	return r;
}

/* KEY=VALUE given at most once, into *field, checked by valid(). */
static int set_once(struct line *l, struct tok t, const char *key,
		    const char *v, size_t vn, char **field,
		    bool (*valid)(const char *), const char *expected)
{
	int r;

	if (*field)
		return fail(l->err, l->errlen,
			    "%s: %s: %s given twice: expected at most one",
			    l->verb, Q(t), key);
	r = dup_str(v ? v : "", v ? vn : 0, field);
	if (r == 0 && !valid(*field))
		r = fail(l->err, l->errlen, "%s: %s: invalid %s name: expected %s",
			 l->verb, Q(t), key, expected);
	return r;
}

static int new_option(struct line *l, struct tok t, struct ctl_cmd *c)
{
	const char *v;
	size_t vn;
	int r;

	if ((v = tok_value(&t, "shape", &vn)) || tok_is(&t, "shape="))
		return set_once(l, t, "shape", v, vn, &c->shape, name_valid,
				"a name like s-1vcpu-256mb");
	if ((v = tok_value(&t, "image", &vn)) || tok_is(&t, "image="))
		return set_once(l, t, "image", v, vn, &c->image,
				image_name_valid, "NAME:VERSION like base:1");
	if (c->verb == CTL_NEW &&
	    ((v = tok_value(&t, "net", &vn)) || tok_is(&t, "net="))) {
		r = push_str(&c->nets, &c->nnets, v ? v : "", v ? vn : 0);
		if (r == 0 && !name_valid(c->nets[c->nnets - 1]))
			r = fail(l->err, l->errlen,
				 "new: %s: invalid network name: expected " NAME_RULE,
				 Q(t));
		return r;
	}
	if (c->verb == CTL_NEW)
		return fail(l->err, l->errlen,
			    "new: %s: unknown option: expected shape=SHAPE, image=IMAGE or net=NET",
			    Q(t));
	return fail(l->err, l->errlen,
		    "default: %s: unknown setting: expected shape=SHAPE or image=IMAGE",
		    Q(t));
}

static int parse_new(struct line *l, struct ctl_cmd *c)
{
	struct tok t;
	int r = take_name(l, c);

	if (r < 0)
		return r;
	while (next_tok(l, &t)) {
		r = new_option(l, t, c);
		if (r < 0)
			return r;
	}
	return 0;
}

/* "default shape=X", "default image=Y", or both on one line. */
static int parse_default(struct line *l, struct ctl_cmd *c)
{
	struct tok t;
	int r;

	if (!next_tok(l, &t))
		return missing(l, "setting");
	do {
		r = new_option(l, t, c);
		if (r < 0)
			return r;
	} while (next_tok(l, &t));
	return 0;
}

static const struct {
	const char *name;
	int sig;
} signals[] = {
	{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
	{ "ILL", SIGILL }, { "TRAP", SIGTRAP }, { "ABRT", SIGABRT },
	{ "BUS", SIGBUS }, { "FPE", SIGFPE }, { "KILL", SIGKILL },
	{ "USR1", SIGUSR1 }, { "SEGV", SIGSEGV }, { "USR2", SIGUSR2 },
	{ "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM },
	{ "CHLD", SIGCHLD }, { "CONT", SIGCONT }, { "STOP", SIGSTOP },
	{ "TSTP", SIGTSTP }, { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU },
	{ "WINCH", SIGWINCH },
};

/* "9", "KILL", "SIGKILL"; names in either case, as bash's kill takes them. */
static bool parse_signal(struct tok t, int *sig)
{
	unsigned long long n;
	const char *s = t.s;
	size_t len = t.n, i;

	if (parse_num(s, len, NSIG - 1, &n)) {
		*sig = n;
		return n >= 1;
	}
	if (len > 3 && strncasecmp(s, "SIG", 3) == 0) {
		s += 3;
		len -= 3;
	}
	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
		if (strlen(signals[i].name) == len &&
		    strncasecmp(signals[i].name, s, len) == 0) {
			*sig = signals[i].sig;
			return true;
		}
	}
	return false;
}

static int parse_job_kill(struct line *l, struct ctl_cmd *c)
{
	struct tok t;

	c->sig = SIGKILL;
	if (!next_tok(l, &t))
		return 0;
	if (!parse_signal(t, &c->sig))
		return fail(l->err, l->errlen,
			    "kill: %s: unknown signal: expected a number from 1 to %d or a name like KILL, TERM, INT, HUP, USR1",
			    Q(t), NSIG - 1);
	return no_more(l);
}

struct verb {
	const char *name;
	enum ctl_verb verb;
	const char *usage;
	int (*parse)(struct line *l, struct ctl_cmd *c);
};

static const struct verb sandbox_verbs[] = {
	{ "exec", CTL_EXEC, EXEC_USAGE, parse_exec },
	{ "pause", CTL_PAUSE, "pause", parse_bare },
	{ "resume", CTL_RESUME, "resume", parse_bare },
	{ "suspend", CTL_SUSPEND, "suspend", parse_bare },
	{ "fork", CTL_FORK, "fork NEWNAME", parse_fork },
	{ "timeout", CTL_TIMEOUT, "timeout SECS", parse_timeout },
	{ "recharge", CTL_RECHARGE, "recharge BYTES", parse_recharge },
	{ "kill", CTL_KILL, "kill N", parse_kill },
	{ NULL, 0, NULL, NULL },
};

static const struct verb global_verbs[] = {
	{ "new", CTL_NEW, NEW_USAGE, parse_new },
	{ "default", CTL_DEFAULT, "default shape=SHAPE | image=IMAGE",
	  parse_default },
	{ NULL, 0, NULL, NULL },
};

static const struct verb job_verbs[] = {
	{ "kill", CTL_JOB_KILL, "kill [SIGNAL]", parse_job_kill },
	{ NULL, 0, NULL, NULL },
};

static int parse(const struct verb *verbs, const char *expected,
		 const char *text, struct ctl_cmd *out, char *err,
		 size_t errlen)
{
	struct line l = { .p = text, .err = err, .errlen = errlen };
	const struct verb *v;
	struct tok t;
	int r;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	if (!next_tok(&l, &t))
		return fail(err, errlen, "empty command: expected %s",
			    expected);

	for (v = verbs; v->name; v++)
		if (tok_is(&t, v->name))
			break;
	if (!v->name)
		return fail(err, errlen, "unknown command %s: expected %s",
			    Q(t), expected);

	out->verb = v->verb;
	l.verb = v->name;
	l.usage = v->usage;
	r = v->parse(&l, out);
	if (r == -ENOMEM)
		fail(err, errlen, "%s: out of memory", v->name);
	if (r < 0)
		ctl_cmd_clear(out);
	return r;
}

int ctl_parse_sandbox(const char *line, struct ctl_cmd *out, char *err,
		      size_t errlen)
{
	return parse(sandbox_verbs,
		     "exec, pause, resume, suspend, fork, timeout, recharge or kill",
		     line, out, err, errlen);
}

int ctl_parse_global(const char *line, struct ctl_cmd *out, char *err,
		     size_t errlen)
{
	return parse(global_verbs, "new or default", line, out, err, errlen);
}

int ctl_parse_job(const char *line, struct ctl_cmd *out, char *err,
		  size_t errlen)
{
	return parse(job_verbs, "kill [SIGNAL]", line, out, err, errlen);
}

static void free_strv(char **v, size_t n)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void ctl_cmd_clear(struct ctl_cmd *c)
{
	if (!c)
		return;
	free(c->cwd);
	free_strv(c->env, c->nenv);
	free(c->line);
	free(c->name);
	free(c->shape);
	free(c->image);
	free_strv(c->nets, c->nnets);
	memset(c, 0, sizeof(*c));
}

void ctl_lines_free(char **lines, size_t n)
{
	free_strv(lines, n);
}

void linebuf_free(struct linebuf *lb)
{
	if (!lb)
		return;
	free(lb->buf);
	lb->buf = NULL;
	lb->len = 0;
}

static bool only_blanks(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!blank(s[i]))
			return false;
	return true;
}

/* Checks data against the rules before anything is touched, so a bad
 * write leaves the buffer as it was; counts the lines it completes. */
static int feed_check(const struct linebuf *lb, const char *data, size_t n,
		      size_t *nlines, char *err, size_t errlen)
{
	const char *z = memchr(data, '\0', n);
	size_t cur = lb->len, i;
	char prev = lb->len ? lb->buf[lb->len - 1] : '\0';

	if (z)
		return fail(err, errlen,
			    "NUL byte at offset %zu of the write: expected lines of text",
			    (size_t)(z - data));

	*nlines = 0;
	for (i = 0; i < n; i++) {
		if (data[i] != '\n') {
			prev = data[i];
			cur++;
			continue;
		}
		/* A CRLF line counts without its CR. */
		if (cur - (cur && prev == '\r') > CTL_LINE_MAX)
			goto too_long;
		(*nlines)++;
		cur = 0;
		prev = '\0';
	}
	/* An unfinished line may still end in "\r\n": allow one byte. */
	if (cur > CTL_LINE_MAX + 1)
		goto too_long;
	return 0;

too_long:
	return fail(err, errlen,
		    "line too long: expected at most %d bytes before the newline",
		    CTL_LINE_MAX);
}

/* Splits all[0..n) at newlines into lines (CR stripped, blank lines
 * dropped); returns where the unfinished tail starts, or -ENOMEM. */
static long split_lines(char *all, size_t n, char **lines, size_t *nlines)
{
	size_t start = 0, i, len;

	*nlines = 0;
	for (i = 0; i < n; i++) {
		if (all[i] != '\n')
			continue;
		len = i - start;
		if (len && all[i - 1] == '\r')
			len--;
		if (!only_blanks(all + start, len)) {
			lines[*nlines] = strndup(all + start, len);
			if (!lines[*nlines])
				return -ENOMEM;
			(*nlines)++;
		}
		start = i + 1;
	}
	return start;
}

int linebuf_feed(struct linebuf *lb, const char *data, size_t n,
		 char ***lines_out, size_t *nlines_out, char *err,
		 size_t errlen)
{
	char *all = NULL, **lines = NULL, *tail = NULL;
	size_t total = lb->len + n, nlines = 0, ntail;
	long start;
	int r;

	*lines_out = NULL;
	*nlines_out = 0;
	if (err && errlen)
		err[0] = '\0';
	r = feed_check(lb, data, n, &nlines, err, errlen);
	if (r < 0)
		return r;

	all = malloc(total + 1);
	lines = calloc(nlines + 1, sizeof(*lines));
	if (!all || !lines)
		goto nomem;
	if (lb->len)
		memcpy(all, lb->buf, lb->len);
	if (n)
		memcpy(all + lb->len, data, n);

	start = split_lines(all, total, lines, &nlines);
	if (start < 0)
		goto nomem;
	ntail = total - start;
	if (ntail) {
		tail = malloc(ntail);
		if (!tail)
			goto nomem;
		memcpy(tail, all + start, ntail);
	}

	free(all);
	free(lb->buf);
	lb->buf = tail;
	lb->len = ntail;
	if (nlines) {
		*lines_out = lines;
		*nlines_out = nlines;
	} else {
		free(lines);
	}
	return 0;

nomem:
	free(all);
	ctl_lines_free(lines, nlines);
	fail(err, errlen, "out of memory");
	return -ENOMEM;
}
