#!/usr/bin/env bash
# Regenerates the seed corpora of fuzz_bundle and fuzz_bundle_claims: real
# bundles signed with the fixed test keys in bundle_keys/ (whose public halves
# fuzz_bundle.c embeds), hand-forged tokens, and claim payloads valid and not.
# usage: CERTPIN_BIN=build/certpin tests/fuzz/make_bundle_corpus.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
certpin=${CERTPIN_BIN:?CERTPIN_BIN must point at the certpin binary}
jws=(python3 "$here/../cli/jws_tool.py")
keys=$here/bundle_keys
cb=$here/corpus/fuzz_bundle
cc=$here/corpus/fuzz_bundle_claims
rm -rf "$cb" "$cc"
mkdir -p "$cb" "$cc"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
P1=sha256/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=
P2=sha256/fwza0LRMXouZHRC8Ei+4PyuldPRcf3UKgO/04cDM1oE=
cat >"$tmp/policy.json" <<EOP
{"certpin": 1, "unlisted_hosts": "allow", "domains": [
  {"host": "api.example.com", "pins": ["$P1", "$P2"], "expires": "2099-01-01"},
  {"host": "**.example.org", "leaf_pins": ["$P1"], "ca_pins": ["$P2"], "mode": "report"},
  {"host": "skip.example.com", "exclude": true}]}
EOP
printf '{"certpin": 1, "domains": []}' >"$tmp/empty.json"
openssl pkey -in "$keys/es256.pem" -pubout -out "$tmp/es.pub" 2>/dev/null
openssl pkey -in "$keys/ed25519.pem" -pubout -out "$tmp/ed.pub" 2>/dev/null

sign() { # NAME KEY POLICY SEQ [ARGS...]
	local name=$1 key=$2 pol=$3 seq=$4
	shift 4
	"$certpin" bundle sign --key "$keys/$key" --policy "$pol" --seq "$seq" --ttl 3650d "$@" -o "$cb/$name" >/dev/null
}
sign es256-valid es256.pem "$tmp/policy.json" 1
sign ed25519-valid ed25519.pem "$tmp/policy.json" 2
sign es256-aud es256.pem "$tmp/policy.json" 3 --aud com.example.app
sign ed25519-other-aud ed25519.pem "$tmp/empty.json" 4 --aud other.app
sign es256-signers es256.pem "$tmp/policy.json" 5 --signer "$tmp/es.pub" --signer "$tmp/ed.pub"
"$certpin" bundle sign --key "$keys/es256.pem" --policy "$tmp/policy.json" --seq 6 --ttl 1h -o "$cb/es256-expired" >/dev/null
"${jws[@]}" tamper-payload "$cb/es256-valid" >"$cb/tampered-payload"
"${jws[@]}" tamper-header "$cb/es256-valid" >"$cb/tampered-header"
"${jws[@]}" header-jwk "$cb/es256-valid" >"$cb/header-jwk"
"${jws[@]}" none "$cb/es256-valid" >"$cb/alg-none"
"${jws[@]}" none-sig "$cb/es256-valid" >"$cb/alg-none-sig"
"${jws[@]}" hs256 "$cb/es256-valid" "$tmp/es.pub" >"$cb/hs256-pem-secret"
"${jws[@]}" alg "$cb/es256-valid" EdDSA >"$cb/alg-mismatch"
"${jws[@]}" parts "$cb/es256-valid" 4 >"$cb/four-parts"
"${jws[@]}" parts "$cb/es256-valid" 2 >"$cb/two-parts"
printf 'e30.e30.AAAA' >"$cb/tiny"
for f in "$cb"/*; do "$certpin" bundle verify --pub "$tmp/es.pub" --pub "$tmp/ed.pub" --at 2027-01-15 "$f" >/dev/null 2>&1 && echo "valid: $(basename "$f")"; done

# claims: the decoded payloads of the real bundles, then hand-written ones
for f in es256-valid es256-aud es256-signers es256-expired ed25519-other-aud; do
	"${jws[@]}" claims "$cb/$f" >"$cc/$f.json"
done
c() { printf '%s' "$2" >"$cc/$1.json"; }
D='"domains": [{"host": "api.example.com", "pins": ["'$P1'", "'$P2'"]}]'
ES_JWK=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["signers"][0]))' "$cc/es256-signers.json")
c minimal '{"certpin": 1, "seq": 1, "iat": 0, "exp": 9007199254740991, "domains": []}'
c seq-zero '{"certpin": 1, "seq": 0, "iat": 1, "exp": 2000000000, '"$D"'}'
c seq-too-big '{"certpin": 1, "seq": 9007199254740992, "iat": 1, "exp": 2000000000, '"$D"'}'
c seq-string '{"certpin": 1, "seq": "1", "iat": 1, "exp": 2000000000, '"$D"'}'
c seq-float '{"certpin": 1, "seq": 1.0, "iat": 1, "exp": 2000000000, '"$D"'}'
c seq-negative '{"certpin": 1, "seq": -5, "iat": 1, "exp": 2000000000, '"$D"'}'
c no-seq '{"certpin": 1, "iat": 1, "exp": 2000000000, '"$D"'}'
c no-exp '{"certpin": 1, "seq": 1, "iat": 1, '"$D"'}'
c exp-before-iat '{"certpin": 1, "seq": 1, "iat": 2000000001, "exp": 2000000000, '"$D"'}'
c expired '{"certpin": 1, "seq": 1, "iat": 1, "exp": 1700000000, '"$D"'}'
c aud-ok '{"certpin": 1, "seq": 1, "iat": 1, "exp": 2000000000, "aud": "com.example.app", '"$D"'}'
c aud-empty '{"certpin": 1, "seq": 1, "iat": 1, "exp": 2000000000, "aud": "", '"$D"'}'
c aud-nul '{"certpin": 1, "seq": 1, "iat": 1, "exp": 2000000000, "aud": "com.example.app\u0000x", '"$D"'}'
c aud-number '{"certpin": 1, "seq": 1, "iat": 1, "exp": 2000000000, "aud": 7, '"$D"'}'
c signers-ok '{"certpin": 1, "seq": 1, "iat": 1, "exp": 2000000000, "signers": ['"$ES_JWK"'], '"$D"'}'
c signers-dup '{"certpin": 1, "seq": 1, "iat": 1, "exp": 2000000000, "signers": ['"$ES_JWK, $ES_JWK"'], '"$D"'}'
c signers-empty '{"certpin": 1, "seq": 1, "iat": 1, "exp": 2000000000, "signers": [], '"$D"'}'
c signers-private '{"certpin": 1, "seq": 1, "iat": 1, "exp": 2000000000, "signers": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}], '"$D"'}'
c signers-bad-point '{"certpin": 1, "seq": 1, "iat": 1, "exp": 2000000000, "signers": [{"kty": "EC", "crv": "P-256", "x": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "y": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}], '"$D"'}'
c signers-rsa '{"certpin": 1, "seq": 1, "iat": 1, "exp": 2000000000, "signers": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}], '"$D"'}'
c signers-okp '{"certpin": 1, "seq": 1, "iat": 1, "exp": 2000000000, "signers": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}], '"$D"'}'
c pin-files '{"certpin": 1, "seq": 1, "iat": 1, "exp": 2000000000, "domains": [{"host": "a.example.com", "pin_files": ["x.pem"]}]}'
c bad-policy '{"certpin": 2, "seq": 1, "iat": 1, "exp": 2000000000, '"$D"'}'
c duplicate-claim '{"certpin": 1, "seq": 1, "seq": 2, "iat": 1, "exp": 2000000000, '"$D"'}'
c not-object '[1, 2, 3]'
c not-json '{"certpin": 1, "seq": 1,'
echo "fuzz_bundle: $(ls "$cb" | wc -l) seeds, fuzz_bundle_claims: $(ls "$cc" | wc -l) seeds"
