# Shared helpers for the CLI tests: TAP-like checks and a throwaway PKI.
# Source it; it sets $T (a temp dir removed at exit) and $CERTPIN.
set -euo pipefail
CERTPIN=${CERTPIN_BIN:?CERTPIN_BIN must point at the certpin binary}
T=$(mktemp -d /tmp/certpin-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
PASS=0
FAIL=0

ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
not_ok() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }

# expect_exit CODE DESCRIPTION -- CMD...   (stdout+stderr kept in $T/out, $T/err)
expect_exit() {
	local want=$1 desc=$2
	shift 3
	set +e
	"$@" >"$T/out" 2>"$T/err"
	local got=$?
	set -e
	if [ "$got" -eq "$want" ]; then
		ok "$desc (exit $got)"
	else
		not_ok "$desc: expected exit $want, got $got"
		sed 's/^/    out: /' "$T/out" | head -20
		sed 's/^/    err: /' "$T/err" | head -20
	fi
}

# expect_grep FILE PATTERN DESCRIPTION  (fixed-string match)
expect_grep() {
	if grep -qF -- "$2" "$1"; then ok "$3"; else
		not_ok "$3: '$2' not in $(basename "$1")"
		sed 's/^/    | /' "$1" | head -20
	fi
}

finish() {
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
}

# ---- PKI with the openssl CLI -------------------------------------------
pki_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
pki_ca_ext() { printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n'; }
pki_root() { # CN KEY OUT
	openssl req -new -x509 -key "$2" -subj "/CN=$1" -days 3650 -out "$3" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
# pki_issue CN KEY ISSUER_PEM ISSUER_KEY OUT EXTFILE  (valid from now for 365 days)
pki_issue() {
	openssl req -new -key "$2" -subj "/CN=$1" -out "$5.csr" 2>/dev/null
	openssl x509 -req -in "$5.csr" -CA "$3" -CAkey "$4" -CAcreateserial -extfile "$6" \
		-days 365 -out "$5" 2>/dev/null
	rm -f "$5.csr"
}
pki_leaf_ext() { # SAN OUT
	printf 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' "$1" >"$2"
}
spki_pin() { # CERT_PEM -> sha256/...
	echo "sha256/$(openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER |
		openssl dgst -sha256 -binary | openssl base64 -A)"
}

# Standard PKI in $T: root, int, leaf (api.test + 127.0.0.1), backup key,
# rogue root + rogue leaf, a leaf for api.test signed by int with another key.
make_pki() {
	cd "$T"
	pki_ca_ext >ca.ext
	pki_leaf_ext "DNS:api.test,DNS:localhost,IP:127.0.0.1" leaf.ext
	pki_key root.key; pki_root "Test Root CA" root.key root.pem
	pki_key int.key; pki_issue "Test Issuing CA" int.key root.pem root.key int.pem ca.ext
	pki_key leaf.key; pki_issue "api.test" leaf.key int.pem int.key leaf.pem leaf.ext
	pki_key backup.key
	pki_key rogue.key; pki_root "Rogue CA" rogue.key rogue.pem
	pki_key evil.key; pki_issue "api.test" evil.key rogue.pem rogue.key evil.pem leaf.ext
	pki_key other.key; pki_issue "api.test" other.key int.pem int.key other-leaf.pem leaf.ext
	cat leaf.pem int.pem >chain.pem
	cat root.pem rogue.pem >trusted.pem
	ROOT_PIN=$(spki_pin root.pem)
	INT_PIN=$(spki_pin int.pem)
	LEAF_PIN=$(spki_pin leaf.pem)
	BACKUP_PIN="sha256/$(openssl pkey -in backup.key -pubout -outform DER | openssl dgst -sha256 -binary | openssl base64 -A)"
	cd - >/dev/null
}

# policy FILE HOST PINS_JSON [EXTRA_JSON]  e.g. policy p.json api.test "\"$LEAF_PIN\"" '"mode":"report"'
policy() {
	cat >"$1" <<EOP
{"certpin": 1, "domains": [{"host": "$2", "pins": [$3]${4:+, $4}}]}
EOP
}
