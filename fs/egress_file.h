/* The egress and quota files of a sandbox and its recharge command, as
 * INTERFACE.md has them: `>` collects a list that replaces the old one on
 * the last close, `>>` appends at once, a bad line fails its write and
 * changes nothing. */
#ifndef SBXFS_EGRESS_FILE_H
#define SBXFS_EGRESS_FILE_H

#include <stddef.h>
#include <stdint.h>

struct sandbox;
struct egress_open;

int egress_file_open(struct sandbox *sb, int flags, struct egress_open **out);
/* Returns 0 or -errno, with the sandbox's error set. */
int egress_file_write(struct sandbox *sb, struct egress_open *eo,
		      const char *buf, size_t size);
/* sb may be NULL (gone): then eo is only freed. */
void egress_file_release(struct sandbox *sb, struct egress_open *eo);

int egress_file_text(struct sandbox *sb, char **text, size_t *len);
int quota_file_text(struct sandbox *sb, char **text, size_t *len);
int egress_recharge(struct sandbox *sb, unsigned long long bytes);

/* Status values: egress, egress_bytes, quota_left, address, reason. */
const char *egress_status(const struct sandbox *sb);
uint64_t egress_status_bytes(const struct sandbox *sb);
void egress_quota_left(const struct sandbox *sb, char *buf, size_t len);
void egress_address(const struct sandbox *sb, char *buf, size_t len);
const char *egress_reason(const struct sandbox *sb);

#endif
