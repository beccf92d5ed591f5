/* FUSE handlers.  Helpers return -errno and the handler replies; a
 * request that must wait (mkdir until the agent answers, an exec until
 * its job started, a read at the end of a stream) is kept and answered
 * from a callback.  Nothing here blocks the loop. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "egress_file.h"
#include "log.h"
#include "names.h"
#include "ops.h"
#include "render.h"
#include "sandbox.h"
#include "shape.h"
#include "tree.h"
#include "util.h"

/* One open file. */
struct ofile {
	struct node node;
	uint64_t pos;		/* streams: where this reader is, for poll */
	char *text;		/* generated files: the text as of open */
	size_t len;
	struct linebuf lb;	/* ctl files: a line not yet complete */
	char reply[CTL_ERR_MAX + 16];	/* what reading a ctl file returns */
	size_t reply_pos;	/* offsets are ignored: a write moved ours */
	bool wrote_stdin;
	struct egress_open *eg;	/* egress opened for writing */
};

static char root_error[CTL_ERR_MAX];
static char default_shape[32] = "s-1vcpu-256mb";
static char default_image[64] = "base:1";
static struct daemon_info info;
static time_t start_time;

void ops_init(const struct ops_config *c)
{
	info = (struct daemon_info){ .version = c->version, .accel = c->accel,
				     .images_dir = c->images_dir,
				     .error = root_error };
	render_init(&info);
	start_time = time(NULL);
}

static void set_root_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void set_root_error(const char *fmt, ...)
{
	va_list ap;

	char raw[sizeof(root_error)];

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	text_escape(raw, root_error, sizeof(root_error));
	log_info("error: %s", root_error);
}

/* Checks that the sandbox and job of n still exist. */
static int node_check(const struct node *n, struct sandbox **sb_out)
{
	struct sandbox *sb = NULL;

	if (n->kind == N_NONE)
		return -ENOENT;
	if (n->sb) {
		sb = sandbox_by_id(n->sb);
		if (!sb || (n->job && !sandbox_job(sb, n->job)))
			return -ENOENT;
	}
	if (sb_out)
		*sb_out = sb;
	return 0;
}

static struct spool *node_spool(struct sandbox *sb, const struct node *n)
{
	struct job *j = sandbox_job(sb, n->job);

	switch (n->kind) {
	case N_EVENTS:
		return &sb->ev.sp;
	case N_JOB_STDOUT:
		return &j->out;
	case N_JOB_STDERR:
		return &j->err;
	default:
		return NULL;
	}
}

static off_t console_size(struct sandbox *sb)
{
	struct stat st;

	return fstatat(sb->dirfd, "console.log", &st, 0) == 0 ? st.st_size : 0;
}

static int node_attr(const struct node *n, struct stat *st)
{
	struct sandbox *sb;
	char *text;
	size_t len;
	int r = node_check(n, &sb);

	if (r < 0)
		return r;
	memset(st, 0, sizeof(*st));
	st->st_ino = node_ino(n);
	st->st_mode = node_mode(n->kind) |
		      (node_is_dir(n->kind) ? S_IFDIR : S_IFREG);
	st->st_nlink = node_is_dir(n->kind) ? 2 : 1;
	st->st_mtime = st->st_ctime = st->st_atime = time(NULL);
	st->st_blksize = 4096;
	if (node_is_stream(n->kind)) {
		st->st_size = node_spool(sb, n)->size;
	} else if (n->kind == N_CONSOLE) {
		st->st_size = console_size(sb);
	} else if (!node_is_dir(n->kind) && render_node(n, &text, &len) == 0) {
		st->st_size = len;
		free(text);
	}
	st->st_blocks = (st->st_size + 511) / 512;
	return 0;
}

static void reply_entry(fuse_req_t req, const struct node *n)
{
	struct fuse_entry_param e = { 0 };
	int r = node_attr(n, &e.attr);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	e.ino = node_ino(n);
	/* No caching: every file here changes behind the kernel's back. */
	e.attr_timeout = 0;
	e.entry_timeout = 0;
	fuse_reply_entry(req, &e);
}

static bool parse_job_number(const char *s, unsigned long *out)
{
	char *end;

	if (*s < '1' || *s > '9' || strlen(s) > 10)
		return false;
	*out = strtoul(s, &end, 10);
	return *end == '\0' && *out <= 0xffffffffUL;
}

static int lookup_child(const struct node *parent, const char *name,
			struct node *out)
{
	const struct child *c;
	unsigned nc;
	struct sandbox *sb;
	int r = node_check(parent, &sb);

	if (r < 0)
		return r;
	c = node_children(parent->kind, &nc);
	for (unsigned i = 0; i < nc; i++) {
		if (strcmp(c[i].name, name) == 0) {
			*out = (struct node){ c[i].kind, parent->sb, parent->job };
			return 0;
		}
	}
	if (parent->kind == N_ROOT) {
		/* Names longer than ours reach us too: check before use. */
		if (!name_valid(name) || !(sb = sandbox_find(name)))
			return -ENOENT;
		*out = (struct node){ N_SB, sb->id, 0 };
		return 0;
	}
	if (parent->kind == N_JOBS) {
		unsigned long n;

		if (!parse_job_number(name, &n) || !sandbox_job(sb, n))
			return -ENOENT;
		*out = (struct node){ N_JOB, sb->id, n };
		return 0;
	}
	return -ENOENT;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node p = node_of_ino(parent), n;
	int r = lookup_child(&p, name, &n);

	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_entry(req, &n);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct node n = node_of_ino(ino);
	struct stat st;
	int r = node_attr(&n, &st);

	/* A file still open after its sandbox went: an empty file, as its
	 * read gives end of file, so fstat-then-read tools end cleanly. */
	if (r == -ENOENT && !node_is_dir(n.kind) && n.kind != N_NONE) {
		memset(&st, 0, sizeof(st));
		st.st_ino = ino;
		st.st_mode = S_IFREG | node_mode(n.kind);
		st.st_nlink = 1;
		r = 0;
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, 0);
}

/* Only truncation of writable files: `>` on ctl or egress must work. */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct node n = node_of_ino(ino);
	struct stat st;
	int r = node_attr(&n, &st);
	int ignored = FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME |
		      FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
		      FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	if (to_set & ~ignored) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if ((to_set & FUSE_SET_ATTR_SIZE) && !node_writable(n.kind)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	fuse_reply_attr(req, &st, 0);
}

/* readdir */

struct dirbuf {
	char *p;
	size_t len;
	fuse_req_t req;
};

static void dir_add(struct dirbuf *b, const char *name, const struct node *n)
{
	struct stat st = { .st_ino = node_ino(n),
			   .st_mode = node_is_dir(n->kind) ? S_IFDIR : S_IFREG };
	size_t need = fuse_add_direntry(b->req, NULL, 0, name, NULL, 0);
	char *p = realloc(b->p, b->len + need);

	if (!p)
		return;
	b->p = p;
	fuse_add_direntry(b->req, b->p + b->len, need, name, &st,
			  b->len + need);
	b->len += need;
}

static int list_dir(const struct node *d, struct dirbuf *b)
{
	struct sandbox *sb;
	const struct child *c;
	unsigned nc;
	int r = node_check(d, &sb);

	if (r < 0)
		return r;
	if (!node_is_dir(d->kind))
		return -ENOTDIR;
	dir_add(b, ".", d);
	dir_add(b, "..", d);
	c = node_children(d->kind, &nc);
	for (unsigned i = 0; i < nc; i++)
		dir_add(b, c[i].name, &(struct node){ c[i].kind, d->sb, d->job });
	if (d->kind == N_ROOT) {
		for (struct sandbox *s = sandbox_first(); s; s = s->next)
			dir_add(b, s->name, &(struct node){ N_SB, s->id, 0 });
	} else if (d->kind == N_JOBS) {
		char num[24];

		for (size_t i = 0; i < sb->njobs; i++) {
			if (!sb->jobs[i])
				continue;
			snprintf(num, sizeof(num), "%zu", i + 1);
			dir_add(b, num, &(struct node){ N_JOB, sb->id, i + 1 });
		}
	}
	return 0;
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct node d = node_of_ino(ino);
	struct dirbuf b = { .req = req };
	int r = list_dir(&d, &b);

	if (r < 0)
		fuse_reply_err(req, -r);
	else if ((size_t)off >= b.len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, b.p + off,
			       b.len - off < size ? b.len - off : size);
	free(b.p);
}

/* mkdir and rmdir */

struct pending_mk {
	fuse_req_t req;
	char name[64];
};

static void on_mkdir_ready(void *data, int err)
{
	struct pending_mk *pm = data;
	struct sandbox *sb = sandbox_find(pm->name);

	if (err < 0 || !sb) {
		set_root_error("sandbox \"%s\": vm did not start, see the "
			       "daemon log", pm->name);
		fuse_reply_err(pm->req, err < 0 ? -err : EIO);
	} else {
		reply_entry(pm->req, &(struct node){ N_SB, sb->id, 0 });
	}
	free(pm);
}

static int create_sandbox(const char *name, const char *shape,
			  const char *image, sb_done_fn fn, void *data)
{
	char msg[CTL_ERR_MAX];
	int r;

	r = sandbox_create(name, shape ? shape : default_shape,
			   image ? image : default_image, fn, data, msg,
			   sizeof(msg));
	if (r < 0)
		set_root_error("%s", msg);
	return r;
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct node p = node_of_ino(parent);
	struct pending_mk *pm;
	int r;

	if (p.kind == N_NETWORKS) {
		set_root_error("networks: private networks are not supported "
			       "yet");
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (p.kind != N_ROOT) {
		fuse_reply_err(req, node_check(&p, NULL) < 0 ? ENOENT : EPERM);
		return;
	}
	pm = calloc(1, sizeof(*pm));
	if (!pm) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pm->req = req;
	snprintf(pm->name, sizeof(pm->name), "%s", name);
	r = create_sandbox(name, NULL, NULL, on_mkdir_ready, pm);
	if (r < 0) {
		free(pm);
		fuse_reply_err(req, -r);
	}
}

static void on_rmdir_done(void *data, int err)
{
	fuse_reply_err(data, 0);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node p = node_of_ino(parent);
	struct sandbox *sb;

	if (p.kind != N_ROOT) {
		fuse_reply_err(req, EPERM);
		return;
	}
	sb = name_valid(name) ? sandbox_find(name) : NULL;
	if (!sb) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	log_info("sandbox '%s': destroying", sb->name);
	/* Unlike POSIX rmdir, this removes a non-empty folder, as configfs
	 * does for its items: the folder is the sandbox. */
	sandbox_destroy(sb, on_rmdir_done, req);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EPERM);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	fuse_reply_err(req, EPERM);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	fuse_reply_err(req, EACCES);
}

/* open, read, release */

static bool is_ctl(enum node_kind k)
{
	return k == N_CTL || k == N_ROOT_CTL || k == N_JOB_CTL;
}

static int do_open(const struct node *n, int flags, struct ofile **out)
{
	int acc = flags & O_ACCMODE;
	struct ofile *of;
	int r = node_check(n, NULL);

	if (r < 0)
		return r;
	if (node_is_dir(n->kind))
		return -EISDIR;
	if (acc != O_RDONLY && !node_writable(n->kind))
		return -EACCES;
	/* stdin and jobs/N/ctl are write-only; ctl files are read for
	 * the answer to the writer's own last command. */
	if (acc != O_WRONLY && !(node_mode(n->kind) & 0444) && !is_ctl(n->kind))
		return -EACCES;
	of = calloc(1, sizeof(*of));
	if (!of)
		return -ENOMEM;
	of->node = *n;
	if (n->kind == N_EGRESS && acc != O_RDONLY) {
		r = egress_file_open(sandbox_by_id(n->sb), flags, &of->eg);
		if (r < 0) {
			free(of);
			return r;
		}
	}
	if (!node_is_stream(n->kind) && n->kind != N_CONSOLE &&
	    !is_ctl(n->kind) && n->kind != N_JOB_STDIN) {
		r = render_node(n, &of->text, &of->len);
		if (r < 0) {
			free(of);
			return r;
		}
	}
	*out = of;
	return 0;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node n = node_of_ino(ino);
	struct ofile *of;
	int r = do_open(&n, fi->flags, &of);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = (uintptr_t)of;
	/* Sizes and contents change behind the kernel's back. */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		free(of->text);
		free(of);
	}
}

static void reply_text(fuse_req_t req, const char *text, size_t len,
		       size_t size, off_t off)
{
	if ((size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, text + off,
			       len - off < size ? len - off : size);
}

/* The answer to this descriptor's last write, once, then end of file,
 * whatever the offset: `read n <&3` after `echo ... >&3` gets it. */
static void read_reply(fuse_req_t req, struct ofile *of, size_t size)
{
	size_t len = strlen(of->reply);

	reply_text(req, of->reply, len, size, of->reply_pos);
	of->reply_pos = of->reply_pos + size < len ? of->reply_pos + size : len;
}

static void read_console(fuse_req_t req, struct sandbox *sb, size_t size,
			 off_t off)
{
	autoclose int fd = openat(sb->dirfd, "console.log",
				  O_RDONLY | O_CLOEXEC);
	char *buf;
	ssize_t n;

	if (fd < 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = pread(fd, buf, size, off);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_buf(req, buf, n);
	free(buf);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct ofile *of = (struct ofile *)(uintptr_t)fi->fh;
	struct sandbox *sb;
	int r = node_check(&of->node, &sb);

	if (r < 0) {
		/* The sandbox went away under an open file: end of file. */
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (node_is_stream(of->node.kind))
		spool_read(node_spool(sb, &of->node), req, size, off, &of->pos);
	else if (of->node.kind == N_CONSOLE)
		read_console(req, sb, size, off);
	else if (is_ctl(of->node.kind))
		read_reply(req, of, size);
	else
		reply_text(req, of->text, of->len, size, off);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct ofile *of = (struct ofile *)(uintptr_t)fi->fh;
	struct sandbox *sb;

	/* Closing stdin is end of file for the job, as with a pipe. */
	if (of->node.kind == N_JOB_STDIN && node_check(&of->node, &sb) == 0)
		sandbox_stdin(sb, of->node.job, NULL, 0, true, NULL, NULL);
	if (of->eg)
		egress_file_release(node_check(&of->node, &sb) == 0 ? sb : NULL,
				    of->eg);
	linebuf_free(&of->lb);
	free(of->text);
	free(of);
	fuse_reply_err(req, 0);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void op_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	struct ofile *of = (struct ofile *)(uintptr_t)fi->fh;
	struct sandbox *sb;

	if (node_is_stream(of->node.kind) && node_check(&of->node, &sb) == 0) {
		spool_poll(node_spool(sb, &of->node), req, ph, of->pos);
		return;
	}
	if (ph)
		fuse_pollhandle_destroy(ph);
	fuse_reply_poll(req, POLLIN | POLLOUT);
}

/* Writes to ctl files: every line is parsed before any runs, so a bad
 * line changes nothing; then the lines run in order, each waiting for the
 * one before it (an exec until its job has started). */
struct ctlrun {
	fuse_req_t req;
	size_t size;
	struct ofile *of;
	struct ctl_cmd *cmds;
	size_t n, i;
};

static void run_next(struct ctlrun *cr);

static void ctlrun_free(struct ctlrun *cr)
{
	for (size_t i = 0; i < cr->n; i++)
		ctl_cmd_clear(&cr->cmds[i]);
	free(cr->cmds);
	free(cr);
}

/* The message of a failed line: the sandbox's error, or the root's. */
static void ctlrun_fail(struct ctlrun *cr, int err)
{
	struct sandbox *sb = cr->of->node.sb ? sandbox_by_id(cr->of->node.sb) :
			     NULL;
	const char *msg = sb ? sb->error : root_error;

	if (!msg[0])
		msg = strerror(err);
	snprintf(cr->of->reply, sizeof(cr->of->reply), "error %s\n", msg);
	if (sb)
		log_info("sandbox '%s': error: %s", sb->name, msg);
	fuse_reply_err(cr->req, err);
	ctlrun_free(cr);
}

static void on_step_done(void *data, int err)
{
	struct ctlrun *cr = data;

	if (err < 0) {
		ctlrun_fail(cr, -err);
		return;
	}
	cr->i++;
	run_next(cr);
}

static void on_exec_started(void *data, unsigned long job, int err)
{
	struct ctlrun *cr = data;

	if (err == 0)
		snprintf(cr->of->reply, sizeof(cr->of->reply), "%lu\n", job);
	on_step_done(data, err);
}

static void on_new_ready(void *data, int err)
{
	struct ctlrun *cr = data;

	if (err < 0)
		set_root_error("new: sandbox \"%s\": vm did not start, see the "
			       "daemon log", cr->cmds[cr->i].name);
	on_step_done(data, err);
}

static int run_global(struct ctlrun *cr, struct ctl_cmd *c)
{
	if (c->verb == CTL_NEW) {
		if (c->nnets) {
			set_root_error("new: net=: private networks are not "
				       "supported yet");
			return -EOPNOTSUPP;
		}
		int r = create_sandbox(c->name, c->shape, c->image,
				       on_new_ready, cr);

		return r < 0 ? r : 1;
	}
	if (c->shape && !shape_find(c->shape)) {
		set_root_error("default: unknown shape \"%s\": see /shapes",
			       c->shape);
		return -EINVAL;
	}
	if (c->image && !sandbox_image_exists(c->image)) {
		set_root_error("default: unknown image \"%s\": see /images",
			       c->image);
		return -EINVAL;
	}
	if (c->shape)
		snprintf(default_shape, sizeof(default_shape), "%s", c->shape);
	if (c->image)
		snprintf(default_image, sizeof(default_image), "%s", c->image);
	return 0;
}

static const char *const verb_names[] = {
	[CTL_PAUSE] = "pause", [CTL_RESUME] = "resume",
	[CTL_SUSPEND] = "suspend", [CTL_FORK] = "fork",
	[CTL_TIMEOUT] = "timeout", [CTL_RECHARGE] = "recharge",
};

/* Returns 0 when done, 1 when a callback will continue, or -errno. */
static int run_sandbox(struct ctlrun *cr, struct sandbox *sb,
		       struct ctl_cmd *c)
{
	switch (c->verb) {
	case CTL_EXEC: {
		int r = sandbox_exec(sb, c, on_exec_started, cr);

		return r < 0 ? r : 1;
	}
	case CTL_PAUSE:
	case CTL_RESUME: {
		int r = c->verb == CTL_PAUSE ?
			sandbox_pause(sb, on_step_done, cr) :
			sandbox_resume(sb, on_step_done, cr);

		return r < 0 ? r : 1;
	}
	case CTL_FORK: {
		int r = sandbox_fork(sb, c->name, on_step_done, cr);

		return r < 0 ? r : 1;
	}
	case CTL_SUSPEND: {
		int r = sandbox_suspend(sb, on_step_done, cr);

		return r < 0 ? r : 1;
	}
	case CTL_TIMEOUT:
		return sandbox_set_lifetime(sb, c->num);
	case CTL_KILL:
		return sandbox_kill_job(sb, c->job, SIGKILL);
	case CTL_JOB_KILL:
		return sandbox_kill_job(sb, cr->of->node.job, c->sig);
	case CTL_RECHARGE:
		return egress_recharge(sb, c->num);
	default:
		sandbox_set_error(sb, "%s: not supported yet",
				  c->verb < ARRAY_SIZE(verb_names) &&
				  verb_names[c->verb] ? verb_names[c->verb] :
				  "command");
		return -EOPNOTSUPP;
	}
}

static void run_next(struct ctlrun *cr)
{
	struct sandbox *sb = NULL;
	int r = 0;

	for (; cr->i < cr->n; cr->i++) {
		struct ctl_cmd *c = &cr->cmds[cr->i];

		if (cr->of->node.kind == N_ROOT_CTL) {
			r = run_global(cr, c);
		} else if (node_check(&cr->of->node, &sb) < 0) {
			r = -ENOENT;
		} else {
			r = run_sandbox(cr, sb, c);
		}
		if (r != 0)
			break;
	}
	if (r < 0) {
		ctlrun_fail(cr, -r);
	} else if (r == 0) {
		fuse_reply_write(cr->req, cr->size);
		ctlrun_free(cr);
	}
}

static int parse_line(enum node_kind k, const char *line, struct ctl_cmd *c,
		      char *err, size_t errlen)
{
	if (k == N_ROOT_CTL)
		return ctl_parse_global(line, c, err, errlen);
	if (k == N_JOB_CTL)
		return ctl_parse_job(line, c, err, errlen);
	return ctl_parse_sandbox(line, c, err, errlen);
}

static void report_parse_error(struct ofile *of, const char *err)
{
	struct sandbox *sb;

	snprintf(of->reply, sizeof(of->reply), "error %s\n", err);
	if (of->node.sb && node_check(&of->node, &sb) == 0) {
		sandbox_set_error(sb, "%s", err);
		log_info("sandbox '%s': error: %s", sb->name, err);
	} else {
		set_root_error("%s", err);
	}
}

/* Splits and parses; on any error lb is left as it was. */
static int ctl_prepare(struct ofile *of, const char *buf, size_t size,
		       struct ctlrun *cr, char *err)
{
	struct linebuf saved = { NULL, of->lb.len };
	char **lines = NULL;
	size_t n = 0;
	int r;

	if (of->lb.len && !(saved.buf = malloc(of->lb.len)))
		return -ENOMEM;
	if (saved.buf)
		memcpy(saved.buf, of->lb.buf, of->lb.len);
	r = linebuf_feed(&of->lb, buf, size, &lines, &n, err, CTL_ERR_MAX);
	if (r == 0 && n && !(cr->cmds = calloc(n, sizeof(*cr->cmds))))
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < n; i++, cr->n++) {
		r = parse_line(of->node.kind, lines[i], &cr->cmds[i], err,
			       CTL_ERR_MAX);
	}
	ctl_lines_free(lines, n);
	if (r < 0) {
		/* Give the half line back: the write changed nothing. */
		free(of->lb.buf);
		of->lb = saved;
		return r;
	}
	free(saved.buf);
	return 0;
}

static void write_ctl(fuse_req_t req, struct ofile *of, const char *buf,
		      size_t size)
{
	struct ctlrun *cr = calloc(1, sizeof(*cr));
	char err[CTL_ERR_MAX] = "";
	int r;

	if (!cr) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	*cr = (struct ctlrun){ .req = req, .size = size, .of = of };
	of->reply[0] = '\0';
	of->reply_pos = 0;
	r = ctl_prepare(of, buf, size, cr, err);
	if (r < 0) {
		report_parse_error(of, err[0] ? err : strerror(-r));
		cr->n = 0;
		ctlrun_free(cr);
		fuse_reply_err(req, -r);
		return;
	}
	run_next(cr);
}

struct stdin_write {
	fuse_req_t req;
	size_t size;
};

static void on_stdin_taken(void *data, int err)
{
	struct stdin_write *w = data;

	if (err < 0)
		fuse_reply_err(w->req, -err);
	else
		fuse_reply_write(w->req, w->size);
	free(w);
}

/* 1 when the reply waits for the agent channel to drain. */
static int write_stdin(fuse_req_t req, struct sandbox *sb, struct ofile *of,
		       const char *buf, size_t size)
{
	struct stdin_write *w = malloc(sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	*w = (struct stdin_write){ req, size };
	r = sandbox_stdin(sb, of->node.job, buf, size, false, on_stdin_taken, w);
	if (r != 1)
		free(w);
	return r;
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct ofile *of = (struct ofile *)(uintptr_t)fi->fh;
	struct sandbox *sb;
	int r = node_check(&of->node, &sb);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	switch (of->node.kind) {
	case N_CTL:
	case N_ROOT_CTL:
	case N_JOB_CTL:
		write_ctl(req, of, buf, size);
		return;
	case N_JOB_STDIN:
		r = write_stdin(req, sb, of, buf, size);
		if (r == 1)
			return;
		break;
	case N_EGRESS:
		r = of->eg ? egress_file_write(sb, of->eg, buf, size) : -EBADF;
		break;
	default:
		r = -EACCES;
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_write(req, size);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	/* Replies come from one thread in any order; parallel reads of one
	 * file are fine, and blocked readers must not hold up others. */
	conn->want |= conn->capable & FUSE_CAP_ASYNC_READ;
	/* `>` on egress must reach open as O_TRUNC: it starts a new list. */
	conn->want |= conn->capable & FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~FUSE_CAP_SPLICE_READ;
}

const struct fuse_lowlevel_ops sbxfs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readdir = op_readdir,
	.mkdir = op_mkdir,
	.rmdir = op_rmdir,
	.unlink = op_unlink,
	.rename = op_rename,
	.create = op_create,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.poll = op_poll,
};
