#!/usr/bin/env bash
# The libcurl adapter (examples/curl_client, certpin_curl_pin) against nginx
# and s_server on loopback: pins at the leaf, a mismatch with its message,
# CURLOPT_SSL_VERIFYPEER=0, a rogue CA the client trusts, a redirect from an
# unpinned to a pinned host (blocked at the second hop / allowed), and a
# reused connection after a policy swap, and mitmproxy (CONNECT mode) and
# sslsplit intercepting.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tools nginx openssl mitmdump sslsplit
CLIENT=${CERTPIN_CURL_CLIENT:-${CERTPIN_BUILD:?CERTPIN_BUILD must be set}/curl_client}
[ -x "$CLIENT" ] || die "curl_client not built: $CLIENT"
make_e2e_pki
P=$E2E_PKI
cd "$T"

policy leaf.json api.test "\"$LEAF_PIN\", \"$BACKUP_PIN\""
policy backup.json api.test "\"$BACKUP_PIN\""
cat "$P/root.pem" "$P/rogue.pem" >trusted-rogue.pem

start_nginx_redirect "$T/nginx" "$P/fullchain.pem" "$P/leaf.key" api.test
PORT=$NGINX_PORT
C=("$CLIENT" --cafile "$P/root.pem" --connect-to "::127.0.0.1:$PORT")

# ---- one host ----------------------------------------------------------------
expect_exit 0 "leaf pin + backup: allowed" -- "${C[@]}" leaf.json "https://api.test:$PORT/"
expect_grep "$T/out" "HTTP 200 https://api.test:$PORT/ (certpin PINNED)" "status and verdict"
expect_exit 1 "only the backup pinned: blocked" -- "${C[@]}" backup.json "https://api.test:$PORT/"
expect_grep "$T/out" "certpin PIN_MISMATCH" "verdict PIN_MISMATCH"
expect_grep "$T/out" "Certificate pinning failure for api.test (rule api.test):" "failure message"
expect_grep "$T/out" "$LEAF_PIN  CN=api.test" "failure message lists the leaf"
expect_grep "$T/out" "Pinned for api.test:" "failure message lists the pins"
# VERIFYPEER=0: libcurl then loads no CA file; certpin still validates (the
# default store lacks our root) and never lets the mismatch through.
expect_exit 2 "--insecure (VERIFYPEER=0), only the backup pinned: still blocked" -- \
	"${C[@]}" --insecure backup.json "https://api.test:$PORT/"
expect_grep "$T/out" "certpin CHAIN_INVALID" "VERIFYPEER=0 does not switch validation off"

# ---- policy outcomes through the adapter ------------------------------------------
policy exp-unpinned.json api.test "\"$BACKUP_PIN\"" '"expires": "2020-01-01", "on_expiry": "unpinned"'
policy exp-block.json api.test "\"$LEAF_PIN\"" '"expires": "2020-01-01", "on_expiry": "block"'
policy report.json api.test "\"$BACKUP_PIN\"" '"mode": "report"'
echo '{"certpin": 1, "unlisted_hosts": "deny", "domains": []}' >deny.json
expect_exit 0 "expired pin set, on_expiry unpinned: allowed" -- "${C[@]}" exp-unpinned.json "https://api.test:$PORT/"
expect_grep "$T/out" "EXPIRED_UNPINNED" "verdict EXPIRED_UNPINNED"
expect_exit 1 "expired pin set, on_expiry block: blocked" -- "${C[@]}" exp-block.json "https://api.test:$PORT/"
expect_grep "$T/out" "EXPIRED_BLOCKED" "verdict EXPIRED_BLOCKED"
expect_exit 0 "report mode mismatch: allowed" -- "${C[@]}" report.json "https://api.test:$PORT/"
expect_grep "$T/out" "REPORT_ONLY_MISMATCH" "verdict REPORT_ONLY_MISMATCH"
expect_exit 1 "deny mode, unlisted host: blocked" -- "${C[@]}" deny.json "https://api.test:$PORT/"
expect_grep "$T/out" "UNLISTED_HOST" "verdict UNLISTED_HOST"
expect_exit 2 "wrong host name: validation fails" -- "${C[@]}" leaf.json "https://www.test:$PORT/"
expect_grep "$T/out" "HOSTNAME_MISMATCH" "verdict HOSTNAME_MISMATCH"
start_nginx "$T/nginx-exp" "$P/exp-fullchain.pem" "$P/leaf.key"
expect_exit 2 "expired leaf: validation fails" -- "$CLIENT" --cafile "$P/root.pem" \
	--connect-to "::127.0.0.1:$NGINX_PORT" leaf.json "https://api.test:$NGINX_PORT/"
expect_grep "$T/out" "CHAIN_INVALID" "verdict CHAIN_INVALID"

# ---- redirect from an unpinned host to a pinned one ------------------------------
expect_exit 1 "redirect localhost -> api.test, api.test pins do not match: blocked" -- \
	"${C[@]}" backup.json "https://localhost:$PORT/redir"
expect_grep "$T/out" "Certificate pinning failure for api.test (rule api.test):" \
	"blocked at the second hop, for the redirect target"
expect_grep "$T/nginx/access.log" "GET /redir" "the first hop (unpinned localhost) was served"
expect_exit 0 "redirect localhost -> api.test, pins match: allowed" -- \
	"${C[@]}" leaf.json "https://localhost:$PORT/redir"
expect_grep "$T/out" "HTTP 200 https://api.test:$PORT/ (certpin PINNED)" "followed to the pinned host"

# ---- connection reuse across a policy swap --------------------------------------
expect_exit 0 "two transfers on one connection, same pins: allowed" -- \
	"${C[@]}" --twice leaf.json leaf.json "https://api.test:$PORT/"
expect_grep "$T/out" "new connections in the second transfer: 0" "the connection was reused"
expect_exit 1 "reused connection after a swap to non-matching pins: blocked" -- \
	"${C[@]}" --twice backup.json leaf.json "https://api.test:$PORT/"
expect_grep "$T/out" "new connections in the second transfer: 0" "blocked on the reused connection"
expect_grep "$T/out" "certpin PIN_MISMATCH" "verdict of the re-check"

# ---- interception with a rogue CA the client trusts --------------------------------
start_s_server "$P/evil.pem" "$P/evil.key"
R=("$CLIENT" --cafile trusted-rogue.pem --connect-to "::127.0.0.1:$S_PORT")
echo '{"certpin": 1, "domains": []}' >none.json
expect_exit 0 "rogue CA trusted, no pins: intercepted (the attack is real)" -- \
	"${R[@]}" none.json "https://api.test:$S_PORT/"
expect_exit 1 "rogue CA trusted, pinned: blocked" -- "${R[@]}" leaf.json "https://api.test:$S_PORT/"
expect_grep "$T/out" "$EVIL_PIN  CN=api.test" "failure message names the rogue leaf"

# ---- mitmproxy in regular (CONNECT) mode, its CA trusted by the client -------------
# The tunnel goes to 127.0.0.1:PORT (--connect-to applies to it); SNI, name
# checks and the policy keep api.test.
start_mitm_regular "$P/root.pem"
cat "$P/root.pem" "$MITM_CA" >trusted-mitm.pem
MR=("$CLIENT" --cafile trusted-mitm.pem --proxy "http://127.0.0.1:$MITM_PROXY_PORT"
	--connect-to "::127.0.0.1:$PORT")
expect_exit 0 "mitmproxy CONNECT, no pins: intercepted (the attack is real)" -- \
	"${MR[@]}" none.json "https://api.test:$PORT/"
expect_exit 1 "mitmproxy CONNECT, pinned: blocked" -- "${MR[@]}" leaf.json "https://api.test:$PORT/"
expect_grep "$T/out" "O=mitmproxy,CN=mitmproxy" "failure message shows mitmproxy's CA in the validated chain"

# ---- sslsplit with the rogue CA -------------------------------------------------------
start_sslsplit "$PORT" "$P/rogue.pem" "$P/rogue.key"
SS=("$CLIENT" --cafile trusted-rogue.pem --connect-to "::127.0.0.1:$SSLSPLIT_PORT")
expect_exit 0 "sslsplit, no pins: intercepted" -- "${SS[@]}" none.json "https://api.test:$SSLSPLIT_PORT/"
expect_exit 1 "sslsplit, pinned: blocked" -- "${SS[@]}" leaf.json "https://api.test:$SSLSPLIT_PORT/"

finish
