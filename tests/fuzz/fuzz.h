/* Shared by the fuzz targets: the libFuzzer entry point and an invariant check. */
#ifndef CERTPIN_FUZZ_H
#define CERTPIN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant that must hold: abort() so libFuzzer (or the replay) reports it. */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

#endif
