#!/usr/bin/env bash
# certpin eval end to end: a real PKI made with the openssl CLI, every verdict
# and its exit code, the appended-certificate attack, --at, --json, errors.
. "$(dirname "$0")/lib.sh"
make_pki
cd "$T"
E=("$CERTPIN" eval --cafile root.pem)

policy leaf.json api.test "\"$LEAF_PIN\", \"$BACKUP_PIN\""
policy int.json api.test "\"$INT_PIN\", \"$BACKUP_PIN\""
policy root.json api.test "\"$ROOT_PIN\", \"$BACKUP_PIN\""
policy backup.json api.test "\"$BACKUP_PIN\""
echo '{"certpin": 1, "domains": []}' >empty.json
echo '{"certpin": 1, "unlisted_hosts": "deny", "domains": []}' >deny.json

expect_exit 0 "leaf pin + backup: allowed" -- "${E[@]}" --policy leaf.json --chain chain.pem api.test
expect_grep out "PINNED (rule api.test)" "allowed output names the verdict and rule"
expect_exit 0 "intermediate pin: allowed" -- "${E[@]}" --policy int.json --chain chain.pem api.test
expect_exit 0 "root pin: allowed" -- "${E[@]}" --policy root.json --chain chain.pem api.test
expect_exit 1 "backup pin only: blocked" -- "${E[@]}" --policy backup.json --chain chain.pem api.test
expect_grep out "Certificate pinning failure for api.test (rule api.test):" "failure message header"
expect_grep out "$LEAF_PIN  CN=api.test" "failure message lists the leaf pin and subject"
expect_grep out "$INT_PIN  CN=Test Issuing CA" "failure message lists the intermediate"
expect_grep out "$ROOT_PIN  CN=Test Root CA" "failure message lists the root of the validated chain"
expect_grep out "verdict: PIN_MISMATCH" "verdict line"
expect_exit 0 "host name case and trailing dot normalised" -- "${E[@]}" --policy leaf.json --chain chain.pem API.Test.
expect_exit 0 "IP literal peer validated against the IP SAN" -- "${E[@]}" --policy leaf.json --chain chain.pem 127.0.0.1

# Interception by a CA the client trusts.
E2=("$CERTPIN" eval --cafile trusted.pem)
expect_exit 0 "rogue CA chain passes without pinning (the attack is real)" -- "${E2[@]}" --policy empty.json --chain evil.pem api.test
expect_exit 1 "rogue CA chain blocked by a leaf pin" -- "${E2[@]}" --policy leaf.json --chain evil.pem api.test
expect_exit 1 "rogue CA chain blocked by an intermediate pin" -- "${E2[@]}" --policy int.json --chain evil.pem api.test
cat evil.pem int.pem root.pem >evil-appended.pem
expect_exit 1 "CVE-2016-2402: pinned intermediate appended to a rogue chain is blocked" -- "${E2[@]}" --policy int.json --chain evil-appended.pem api.test
cat evil.pem leaf.pem >evil-leaf-appended.pem
expect_exit 1 "pinned leaf appended to a rogue chain is blocked" -- "${E2[@]}" --policy leaf.json --chain evil-leaf-appended.pem api.test

# Pin scope: a different key issued by the real intermediate.
cat other-leaf.pem int.pem >other-chain.pem
expect_exit 0 "other key from the real intermediate passes an intermediate pin" -- "${E[@]}" --policy int.json --chain other-chain.pem api.test
expect_exit 1 "other key from the real intermediate fails a leaf pin" -- "${E[@]}" --policy leaf.json --chain other-chain.pem api.test

# Validation comes first: exit 2.
expect_exit 2 "wrong host name: validation fails" -- "${E[@]}" --policy leaf.json --chain chain.pem www.test
expect_grep out "Host name mismatch for www.test" "hostname mismatch message"
expect_exit 2 "untrusted root: validation fails even with a matching pin" -- "$CERTPIN" eval --cafile rogue.pem --policy leaf.json --chain chain.pem api.test
expect_exit 2 "missing intermediate: validation fails" -- "${E[@]}" --policy leaf.json --chain leaf.pem api.test
expect_exit 2 "--at after the leaf expires: validation fails" -- "${E[@]}" --at 2099-01-01 --policy leaf.json --chain chain.pem api.test
expect_grep out "certificate has expired" "expired leaf reason"
expect_exit 2 "--at before the leaf is valid: validation fails" -- "${E[@]}" --at 2000-01-01T00:00:00Z --policy leaf.json --chain chain.pem api.test

# Pin-set expiry, report mode, deny mode.
today=$(date -u +%Y-%m-%d)
policy exp-unpinned.json api.test "\"$BACKUP_PIN\"" "\"expires\": \"$today\", \"on_expiry\": \"unpinned\""
policy exp-block.json api.test "\"$LEAF_PIN\"" "\"expires\": \"$today\", \"on_expiry\": \"block\""
tomorrow=$(date -u -d tomorrow +%Y-%m-%dT00:00:00Z)
endofday=$(date -u +%Y-%m-%dT23:59:59Z)
expect_exit 1 "pin set not yet expired at the day's last second: enforced" -- "${E[@]}" --at "$endofday" --policy exp-unpinned.json --chain chain.pem api.test
expect_exit 0 "expired pin set with on_expiry unpinned: allowed" -- "${E[@]}" --at "$tomorrow" --policy exp-unpinned.json --chain chain.pem api.test
expect_grep out "EXPIRED_UNPINNED" "expired-unpinned verdict shown"
expect_exit 0 "pin set with on_expiry block before expiry: allowed" -- "${E[@]}" --at "$endofday" --policy exp-block.json --chain chain.pem api.test
expect_exit 1 "expired pin set with on_expiry block: blocked" -- "${E[@]}" --at "$tomorrow" --policy exp-block.json --chain chain.pem api.test
expect_grep out "EXPIRED_BLOCKED" "expired-blocked verdict shown"
policy report.json api.test "\"$BACKUP_PIN\"" '"mode": "report"'
expect_exit 0 "report mode: mismatch allowed" -- "${E[@]}" --policy report.json --chain chain.pem api.test
expect_grep out "REPORT_ONLY_MISMATCH" "report-only verdict shown"
expect_exit 1 "deny mode: unlisted host blocked" -- "${E[@]}" --policy deny.json --chain chain.pem api.test
expect_grep out "UNLISTED_HOST" "unlisted-host verdict shown"
expect_exit 0 "allow mode: unlisted host allowed" -- "${E[@]}" --policy empty.json --chain chain.pem api.test

# JSON output.
expect_exit 1 "--json on a block" -- "${E[@]}" --json --policy backup.json --chain chain.pem api.test
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["verdict"]=="PIN_MISMATCH" and d["allowed"] is False and d["rule"]=="api.test" and len(d["chain"])==3 and d["chain"][0]["pin"]==sys.argv[2]' out "$LEAF_PIN"; then
	ok "--json carries verdict, rule and the validated chain"
else not_ok "--json content"; cat out; fi

# Input and usage errors.
echo '{"certpin": 2, "domains": []}' >v2.json
expect_exit 4 "unsupported policy version: exit 4" -- "${E[@]}" --policy v2.json --chain chain.pem api.test
expect_grep err "certpin: v2.json:1:" "policy error names file and line"
expect_exit 4 "missing policy file: exit 4" -- "${E[@]}" --policy nope.json --chain chain.pem api.test
expect_grep err "certpin: " "error line starts with certpin:"
expect_exit 4 "unreadable chain: exit 4" -- "${E[@]}" --policy leaf.json --chain nope.pem api.test
echo garbage >garbage.pem
expect_exit 4 "garbage chain: exit 4" -- "${E[@]}" --policy leaf.json --chain garbage.pem api.test
expect_exit 64 "no host: usage" -- "${E[@]}" --policy leaf.json --chain chain.pem
expect_exit 64 "bad --at: usage" -- "${E[@]}" --at yesterday --policy leaf.json --chain chain.pem api.test
expect_grep err "--at 'yesterday'" "bad --at is named"
expect_exit 64 "unknown option: usage" -- "${E[@]}" --frobnicate --policy leaf.json --chain chain.pem api.test
expect_exit 0 "--help" -- "$CERTPIN" eval --help
expect_grep out "usage: certpin eval" "help text"

# The platform entry point example (DER chain, already validated).
if [ -n "${CERTPIN_DER_CHAIN:-}" ]; then
	openssl x509 -in leaf.pem -outform DER -out leaf.der
	openssl x509 -in int.pem -outform DER -out int.der
	openssl x509 -in evil.pem -outform DER -out evil.der
	expect_exit 0 "examples/der_chain: validated DER chain pinned" -- "$CERTPIN_DER_CHAIN" int.json api.test leaf.der int.der
	expect_grep out "verdict: PINNED" "der_chain prints the verdict"
	expect_exit 1 "examples/der_chain: rogue leaf blocked" -- "$CERTPIN_DER_CHAIN" int.json api.test evil.der
	expect_exit 4 "examples/der_chain: bad policy" -- "$CERTPIN_DER_CHAIN" v2.json api.test leaf.der
else
	not_ok "CERTPIN_DER_CHAIN not set: the example was not run"
fi
finish
