#!/usr/bin/env bash
# certpin convert: every format through the command line, --lossy, -o without
# partial output, error lines with file:line:column, usage exit codes.
. "$(dirname "$0")/lib.sh"
DATA=${CERTPIN_SRC:?}/tests/data/convert
cd "$T"
CV=("$CERTPIN" convert)
A=7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=
B=fwza0LRMXouZHRC8Ei+4PyuldPRcf3UKgO/04cDM1oE=
C=Ln0sA6lQeuJl7PW1NWiFpTOTogKdJBOUmXJloaJa78Y=

# ---- usage ----
expect_exit 64 "no arguments" -- "${CV[@]}"
expect_exit 64 "unknown --from" -- "${CV[@]}" --from android --to certpin x
expect_grep err "--from android: not a format that can be read" "names the bad format"
expect_exit 64 "trustkit-swift is write-only" -- "${CV[@]}" --from trustkit-swift --to certpin x
expect_exit 64 "curl needs --host" -- "${CV[@]}" --from curl --to certpin x
expect_grep err "name it with --host" "says to use --host"
expect_exit 4 "missing input file" -- "${CV[@]}" --from certpin --to okhttp nope.json
expect_grep err "certpin: nope.json: No such file or directory" "names the missing file"
expect_exit 0 "--help" -- "${CV[@]}" --help
expect_grep out "android-nsc" "help lists the formats"

# ---- Android ----
expect_exit 0 "android docs file imports" -- "${CV[@]}" --from android-nsc --to certpin \
	-o from-android.json "$DATA/res/xml/network_security_config.xml"
expect_grep from-android.json '"host": "insecure.example.com"' "nested domain-config is a rule"
expect_grep from-android.json '"trust_anchors": "pinned"' "@raw CA gives pinned trust anchors"
expect_grep from-android.json "$DATA/res/raw/my_ca.pem" "pin file made absolute for another directory"
expect_grep err "# cleartextTrafficPermitted has no effect on pinning" "cleartext note on stderr"
expect_exit 0 "the imported policy loads" -- "$CERTPIN" lint from-android.json

cat >xxe.xml <<'EOF'
<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<network-security-config><domain-config><domain>&e;</domain></domain-config></network-security-config>
EOF
expect_exit 4 "XXE refused" -- "${CV[@]}" --from android-nsc --to certpin -o xxe.json xxe.xml
expect_grep err "certpin: xxe.xml:2:1: DOCTYPE not allowed" "one error line with file:line:col"
if [ -e xxe.json ]; then not_ok "no output file after a failure"; else ok "no output file after a failure"; fi
[ "$(wc -l <err)" -eq 1 ] && ok "XXE: exactly one stderr line" || not_ok "XXE: $(wc -l <err) stderr lines"

# ---- round trips through the CLI, compared as canonical certpin JSON ----
cat >p.json <<EOF
{"certpin": 1, "domains": [
  {"host": "example.com", "include_subdomains": true, "pins": ["sha256/$A", "sha256/$B"], "expires": "2027-06-01"},
  {"host": "api.example.com", "pins": ["sha256/$C", "sha256/$A"]}]}
EOF
"${CV[@]}" --from certpin --to certpin p.json >canon.json
for f in android-nsc trustkit; do
	expect_exit 0 "certpin -> $f" -- "${CV[@]}" --from certpin --to $f -o via.$f p.json
	"${CV[@]}" --from $f --to certpin via.$f 2>/dev/null | "${CV[@]}" --from certpin --to certpin - >back.json
	if diff -u canon.json back.json >diff.out; then ok "$f round trip"; else
		not_ok "$f round trip"; sed 's/^/    /' diff.out | head -20; fi
done
expect_exit 4 "okhttp: expiry and the pattern's extra pins are losses" -- "${CV[@]}" --from certpin --to okhttp p.json
expect_grep err "api.example.com: OkHttp applies every matching pattern, so it would also accept the pins of **.example.com" "union loss listed"

# ---- --lossy ----
expect_exit 4 "ios-plist: expiry and any-position pins are losses" -- "${CV[@]}" --from certpin --to ios-plist -o out.plist p.json
expect_grep err "certpin: cannot express: **.example.com: expires: iOS pins do not expire (dropped)" "lists the expiry loss"
expect_grep err "pins (any position): iOS knows only leaf and CA identities" "lists the scope loss"
expect_grep err "certpin: p.json: 3 features cannot be expressed in ios-plist" "summary error line"
if [ -e out.plist ]; then not_ok "no plist written without --lossy"; else ok "no plist written without --lossy"; fi
expect_exit 0 "ios-plist --lossy writes it" -- "${CV[@]}" --lossy --from certpin --to ios-plist -o out.plist p.json
expect_grep err "certpin: lossy: **.example.com: expires" "each loss listed with --lossy"
expect_grep out.plist "<key>NSPinnedCAIdentities</key>" "plist has CA identities"
expect_exit 0 "plist reads back" -- "${CV[@]}" --from ios-plist --to certpin out.plist

# binary plist
python3 -c "
import plistlib,sys
d=plistlib.load(open('$DATA/Info.plist','rb'))
open('Info.bplist','wb').write(plistlib.dumps(d, fmt=plistlib.FMT_BINARY))"
expect_exit 0 "binary Info.plist imports" -- "${CV[@]}" --from ios-plist --to certpin Info.bplist
expect_grep out '"host": "api.example.org"' "binary plist domains"
expect_grep err "# Info.plist: only NSAppTransportSecurity.NSPinnedDomains is imported" "whole Info.plist note"

# ---- TrustKit, Swift ----
expect_exit 0 "trustkit-swift" -- "${CV[@]}" --from trustkit --to trustkit-swift "$DATA/trustkit.json"
expect_grep out "kTSKPinnedDomains: [" "swift literal"
expect_grep out "kTSKExcludeSubdomainFromParentPolicy: true," "exclusion kept"

# ---- OkHttp ----
expect_exit 0 "okhttp source imports" -- "${CV[@]}" --from okhttp --to certpin "$DATA/Pinning.kt"
expect_grep err "# api.example.com: added as a rule of its own" "union merge explained"
printf 'CertificatePinner.Builder()\n    .add("a.com", "sha1/AAAAAAAAAAAAAAAAAAAAAAAAAAA=")\n' >sha1.kt
expect_exit 4 "okhttp sha1 pin refused" -- "${CV[@]}" --from okhttp --to certpin sha1.kt
expect_grep err "certpin: sha1.kt:2:19: " "error names line and column of the pin"

# ---- curl ----
expect_exit 0 "curl export" -- "${CV[@]}" --from certpin --to curl --host www.example.com --lossy p.json
expect_grep out "sha256//$A;sha256//$B" "curl pin string"
expect_grep err "# curl compares pins with the leaf certificate's public key only" "leaf-only comment line"
echo "sha256//$A;sha256//$B" | "${CV[@]}" --from curl --to certpin --host api.test - >curl.json 2>/dev/null
expect_grep curl.json '"leaf_pins"' "curl imports as leaf pins"
expect_exit 4 "curl: no rule for the host" -- "${CV[@]}" --from certpin --to curl --host other.org p.json
expect_grep err "no pinning rule applies to other.org" "says no rule applies"

# ---- HPKP ----
expect_exit 0 "hpkp export" -- "${CV[@]}" --from certpin --to hpkp --host example.com --at 2027-06-01 p.json
expect_grep out "Public-Key-Pins: pin-sha256=\"$A\"; pin-sha256=\"$B\"; max-age=86400; includeSubDomains" "hpkp header"
cp out hpkp.txt
expect_exit 0 "hpkp import" -- "${CV[@]}" --from hpkp --to certpin --host example.com --at 2027-06-01 hpkp.txt
expect_grep out '"expires": "2027-06-01"' "max-age counted from --at"
expect_exit 4 "hpkp after expiry" -- "${CV[@]}" --from certpin --to hpkp --host example.com --at 2027-06-02 p.json
expect_grep err "the pin set has expired" "expired pin set has no max-age"

finish
