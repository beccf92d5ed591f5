/* The shape table; the first entry is the default. */
#include <string.h>

#include "shape.h"

const struct shape shapes[] = {
	{ "s-1vcpu-256mb", 1, 256 },
	{ "s-1vcpu-1gb", 1, 1024 },
	{ "s-2vcpu-2gb", 2, 2048 },
	{ "s-4vcpu-4gb", 4, 4096 },
};
const unsigned nshapes = sizeof(shapes) / sizeof(shapes[0]);

const struct shape *shape_find(const char *name)
{
	for (unsigned i = 0; i < nshapes; i++)
		if (strcmp(shapes[i].name, name) == 0)
			return &shapes[i];
	return NULL;
}
