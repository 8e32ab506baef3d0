#!/usr/bin/env bash
# The mbedTLS build of libcertpin links no OpenSSL and no libcurl: not as a
# direct dependency (readelf NEEDED), not through another library (ldd), and
# no OpenSSL symbol is referenced (nm).
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
CERTPIN_BIN=${CERTPIN_BIN:-/bin/true} . "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
LIB=${CERTPIN_MBEDTLS_LIB:?CERTPIN_MBEDTLS_LIB must point at the mbedTLS build of libcertpin.so}
[ -f "$LIB" ] || { not_ok "$LIB missing"; finish; exit 1; }
readelf -d "$LIB" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' >"$T/needed"
if grep -q mbedcrypto "$T/needed" && grep -q mbedx509 "$T/needed"; then ok "links mbedTLS: $(tr '\n' ' ' <"$T/needed")"; else not_ok "NEEDED: $(cat "$T/needed")"; fi
if grep -Eq 'libssl|libcrypto|libcurl' "$T/needed"; then not_ok "a direct OpenSSL/libcurl dependency: $(cat "$T/needed")"; else ok "no direct OpenSSL or libcurl dependency"; fi
ldd "$LIB" >"$T/ldd"
if grep -Eq 'libssl|libcrypto\.so|libcurl' "$T/ldd"; then not_ok "OpenSSL/libcurl reached through a dependency: $(cat "$T/ldd")"; else ok "ldd: no OpenSSL or libcurl anywhere in the dependency tree"; fi
nm -D --undefined-only "$LIB" | awk '{print $NF}' >"$T/undef"
if grep -Eq '^(SSL_|EVP_|X509_|OPENSSL_|ERR_|BIO_|d2i_|i2d_|curl_)' "$T/undef"; then
	not_ok "OpenSSL or libcurl symbols referenced: $(grep -E '^(SSL_|EVP_|X509_|OPENSSL_|ERR_|BIO_|d2i_|i2d_|curl_)' "$T/undef" | head -5 | tr '\n' ' ')"
else
	ok "nm: no OpenSSL or libcurl symbol referenced ($(grep -c '^mbedtls_' "$T/undef") mbedtls_ symbols)"
fi
nm -D --defined-only "$LIB" | awk '{print $NF}' | grep -v '^certpin_' | grep -Ev '^(_init|_fini|_edata|_end|__bss_start)$' >"$T/exported" || true
if [ -s "$T/exported" ]; then not_ok "exports more than certpin_*: $(head -5 "$T/exported" | tr '\n' ' ')"; else ok "exports only certpin_* symbols"; fi
nm -D --defined-only "$LIB" | grep -q ' certpin_mbedtls_attach$' && ok "exports the mbedTLS adapter" || not_ok "certpin_mbedtls_attach not exported"
if nm -D --defined-only "$LIB" | grep -Eq ' certpin_(openssl|curl)_'; then not_ok "OpenSSL/libcurl adapters in the mbedTLS build"; else ok "no OpenSSL or libcurl adapter in this build"; fi
finish
