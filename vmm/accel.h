/* Which accelerator QEMU gets: KVM only where hardware virtualisation
 * really works, TCG everywhere else (see docs/design.md). */
#ifndef SBXFS_ACCEL_H
#define SBXFS_ACCEL_H

/* want is "auto", "kvm" or "tcg"; *out becomes "kvm" or "tcg".  Forcing
 * kvm on a host without it is -ENODEV, a bad word is -EINVAL. */
int accel_resolve(const char *want, const char **out);

#endif
