#!/usr/bin/env bash
# examples/mbedtls_client (libcertpin built on mbedTLS) on loopback: the same
# cases as the OpenSSL adapter's tests (nginx's real chain at every scope,
# mitmproxy interception, a rogue leaf, the appended intermediate, expired
# pin sets, a wrong name), the fail-closed rules of certpin_mbedtls.h (no
# host name, no per-connection setup, authmode OPTIONAL and NONE), pinned
# trust anchors for a private CA, and `certpin attack` against the client.
set -euo pipefail
: "${CERTPIN_BIN:=${CERTPIN_OPENSSL_BUILD:?CERTPIN_OPENSSL_BUILD must point at the OpenSSL build}/certpin}"
export CERTPIN_BIN
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"
need_tools nginx mitmdump openssl
need_certpin
CLIENT=${CERTPIN_MBEDTLS_CLIENT:?CERTPIN_MBEDTLS_CLIENT must point at the mbedTLS example}
[ -x "$CLIENT" ] || die "$CLIENT is not built"
make_e2e_pki
P=$E2E_PKI
cd "$T"

policy leaf.json api.test "\"$LEAF_PIN\", \"$BACKUP_PIN\""
policy int.json api.test "\"$INT_PIN\", \"$BACKUP_PIN\""
policy root.json api.test "\"$ROOT_PIN\", \"$BACKUP_PIN\""
policy backup.json api.test "\"$BACKUP_PIN\""
echo '{"certpin": 1, "domains": []}' >none.json
policy exp-unpinned.json api.test "\"$BACKUP_PIN\"" '"expires": "2020-01-01", "on_expiry": "unpinned"'
policy exp-block.json api.test "\"$LEAF_PIN\"" '"expires": "2020-01-01", "on_expiry": "block"'
policy report.json api.test "\"$BACKUP_PIN\"" '"mode": "report"'
cp "$P/root.pem" private-root.pem
policy anchors.json api.test "\"$INT_PIN\", \"$BACKUP_PIN\"" '"pin_files": ["private-root.pem"], "trust_anchors": "pinned"'
cat "$P/root.pem" "$P/rogue.pem" >trusted-rogue.pem

start_nginx "$T/nginx" "$P/fullchain.pem" "$P/leaf.key"
REAL=127.0.0.1:$NGINX_PORT
C=("$CLIENT" --connect "$REAL")

# ---- the real server -------------------------------------------------------------
expect_exit 0 "real chain, leaf pin: allowed, HEAD answered" -- "${C[@]}" --cafile "$P/root.pem" leaf.json "api.test:$NGINX_PORT"
expect_grep out "PINNED (rule api.test)" "verdict PINNED"
expect_grep out "HTTP/1.1 200 OK" "status line"
expect_exit 0 "real chain, intermediate pin: allowed" -- "${C[@]}" --cafile "$P/root.pem" int.json "api.test:$NGINX_PORT"
expect_exit 0 "real chain, root pin: allowed" -- "${C[@]}" --cafile "$P/root.pem" root.json "api.test:$NGINX_PORT"
expect_exit 1 "backup pin only: blocked" -- "${C[@]}" --cafile "$P/root.pem" backup.json "api.test:$NGINX_PORT"
expect_grep out "Certificate pinning failure for api.test (rule api.test):" "failure message"
expect_grep out "$LEAF_PIN  CN=api.test" "the message lists the validated leaf (RFC 2253 subject)"
expect_grep out "$ROOT_PIN  CN=certpin e2e Root CA" "the message lists the validated root"
expect_exit 0 "report mode: allowed" -- "${C[@]}" --cafile "$P/root.pem" report.json "api.test:$NGINX_PORT"
expect_grep out "(rule api.test, mode report: allowed and reported)" "report mode: the mismatch is shown as allowed and reported"
expect_exit 0 "expired pin set, on_expiry unpinned: allowed" -- "${C[@]}" --cafile "$P/root.pem" exp-unpinned.json "api.test:$NGINX_PORT"
expect_grep out "EXPIRED_UNPINNED" "verdict EXPIRED_UNPINNED"
expect_exit 1 "expired pin set, on_expiry block: blocked" -- "${C[@]}" --cafile "$P/root.pem" exp-block.json "api.test:$NGINX_PORT"
expect_grep out "verdict: EXPIRED_BLOCKED" "verdict EXPIRED_BLOCKED"
expect_exit 2 "wrong host name: validation fails" -- "${C[@]}" --cafile "$P/root.pem" none.json "www.test:$NGINX_PORT"
expect_grep out "verdict: HOSTNAME_MISMATCH" "verdict HOSTNAME_MISMATCH"
expect_exit 2 "untrusted chain: validation fails" -- "${C[@]}" --cafile "$P/rogue.pem" none.json "api.test:$NGINX_PORT"
expect_grep out "verdict: CHAIN_INVALID" "verdict CHAIN_INVALID"

# ---- fail closed --------------------------------------------------------------------
expect_exit 1 "no mbedtls_ssl_set_hostname: certpin refuses the connection" -- "${C[@]}" --no-hostname --cafile "$P/root.pem" leaf.json "api.test:$NGINX_PORT"
expect_grep err "no host name: call mbedtls_ssl_set_hostname" "no host name: message"
expect_exit 3 "attached config, certpin_mbedtls_setup not called: the handshake fails" -- "${C[@]}" --no-setup --cafile "$P/root.pem" leaf.json "api.test:$NGINX_PORT"
expect_exit 1 "authmode OPTIONAL: a pin mismatch still stops the handshake" -- "${C[@]}" --authmode optional --cafile "$P/root.pem" backup.json "api.test:$NGINX_PORT"
expect_exit 2 "authmode OPTIONAL: an untrusted chain still stops the handshake" -- "${C[@]}" --authmode optional --cafile "$P/rogue.pem" none.json "api.test:$NGINX_PORT"
expect_exit 1 "authmode NONE: attach raised it, a pin mismatch is blocked" -- "${C[@]}" --authmode none --cafile "$P/root.pem" backup.json "api.test:$NGINX_PORT"
expect_exit 2 "authmode NONE: an untrusted chain is blocked" -- "${C[@]}" --authmode none --cafile "$P/rogue.pem" none.json "api.test:$NGINX_PORT"

# ---- pinned trust anchors: the private CA is the only anchor -------------------------
expect_exit 0 "trust_anchors pinned: allowed although the client trusts only another CA" -- "${C[@]}" --cafile "$P/rogue.pem" anchors.json "api.test:$NGINX_PORT"

# ---- interception ---------------------------------------------------------------------
start_mitm_reverse "$NGINX_PORT"
cat "$P/root.pem" "$MITM_CA" >trusts-mitm.pem
M=("$CLIENT" --connect "127.0.0.1:$MITM_PORT" --cafile trusts-mitm.pem)
expect_exit 0 "mitmproxy, no pins: intercepted (the attack is real)" -- "${M[@]}" none.json "api.test:$MITM_PORT"
expect_exit 1 "mitmproxy, leaf pin: blocked" -- "${M[@]}" leaf.json "api.test:$MITM_PORT"
expect_exit 1 "mitmproxy, intermediate pin: blocked" -- "${M[@]}" int.json "api.test:$MITM_PORT"
expect_exit 2 "mitmproxy, pinned anchors: the forged chain does not reach them" -- "${M[@]}" anchors.json "api.test:$MITM_PORT"

start_s_server "$P/evil.pem" "$P/evil.key"
expect_exit 1 "rogue-CA leaf, intermediate pin: blocked" -- "$CLIENT" --connect "127.0.0.1:$S_PORT" --cafile trusted-rogue.pem int.json "api.test:$S_PORT"
start_s_server "$P/evil.pem" "$P/evil.key" "$P/int.pem"
expect_exit 1 "CVE-2016-2402: the real intermediate appended does not pass" -- "$CLIENT" --connect "127.0.0.1:$S_PORT" --cafile trusted-rogue.pem int.json "api.test:$S_PORT"

# ---- the MITM battery ------------------------------------------------------------------
expect_exit 0 "certpin attack: the mbedTLS client rejects every attack" -- \
	"$CERTPIN_BIN" attack --timeout 20 --json attack.json \
	--client "$CLIENT --cafile {cafile} --connect {addr}:{port} {policy} {host}:{port}"
expect_grep out "15 passed, 0 failed" "battery summary"

finish
