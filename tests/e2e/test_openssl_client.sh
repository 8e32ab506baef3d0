#!/usr/bin/env bash
# examples/openssl_client (a plain OpenSSL client with certpin attached) and
# certpin check over IPv6, against nginx, mitmproxy and s_server on loopback.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tools nginx mitmdump openssl
need_certpin
CLIENT=${CERTPIN_OPENSSL_CLIENT:?CERTPIN_OPENSSL_CLIENT must point at examples/openssl_client}
[ -x "$CLIENT" ] || die "$CLIENT is not built"
make_e2e_pki
P=$E2E_PKI
cd "$T"
policy leaf.json api.test "\"$LEAF_PIN\", \"$BACKUP_PIN\""
policy int.json api.test "\"$INT_PIN\", \"$BACKUP_PIN\""
policy backup.json api.test "\"$BACKUP_PIN\""
echo '{"certpin": 1, "domains": []}' >none.json

start_nginx "$T/nginx" "$P/fullchain.pem" "$P/leaf.key"
REAL_PORT=$NGINX_PORT
N=(--connect "127.0.0.1:$REAL_PORT" --cafile "$P/root.pem")
expect_exit 0 "example client, leaf pin: allowed and HEAD answered" -- "$CLIENT" "${N[@]}" leaf.json api.test
expect_grep out "HTTP/1.1 200" "status line printed"
expect_exit 0 "example client, intermediate pin: allowed" -- "$CLIENT" "${N[@]}" int.json api.test
expect_exit 1 "example client, backup pin only: blocked" -- "$CLIENT" "${N[@]}" backup.json api.test
cat out err >both
expect_grep both "Certificate pinning failure for api.test" "failure message printed"
expect_exit 1 "example client with SSL_VERIFY_NONE: still blocked" -- "$CLIENT" "${N[@]}" --insecure-verify-none backup.json api.test
expect_exit 2 "example client, wrong host: validation fails" -- "$CLIENT" "${N[@]}" leaf.json www.test
expect_exit 2 "example client with SSL_VERIFY_NONE, untrusted chain: still validated" -- "$CLIENT" --connect "127.0.0.1:$REAL_PORT" --cafile "$P/rogue.pem" --insecure-verify-none none.json api.test

# ---- policy outcomes through the adapter ------------------------------------------
policy exp-unpinned.json api.test "\"$BACKUP_PIN\"" '"expires": "2020-01-01", "on_expiry": "unpinned"'
policy exp-block.json api.test "\"$LEAF_PIN\"" '"expires": "2020-01-01", "on_expiry": "block"'
policy report.json api.test "\"$BACKUP_PIN\"" '"mode": "report"'
echo '{"certpin": 1, "unlisted_hosts": "deny", "domains": []}' >deny.json
expect_exit 0 "expired pin set, on_expiry unpinned: allowed" -- "$CLIENT" "${N[@]}" exp-unpinned.json api.test
expect_grep "$T/err" "EXPIRED_UNPINNED" "expired-unpinned verdict shown (allowed, visible)"
expect_exit 1 "expired pin set, on_expiry block: blocked" -- "$CLIENT" "${N[@]}" exp-block.json api.test
expect_grep "$T/err" 'on_expiry is "block"' "expired-blocked message"
expect_exit 0 "report mode mismatch: allowed" -- "$CLIENT" "${N[@]}" report.json api.test
expect_grep "$T/err" "mode report: allowed and reported" "report-only message (allowed, visible)"
expect_exit 1 "deny mode, unlisted host: blocked" -- "$CLIENT" "${N[@]}" deny.json api.test
expect_grep "$T/err" "denies unlisted hosts" "unlisted-host message"
start_s_server "$P/evil.pem" "$P/evil.key" "$P/int.pem"
cat "$P/root.pem" "$P/rogue.pem" >trusted-rogue.pem
expect_exit 1 "example client: rogue leaf with the pinned intermediate appended is blocked" -- \
	"$CLIENT" --connect "127.0.0.1:$S_PORT" --cafile trusted-rogue.pem int.json api.test
start_nginx "$T/nginx-exp" "$P/exp-fullchain.pem" "$P/leaf.key"
expect_exit 2 "example client: expired leaf fails validation" -- \
	"$CLIENT" --connect "127.0.0.1:$NGINX_PORT" --cafile "$P/root.pem" leaf.json api.test

start_mitm_reverse "$REAL_PORT"
cat "$P/root.pem" "$MITM_CA" >trusted-mitm.pem
M=(--connect "127.0.0.1:$MITM_PORT" --cafile trusted-mitm.pem)
expect_exit 0 "example client without pins is intercepted by mitmproxy" -- "$CLIENT" "${M[@]}" none.json api.test
expect_exit 1 "example client with pins blocks mitmproxy" -- "$CLIENT" "${M[@]}" leaf.json api.test

# IPv6 loopback: --connect [::1]:PORT keeps api.test for SNI and the policy.
port6=$("$E2E_PYTHON" -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0)); print(s.getsockname()[1])')
setsid timeout "$E2E_SERVER_TIMEOUT" openssl s_server -quiet -accept "[::1]:$port6" -cert "$P/leaf.pem" \
	-key "$P/leaf.key" -cert_chain "$P/int.pem" -www >"$T/s6.log" 2>&1 &
E2E_PIDS+=("$!")
for _ in $(seq 50); do
	"$E2E_PYTHON" -c 'import socket,sys; socket.create_connection(("::1", int(sys.argv[1])), 0.2)' "$port6" 2>/dev/null && break
	sleep 0.1
done
expect_exit 0 "check over IPv6 (--connect [::1]:PORT)" -- "$CERTPIN" check --connect "[::1]:$port6" --cafile "$P/root.pem" --policy leaf.json api.test
expect_exit 1 "check over IPv6, backup pin only: blocked" -- "$CERTPIN" check --connect "[::1]:$port6" --cafile "$P/root.pem" --policy backup.json api.test
finish
