/* Target: the OkHttp CertificatePinner source scanner, with its union-to-most-specific merge
 * (src/convert/), with the invariants of convert_fuzz.h. */
#include "convert_fuzz.h"

FUZZ_CONVERT_TARGET(CV_OKHTTP)
