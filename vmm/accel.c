/* A /dev/kvm that opens is not enough: some hosts (PVM) accept
 * KVM_CREATE_VM yet run stock guests through instruction emulation, far
 * slower than TCG.  So auto also wants vmx or svm in the CPU flags. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "accel.h"
#include "util.h"

static bool cpu_has_virt_flag(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[8192];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		found = strstr(line, " vmx") || strstr(line, " svm");
		break;
	}
	fclose(f);
	return found;
}

static bool kvm_works(void)
{
	autoclose int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	return fd >= 0 && ioctl(fd, KVM_GET_API_VERSION, 0) == KVM_API_VERSION;
}

int accel_resolve(const char *want, const char **out)
{
	if (strcmp(want, "tcg") == 0) {
		*out = "tcg";
		return 0;
	}
	if (strcmp(want, "kvm") == 0) {
		if (!kvm_works())
			return -ENODEV;
		*out = "kvm";
		return 0;
	}
	if (strcmp(want, "auto") != 0)
		return -EINVAL;
	*out = cpu_has_virt_flag() && kvm_works() ? "kvm" : "tcg";
	return 0;
}
