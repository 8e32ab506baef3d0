#!/usr/bin/env bash
# certpin bundle keygen|sign|verify|inspect|add-domain: every subcommand, the
# exit codes of the CLI contract, and each forged or unusable bundle refused
# with its own one-line reason. Forged tokens are built by hand
# (tests/cli/jws_tool.py, plain python3) so no JOSE library decides for us.
# add-domain handshakes with openssl s_server on loopback (tests/e2e/lib.sh
# starts and stops it; it sources tests/cli/lib.sh).
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"
need_tools openssl python3
need_certpin
JWS=(python3 "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/jws_tool.py")
B=("$CERTPIN" bundle)
make_e2e_pki
cd "$T"

# one_line_error PATTERN DESC: stderr is exactly one "certpin: " line holding PATTERN
one_line_error() {
	if [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q '^certpin: ' "$T/err" && grep -qF -- "$1" "$T/err"; then
		ok "$2"
	else
		not_ok "$2: want one 'certpin: ...$1...' line on stderr"
		sed 's/^/    err: /' "$T/err" | head -5
	fi
}
# refused TOKEN_FILE PATTERN DESC [VERIFY_ARGS...]: verify exits 1 with the reason
refused() {
	local f=$1 pat=$2 desc=$3
	shift 3
	expect_exit 1 "$desc: refused" -- "${B[@]}" verify --pub k.pub --pub e.pub "$@" "$f"
	one_line_error "certpin: $f: " "$desc: the error names the bundle"
	one_line_error "$pat" "$desc: reason"
}

# ---- keygen ---------------------------------------------------------------
expect_exit 0 "keygen ES256 (default)" -- "${B[@]}" keygen --out k.pem
expect_grep out "alg: ES256" "keygen says ES256"
expect_grep out "-----BEGIN PUBLIC KEY-----" "keygen prints the public key"
K_KID=$(sed -n 's/^kid: //p' out)
sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p' out >k.pub
[ "$(stat -c %a k.pem)" = 600 ] && ok "private key has mode 0600" || not_ok "k.pem mode $(stat -c %a k.pem)"
head -1 k.pem | grep -qx -- "-----BEGIN PRIVATE KEY-----" && ok "private key is PKCS#8 PEM" || not_ok "not PKCS#8: $(head -1 k.pem)"
openssl pkey -in k.pem -noout -text 2>/dev/null | grep -q "P-256" && ok "key is P-256" || not_ok "key is not P-256"
openssl pkey -in k.pem -pubout | cmp -s - k.pub && ok "printed public key is the key's" || not_ok "printed public key differs"
[ ${#K_KID} -eq 43 ] && ok "kid is 43 base64url characters" || not_ok "kid '$K_KID'"
# the kid is the RFC 7638 thumbprint: recompute it from the raw coordinates
K_JWK=$(python3 - k.pub <<'PY'
import base64, json, subprocess, sys
der = subprocess.run(["openssl", "pkey", "-pubin", "-in", sys.argv[1], "-outform", "DER"], capture_output=True, check=True).stdout
pt = der[-65:]
assert pt[0] == 4
b = lambda v: base64.urlsafe_b64encode(v).rstrip(b"=").decode()
print(json.dumps({"kty": "EC", "crv": "P-256", "x": b(pt[1:33]), "y": b(pt[33:])}))
PY
)
[ "$("${JWS[@]}" thumbprint - "$K_JWK")" = "$K_KID" ] && ok "kid = RFC 7638 thumbprint (recomputed)" || not_ok "kid is not the thumbprint"

expect_exit 0 "keygen EdDSA" -- "${B[@]}" keygen --out e.pem --alg EdDSA
expect_grep out "alg: EdDSA" "keygen says EdDSA"
E_KID=$(sed -n 's/^kid: //p' out)
sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p' out >e.pub
openssl pkey -in e.pem -noout -text 2>/dev/null | grep -q "ED25519" && ok "key is Ed25519" || not_ok "key is not Ed25519"
[ "$(stat -c %a e.pem)" = 600 ] && ok "Ed25519 key has mode 0600" || not_ok "e.pem mode"

cp k.pem k.pem.orig
expect_exit 4 "keygen refuses to overwrite" -- "${B[@]}" keygen --out k.pem
one_line_error "k.pem: already exists; refusing to overwrite a key" "overwrite refusal message"
cmp -s k.pem k.pem.orig && ok "existing key untouched" || not_ok "existing key changed"
ln -s nowhere link.pem
expect_exit 4 "keygen refuses a symlink" -- "${B[@]}" keygen --out link.pem
[ ! -e nowhere ] && ok "symlink target not created" || not_ok "followed the symlink"
expect_exit 4 "keygen into a missing directory" -- "${B[@]}" keygen --out no/such/dir.pem
expect_exit 64 "keygen --alg RS256" -- "${B[@]}" keygen --out r.pem --alg RS256
one_line_error "bundle keygen: --alg must be ES256 or EdDSA, not 'RS256'" "bad --alg message"
[ ! -e r.pem ] && ok "no key written on usage error" || not_ok "r.pem written"
expect_exit 64 "keygen without --out" -- "${B[@]}" keygen
expect_exit 0 "keygen another P-256 key" -- "${B[@]}" keygen --out other.pem
sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p' out >other.pub

# ---- sign -------------------------------------------------------------------
cat >policy.json <<EOP
{"certpin": 1, "domains": [
  {"host": "api.test", "pins": ["$LEAF_PIN", "$BACKUP_PIN"], "expires": "2099-01-01"},
  {"host": "**.example.com", "pins": ["$INT_PIN", "$BACKUP_PIN"]}]}
EOP
expect_exit 0 "sign ES256" -- "${B[@]}" sign --key k.pem --policy policy.json --seq 7 --aud com.example.app -o b.jws
expect_grep out "wrote b.jws: seq 7" "sign summary"
[ "$(tr -cd . <b.jws | wc -c)" -eq 2 ] && ok "bundle has three parts" || not_ok "bundle parts"
[ -z "$(find . -maxdepth 1 -name 'b.jws.tmp*')" ] && ok "no temporary file left" || not_ok "temp file left"
expect_exit 0 "sign EdDSA" -- "${B[@]}" sign --key e.pem --policy policy.json --seq 8 --ttl 1h -o e.jws
"${JWS[@]}" claims e.jws >claims.json
python3 -c 'import json,sys; c=json.load(open("claims.json")); sys.exit(0 if c["exp"]-c["iat"]==3600 and c["seq"]==8 and "aud" not in c else 1)' &&
	ok "--ttl 1h: exp = iat + 3600, no aud" || not_ok "ttl claims: $(cat claims.json)"
"${JWS[@]}" claims b.jws >claims.json
python3 -c 'import json,sys,time; c=json.load(open("claims.json")); sys.exit(0 if c["exp"]-c["iat"]==30*86400 and abs(c["iat"]-time.time())<60 and c["aud"]=="com.example.app" else 1)' &&
	ok "default ttl 30d, iat is now, aud set" || not_ok "default claims: $(cat claims.json)"
for t in 90s 15m; do
	expect_exit 0 "--ttl $t" -- "${B[@]}" sign --key k.pem --policy policy.json --seq 1 --ttl "$t" -o t.jws
done
expect_exit 64 "--ttl 5w" -- "${B[@]}" sign --key k.pem --policy policy.json --seq 1 --ttl 5w -o t.jws
one_line_error "--ttl '5w'" "bad ttl message"
expect_exit 64 "--ttl 0d" -- "${B[@]}" sign --key k.pem --policy policy.json --seq 1 --ttl 0d -o t.jws
expect_exit 64 "--seq 0" -- "${B[@]}" sign --key k.pem --policy policy.json --seq 0 -o t.jws
expect_exit 64 "--seq -1" -- "${B[@]}" sign --key k.pem --policy policy.json --seq -1 -o t.jws
expect_exit 64 "--seq 2^53" -- "${B[@]}" sign --key k.pem --policy policy.json --seq 9007199254740992 -o t.jws
expect_exit 64 "--seq 12x" -- "${B[@]}" sign --key k.pem --policy policy.json --seq 12x -o t.jws
expect_exit 64 "sign without -o" -- "${B[@]}" sign --key k.pem --policy policy.json --seq 1

cat >pinfiles.json <<EOP
{"certpin": 1, "domains": [{"host": "api.test", "pin_files": ["$E2E_PKI/leaf.pem", "$E2E_PKI/backup.key"]}]}
EOP
expect_exit 4 "sign refuses a policy with pin_files" -- "${B[@]}" sign --key k.pem --policy pinfiles.json --seq 1 -o x.jws
one_line_error "a bundle cannot use pin_files" "pin_files refusal message"
expect_grep err "pinfiles.json" "pin_files error names the policy file"
[ ! -e x.jws ] && ok "nothing written for a refused policy" || not_ok "x.jws written"
for claim in seq exp aud signers; do
	cat >claim.json <<EOP
{"certpin": 1, "$claim": 1, "domains": [{"host": "api.test", "pins": ["$LEAF_PIN", "$BACKUP_PIN"]}]}
EOP
	expect_exit 4 "sign refuses a policy holding \"$claim\"" -- "${B[@]}" sign --key k.pem --policy claim.json --seq 1 -o x.jws
	one_line_error "the policy already has \"$claim\"" "claim \"$claim\" refusal message"
done
printf '{"certpin": 1, "domains": [{"host": "api.test", "pins": ["sha1/AAAAAAAAAAAAAAAAAAAAAAAAAAA="]}]}' >bad.json
expect_exit 4 "sign refuses an invalid policy" -- "${B[@]}" sign --key k.pem --policy bad.json --seq 1 -o x.jws
one_line_error "bad.json" "invalid policy error names the file"
expect_exit 4 "sign with a public key" -- "${B[@]}" sign --key k.pub --policy policy.json --seq 1 -o x.jws
one_line_error "signing needs a private key" "public key as --key message"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem 2>/dev/null
expect_exit 4 "sign with an RSA key" -- "${B[@]}" sign --key rsa.pem --policy policy.json --seq 1 -o x.jws
one_line_error "rsa.pem" "RSA key error names the key file"
expect_exit 4 "sign with a missing key" -- "${B[@]}" sign --key missing.pem --policy policy.json --seq 1 -o x.jws
one_line_error "missing.pem: No such file or directory" "missing key message"
expect_exit 4 "sign with a missing policy" -- "${B[@]}" sign --key k.pem --policy missing.json --seq 1 -o x.jws
expect_exit 4 "sign into a missing directory" -- "${B[@]}" sign --key k.pem --policy policy.json --seq 1 -o no/dir/x.jws

# ---- verify -------------------------------------------------------------------
expect_exit 0 "verify ES256" -- "${B[@]}" verify --pub k.pub b.jws
expect_grep out "b.jws: valid" "valid"
expect_grep out "seq:     7" "prints seq"
expect_grep out "aud:     com.example.app" "prints aud"
expect_grep out "kid:     $K_KID" "prints kid"
expect_grep out "alg:     ES256" "prints alg"
expect_grep out "rules:   2" "prints the rule count"
expect_grep out "iat:     " "prints iat"
expect_grep out "exp:     " "prints exp"
expect_exit 0 "verify EdDSA among several keys" -- "${B[@]}" verify --pub k.pub --pub e.pub e.jws
expect_grep out "alg:     EdDSA" "EdDSA alg"
expect_grep out "kid:     $E_KID" "EdDSA kid"
expect_grep out "aud:     (none)" "no aud"
expect_exit 0 "verify with the right --aud" -- "${B[@]}" verify --pub k.pub --aud com.example.app b.jws
expect_exit 0 "verify with a private key file as --pub" -- "${B[@]}" verify --pub k.pem b.jws
printf '%s\n' "$(cat b.jws)" >nl.jws
expect_exit 0 "a trailing newline is tolerated" -- "${B[@]}" verify --pub k.pub nl.jws

"${JWS[@]}" tamper-payload b.jws >tp.jws
refused tp.jws "the signature does not verify with key $K_KID" "tampered payload"
"${JWS[@]}" tamper-header b.jws >th.jws
refused th.jws "the signature does not verify with key $K_KID" "tampered header"
"${JWS[@]}" header-jwk b.jws >hj.jws
refused hj.jws "the header may hold only alg, kid and typ" "header with an embedded jwk"
expect_exit 1 "signed by an unknown key" -- "${B[@]}" verify --pub other.pub --pub e.pub b.jws
one_line_error "b.jws: no trusted signer key has kid $K_KID" "unknown key message"
"${JWS[@]}" none b.jws >none.jws
refused none.jws "a JWS part is empty (an unsigned JWS is refused)" "alg none, empty signature"
"${JWS[@]}" none-sig b.jws >nones.jws
refused nones.jws 'algorithm "none" is refused (only ES256 and EdDSA)' "alg none with a signature"
"${JWS[@]}" hs256 b.jws k.pub >hs.jws
refused hs.jws 'algorithm "HS256" is refused (only ES256 and EdDSA)' "HS256 with the public key as secret"
# sanity: the HMAC really is over h.p with the PEM (an implementation that
# accepted HS256 with this key would accept this token)
python3 - hs.jws k.pub <<'PY' && ok "HS256 token is a correct HMAC with the PEM" || not_ok "HS256 token malformed"
import base64, hashlib, hmac, sys
h, p, s = open(sys.argv[1]).read().strip().split(".")
mac = hmac.new(open(sys.argv[2], "rb").read(), f"{h}.{p}".encode(), hashlib.sha256).digest()
sys.exit(0 if base64.urlsafe_b64encode(mac).rstrip(b"=").decode() == s else 1)
PY
"${JWS[@]}" alg b.jws EdDSA >mix.jws
refused mix.jws "the header says EdDSA but key $K_KID is a P-256 key" "EdDSA header on a P-256 key"
"${JWS[@]}" alg e.jws ES256 >mix2.jws
refused mix2.jws "the header says ES256 but key $E_KID is an Ed25519 key" "ES256 header on an Ed25519 key"
"${JWS[@]}" alg b.jws RS256 >rs.jws
refused rs.jws 'algorithm "RS256" is refused' "RS256"
refused b.jws "expired at" "expired (--at in the future)" --at 2099-01-01
refused b.jws 'the bundle is for "com.example.app", not "other.app"' "wrong aud" --aud other.app
refused e.jws 'the bundle is for "(no aud)", not "com.example.app"' "aud required, bundle has none" --aud com.example.app
"${JWS[@]}" parts b.jws 4 >p4.jws
refused p4.jws "not a JWS in compact serialization" "4-part token"
"${JWS[@]}" parts b.jws 2 >p2.jws
refused p2.jws "not a JWS in compact serialization" "2-part token"
printf 'not a bundle' >junk.jws
refused junk.jws "not a JWS in compact serialization" "garbage"
printf '' >empty.jws
refused empty.jws "not a JWS in compact serialization" "empty file"
head -c $((2 * 1024 * 1024 + 10)) /dev/zero | tr '\0' 'A' >big.jws
refused big.jws "a bundle is at most 2097152 bytes" "oversize bundle"

expect_exit 4 "verify: unreadable bundle" -- "${B[@]}" verify --pub k.pub missing.jws
one_line_error "missing.jws: No such file or directory" "unreadable bundle message"
expect_exit 4 "verify: unreadable --pub" -- "${B[@]}" verify --pub missing.pub b.jws
expect_exit 4 "verify: RSA --pub" -- "${B[@]}" verify --pub rsa.pem b.jws
openssl pkey -in rsa.pem -pubout -out rsa.pub 2>/dev/null
expect_exit 4 "verify: RSA public key" -- "${B[@]}" verify --pub rsa.pub b.jws
one_line_error "rsa.pub" "RSA public key error names the file"
expect_exit 64 "verify without --pub" -- "${B[@]}" verify b.jws
expect_exit 64 "verify without a bundle" -- "${B[@]}" verify --pub k.pub
expect_exit 64 "verify: the same key twice" -- "${B[@]}" verify --pub k.pub --pub k.pem b.jws
expect_exit 64 "verify: bad --at" -- "${B[@]}" verify --pub k.pub --at tomorrow b.jws
expect_exit 64 "verify: unknown option" -- "${B[@]}" verify --pub k.pub --bogus b.jws
one_line_error "bundle verify: unknown or incomplete option '--bogus'" "unknown option message"

# ---- --signer: the next key set ------------------------------------------------------
expect_exit 0 "sign with --signer (two next keys)" -- "${B[@]}" sign --key k.pem --policy policy.json --seq 9 --signer e.pub --signer other.pub -o rot.jws
expect_grep out "next signers: 2" "sign reports the next signers"
expect_exit 0 "verify shows the next signer set" -- "${B[@]}" verify --pub k.pub rot.jws
expect_grep out "signers: 2" "verify counts the next signers"
"${JWS[@]}" claims rot.jws >claims.json
S0=$(python3 -c 'import json; print(json.dumps(json.load(open("claims.json"))["signers"][0]))')
S1=$(python3 -c 'import json; print(json.dumps(json.load(open("claims.json"))["signers"][1]))')
[ "$("${JWS[@]}" thumbprint - "$S0")" = "$E_KID" ] && ok "signers[0] is the Ed25519 key (thumbprint = its kid)" || not_ok "signers[0]: $S0"
OTHER_KID=$("${B[@]}" verify --pub other.pub "$(
	"${B[@]}" sign --key other.pem --policy policy.json --seq 1 -o o.jws >/dev/null && echo o.jws)" | sed -n 's/^  kid: *//p')
[ "$("${JWS[@]}" thumbprint - "$S1")" = "$OTHER_KID" ] && ok "signers[1] is the other P-256 key" || not_ok "signers[1]: $S1"
python3 -c 'import json,sys; s=json.load(open("claims.json"))["signers"]; sys.exit(0 if all(set(k)<= {"kty","crv","x","y"} for k in s) else 1)' &&
	ok "signer JWKs hold public members only" || not_ok "signer JWK members"
expect_exit 4 "--signer with a missing file" -- "${B[@]}" sign --key k.pem --policy policy.json --seq 9 --signer missing.pub -o x.jws
expect_exit 4 "--signer with an RSA key" -- "${B[@]}" sign --key k.pem --policy policy.json --seq 9 --signer rsa.pub -o x.jws
expect_exit 64 "--signer twice the same key" -- "${B[@]}" sign --key k.pem --policy policy.json --seq 9 --signer e.pub --signer e.pem -o x.jws

# ---- inspect -------------------------------------------------------------------
expect_exit 0 "inspect a valid bundle" -- "${B[@]}" inspect b.jws
expect_grep out "UNVERIFIED" "inspect says UNVERIFIED"
expect_grep out "header (UNVERIFIED):" "header labelled"
expect_grep out "payload (UNVERIFIED):" "payload labelled"
expect_grep out "\"typ\": \"certpin-bundle+jws\"" "header pretty-printed"
expect_grep out "\"kid\": \"$K_KID\"" "header kid"
expect_grep out "  \"seq\": 7," "payload pretty-printed"
expect_grep out "$LEAF_PIN" "payload pins shown"
expect_grep out "(exp = " "exp shown as a time"
expect_exit 0 "inspect a forged bundle too (it does not verify)" -- "${B[@]}" inspect nones.jws
expect_grep out "\"alg\": \"none\"" "forged header shown"
expect_exit 1 "inspect garbage" -- "${B[@]}" inspect junk.jws
one_line_error "junk.jws: not a JWS in compact serialization" "inspect garbage message"
expect_exit 1 "inspect a 4-part token" -- "${B[@]}" inspect p4.jws
expect_exit 4 "inspect a missing file" -- "${B[@]}" inspect missing.jws
expect_exit 64 "inspect without a file" -- "${B[@]}" inspect
# a payload that is not JSON is shown escaped, never raw
python3 - >nj.jws <<'PY'
import base64
b = lambda v: base64.urlsafe_b64encode(v).rstrip(b"=").decode()
print(b(b'{"alg":"ES256"}') + "." + b(b"\x1b[2Jnot json") + "." + b(b"x" * 64))
PY
expect_exit 0 "inspect a non-JSON payload" -- "${B[@]}" inspect nj.jws
expect_grep out "(not valid JSON" "non-JSON payload labelled"
if grep -q $'\x1b' out; then not_ok "escape character printed raw"; else ok "control characters escaped"; fi

# ---- usage -------------------------------------------------------------------------
expect_exit 64 "bundle without a subcommand" -- "${B[@]}"
expect_exit 64 "unknown subcommand" -- "${B[@]}" frobnicate
one_line_error "bundle: unknown subcommand 'frobnicate'" "unknown subcommand message"
expect_exit 0 "bundle --help" -- "${B[@]}" --help
for sub in keygen sign verify inspect add-domain; do
	expect_exit 0 "$sub --help" -- "${B[@]}" "$sub" --help
	expect_grep out "usage: certpin bundle $sub" "$sub --help shows its usage"
done
expect_exit 0 "certpin --help lists bundle" -- "$CERTPIN" --help
expect_grep out "  bundle " "bundle in the command list"

# ---- add-domain ----------------------------------------------------------------------
need_tools ss setsid timeout
start_s_server "$E2E_PKI/leaf.pem" "$E2E_PKI/leaf.key" "$E2E_PKI/int.pem"
C=(--connect "127.0.0.1:$S_PORT" --cafile "$E2E_PKI/root.pem")
AD=("${B[@]}" add-domain)

expect_exit 0 "add-domain creates a missing policy" -- "${AD[@]}" --policy new.json "${C[@]}" api.test
expect_grep out "added api.test to new.json with 1 leaf pin:" "add-domain summary"
expect_grep out "  $LEAF_PIN" "add-domain prints the pin"
expect_grep out "reminder: a backup pin is still needed" "backup pin reminder"
expect_grep out "warning [few-pins]" "few-pins warning shown"
python3 - new.json "$LEAF_PIN" <<'PY' && ok "new policy holds the leaf pin" || { not_ok "new policy content"; cat new.json; }
import json, sys
d = json.load(open(sys.argv[1]))
assert d["certpin"] == 1
assert d["domains"] == [{"host": "api.test", "pins": [sys.argv[2]]}], d
PY
expect_exit 0 "the new policy lints" -- "$CERTPIN" lint new.json
expect_grep out "[few-pins]" "lint warns few-pins on it"
expect_exit 4 "add-domain refuses a host that already has a rule" -- "${AD[@]}" --policy new.json "${C[@]}" API.test.
one_line_error "new.json: api.test already has a rule" "existing rule message"

cp new.json before.json
expect_exit 0 "add-domain --scope intermediate" -- "${AD[@]}" --policy new.json "${C[@]}" --scope intermediate localhost
expect_grep out "with 1 intermediate CA pin:" "intermediate summary"
python3 - new.json "$LEAF_PIN" "$INT_PIN" <<'PY' && ok "intermediate rule appended, first rule kept" || { not_ok "policy after intermediate"; cat new.json; }
import json, sys
d = json.load(open(sys.argv[1]))
assert d["domains"][0] == {"host": "api.test", "pins": [sys.argv[2]]}
assert d["domains"][1] == {"host": "localhost", "pins": [sys.argv[3]]}
PY
expect_exit 0 "the edited policy checks against the server" -- \
	"$CERTPIN" check --policy new.json "${C[@]}" localhost
expect_grep out "PINNED" "edited policy pins localhost"

# an existing policy keeps its other content, and its mode
cat >keep.json <<EOP
{"certpin": 1, "unlisted_hosts": "allow",
 "domains": [{"host": "**.example.com", "pins": ["$INT_PIN", "$BACKUP_PIN"], "mode": "report"}]}
EOP
chmod 640 keep.json
expect_exit 0 "add-domain to an existing policy" -- "${AD[@]}" --policy keep.json "${C[@]}" 127.0.0.1
python3 - keep.json "$LEAF_PIN" <<'PY' && ok "existing content kept, IP rule added" || { not_ok "keep.json content"; cat keep.json; }
import json, sys
d = json.load(open(sys.argv[1]))
assert d["unlisted_hosts"] == "allow" and d["domains"][0]["mode"] == "report"
assert d["domains"][1] == {"host": "127.0.0.1", "pins": [sys.argv[2]]}
PY
[ "$(stat -c %a keep.json)" = 640 ] && ok "policy file mode kept" || not_ok "mode now $(stat -c %a keep.json)"
cat >pat.json <<EOP
{"certpin": 1, "domains": [{"host": "**.api.test", "pins": ["$INT_PIN", "$BACKUP_PIN"]}]}
EOP
expect_exit 0 "add-domain under a pattern rule" -- "${AD[@]}" --policy pat.json "${C[@]}" api.test
expect_grep out "note: rule **.api.test also matches api.test" "pattern overlap noted"

cp new.json snap.json
expect_exit 2 "add-domain: untrusted chain" -- "${AD[@]}" --policy new.json --connect "127.0.0.1:$S_PORT" --cafile "$E2E_PKI/rogue.pem" other.localhost
one_line_error "certificate validation failed" "validation failure message"
expect_exit 2 "add-domain: name mismatch" -- "${AD[@]}" --policy new.json "${C[@]}" wrong.test
cmp -s new.json snap.json && ok "policy unchanged after failures" || not_ok "policy changed after a failure"
DEAD=$(free_port)
expect_exit 3 "add-domain: nothing listening" -- "${AD[@]}" --policy new.json --connect "127.0.0.1:$DEAD" --cafile "$E2E_PKI/root.pem" x.test
expect_exit 4 "add-domain: invalid existing policy" -- "${AD[@]}" --policy bad.json "${C[@]}" api.test
expect_grep err "bad.json" "invalid policy named"
expect_exit 4 "add-domain: missing --cafile" -- "${AD[@]}" --policy z.json --connect "127.0.0.1:$S_PORT" --cafile missing.pem api.test
[ ! -e z.json ] && ok "no policy created on failure" || not_ok "z.json created"
expect_exit 64 "add-domain: bad --scope" -- "${AD[@]}" --policy z.json "${C[@]}" --scope root api.test
one_line_error "--scope must be leaf or intermediate, not 'root'" "bad scope message"
expect_exit 64 "add-domain: no host" -- "${AD[@]}" --policy z.json
expect_exit 64 "add-domain: bad host" -- "${AD[@]}" --policy z.json "${C[@]}" 'bad..host'
[ -z "$(find . -maxdepth 1 -name '*.tmp*')" ] && ok "no temporary files left" || not_ok "temporary files: $(ls ./*.tmp*)"

# the whole flow: add a domain, add a backup pin, sign, verify
python3 - new.json "$BACKUP_PIN" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for r in d["domains"]:
    r["pins"].append(sys.argv[2])
json.dump(d, open(sys.argv[1], "w"))
PY
expect_exit 0 "lint is clean of few-pins after adding backups" -- "$CERTPIN" lint new.json
if grep -qF "[few-pins]" out; then not_ok "few-pins still reported"; else ok "no few-pins"; fi
expect_exit 0 "sign the added domains" -- "${B[@]}" sign --key k.pem --policy new.json --seq 10 -o flow.jws
expect_exit 0 "verify the added domains" -- "${B[@]}" verify --pub k.pub flow.jws
expect_grep out "rules:   2" "two rules in the bundle"

finish
