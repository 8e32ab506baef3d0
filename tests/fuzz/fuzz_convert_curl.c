/* Target: the curl --pinnedpubkey string importer
 * (src/convert/), with the invariants of convert_fuzz.h. */
#include "convert_fuzz.h"

FUZZ_CONVERT_TARGET(CV_CURL)
