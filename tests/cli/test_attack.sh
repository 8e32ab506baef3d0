#!/usr/bin/env bash
# certpin attack: options, errors, the control rule, time limits, reports and
# placeholders, with `certpin check` (and `openssl s_client`) as the clients.
# The scenario-by-scenario runs against curl and the example clients, with
# mitmproxy, are in tests/e2e/test_attack.sh.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$T"
A=("$CERTPIN" attack --timeout 20)
CHECK="$CERTPIN check --http --policy {policy} --cafile {cafile} --connect {addr}:{port} {host}:{port}"

# ---- usage ------------------------------------------------------------------
expect_exit 0 "--list" -- "$CERTPIN" attack --list
if [ "$(wc -l <"$T/out")" -eq 16 ] && grep -q '^appended-pins .*CVE-2016-2402' "$T/out" &&
	grep -q '^mitmproxy ' "$T/out"; then ok "--list names 16 scenarios"; else not_ok "--list: $(cat "$T/out")"; fi
expect_exit 0 "--help" -- "$CERTPIN" attack --help
expect_grep "$T/out" "{cafile}" "--help lists the placeholders"
expect_exit 64 "no --client" -- "$CERTPIN" attack
expect_grep "$T/err" "certpin: attack: needs --client" "no --client: message"
expect_exit 64 "bad --pin-scope" -- "${A[@]}" --pin-scope issuer --client true
expect_grep "$T/err" "--pin-scope must be leaf, intermediate or root, not 'issuer'" "bad --pin-scope: message"
expect_exit 64 "unknown scenario in --only" -- "${A[@]}" --only rogue-ca,nope --client true
expect_grep "$T/err" "--only: no scenario 'nope'" "unknown scenario: message"
expect_exit 64 "IP literal as --host" -- "${A[@]}" --host 127.0.0.1 --client true
expect_grep "$T/err" "must be a DNS name" "IP --host: message"
expect_exit 64 "single-label --host" -- "${A[@]}" --host localhost --client true
expect_exit 64 "--timeout 0" -- "$CERTPIN" attack --timeout 0 --client true
expect_exit 64 "--mitmdump that does not exist" -- "${A[@]}" --mitmdump /nonexistent/mitmdump --client true
expect_grep "$T/err" "--mitmdump '/nonexistent/mitmdump' is not an executable" "--mitmdump: message"
expect_exit 64 "stray argument" -- "${A[@]}" --client true extra
expect_exit 64 "TMPDIR a shell cannot take" -- env TMPDIR="$T/a b" "${A[@]}" --client true
expect_grep "$T/err" "characters a shell command" "TMPDIR: message"

# ---- a pinning client passes, a permissive one fails ------------------------
ALL=rogue-ca,self-signed,wrong-name,expired,not-yet-valid,untrusted-intermediate,appended-pins
ALL=$ALL,fake-intermediate,legit-key-rogue-ca,sha1,rsa-1024,cn-only,wildcard-tld,tls-legacy
expect_exit 0 "certpin check pins: every attack but mitmproxy rejected" -- \
	"${A[@]}" --only "$ALL" --json pass.json --client "$CHECK"
expect_grep "$T/out" "14 passed, 0 failed" "summary: 14 passed"

expect_grep pass.json '"inconclusive": false' "JSON: conclusive"
expect_grep pass.json '"name": "control", "description": "the legitimate chain' "JSON: control object"
# each scenario is what it says: the client's own reason is in the detail
while IFS='|' read -r name reason; do
	if grep -E "^$name +reject +rejected +pass +.*$reason" "$T/out" >/dev/null; then
		ok "$name: rejected because $reason"
	else
		not_ok "$name: no row with '$reason'"
		grep "^$name " "$T/out" | sed 's/^/    | /'
	fi
done <<'EOF2'
rogue-ca|Certificate pinning failure for api.test
self-signed|self-signed certificate \(certificate at depth 0: /CN=api.test\)
wrong-name|Host name mismatch for api.test: hostname mismatch \(certificate at depth 0: /CN=attacker.test\)
expired|certificate has expired \(certificate at depth 0: /CN=api.test\)
not-yet-valid|certificate is not yet valid \(certificate at depth 0: /CN=api.test\)
untrusted-intermediate|unable to get local issuer certificate \(certificate at depth 1: /CN=certpin attack Untrusted
appended-pins|Certificate pinning failure for api.test
fake-intermediate|Certificate pinning failure for api.test
legit-key-rogue-ca|Certificate pinning failure for api.test
sha1|CA signature digest algorithm too weak
rsa-1024|EE certificate key too weak
cn-only|Host name mismatch for api.test: webpki.san-present: the leaf has no subjectAltName
wildcard-tld|hostname mismatch \(certificate at depth 0: /CN=\*\.test\)
tls-legacy|legacy sigalg disallowed or unsupported
EOF2

# ---- --report-to: certpin's own verdict on each scenario's chain ------------
expect_exit 0 "--report-to" -- "${A[@]}" --only rogue-ca,expired,sha1,tls-legacy --report-to reps.json --client "$CHECK"
if python3 - <<'EOPY'
import json
d = json.load(open("reps.json"))
assert isinstance(d, list) and len(d) == 3, d  # control and tls-legacy (the real chain) are pinned
v = sorted(r["certpin-verdict"] for r in d)
assert v == ["CHAIN_INVALID", "CHAIN_INVALID", "PIN_MISMATCH"], v
for r in d:
    assert r["hostname"] == "api.test" and r["app-id"] == "certpin attack", r
    assert r["port"] > 0 and r["served-certificate-chain"], r
    assert r["validation-result"] == (1 if r["certpin-verdict"] == "PIN_MISMATCH" else 2), r
EOPY
then ok "--report-to: one report per rejected chain"; else not_ok "--report-to"; cat reps.json; fi

echo '{"certpin": 1, "domains": []}' >none.json
PERMISSIVE="$CERTPIN check --http --policy $T/none.json --cafile {cafile} --connect {addr}:{port} {host}:{port}"
expect_exit 1 "a client that validates but does not pin accepts the rogue CA" -- \
	"${A[@]}" --only rogue-ca,expired --json fail.json --junit fail.xml --client "$PERMISSIVE"
expect_grep "$T/out" "1 passed, 1 failed" "summary: 1 failed"
expect_grep "$T/out" 'rogue-ca                reject   accepted FAIL    handshake and request "HEAD / HTTP/1.1"' "rogue-ca FAIL row"
expect_grep fail.json '"name": "rogue-ca", "description": "a leaf for api.test issued by the rogue root CA the victim trusts", "expected": "reject", "observed": "accepted", "verdict": "FAIL"' "JSON: rogue-ca accepted"
expect_grep fail.xml '<testsuites name="certpin attack" tests="3" failures="1" skipped="0">' "JUnit totals"
expect_grep fail.xml '<failure message="expected reject, observed accepted">' "JUnit failure element"

# ---- the control decides whether the run means anything ---------------------
expect_exit 2 "a client that never connects: inconclusive" -- "${A[@]}" --json inc.json --client 'exit 0'
expect_grep "$T/out" "inconclusive: the client did not accept the legitimate server" "inconclusive message"
expect_grep "$T/out" "the client never connected; client exit 0" "control detail"
expect_grep inc.json '"inconclusive": true' "JSON: inconclusive"
expect_grep inc.json '"scenarios": [
  ]' "JSON: no scenario ran after the failed control"
expect_exit 2 "a client that completes the handshake but sends nothing: not accepted" -- \
	"${A[@]}" --client 'openssl s_client -connect {addr}:{port} -servername {host} -CAfile {cafile}'
expect_grep "$T/out" "handshake completed, then the client hung up without a request" "handshake without request detail"
expect_exit 2 "a client that hangs is killed at --timeout" -- "$CERTPIN" attack --timeout 1 --json hang.json --client 'sleep 30'
expect_grep "$T/out" "client killed at the time limit" "time limit detail"
expect_grep hang.json '"client_exit": null, "timed_out": true' "JSON: timed out"

# ---- no evidence is no pass ----------------------------------------------------
ONLYCONTROL="case {scenario} in control) $CHECK ;; *) setsid sleep 31.7 & exit 0 ;; esac"
expect_exit 1 "a client that skips an attack scenario (never connects): error, not pass" -- \
	"${A[@]}" --only rogue-ca --json skipped.json --client "$ONLYCONTROL"
expect_grep "$T/out" "rogue-ca                reject   unclear  error   the client never connected" "never-connected row is an error"
expect_grep "$T/out" "not conclusive: the client never connected" "never-connected reason"
expect_grep "$T/out" "0 passed, 1 failed" "summary counts the error as a failure"
if pgrep -f "sleep 31.7" >/dev/null; then
	not_ok "a process the client left in its own session survived the scenario"
	pkill -f "sleep 31.7" || true
else
	ok "processes the client left behind (even with setsid) are killed after its scenario"
fi
HANGER="case {scenario} in control) $CHECK ;; *) sleep 30 | openssl s_client -connect {addr}:{port} -servername {host} ;; esac"
expect_exit 1 "a client killed at the time limit with the connection open: error, not pass" -- \
	"$CERTPIN" attack --timeout 3 --only rogue-ca --client "$HANGER"
expect_grep "$T/out" "not conclusive: the client was killed at the time limit with a connection open and no request" "open-connection reason"
expect_exit 64 "--timeout with trailing garbage" -- "$CERTPIN" attack --timeout 5x --client true
expect_exit 64 "relative TMPDIR" -- env TMPDIR=rel "${A[@]}" --client true
expect_grep "$T/err" "must be an absolute path" "relative TMPDIR: message"
printf 'caf\351 \001\n' >latin1.txt
expect_exit 1 "client output that is not UTF-8 keeps the reports valid" -- \
	"${A[@]}" --only rogue-ca --json latin1.json --junit latin1.xml --client "cat $T/latin1.txt; $PERMISSIVE"
if python3 -c 'import json, sys, xml.etree.ElementTree as E
json.load(open(sys.argv[1], encoding="utf-8")); E.parse(sys.argv[2])' latin1.json latin1.xml; then
	ok "JSON and JUnit parse"
else
	not_ok "reports with non-UTF-8 client output do not parse"
fi

# ---- reports that cannot be written ------------------------------------------
expect_exit 4 "--json into a missing directory" -- "${A[@]}" --only rogue-ca --json "$T/no/such.json" --client "$CHECK"
expect_grep "$T/err" "certpin: attack: cannot write $T/no/such.json" "--json: message"

# ---- placeholders, environment, the work directory ---------------------------
SEEN=$T/seen.txt
expect_exit 0 "placeholders and CERTPIN_ATTACK_* reach the client; shell braces are left alone" -- \
	"${A[@]}" --keep --only rogue-ca --client "echo \"{scenario} {host} {pins} {port} \$CERTPIN_ATTACK_SCENARIO \$CERTPIN_ATTACK_PORT \$(awk 'BEGIN{print 7}')\" >>$SEEN; $CERTPIN check --http --policy {dir}/policy.json --cafile {cafile} --connect {addr}:\$CERTPIN_ATTACK_PORT {host}:{port}"
WORK=$(sed -n 's/^work directory: \(.*\) (kept)$/\1/p' "$T/out")
if grep -Eq '^control api\.test sha256//[A-Za-z0-9+/]{43}=;sha256//[A-Za-z0-9+/]{43}= ([0-9]+) control \1 7$' "$SEEN" &&
	grep -Eq '^rogue-ca api\.test .* rogue-ca [0-9]+ 7$' "$SEEN"; then
	ok "the client saw {scenario} {host} {pins} {port} and the environment"
else
	not_ok "placeholders: $(cat "$SEEN")"
fi
if [ -n "$WORK" ] && [ -s "$WORK/policy.json" ] && [ -s "$WORK/rogue-root.pem" ] && [ -s "$WORK/control.log" ]; then
	ok "--keep keeps the PKI, policy and client logs"
else
	not_ok "--keep: work directory '$WORK'"
fi
if [ "$(grep -c 'BEGIN CERTIFICATE' "$WORK/cafile.pem")" -eq 2 ] &&
	[ "$("$CERTPIN" pin -q "$WORK/cafile.pem" | sed -n 2p)" = "$("$CERTPIN" pin -q "$WORK/rogue-root.pem")" ]; then
	ok "{cafile} holds the legitimate root and the attacker's rogue root"
else
	not_ok "{cafile}: $(cat "$WORK/cafile.pem")"
fi
INTPIN=$("$CERTPIN" pin -q "$WORK/control.chain.pem" | sed -n 2p)
expect_grep "$WORK/policy.json" "\"ca_pins\": [\"$INTPIN\"," "{policy} pins the intermediate by default"
expect_exit 0 "{policy} passes lint" -- "$CERTPIN" lint "$WORK/policy.json"
rm -rf "$WORK"
expect_exit 0 "without --keep the work directory is removed" -- "${A[@]}" --only expired --client "$CHECK"
WORK=$(sed -n 's/^work directory: \(.*\) (removed.*$/\1/p' "$T/out")
if [ -n "$WORK" ] && [ ! -e "$WORK" ]; then ok "work directory removed"; else not_ok "work directory '$WORK' left behind"; fi

for scope in leaf root; do
	expect_exit 0 "--pin-scope $scope" -- "${A[@]}" --keep --pin-scope $scope --only rogue-ca --client "$CHECK"
	WORK=$(sed -n 's/^work directory: \(.*\) (kept)$/\1/p' "$T/out")
	if [ $scope = leaf ]; then
		want="\"leaf_pins\": [\"$("$CERTPIN" pin -q "$WORK/control.chain.pem" | sed -n 1p)\","
	else
		want="\"ca_pins\": [\"$("$CERTPIN" pin -q "$WORK/cafile.pem" | sed -n 1p)\","
	fi
	expect_grep "$WORK/policy.json" "$want" "{policy} at $scope scope pins the $scope"
	rm -rf "$WORK"
done

expect_exit 0 "--host names the server" -- "${A[@]}" --host svc.example.org --only wrong-name --client "$CHECK"
expect_grep "$T/out" "certpin attack: svc.example.org" "--host in the header"

# ---- mitmproxy missing: skipped, visibly -------------------------------------
mkdir -p "$T/emptybin"
expect_exit 0 "no mitmdump on PATH: the scenario is skipped" -- \
	env PATH="$T/emptybin" "$CERTPIN" attack --only mitmproxy --json skip.json --client "$CHECK"
expect_grep "$T/out" "mitmproxy               reject   -        skip    mitmdump not found on PATH" "skip row"
expect_grep "$T/out" "0 passed, 0 failed, 1 skipped" "summary counts the skip"
expect_grep skip.json '"verdict": "skip"' "JSON: skip"

finish
