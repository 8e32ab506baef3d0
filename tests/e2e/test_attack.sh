#!/usr/bin/env bash
# certpin attack, the MITM battery, against five real clients. Each run is
# checked scenario by scenario from its --json report: which scenarios the
# client accepted must be exactly the expected set, so the battery is shown to
# bite (curl without pinning accepts the rogue-CA scenarios) and to pass a
# client that pins correctly. mitmdump must be installed: no skipped scenario.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tools mitmdump curl openssl
need_certpin
OSSL=${CERTPIN_OPENSSL_CLIENT:?CERTPIN_OPENSSL_CLIENT must point at examples/openssl_client}
CURLC=${CERTPIN_CURL_CLIENT:-${CERTPIN_BUILD:?CERTPIN_BUILD must be set}/curl_client}
[ -x "$OSSL" ] || die "$OSSL is not built"
[ -x "$CURLC" ] || die "$CURLC is not built"
cd "$T"
# the battery's own children (mitmdump, clients) run with this time limit
TO=(--timeout 20)

# verify_run NAME JSON EXPECTED_ACCEPTED: the report's control passed, all 15
# scenarios ran, the accepted ones are exactly EXPECTED_ACCEPTED (comma list;
# legit-key-rogue-ca counts as informational at leaf scope), and the counts add up.
verify_run() {
	local name=$1 json=$2 want=$3 msg
	if msg=$("$E2E_PYTHON" - "$json" "$want" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
want = set(x for x in sys.argv[2].split(",") if x)
allnames = ["rogue-ca", "self-signed", "wrong-name", "expired", "not-yet-valid",
            "untrusted-intermediate", "appended-pins", "fake-intermediate", "legit-key-rogue-ca",
            "sha1", "rsa-1024", "cn-only", "wildcard-tld", "tls-legacy", "mitmproxy"]
errs = []
c = r["control"]
if (c["name"], c["expected"], c["observed"], c["verdict"]) != ("control", "accept", "accepted", "pass"):
    errs.append("control: %s" % c)
names = [s["name"] for s in r["scenarios"]]
if names != allnames:
    errs.append("scenarios %s" % names)
got = set(s["name"] for s in r["scenarios"] if s["observed"] == "accepted")
if got != want:
    errs.append("accepted %s, expected %s" % (sorted(got), sorted(want)))
info = fail = passed = 0
for s in r["scenarios"]:
    if not s["description"] or not s["detail"]:
        errs.append("%s: empty description or detail" % s["name"])
    exp = "either" if s["name"] == "legit-key-rogue-ca" and r["pin_scope"] == "leaf" else "reject"
    if s["expected"] != exp:
        errs.append("%s expected %s" % (s["name"], s["expected"]))
    v = "info" if exp == "either" else ("FAIL" if s["observed"] == "accepted" else "pass")
    if s["verdict"] != v:
        errs.append("%s verdict %s, expected %s" % (s["name"], s["verdict"], v))
    info += v == "info"; fail += v == "FAIL"; passed += v == "pass"
if (r["passed"], r["failed"], r["informational"], r["skipped"], r["inconclusive"]) != (passed, fail, info, 0, False):
    errs.append("totals %s" % {k: r[k] for k in ("passed", "failed", "informational", "skipped", "inconclusive")})
print("; ".join(errs))
sys.exit(1 if errs else 0)
EOF
	); then
		ok "$name: the accepted scenarios are exactly {$want}"
	else
		not_ok "$name: $msg"
		sed 's/^/    out: /' out | head -25
	fi
}

# ---- 1. certpin check --http: must pass everything -------------------------
expect_exit 0 "certpin check --http rejects every attack and accepts the control" -- \
	"$CERTPIN_BIN" attack "${TO[@]}" --json check.json --junit check.xml \
	--client "$CERTPIN_BIN check --http --policy {policy} --cafile {cafile} --connect {addr}:{port} {host}:{port}"
verify_run "certpin check --http" check.json ""
expect_grep out "15 passed, 0 failed" "summary line"
"$E2E_PYTHON" - check.xml >junit.txt <<'EOF' || true
import sys, xml.etree.ElementTree as E
root = E.parse(sys.argv[1]).getroot()
cases = list(root.iter("testcase"))
print(root.get("tests"), root.get("failures"), len(cases), sum(1 for c in cases if c.find("failure") is not None))
EOF
if [ "$(cat junit.txt)" = "16 0 16 0" ]; then ok "JUnit report: 16 test cases, no failure"; else not_ok "JUnit report: $(cat junit.txt)"; fi

# ---- 2. curl without pinning: the battery bites -----------------------------
CURL="curl -q -sS --max-time 10 --connect-to {host}:{port}:{addr}:{port}"
expect_exit 1 "curl --cacert without pinning accepts the rogue-CA scenarios" -- \
	"$CERTPIN_BIN" attack "${TO[@]}" --json nopin.json --junit nopin.xml \
	--client "$CURL --cacert {cafile} https://{host}:{port}/"
# curl 7.88 with OpenSSL matches the CN when a certificate has no subjectAltName
verify_run "curl without pinning" nopin.json "rogue-ca,appended-pins,fake-intermediate,legit-key-rogue-ca,cn-only,mitmproxy"
expect_grep out "9 passed, 6 failed" "summary counts the six accepted attacks as failures"
"$E2E_PYTHON" -c 'import sys, xml.etree.ElementTree as E
r = E.parse(sys.argv[1]).getroot()
f = sorted(c.get("name") for c in r.iter("testcase") if c.find("failure") is not None)
print(",".join(f))' nopin.xml >junit.txt
if [ "$(cat junit.txt)" = "appended-pins,cn-only,fake-intermediate,legit-key-rogue-ca,mitmproxy,rogue-ca" ]; then
	ok "JUnit report marks the accepted attacks as failures"
else
	not_ok "JUnit failures: $(cat junit.txt)"
fi

# ---- 3. curl --pinnedpubkey: what leaf-only pinning covers -----------------
expect_exit 1 "curl --pinnedpubkey (leaf scope) still accepts the CN-only leaf" -- \
	"$CERTPIN_BIN" attack "${TO[@]}" --pin-scope leaf --json curlpin.json \
	--client "$CURL --cacert {cafile} --pinnedpubkey '{pins}' https://{host}:{port}/"
verify_run "curl --pinnedpubkey" curlpin.json "legit-key-rogue-ca,cn-only"
expect_grep out "13 passed, 1 failed, 1 informational" "summary line with the informational scenario"
expect_grep out "note: a leaf pin matches the key whatever the issuer" "the scope trade-off is explained"
# curl checks the pin after the handshake: the server saw a handshake and no request
if "$E2E_PYTHON" -c 'import json, sys
s = {x["name"]: x for x in json.load(open(sys.argv[1]))["scenarios"]}["rogue-ca"]
sys.exit(0 if (s["handshakes"], s["requests"], s["observed"], s["client_exit"]) == (1, 0, "rejected", 90) else 1)' curlpin.json; then
	ok "curl completed the rogue-CA handshake, then hung up (exit 90): counted as rejected"
else
	not_ok "rogue-ca under curl --pinnedpubkey: $(grep -o '"name": "rogue-ca"[^}]*' curlpin.json)"
fi

# ---- 4. the libcurl adapter example -----------------------------------------
expect_exit 0 "examples/curl_client (libcurl adapter, leaf scope) rejects every attack" -- \
	"$CERTPIN_BIN" attack "${TO[@]}" --pin-scope leaf --json libcurl.json \
	--client "$CURLC --cafile {cafile} --connect-to {host}:{port}:{addr}:{port} {policy} https://{host}:{port}/"
verify_run "libcurl adapter" libcurl.json "legit-key-rogue-ca"

# ---- 5. the OpenSSL adapter example -----------------------------------------
expect_exit 0 "examples/openssl_client (intermediate scope) rejects every attack" -- \
	"$CERTPIN_BIN" attack "${TO[@]}" --json openssl.json \
	--client "$OSSL --cafile {cafile} --connect {addr}:{port} {policy} {host}:{port}"
verify_run "OpenSSL adapter" openssl.json ""
expect_grep out "mitmproxy               reject   rejected pass    the client aborted the handshake with mitmproxy" "mitmproxy ran; the client aborted its handshake"

# ---- 6. a client that accepts anything: every scenario's server is reachable --
cat >accept_all.py <<'PY'
import socket, ssl, sys
host, port = sys.argv[1], int(sys.argv[2])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.minimum_version = ssl.TLSVersion.TLSv1
ctx.set_ciphers("ALL:@SECLEVEL=0")
with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
    with ctx.wrap_socket(s, server_hostname=host) as t:
        t.sendall(b"GET / HTTP/1.1\r\nHost: " + host.encode() + b"\r\nConnection: close\r\n\r\n")
        print(t.recv(100).split(b"\r\n")[0].decode())
PY
ALL_ACCEPTED="rogue-ca,self-signed,wrong-name,expired,not-yet-valid,untrusted-intermediate,appended-pins"
ALL_ACCEPTED="$ALL_ACCEPTED,fake-intermediate,legit-key-rogue-ca,sha1,rsa-1024,cn-only,wildcard-tld,tls-legacy,mitmproxy"
expect_exit 1 "a client that checks nothing (any certificate, TLS 1.0) accepts every scenario" -- \
	"$CERTPIN_BIN" attack "${TO[@]}" --json anything.json --client "$E2E_PYTHON $T/accept_all.py {host} {port}"
verify_run "accept-anything client" anything.json "$ALL_ACCEPTED"
expect_grep out "0 passed, 15 failed" "summary: every attack accepted"

finish
