#!/usr/bin/env bash
# certpin check through real servers and real interception tools on loopback:
# the OpenSSL adapter allows the real chain at every pin scope and blocks
# mitmproxy, sslsplit, a rogue leaf from the real intermediate (leaf scope)
# and the CVE-2016-2402 chain, with the exit codes of ARCHITECTURE.md.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tools nginx mitmdump sslsplit openssl
need_certpin
make_e2e_pki
P=$E2E_PKI
cd "$T"

policy leaf.json api.test "\"$LEAF_PIN\", \"$BACKUP_PIN\""
policy int.json api.test "\"$INT_PIN\", \"$BACKUP_PIN\""
policy root.json api.test "\"$ROOT_PIN\", \"$BACKUP_PIN\""
policy backup.json api.test "\"$BACKUP_PIN\""
echo '{"certpin": 1, "domains": []}' >none.json
echo '{"certpin": 1, "unlisted_hosts": "deny", "domains": []}' >deny.json
policy exp-unpinned.json api.test "\"$BACKUP_PIN\"" '"expires": "2020-01-01", "on_expiry": "unpinned"'
policy exp-block.json api.test "\"$LEAF_PIN\"" '"expires": "2020-01-01", "on_expiry": "block"'
policy report.json api.test "\"$BACKUP_PIN\"" '"mode": "report"'
cat "$P/root.pem" "$P/rogue.pem" >trusted-rogue.pem

start_nginx "$T/nginx" "$P/fullchain.pem" "$P/leaf.key"
REAL_PORT=$NGINX_PORT
N=(--connect "127.0.0.1:$REAL_PORT")
CHECK=("$CERTPIN" check --timeout 10)

# ---- the real server -------------------------------------------------------
expect_exit 0 "real chain, leaf pin + backup: allowed" -- "${CHECK[@]}" "${N[@]}" --cafile "$P/root.pem" --policy leaf.json api.test
expect_grep out "PINNED (rule api.test)" "verdict PINNED"
expect_exit 0 "real chain, intermediate pin: allowed" -- "${CHECK[@]}" "${N[@]}" --cafile "$P/root.pem" --policy int.json api.test
expect_exit 0 "real chain, root pin: allowed" -- "${CHECK[@]}" "${N[@]}" --cafile "$P/root.pem" --policy root.json api.test
expect_exit 1 "real chain, only the backup pinned: blocked" -- "${CHECK[@]}" "${N[@]}" --cafile "$P/root.pem" --policy backup.json api.test
expect_grep out "Certificate pinning failure for api.test (rule api.test):" "failure message"
expect_grep out "$LEAF_PIN  CN=api.test" "failure message lists the leaf"
expect_grep out "$ROOT_PIN  CN=certpin e2e Root CA" "failure message lists the validated root"
expect_grep out "Pinned for api.test:" "failure message lists the pins"
expect_exit 0 "--http sends HEAD after an allowed handshake" -- "${CHECK[@]}" "${N[@]}" --cafile "$P/root.pem" --policy leaf.json --http api.test
expect_grep out "HTTP/1.1 200 OK" "status line printed"
expect_exit 1 "--http sends nothing after a block" -- "${CHECK[@]}" "${N[@]}" --cafile "$P/root.pem" --policy backup.json --http api.test
if grep -q "HTTP/1.1" out; then not_ok "a blocked check sent a request"; else ok "no request after a block"; fi
expect_exit 0 "--json" -- "${CHECK[@]}" "${N[@]}" --cafile "$P/root.pem" --policy leaf.json --json api.test
if python3 -c 'import json,sys; d=json.load(open("out")); assert d["verdict"]=="PINNED" and d["chain"][0]["pin"]==sys.argv[1] and len(d["chain"])==3' "$LEAF_PIN"; then ok "--json verdict and validated chain"; else not_ok "--json"; cat out; fi

# ---- --report-to: the report an application would send, written instead ----
policy report-uri.json api.test "\"$BACKUP_PIN\"" '"mode": "report", "expires": "2099-06-01", "report_uris": ["https://127.0.0.1:9/pins"]'
expect_exit 0 "report-only mismatch with --report-to: allowed" -- "${CHECK[@]}" "${N[@]}" --cafile "$P/root.pem" --policy report-uri.json --report-to rep.json api.test
check_report() { # FILE VERDICT ENFORCE TRUSTKIT
	python3 - "$@" "$REAL_PORT" "$BACKUP_PIN" <<'EOPY'
import json, sys
f, verdict, enforce, tk, port, pin = sys.argv[1:]
d = json.load(open(f))
assert isinstance(d, dict), d
assert d["hostname"] == "api.test" and d["noted-hostname"] == "api.test", d
assert d["port"] == int(port), d["port"]
assert d["certpin-verdict"] == verdict and d["validation-result"] == int(tk), d
assert d["enforce-pinning"] is (enforce == "true") and d["include-subdomains"] is False, d
assert d["known-pins"] == ['pin-sha256="%s"' % pin[7:]], d["known-pins"]
assert len(d["served-certificate-chain"]) >= 2 and len(d["validated-certificate-chain"]) == 3, d
assert all(p.startswith("-----BEGIN CERTIFICATE-----\n") for p in d["validated-certificate-chain"])
assert d["app-id"] == "certpin check" and d["certpin-version"] == d["app-version"], d
assert d["date-time"].endswith("Z") and len(d["date-time"]) == 20, d["date-time"]
EOPY
}
if check_report rep.json REPORT_ONLY_MISMATCH false 1; then ok "report-only report, field by field"; else not_ok "report-only report"; cat rep.json; fi
expect_exit 1 "blocked with --report-to" -- "${CHECK[@]}" "${N[@]}" --cafile "$P/root.pem" --policy backup.json --report-to blk.json api.test
policy backup-exp.json api.test "\"$BACKUP_PIN\"" '"expires": "2099-06-01"'
expect_exit 1 "blocked with --report-to (expiry set)" -- "${CHECK[@]}" "${N[@]}" --cafile "$P/root.pem" --policy backup-exp.json --report-to blk.json api.test
if check_report blk.json PIN_MISMATCH true 1 && python3 -c 'import json; d=json.load(open("blk.json")); assert d["effective-expiration-date"]=="2099-06-02T00:00:00Z" and d["known-pins-expiration-date"]=="2099-06-01"'; then ok "blocked report, field by field"; else not_ok "blocked report"; cat blk.json; fi
expect_exit 0 "pinned with --report-to: nothing to report" -- "${CHECK[@]}" "${N[@]}" --cafile "$P/root.pem" --policy leaf.json --report-to none.rep api.test
if [ "$(cat none.rep)" = "[]" ]; then ok "no report: []"; else not_ok "pinned handshake wrote a report"; cat none.rep; fi
expect_exit 4 "--report-to an unwritable path" -- "${CHECK[@]}" "${N[@]}" --cafile "$P/root.pem" --policy backup.json --report-to "$T/no/such/dir/r.json" api.test
expect_grep err "certpin: check: cannot write $T/no/such/dir/r.json" "unwritable --report-to: message"

# ---- policy outcomes ---------------------------------------------------------
expect_exit 0 "expired pin set, on_expiry unpinned: allowed" -- "${CHECK[@]}" "${N[@]}" --cafile "$P/root.pem" --policy exp-unpinned.json api.test
expect_grep out "EXPIRED_UNPINNED" "expired-unpinned verdict"
expect_exit 1 "expired pin set, on_expiry block: blocked" -- "${CHECK[@]}" "${N[@]}" --cafile "$P/root.pem" --policy exp-block.json api.test
expect_grep out "EXPIRED_BLOCKED" "expired-blocked verdict"
expect_exit 0 "report mode mismatch: allowed" -- "${CHECK[@]}" "${N[@]}" --cafile "$P/root.pem" --policy report.json api.test
expect_grep out "REPORT_ONLY_MISMATCH" "report-only verdict"
expect_exit 1 "deny mode, unlisted host: blocked" -- "${CHECK[@]}" "${N[@]}" --cafile "$P/root.pem" --policy deny.json api.test
expect_grep out "UNLISTED_HOST" "unlisted-host verdict"
expect_exit 2 "wrong host name: validation fails" -- "${CHECK[@]}" "${N[@]}" --cafile "$P/root.pem" --policy leaf.json www.test
expect_grep out "HOSTNAME_MISMATCH" "hostname-mismatch verdict"
expect_exit 2 "untrusted chain: validation fails even with a matching pin" -- "${CHECK[@]}" "${N[@]}" --cafile "$P/rogue.pem" --policy leaf.json api.test
expect_exit 0 "IP literal host" -- "${CHECK[@]}" "${N[@]}" --cafile "$P/root.pem" --policy none.json 127.0.0.1

# An expired leaf.
start_nginx "$T/nginx-exp" "$P/exp-fullchain.pem" "$P/leaf.key"
expect_exit 2 "expired leaf: validation fails" -- "${CHECK[@]}" --connect "127.0.0.1:$NGINX_PORT" --cafile "$P/root.pem" --policy leaf.json api.test
expect_grep out "certificate has expired" "expired-leaf reason"

# ---- a different key from the real intermediate: what the pin scope buys ----
start_nginx "$T/nginx-other" "$P/other-fullchain.pem" "$P/other.key"
O=(--connect "127.0.0.1:$NGINX_PORT")
expect_exit 0 "rogue leaf from the real intermediate passes an intermediate pin" -- "${CHECK[@]}" "${O[@]}" --cafile "$P/root.pem" --policy int.json api.test
expect_exit 1 "rogue leaf from the real intermediate fails a leaf pin" -- "${CHECK[@]}" "${O[@]}" --cafile "$P/root.pem" --policy leaf.json api.test

# ---- CVE-2016-2402: rogue leaf with the real intermediate appended -----------
start_s_server "$P/evil.pem" "$P/evil.key" "$P/int.pem"
expect_exit 0 "appended chain validates without pinning (the attack is real)" -- "${CHECK[@]}" --connect "127.0.0.1:$S_PORT" --cafile trusted-rogue.pem --policy none.json api.test
expect_exit 1 "appended pinned intermediate does not pass" -- "${CHECK[@]}" --connect "127.0.0.1:$S_PORT" --cafile trusted-rogue.pem --policy int.json api.test

# ---- mitmproxy in reverse mode, its CA trusted by the client -----------------
start_mitm_reverse "$REAL_PORT"
cat "$P/root.pem" "$MITM_CA" >trusted-mitm.pem
M=(--connect "127.0.0.1:$MITM_PORT")
expect_exit 0 "mitmproxy intercepts an unpinned client" -- "${CHECK[@]}" "${M[@]}" --cafile trusted-mitm.pem --policy none.json --http --json api.test
if python3 -c 'import json,sys; d=json.load(open("out")); assert d["chain"][0]["pin"]!=sys.argv[1]' "$LEAF_PIN"; then ok "the unpinned client saw mitmproxy's certificate"; else not_ok "mitmproxy was not in the middle"; fi
expect_exit 1 "mitmproxy blocked by a leaf pin" -- "${CHECK[@]}" "${M[@]}" --cafile trusted-mitm.pem --policy leaf.json api.test
expect_exit 1 "mitmproxy blocked by an intermediate pin" -- "${CHECK[@]}" "${M[@]}" --cafile trusted-mitm.pem --policy int.json api.test

# ---- sslsplit with the rogue CA ------------------------------------------------
start_sslsplit "$REAL_PORT" "$P/rogue.pem" "$P/rogue.key"
SS=(--connect "127.0.0.1:$SSLSPLIT_PORT")
expect_exit 0 "sslsplit intercepts an unpinned client" -- "${CHECK[@]}" "${SS[@]}" --cafile trusted-rogue.pem --policy none.json --http api.test
expect_exit 1 "sslsplit blocked by a leaf pin" -- "${CHECK[@]}" "${SS[@]}" --cafile trusted-rogue.pem --policy leaf.json api.test

# ---- errors ---------------------------------------------------------------------
closed=$(free_port)
expect_exit 3 "closed port: exit 3" -- "${CHECK[@]}" --connect "127.0.0.1:$closed" --cafile "$P/root.pem" --policy leaf.json api.test
echo '{"certpin": 1, "domains": [{"host": "api.test", "pins": ["sha1/AAAA"]}]}' >bad.json
expect_exit 4 "bad policy: exit 4" -- "${CHECK[@]}" "${N[@]}" --cafile "$P/root.pem" --policy bad.json api.test
expect_grep err "certpin: bad.json:1:" "policy error names file and position"
expect_exit 64 "no policy: usage" -- "${CHECK[@]}" api.test
expect_exit 0 "--help" -- "$CERTPIN" check --help
finish
