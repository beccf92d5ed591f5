/* A sandbox's network, between sandbox.c and netpol/: made with the
 * sandbox record (so a template boot and the restore after it share one
 * tap), handed to each QEMU, sent to the guest in setup, freed with it. */
#ifndef SBXFS_SBNET_H
#define SBXFS_SBNET_H

#include <jansson.h>

struct sandbox;
struct qemu_cfg;

/* Never fails the sandbox: without a network it is "egress broken". */
void sbnet_open(struct sandbox *sb);
void sbnet_close(struct sandbox *sb);
void sbnet_qemu(struct sandbox *sb, struct qemu_cfg *qc);
/* Adds the "net" field to a first setup message. */
void sbnet_setup(struct sandbox *sb, json_t *m);

/* net.json in the sandbox's folder: tap, slot, list and quota, written
 * whenever they change, read by a restarted daemon to take over. */
void sbnet_save(struct sandbox *sb);
void sbnet_recover(struct sandbox *sb);
/* The child of a fork gets the parent's list and remaining quota. */
void sbnet_fork(struct sandbox *child, const struct sandbox *parent);

#endif
