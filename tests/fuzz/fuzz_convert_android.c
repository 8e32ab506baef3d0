/* Target: the Android network security config importer (libxml2, no DTD or entities)
 * (src/convert/), with the invariants of convert_fuzz.h. */
#include "convert_fuzz.h"

FUZZ_CONVERT_TARGET(CV_ANDROID_NSC)
