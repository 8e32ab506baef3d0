/* Target: the TrustKit JSON importer
 * (src/convert/), with the invariants of convert_fuzz.h. */
#include "convert_fuzz.h"

FUZZ_CONVERT_TARGET(CV_TRUSTKIT)
