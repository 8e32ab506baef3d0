#!/usr/bin/env bash
# certpin pin: every input form against the openssl CLI's own pin, output
# formats, and the error paths with their exit codes.
set -euo pipefail

BIN=${CERTPIN_BIN:?CERTPIN_BIN must name the certpin binary}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"

passed=0
failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
notok() { echo "not ok - $1"; failed=$((failed + 1)); }
# check DESCRIPTION EXPECTED ACTUAL
check() {
	if [ "$2" == "$3" ]; then ok "$1"; else
		notok "$1"
		echo "#   expected: $2"
		echo "#   actual:   $3"
	fi
}
# run CMD...: sets out, err, rc without tripping set -e
run() {
	set +e
	out=$("$@" 2>"$T/stderr")
	rc=$?
	set -e
	err=$(cat "$T/stderr")
}

b64sha() { openssl dgst -sha256 -binary | openssl base64 -A; }
pin_of_cert() { echo "sha256/$(openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | b64sha)"; }
pin_of_key() { echo "sha256/$(openssl pkey -in "$1" -pubout -outform DER | b64sha)"; }
pin_of_csr() { echo "sha256/$(openssl req -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | b64sha)"; }
cert_pin_of() { echo "cert-sha256/$(openssl x509 -in "$1" -outform DER | b64sha)"; }

# ---- inputs made with the openssl CLI ------------------------------------
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out p256.key
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.key
openssl genpkey -algorithm ED25519 -out ed25519.key
openssl genpkey -algorithm ED448 -out ed448.key
declare -A KT=([rsa]=RSA-2048 [p256]=EC-P-256 [p384]=EC-P-384 [ed25519]=Ed25519 [ed448]=Ed448)

for k in rsa p256 p384 ed25519 ed448; do
	openssl req -x509 -new -key "$k.key" -subj "/CN=$k.test/O=Cert Pin" -days 30 -out "$k.crt" 2>/dev/null
	openssl x509 -in "$k.crt" -outform DER -out "$k.crt.der"
	openssl pkey -in "$k.key" -pubout -out "$k.pub"
	openssl pkey -in "$k.key" -pubout -outform DER -out "$k.pub.der"
	openssl pkey -in "$k.key" -outform DER -out "$k.key.der"
	openssl req -new -key "$k.key" -subj "/CN=req.$k.test" -out "$k.csr" 2>/dev/null
	openssl req -in "$k.csr" -outform DER -out "$k.csr.der"
done
openssl pkcs8 -topk8 -in p256.key -v2 aes-256-cbc -passout pass:s3cret -out p256.enc.key
openssl pkcs8 -topk8 -in p256.key -v2 aes-256-cbc -passout pass:s3cret -outform DER -out p256.enc.der
openssl pkcs12 -export -inkey rsa.key -in rsa.crt -certfile p384.crt -passout pass:p12pw -out rsa.p12 2>/dev/null
openssl ecparam -name prime256v1 -genkey -out ecparam.key
printf 'this is not a key\n' >garbage.txt

# ---- pins against the openssl CLI -----------------------------------------
for k in rsa p256 p384 ed25519 ed448; do
	want_cert=$(pin_of_cert "$k.crt")
	want_key=$(pin_of_key "$k.key")
	check "$k: key pin equals certificate pin (openssl)" "$want_cert" "$want_key"
	for f in "$k.crt" "$k.crt.der" "$k.pub" "$k.pub.der" "$k.key" "$k.key.der"; do
		run "$BIN" pin -q "$f"
		check "$k: pin -q $f equals openssl's pin" "0 $want_cert" "$rc $out"
	done
	want_csr=$(pin_of_csr "$k.csr")
	for f in "$k.csr" "$k.csr.der"; do
		run "$BIN" pin -q "$f"
		check "$k: pin -q $f equals openssl's CSR pin" "0 $want_csr" "$rc $out"
	done
	run "$BIN" pin "$k.crt"
	check "$k: certificate line is 'PIN  SUBJECT'" "$want_cert  O=Cert Pin,CN=$k.test" "$out"
	run "$BIN" pin "$k.key"
	check "$k: key line is 'PIN  KEY_TYPE'" "$want_key  ${KT[$k]}" "$out"
	run "$BIN" pin "$k.csr"
	check "$k: CSR line is 'PIN  SUBJECT'" "$want_csr  CN=req.$k.test" "$out"
	for f in "$k.crt" "$k.crt.der"; do
		run "$BIN" pin -q --cert "$f"
		check "$k: pin --cert $f equals openssl's DER hash" "$(cert_pin_of "$k.crt")" "$out"
	done
done

want=$(pin_of_key p256.key)
for f in p256.enc.key p256.enc.der; do
	run "$BIN" pin -q --passin s3cret "$f"
	check "encrypted PKCS#8 $f with the password" "0 $want" "$rc $out"
	run "$BIN" pin -q --passin pass:s3cret "$f"
	check "encrypted PKCS#8 $f with pass:" "0 $want" "$rc $out"
done
run env CP_TEST_PW=s3cret "$BIN" pin -q --passin env:CP_TEST_PW p256.enc.key
check "--passin env:VAR" "0 $want" "$rc $out"
printf 's3cret\n' >pw.txt
run "$BIN" pin -q --passin file:pw.txt p256.enc.key
check "--passin file:PATH (first line)" "0 $want" "$rc $out"

run "$BIN" pin -q --passin p12pw rsa.p12
expect=$(printf '%s\n%s\n%s' "$(pin_of_key rsa.key)" "$(pin_of_cert rsa.crt)" "$(pin_of_cert p384.crt)")
check "PKCS#12: key, certificate and extra certificate" "0 $(sort <<<"$expect" | tr '\n' ' ')" \
	"$rc $(sort <<<"$out" | tr '\n' ' ')"
run "$BIN" pin -q --cert --passin p12pw rsa.p12
check "PKCS#12 --cert gives the two certificates" \
	"$(printf '%s\n%s' "$(cert_pin_of rsa.crt)" "$(cert_pin_of p384.crt)" | sort | tr '\n' ' ')" \
	"$(sort <<<"$out" | tr '\n' ' ')"

run "$BIN" pin -q ecparam.key
check "'openssl ecparam -genkey' output gives one key" "0 $(pin_of_key ecparam.key)" "$rc $out"

cat rsa.crt p256.crt p384.crt >chain.pem
run "$BIN" pin -q chain.pem
check "a PEM chain gives one line per certificate" \
	"$(pin_of_cert rsa.crt) $(pin_of_cert p256.crt) $(pin_of_cert p384.crt)" "$(tr '\n' ' ' <<<"$out" | sed 's/ $//')"
openssl x509 -in p256.crt -text >text.pem
run "$BIN" pin -q text.pem
check "openssl x509 -text output (text around the block)" "0 $(pin_of_cert p256.crt)" "$rc $out"

run "$BIN" pin -q rsa.crt p256.key ed448.pub
check "several files, in order" "$(pin_of_cert rsa.crt) $(pin_of_key p256.key) $(pin_of_key ed448.key)" \
	"$(tr '\n' ' ' <<<"$out" | sed 's/ $//')"
set +e
out=$("$BIN" pin -q - <p384.crt.der)
rc=$?
set -e
check "'-' reads stdin" "0 $(pin_of_cert p384.crt)" "$rc $out"

# ---- JSON -------------------------------------------------------------------
run "$BIN" pin --json chain.pem p256.key rsa.csr
if [ "$rc" = 0 ] && python3 -m json.tool <<<"$out" >/dev/null; then ok "--json parses with python3 -m json.tool"; else notok "--json parses with python3 -m json.tool"; fi
fields=$(python3 -c '
import json, sys
a = json.load(sys.stdin)
print(len(a), a[0]["file"], a[0]["kind"], a[0]["line"], a[1]["line"], a[0]["is_ca"], a[0]["self_signed"],
      a[0]["cert_pin"].startswith("cert-sha256/"), a[3]["kind"], "cert_pin" in a[3], a[3]["key_type"],
      a[4]["kind"], a[4]["subject"])' <<<"$out")
check "--json fields (req -x509 sets CA:TRUE)" "5 chain.pem certificate 1 $(( $(wc -l <rsa.crt) + 1 )) True True True private-key False EC-P-256 csr CN=req.rsa.test" "$fields"
check "--json pins" "$(pin_of_cert rsa.crt)" "$(python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["pin"])' <<<"$out")"

# ---- errors -----------------------------------------------------------------
run "$BIN" pin missing.pem
check "missing file: exit 4" 4 "$rc"
if [[ $err == "certpin: "*missing.pem* ]]; then ok "missing file: stderr names it"; else notok "missing file: stderr names it ($err)"; fi
check "missing file: one line on stderr" 1 "$(wc -l <<<"$err")"
run "$BIN" pin garbage.txt
check "garbage file: exit 4" 4 "$rc"
if [[ $err == "certpin: garbage.txt: "* ]]; then ok "garbage file: stderr names it"; else notok "garbage file: stderr names it ($err)"; fi
run "$BIN" pin --passin wrong p256.enc.key
check "wrong password: exit 4" 4 "$rc"
if [[ $err == "certpin: p256.enc.key:1: "*password* ]]; then ok "wrong password: stderr names file and line"; else notok "wrong password: stderr names file and line ($err)"; fi
run "$BIN" pin p256.enc.key
check "missing password: exit 4" 4 "$rc"
run "$BIN" pin --passin wrong rsa.p12
check "wrong PKCS#12 password: exit 4" 4 "$rc"
run "$BIN" pin -q rsa.crt garbage.txt p256.key
check "a bad file stops the run after the good ones" "4 $(pin_of_cert rsa.crt)" "$rc $out"
run "$BIN" pin --json rsa.crt garbage.txt
check "--json prints nothing when a file is bad" "4 " "$rc $out"
printf -- '-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n' >crl.pem
cat rsa.crt crl.pem >mixed.pem
run "$BIN" pin mixed.pem
check "unknown PEM block: exit 4, nothing printed" "4 " "$rc $out"
want_line=$(( $(wc -l <rsa.crt) + 1 ))
check "unknown PEM block: file, line and type" "certpin: mixed.pem:$want_line: unsupported PEM block 'X509 CRL'" "$err"
run "$BIN" pin --cert p256.key
check "--cert on a file without certificate: exit 4" 4 "$rc"
head -c 1048577 /dev/zero >big.bin
run "$BIN" pin big.bin
check "input over 1 MiB: exit 4" 4 "$rc"
run "$BIN" pin --passin env:CP_SURELY_UNSET_VAR p256.enc.key
check "--passin env: of an unset variable: exit 64" 64 "$rc"
run "$BIN" pin --passin file:nope.txt p256.enc.key
check "--passin file: that is missing: exit 4" 4 "$rc"
run "$BIN" pin
check "no arguments: exit 64" 64 "$rc"
run "$BIN" pin --bogus rsa.crt
check "unknown option: exit 64" 64 "$rc"
run "$BIN" pin --passin
check "--passin without a value: exit 64" 64 "$rc"
run "$BIN" pin --help
check "--help: exit 0" 0 "$rc"
if [[ $out == usage:* ]]; then ok "--help prints usage to stdout"; else notok "--help prints usage to stdout"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
