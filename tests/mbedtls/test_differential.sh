#!/usr/bin/env bash
# One corpus through both builds (tests/mbedtls/differential.py): the 197
# x509-limbo SERVER cases and the pinning cases derived from every chain
# both validate. Every difference in verdict must be the listed one, with
# its reason (tests/mbedtls/expected-differences.txt); derived pinning cases
# must all agree.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CERTPIN=${CERTPIN_OPENSSL_BUILD:?CERTPIN_OPENSSL_BUILD must point at the OpenSSL build}/certpin
[ -x "$CERTPIN" ] || { echo "not ok - $CERTPIN is not built"; exit 1; }
exec python3 "$HERE/differential.py" --certpin "$CERTPIN" \
	--mbedtls-eval "${CERTPIN_MBEDTLS_EVAL:?}" --expected "$HERE/expected-differences.txt" -j 2
