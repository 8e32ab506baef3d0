#!/usr/bin/env bash
# Bundles against an independent JOSE implementation: the `jose` npm package
# (exact version in tests/interop/package-lock.json, installed by
# scripts/install-deps) under the machine's Node.js. Both directions, both
# algorithms: (a) jose signs, certpin verifies; (b) certpin signs, jose
# verifies, and jose's RFC 7638 thumbprint of the key is certpin's kid;
# (c) jose refuses a tampered certpin bundle. Local files only.
set -euo pipefail
# shellcheck source=tests/cli/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
INTEROP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../interop" && pwd)
JWS=(python3 "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/jws_tool.py")
# A missing Node.js or jose is a failure, not a skip: CI machines have them.
if ! command -v node >/dev/null 2>&1; then
	not_ok "node not found: run scripts/install-deps (as root)"
	finish
fi
if [ ! -f "$INTEROP/node_modules/jose/package.json" ]; then
	not_ok "jose not installed in $INTEROP: run scripts/install-deps"
	finish
fi
JOSE=(node "$INTEROP/jose_tool.mjs")
B=("$CERTPIN" bundle)
want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["packages"]["node_modules/jose"]["version"])' "$INTEROP/package-lock.json")
got=$("${JOSE[@]}" version)
[ "$got" = "$want" ] && ok "jose $got (as locked), node $(node --version)" || not_ok "jose $got installed, lock says $want"
make_pki
cd "$T"
cat >policy.json <<EOP
{"certpin": 1, "domains": [
  {"host": "api.test", "pins": ["$LEAF_PIN", "$BACKUP_PIN"], "expires": "2099-01-01"},
  {"host": "**.example.com", "pins": ["$INT_PIN", "$BACKUP_PIN"], "mode": "report"}]}
EOP

for alg in ES256 EdDSA; do
	expect_exit 0 "$alg: certpin keygen" -- "${B[@]}" keygen --alg "$alg" --out "$alg.key"
	KID=$(sed -n 's/^kid: //p' out)
	sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p' out >"$alg.pub"

	# (b) the kid: jose's thumbprint of the public key is certpin's kid
	[ "$("${JOSE[@]}" thumbprint "$alg" "$alg.pub")" = "$KID" ] &&
		ok "$alg: jose calculateJwkThumbprint = certpin kid" || not_ok "$alg: thumbprints differ"

	# (a) jose signs (its kid, typ), certpin verifies
	expect_exit 0 "$alg: jose signs a bundle" -- "${JOSE[@]}" sign "$alg" "$alg.key" policy.json 41 3600 "jose-$alg.jws" com.example.app
	expect_grep out "kid: $KID" "$alg: jose computed the same kid"
	expect_exit 0 "$alg: certpin verifies the jose bundle" -- "${B[@]}" verify --pub "$alg.pub" --aud com.example.app "jose-$alg.jws"
	expect_grep out "seq:     41" "$alg: seq from jose"
	expect_grep out "alg:     $alg" "$alg: alg from jose"
	expect_grep out "kid:     $KID" "$alg: kid from jose"
	expect_grep out "rules:   2" "$alg: policy from jose"
	# and certpin still refuses it when it should
	expect_exit 1 "$alg: jose bundle, wrong aud: refused" -- "${B[@]}" verify --pub "$alg.pub" --aud other "jose-$alg.jws"
	expect_exit 1 "$alg: jose bundle, expired at --at: refused" -- "${B[@]}" verify --pub "$alg.pub" --at 2099-01-01 "jose-$alg.jws"
	"${JWS[@]}" tamper-payload "jose-$alg.jws" >"jose-$alg-tp.jws"
	expect_exit 1 "$alg: tampered jose bundle: refused by certpin" -- "${B[@]}" verify --pub "$alg.pub" "jose-$alg-tp.jws"
	expect_grep err "the signature does not verify" "$alg: certpin says why"

	# (b) certpin signs, jose verifies (with the alg pinned, typ and kid checked)
	expect_exit 0 "$alg: certpin signs" -- "${B[@]}" sign --key "$alg.key" --policy policy.json --seq 42 -o "certpin-$alg.jws"
	expect_exit 0 "$alg: jose compactVerify accepts the certpin bundle" -- "${JOSE[@]}" verify "$alg" "$alg.pub" "certpin-$alg.jws"
	expect_grep out "valid: alg $alg kid $KID seq 42" "$alg: jose reads header and claims"
	expect_grep out "rules 2" "$alg: jose reads the policy"

	# (c) sanity: jose refuses a tampered certpin bundle, and one by another key
	"${JWS[@]}" tamper-payload "certpin-$alg.jws" >"certpin-$alg-tp.jws"
	expect_exit 1 "$alg: jose refuses a tampered payload" -- "${JOSE[@]}" verify "$alg" "$alg.pub" "certpin-$alg-tp.jws"
	expect_grep err "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" "$alg: jose says signature verification failed"
	"${JWS[@]}" tamper-header "certpin-$alg.jws" >"certpin-$alg-th.jws"
	expect_exit 1 "$alg: jose refuses a tampered header" -- "${JOSE[@]}" verify "$alg" "$alg.pub" "certpin-$alg-th.jws"
done

# Across algorithms: a key of the other type does not verify (both sides).
expect_exit 1 "jose: ES256 bundle with the Ed25519 key refused" -- "${JOSE[@]}" verify EdDSA EdDSA.pub certpin-ES256.jws
expect_exit 1 "certpin: ES256 jose bundle with only the Ed25519 key refused" -- "${B[@]}" verify --pub EdDSA.pub jose-ES256.jws
expect_grep err "no trusted signer key has kid" "certpin names the unknown kid"

finish
