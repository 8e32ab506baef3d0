#!/usr/bin/env bash
# The mbedTLS adapter blocks the handshakes that verify no certificate, or a
# stale one: resumption (set before or after certpin_mbedtls_setup), a
# per-handshake authmode NONE, a renegotiation-like second handshake after a
# session reset without a new setup, and a host name changed after setup.
# Against openssl s_server on 127.0.0.1 (it resumes TLS 1.2 sessions).
set -euo pipefail
: "${CERTPIN_BIN:=${CERTPIN_OPENSSL_BUILD:?CERTPIN_OPENSSL_BUILD must point at the OpenSSL build}/certpin}"
export CERTPIN_BIN
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"
TOOL=${CERTPIN_MBEDTLS_FAILCLOSED:?CERTPIN_MBEDTLS_FAILCLOSED must point at the test tool}
make_e2e_pki
P=$E2E_PKI
cd "$T"
# localhost is in the leaf's SAN and has no rule: it would be allowed unpinned
policy pol.json api.test "\"$INT_PIN\", \"$BACKUP_PIN\""
start_s_server "$P/leaf.pem" "$P/leaf.key" "$P/int.pem"
expect_exit 0 "the fail-closed cases ran" -- "$TOOL" "$P/root.pem" pol.json "$S_PORT"
expect_grep out "full: allowed (PINNED)" "a set-up handshake is allowed"
expect_grep out "resume-before-setup: refused (certpin_mbedtls_setup)" "setup refuses a pending resumption"
expect_grep out "resume-after-setup: blocked (no check ran" "a resumed handshake is refused by certpin_mbedtls_handshake"
expect_grep out "hs-none-after-setup: blocked (no check ran" "per-handshake authmode NONE is refused"
expect_grep out "host-changed: blocked (HOSTNAME_MISMATCH" "a host name changed after setup is blocked"
expect_grep out "reset-no-setup: blocked (certpin_mbedtls_setup() was not called for this handshake)" "a second handshake without setup is blocked"
finish
