/* Target: the certpin policy JSON importer of the converter (loader plus the pin_files split)
 * (src/convert/), with the invariants of convert_fuzz.h. */
#include "convert_fuzz.h"

FUZZ_CONVERT_TARGET(CV_CERTPIN)
