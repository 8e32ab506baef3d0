/* Target: the iOS Info.plist importer (libplist, XML and binary)
 * (src/convert/), with the invariants of convert_fuzz.h. */
#include "convert_fuzz.h"

FUZZ_CONVERT_TARGET(CV_IOS_PLIST)
