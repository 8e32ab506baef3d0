#!/usr/bin/env bash
# The attacks the e2e suite defends against are real, shown with tools nobody
# on this project wrote (nginx, mitmproxy, sslsplit, openssl s_server, curl):
# each interception succeeds against a client that trusts the attacker's CA,
# and curl's own --pinnedpubkey (leaf SPKI pin) notices it (exit 90).
# No certpin code runs here; later e2e tests put certpin in curl's place.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tools curl nginx mitmdump sslsplit openssl

make_e2e_pki
P=$E2E_PKI
LEAF_PINOPT=(--pinnedpubkey "sha256//${LEAF_PIN#sha256/}")
BACKUP_PINOPT=(--pinnedpubkey "sha256//${BACKUP_PIN#sha256/}")

# expect_get DESC WANT_RC WANT_BODY -- CURL_ARGS...
#   WANT_RC 0: exit 0, HTTP 200 and the body contains WANT_BODY.
#   otherwise: that exit code and no body delivered.
expect_get() {
	local desc=$1 want=$2 body=$3 out
	shift 4
	out=$(mktemp "$T/curl.XXXX")
	LAST_OUT=$out
	curl_e2e "$out" "$@"
	if [ "$want" -eq 0 ]; then
		if [ "$CURL_RC" -eq 0 ] && [ "$HTTP_CODE" = 200 ] && grep -qF -- "$body" "$out"; then
			ok "$desc (exit 0, HTTP 200, body)"
			return
		fi
		not_ok "$desc: expected exit 0, HTTP 200 and '$body'; got exit $CURL_RC, HTTP $HTTP_CODE"
	else
		if [ "$CURL_RC" -eq "$want" ] && [ ! -s "$out" ]; then
			ok "$desc (exit $CURL_RC, no body)"
			return
		fi
		not_ok "$desc: expected exit $want and no body; got exit $CURL_RC, HTTP $HTTP_CODE"
	fi
	sed 's/^/    body: /' "$out" | head -5
	grep -E '^(\*|curl:)' "$out.log" | tail -8 | sed 's/^/    curl: /'
}

# check DESC CONDITION...: ok when the command succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# leaf_from_attacker DESC PREFIX COUNT CA: the leaf a proxy served is not the
# real leaf (other SPKI pin) and chains to the attacker's CA.
leaf_from_attacker() {
	local desc=$1 prefix=$2 n=$3 ca=$4 pin
	if [ "$n" -lt 1 ] || [ ! -s "$prefix.0.pem" ]; then
		not_ok "$desc: no certificate received"
		show_log "$prefix.err" 5
		return
	fi
	pin=$(pem_pin "$prefix.0.pem")
	if [ "$pin" != "$LEAF_PIN" ] &&
		openssl verify -CAfile "$ca" -partial_chain "$prefix.0.pem" >/dev/null 2>&1; then
		ok "$desc (leaf $pin, issuer: $(openssl x509 -in "$prefix.0.pem" -noout -issuer))"
	else
		not_ok "$desc: leaf pin $pin (real $LEAF_PIN) or it does not chain to $(basename "$ca")"
		openssl x509 -in "$prefix.0.pem" -noout -subject -issuer | sed 's/^/    /'
	fi
}

# ---- 1. nginx serves the real chain ---------------------------------------
start_nginx "$T/nginx" "$P/fullchain.pem" "$P/leaf.key"
TO_NGINX=(--connect-to "api.test:443:127.0.0.1:$NGINX_PORT")
echo "# nginx on 127.0.0.1:$NGINX_PORT"

expect_get "nginx: client trusting the real root gets the page" 0 "$NGINX_BODY" -- \
	--cacert "$P/root.pem" "${TO_NGINX[@]}" https://api.test/
n=$(served_certs "$NGINX_PORT" api.test "$T/direct")
check "nginx presents leaf + intermediate with the real pins" \
	test "$n" = 2 -a "$(pem_pin "$T/direct.0.pem")" = "$LEAF_PIN" -a "$(pem_pin "$T/direct.1.pem")" = "$INT_PIN"
expect_get "nginx: curl --pinnedpubkey <real leaf pin> passes" 0 "$NGINX_BODY" -- \
	--cacert "$P/root.pem" "${LEAF_PINOPT[@]}" "${TO_NGINX[@]}" https://api.test/
expect_get "nginx: curl --pinnedpubkey <backup pin only> is refused (curl's pin check is live)" 90 "" -- \
	--cacert "$P/root.pem" "${BACKUP_PINOPT[@]}" "${TO_NGINX[@]}" https://api.test/

# ---- 2. mitmproxy, reverse mode, in front of nginx ------------------------
start_mitm_reverse "$NGINX_PORT" "$P/root.pem"
echo "# mitmdump reverse on 127.0.0.1:$MITM_PORT"
cat "$P/root.pem" "$MITM_CA" >"$T/trust-mitm.pem"
TO_MITM=(--connect-to "api.test:443:127.0.0.1:$MITM_PORT")

expect_get "mitmproxy reverse: client trusting only the real root rejects the forged leaf" 60 "" -- \
	--cacert "$P/root.pem" "${TO_MITM[@]}" https://api.test/
expect_get "mitmproxy reverse: client trusting mitmproxy's CA is intercepted, nginx's body comes through" \
	0 "$NGINX_BODY" -- --cacert "$T/trust-mitm.pem" "${TO_MITM[@]}" https://api.test/
n=$(served_certs "$MITM_PORT" api.test "$T/mitm-rev")
leaf_from_attacker "mitmproxy reverse sits in the middle: served leaf is mitmproxy's" "$T/mitm-rev" "$n" "$MITM_CA"
expect_get "mitmproxy reverse: curl --pinnedpubkey <real leaf pin> blocks the interception" 90 "" -- \
	--cacert "$T/trust-mitm.pem" "${LEAF_PINOPT[@]}" "${TO_MITM[@]}" https://api.test/

# ---- 3. mitmproxy, regular (CONNECT) mode ---------------------------------
# curl sends CONNECT 127.0.0.1:NGINX_PORT (--connect-to applies to the tunnel
# target), while SNI and Host stay api.test: mitmproxy never resolves a name.
start_mitm_regular "$P/root.pem"
echo "# mitmdump regular on 127.0.0.1:$MITM_PROXY_PORT"
VIA_PROXY=(--proxy "http://127.0.0.1:$MITM_PROXY_PORT" "${TO_NGINX[@]}")

expect_get "mitmproxy CONNECT: client trusting mitmproxy's CA is intercepted" 0 "$NGINX_BODY" -- \
	--cacert "$T/trust-mitm.pem" "${VIA_PROXY[@]}" https://api.test/
check "mitmproxy CONNECT: the tunnel goes to 127.0.0.1:$NGINX_PORT through the proxy" \
	grep -q "CONNECT 127.0.0.1:$NGINX_PORT HTTP" "$LAST_OUT.log"
n=$(served_certs "$NGINX_PORT" api.test "$T/mitm-reg" -proxy "127.0.0.1:$MITM_PROXY_PORT")
leaf_from_attacker "mitmproxy CONNECT sits in the middle: served leaf is mitmproxy's" "$T/mitm-reg" "$n" "$MITM_CA"
expect_get "mitmproxy CONNECT: curl --pinnedpubkey <real leaf pin> blocks the interception" 90 "" -- \
	--cacert "$T/trust-mitm.pem" "${LEAF_PINOPT[@]}" "${VIA_PROXY[@]}" https://api.test/

# ---- 4. sslsplit with the rogue CA, in front of nginx ---------------------
start_sslsplit "$NGINX_PORT" "$P/rogue.pem" "$P/rogue.key"
echo "# sslsplit on 127.0.0.1:$SSLSPLIT_PORT"
cat "$P/root.pem" "$P/rogue.pem" >"$T/trust-rogue.pem"
TO_SPLIT=(--connect-to "api.test:443:127.0.0.1:$SSLSPLIT_PORT")

expect_get "sslsplit: client trusting only the real root rejects the forged leaf" 60 "" -- \
	--cacert "$P/root.pem" "${TO_SPLIT[@]}" https://api.test/
expect_get "sslsplit: client trusting the rogue CA is intercepted, nginx's body comes through" \
	0 "$NGINX_BODY" -- --cacert "$T/trust-rogue.pem" "${TO_SPLIT[@]}" https://api.test/
n=$(served_certs "$SSLSPLIT_PORT" api.test "$T/split")
leaf_from_attacker "sslsplit sits in the middle: served leaf is forged by the rogue CA" "$T/split" "$n" "$P/rogue.pem"
check "sslsplit logged the intercepted connections" test -s "$SSLSPLIT_DIR/conn.log"
expect_get "sslsplit: curl --pinnedpubkey <real leaf pin> blocks the interception" 90 "" -- \
	--cacert "$T/trust-rogue.pem" "${LEAF_PINOPT[@]}" "${TO_SPLIT[@]}" https://api.test/

# ---- 5. attacker chain with the real intermediate appended (CVE-2016-2402) -
# The rogue leaf followed by the real (pinned) intermediate: the pinned
# certificate is on the wire, yet not in the chain a validator builds.
start_s_server "$P/evil.pem" "$P/evil.key" "$P/int.pem"
echo "# s_server (rogue leaf + real intermediate) on 127.0.0.1:$S_PORT"
TO_S=(--connect-to "api.test:443:127.0.0.1:$S_PORT")
n=$(served_certs "$S_PORT" api.test "$T/evil")
check "attacker chain on the wire: rogue leaf, then the real intermediate ($INT_PIN)" \
	test "$n" = 2 -a "$(pem_pin "$T/evil.0.pem")" = "$EVIL_PIN" -a "$(pem_pin "$T/evil.1.pem")" = "$INT_PIN"
expect_get "attacker chain: client trusting root + rogue CA accepts it" 0 "s_server" -- \
	--cacert "$T/trust-rogue.pem" "${TO_S[@]}" https://api.test/
openssl verify -show_chain -CAfile "$T/trust-rogue.pem" -untrusted "$P/int.pem" "$P/evil.pem" >"$T/verify.out" 2>&1 || true
validated_without_int() {
	grep -q "^depth=1: CN = certpin e2e Rogue CA" "$T/verify.out" && ! grep -q "Issuing CA" "$T/verify.out"
}
check "attacker chain: the validated chain is rogue leaf -> Rogue CA, without the appended intermediate" \
	validated_without_int
expect_get "attacker chain: client trusting only the real root rejects it (the appended cert does not help)" 60 "" -- \
	--cacert "$P/root.pem" "${TO_S[@]}" https://api.test/

# ---- 6. a leaf from the real intermediate with another key ----------------
start_s_server "$P/other-leaf.pem" "$P/other.key" "$P/int.pem"
echo "# s_server (other key, real intermediate) on 127.0.0.1:$S_PORT"
TO_S=(--connect-to "api.test:443:127.0.0.1:$S_PORT")
expect_get "mis-issued leaf from the real intermediate passes ordinary validation" 0 "s_server" -- \
	--cacert "$P/root.pem" "${TO_S[@]}" https://api.test/
expect_get "mis-issued leaf: curl --pinnedpubkey <real leaf pin> blocks it" 90 "" -- \
	--cacert "$P/root.pem" "${LEAF_PINOPT[@]}" "${TO_S[@]}" https://api.test/

echo "# elapsed ${SECONDS}s"
check "whole test under 60 s" test "$SECONDS" -lt 60
finish
