/* Plan 9 style text: "key value" lines in a fixed order, so awk and
 * grep work, and the same facts as one JSON object for programs. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "egress_file.h"
#include "names.h"
#include "render.h"
#include "sandbox.h"
#include "shape.h"

static const struct daemon_info *info;

void render_init(const struct daemon_info *i)
{
	info = i;
}

static int jobs_running(const struct sandbox *sb, unsigned *total)
{
	unsigned run = 0;

	*total = 0;
	for (size_t i = 0; i < sb->njobs; i++) {
		const struct job *j = sb->jobs[i];

		if (!j)
			continue;
		(*total)++;
		run += j->state == JOB_STARTING || j->state == JOB_RUNNING;
	}
	return run;
}

/* The fixed keys of status, in the contract's order. */
static json_t *status_object(const struct sandbox *sb)
{
	char jobs[32], left[24], addr[80];
	unsigned total, run = jobs_running(sb, &total);

	snprintf(jobs, sizeof(jobs), "%u/%u", run, total);
	egress_quota_left(sb, left, sizeof(left));
	egress_address(sb, addr, sizeof(addr));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, "
			 "s:s, s:I, s:s, s:s, s:s}",
			 "name", sb->name,
			 "state", sandbox_state_name(sb->state),
			 "reason", egress_reason(sb),
			 "shape", sb->shape,
			 "image", sb->image,
			 "accel", info->accel,
			 "pid", (json_int_t)(sb->pidfd >= 0 ? sb->pid : 0),
			 "uptime", (json_int_t)(sandbox_uptime_ms(sb) / 1000),
			 "jobs", jobs,
			 "egress", egress_status(sb),
			 "egress_bytes", (json_int_t)egress_status_bytes(sb),
			 "quota_left", left,
			 "address", addr,
			 "error", sb->error[0] ? sb->error : "-");
}

static const char *const status_keys[] = {
	"name", "state", "reason", "shape", "image", "accel", "pid",
	"uptime", "jobs", "egress", "egress_bytes", "quota_left", "address",
	"error",
};

static int status_text(const struct sandbox *sb, char **text, size_t *len)
{
	json_t *o = status_object(sb);
	FILE *f;

	if (!o)
		return -ENOMEM;
	f = open_memstream(text, len);
	if (!f) {
		json_decref(o);
		return -ENOMEM;
	}
	for (size_t i = 0; i < sizeof(status_keys) / sizeof(*status_keys); i++) {
		json_t *v = json_object_get(o, status_keys[i]);

		if (json_is_integer(v))
			fprintf(f, "%s %lld\n", status_keys[i],
				(long long)json_integer_value(v));
		else
			fprintf(f, "%s %s\n", status_keys[i],
				json_string_value(v));
	}
	json_decref(o);
	return fclose(f) == 0 ? 0 : -ENOMEM;
}

static int status_json(const struct sandbox *sb, char **text, size_t *len)
{
	json_t *o = status_object(sb);
	char *s;

	if (!o)
		return -ENOMEM;
	s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_INDENT(2));
	json_decref(o);
	if (!s)
		return -ENOMEM;
	*len = strlen(s) + 1;
	*text = realloc(s, *len + 1);
	if (!*text) {
		free(s);
		return -ENOMEM;
	}
	(*text)[*len - 1] = '\n';
	(*text)[*len] = '\0';
	return 0;
}

/* Images are folders images_dir/NAME/VERSION holding vmlinuz and
 * initrd.img; listed as NAME:VERSION. */
static void list_images(FILE *f)
{
	DIR *d = opendir(info->images_dir), *vd;
	struct dirent *e, *v;
	char path[4096], file[4200], img[600];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", info->images_dir, e->d_name);
		vd = opendir(path);
		if (!vd)
			continue;
		while ((v = readdir(vd))) {
			snprintf(img, sizeof(img), "%s:%s", e->d_name, v->d_name);
			snprintf(file, sizeof(file), "%s/%s/initrd.img", path,
				 v->d_name);
			if (v->d_name[0] != '.' && image_name_valid(img) &&
			    access(file, R_OK) == 0)
				fprintf(f, "%s\n", img);
		}
		closedir(vd);
	}
	closedir(d);
}

static int root_text(enum node_kind k, char **text, size_t *len)
{
	FILE *f = open_memstream(text, len);

	if (!f)
		return -ENOMEM;
	if (k == N_ROOT_STATUS) {
		fprintf(f, "version %s\naccel %s\nsandboxes %u\nerror %s\n",
			info->version, info->accel, sandbox_count(),
			info->error[0] ? info->error : "-");
	} else if (k == N_ROOT_SHAPES) {
		for (unsigned i = 0; i < nshapes; i++)
			fprintf(f, "%s %u %u\n", shapes[i].name, shapes[i].vcpus,
				shapes[i].mem_mib);
	} else if (k == N_ROOT_IMAGES) {
		list_images(f);
	}
	return fclose(f) == 0 ? 0 : -ENOMEM;
}

static int dup_text(const char *s, char **text, size_t *len)
{
	*text = strdup(s);
	if (!*text)
		return -ENOMEM;
	*len = strlen(s);
	return 0;
}

int render_node(const struct node *n, char **text, size_t *len)
{
	struct sandbox *sb;
	struct job *j = NULL;
	char line[64];

	switch (n->kind) {
	case N_ROOT_STATUS:
	case N_ROOT_SHAPES:
	case N_ROOT_IMAGES:
		return root_text(n->kind, text, len);
	default:
		break;
	}
	sb = sandbox_by_id(n->sb);
	if (!sb)
		return -ENOENT;
	if (n->job && !(j = sandbox_job(sb, n->job)))
		return -ENOENT;
	switch (n->kind) {
	case N_STATUS:
		return status_text(sb, text, len);
	case N_STATUS_JSON:
		return status_json(sb, text, len);
	case N_QUOTA:
		return quota_file_text(sb, text, len);
	case N_EGRESS:
		return egress_file_text(sb, text, len);
	case N_JOB_STATUS:
		job_status_text(j, line, sizeof(line));
		return dup_text(line, text, len);
	case N_JOB_CMD:
		*len = strlen(j->cmd) + 1;
		*text = malloc(*len + 1);
		if (!*text)
			return -ENOMEM;
		sprintf(*text, "%s\n", j->cmd);
		return 0;
	default:
		return -EINVAL;
	}
}
