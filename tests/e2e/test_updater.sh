#!/usr/bin/env bash
# The pin-bundle updater end to end: nginx serves signed bundles over HTTPS
# on 127.0.0.1 (a static file, with ETags), the updater fetches them through
# the libcurl adapter pinned by its own policy, and two nginx servers for
# api.test show the policy in force: A (the real leaf) and B (another key).
#
# Happy path: the baseline allows A and blocks B; bundle seq 2 pins B's key
# and drops A's, and the next handshakes go the other way. Then every fault
# must leave the previous policy in force with the right reason: tampered
# payload and header, unknown key, alg none, HS256 with the public key as the
# secret, rollback (also after a restart), expiry, truncation, oversize,
# HTTP 404 and 500, a stalled body, the bundle server behind mitmproxy, a
# corrupted cache, SIGKILL half-way through a cache write; and signing-key
# rotation through a bundle's signer set.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tools nginx mitmdump openssl
TOOL=${CERTPIN_UPDATER_TOOL:?CERTPIN_UPDATER_TOOL must point at tests/tools/updater_tool}
[ -x "$TOOL" ] || die "$TOOL is not built"
make_e2e_pki
P=$E2E_PKI
cd "$T"
NOW=$(date +%s)

# ---- keys, policies, bundles -------------------------------------------------
pki_key k1.key && openssl pkey -in k1.key -pubout -out k1.pub 2>/dev/null
pki_key k2.key && openssl pkey -in k2.key -pubout -out k2.pub 2>/dev/null
pki_key evil.key && openssl pkey -in evil.key -pubout -out evil.pub 2>/dev/null

# the bundle server is "localhost" (in the e2e leaf's SAN), pinned to the real
# intermediate in every policy: the fetch is pinned by the policy in force
BUNDLE_RULE="{\"host\": \"localhost\", \"pins\": [\"$INT_PIN\", \"$BACKUP_PIN\"]}"
cat >baseline.json <<EOF
{"certpin": 1, "domains": [$BUNDLE_RULE,
  {"host": "api.test", "pins": ["$LEAF_PIN", "$BACKUP_PIN"]}]}
EOF
cat >v2.json <<EOF
{"certpin": 1, "domains": [$BUNDLE_RULE,
  {"host": "api.test", "pins": ["$OTHER_PIN", "$BACKUP_PIN"]}]}
EOF
sign() { # OUT KEY POLICY SEQ [EXTRA...]
	local out=$1 key=$2 pol=$3 seq=$4
	shift 4
	"$TOOL" sign --key "$key" --policy "$pol" --seq "$seq" --iat "$NOW" --exp "$((NOW + 86400))" "$@" -o "$out" ||
		die "cannot sign $out"
}
DOC=$T/www
mkdir -p "$DOC/slow"
sign "$DOC/v2.jws" k1.key v2.json 2
sign "$DOC/v1.jws" k1.key baseline.json 1
sign "$DOC/v3-evil.jws" evil.key baseline.json 3
"$TOOL" sign --key k1.key --policy baseline.json --seq 3 --iat "$((NOW - 7200))" --exp "$((NOW - 3600))" -o "$DOC/v3-expired.jws" ||
	die "cannot sign the expired bundle"
sign "$DOC/v3-rotate.jws" k1.key v2.json 3 --signer k2.pub
sign "$DOC/v4-k2.jws" k2.key v2.json 4
sign "$DOC/v5-k1.jws" k1.key v2.json 5

# hand-made variants of v2 (python: base64url without padding)
"$E2E_PYTHON" - "$DOC" "$(cat k1.pub)" <<'EOF'
import base64, hashlib, hmac, json, os, sys
doc, pub = sys.argv[1], sys.argv[2].encode()
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
unb64 = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
h, p, s = open(os.path.join(doc, "v2.jws")).read().strip().split(".")
hdr, pay = json.loads(unb64(h)), json.loads(unb64(p))
def put(name, text):
    open(os.path.join(doc, name), "w").write(text)
# payload tampered: another seq, original signature
t = dict(pay, seq=99)
put("tampered-payload.jws", ".".join([h, b64(json.dumps(t).encode()), s]))
# header tampered: same fields, another encoding, original signature
put("tampered-header.jws", ".".join([b64(json.dumps(hdr, indent=1).encode()), p, s]))
# alg none, unsigned
n = dict(hdr, alg="none")
put("alg-none.jws", ".".join([b64(json.dumps(n).encode()), p, ""]))
# HS256 keyed with the public key PEM
hs = b64(json.dumps(dict(hdr, alg="HS256")).encode())
mac = hmac.new(pub, (hs + "." + p).encode(), hashlib.sha256).digest()
put("hs256.jws", ".".join([hs, p, b64(mac)]))
# truncated file
full = open(os.path.join(doc, "v2.jws")).read()
put("truncated.jws", full[: len(full) // 2])
# oversize: 3 MB
put("big.jws", "A" * (3 * 1024 * 1024))
# the stalled copy (served at 64 bytes/s)
put(os.path.join("slow", "v2.jws"), full)
EOF

# nginx's workers may run as another user (nobody when started as root)
chmod a+x "$T"
chmod -R a+rX "$DOC"

# ---- servers -----------------------------------------------------------------
start_nginx_static "$T/bundles" "$P/fullchain.pem" "$P/leaf.key" "$DOC" \
	"location /slow/ { limit_rate 64; } location = /fail500 { return 500; }"
B=$NGINX_PORT
start_nginx "$T/nginx-a" "$P/fullchain.pem" "$P/leaf.key"
A_PORT=$NGINX_PORT
start_nginx "$T/nginx-b" "$P/other-fullchain.pem" "$P/other.key"
B_PORT=$NGINX_PORT

CACHE=$T/cache
# run URL_PATH ACTION... : the updater on $CACHE with k1 trusted
run() {
	local path=$1
	shift
	set +e
	"$TOOL" run --baseline baseline.json --signer k1.pub --url "https://localhost:$B/$path" \
		--cache "$CACHE" --cafile "$P/root.pem" --resolve "localhost:$B:127.0.0.1" \
		--timeout-ms 3000 ${EXTRA:+$EXTRA} "$@" >out 2>err
	RC=$?
	set -e
}
GET_A="https://api.test:$A_PORT/"
GET_B="https://api.test:$B_PORT/"
# the gets need api.test -> 127.0.0.1 for two ports: one resolve entry each run
check_policy() { # WHAT A_EXPECT B_EXPECT (allowed|blocked)
	local what=$1 ea=$2 eb=$3 got_a got_b
	got_a=$("$TOOL" run --baseline baseline.json --signer k1.pub --url "https://localhost:$B/none" \
		--cache "$CACHE" --cafile "$P/root.pem" --resolve "api.test:$A_PORT:127.0.0.1" \
		get "$GET_A" 2>&1 | grep '^get:' | cut -d' ' -f2)
	got_b=$("$TOOL" run --baseline baseline.json --signer k1.pub --url "https://localhost:$B/none" \
		--cache "$CACHE" --cafile "$P/root.pem" --resolve "api.test:$B_PORT:127.0.0.1" \
		get "$GET_B" 2>&1 | grep '^get:' | cut -d' ' -f2)
	if [ "$got_a" = "$ea" ] && [ "$got_b" = "$eb" ]; then
		ok "$what: server A $ea, server B $eb"
	else
		not_ok "$what: server A $got_a (want $ea), server B $got_b (want $eb)"
	fi
}
expect_event() { # NAME PATTERN DESC
	if grep -q "^event: $1 " out && grep -qF -- "$2" out; then ok "$3"; else
		not_ok "$3: no 'event: $1' with '$2'"
		sed 's/^/    | /' out err | head -20
	fi
}

# ---- happy path --------------------------------------------------------------
run none.jws
expect_event baseline "no cached bundle" "first start: no cache, the baseline is in force"
check_policy "baseline" allowed blocked
run v2.jws refresh refresh
expect_event updated "seq 2 (kid" "refresh: seq 2 verified, persisted and in force"
expect_event not-modified "not modified (ETag" "second refresh of the same file: 304 through If-None-Match"
if grep -q '" 304 ' "$T/bundles/access.log"; then ok "nginx answered 304"; else not_ok "no 304 in the access log"; fi
[ "$(stat -c %a "$CACHE/certpin-cache.json")" = 600 ] && ok "cache file mode 0600" || not_ok "cache file mode $(stat -c %a "$CACHE/certpin-cache.json")"
check_policy "after the update (new process, cached bundle)" blocked allowed
run v2.jws
expect_event cache-loaded "cached bundle seq 2" "restart: the cached bundle is in force"

# ---- faults: each leaves seq 2 in force ----------------------------------------
fault() { # PATH EVENT PATTERN DESC [EXTRA ARGS]
	local path=$1 ev=$2 pat=$3 desc=$4
	shift 4
	run "$path" "$@" refresh seq
	expect_event "$ev" "$pat" "$desc"
	if grep -q '^seq: 2$' out; then ok "$desc: seq 2 stays in force"; else not_ok "$desc: $(grep '^seq:' out)"; fi
}
fault tampered-payload.jws signature-invalid "does not verify" "tampered payload"
fault tampered-header.jws signature-invalid "does not verify" "tampered header"
fault v3-evil.jws signature-invalid "no trusted signer key has kid" "signed by an unknown key"
fault alg-none.jws invalid "an unsigned JWS is refused" "alg none"
fault hs256.jws signature-invalid "\"HS256\" is refused" "HS256 with the public key as secret"
fault v1.jws rollback-refused "seq 1 is not above 2" "rollback to seq 1"
fault v3-expired.jws expired "expired at" "expired bundle"
fault truncated.jws invalid "compact serialization" "truncated bundle"
fault big.jws too-large "is over 1048576 bytes" "oversize body"
fault missing.jws network-error "HTTP 404" "HTTP 404"
fault fail500 network-error "HTTP 500" "HTTP 500"
fault slow/v2.jws network-error "Operation timed out" "a server that stalls mid-body"
check_policy "after the faults" blocked allowed

# ---- the bundle server behind mitmproxy: pinning blocks the fetch ---------------
start_mitm_reverse "$B" "$P/root.pem"
cat "$P/root.pem" "$MITM_CA" >trusts-mitm.pem
set +e
"$TOOL" run --baseline baseline.json --signer k1.pub --url "https://localhost:$MITM_PORT/v5-k1.jws" \
	--cache "$CACHE" --cafile trusts-mitm.pem --resolve "localhost:$MITM_PORT:127.0.0.1" \
	--timeout-ms 5000 refresh seq >out 2>err
set -e
expect_event network-error "failed the certificate check (PIN_MISMATCH)" "bundle server behind mitmproxy: the pinned fetch is blocked"
grep -q '^seq: 2$' out && ok "mitmproxy: seq 2 stays in force" || not_ok "mitmproxy: $(grep '^seq:' out)"

# ---- SIGKILL half-way through a cache write -------------------------------------
cp "$CACHE/certpin-cache.json" cache-before.json
set +e
"$TOOL" run --baseline baseline.json --signer k1.pub --url "https://localhost:$B/v5-k1.jws" \
	--cache "$CACHE" --cafile "$P/root.pem" --resolve "localhost:$B:127.0.0.1" \
	--kill-during-cache-write refresh >out 2>err
KRC=$?
set -e
[ "$KRC" -eq 137 ] && grep -q "hook: SIGKILL" out && ok "the updater was killed during the cache write (exit 137)" ||
	not_ok "kill during write: exit $KRC"
ls "$CACHE"/certpin-cache.json.tmp.* >/dev/null 2>&1 && ok "a partial temporary file was left behind" ||
	not_ok "no partial temporary file (the hook did not fire mid-write)"
cmp -s cache-before.json "$CACHE/certpin-cache.json" && ok "the cache file is untouched" || not_ok "the cache file changed"
run v2.jws seq
expect_event cache-loaded "cached bundle seq 2" "restart after SIGKILL: the previous valid cache loads"
ls "$CACHE"/certpin-cache.json.tmp.* >/dev/null 2>&1 && not_ok "stale temporary file not removed" || ok "stale temporary file removed at start-up"

# ---- a cache that cannot be written: verified but not applied ---------------------
WCACHE=$T/wcache
mkdir -p "$WCACHE/certpin-cache.json/x" # a directory where the file goes: rename fails
set +e
"$TOOL" run --baseline baseline.json --signer k1.pub --url "https://localhost:$B/v2.jws" \
	--cache "$WCACHE" --cafile "$P/root.pem" --resolve "localhost:$B:127.0.0.1" refresh seq >out 2>err
set -e
expect_event cache-write-failed "seq 2 not applied" "the cache cannot be written: cache-write-failed"
grep -q '^seq: 0$' out && ok "cache-write-failed: the baseline stays in force" || not_ok "cache-write-failed: $(grep '^seq:' out)"

# ---- rollback after a restart, then a corrupted cache ---------------------------
run v1.jws refresh
expect_event rollback-refused "seq 1 is not above 2" "rollback refused after a restart (the floor is in the cache)"
printf '{"certpin_cache": 1, "seq": 2, "bund' >"$CACHE/certpin-cache.json"
run v2.jws
expect_event baseline "the cache file is corrupt" "corrupted cache: the baseline is in force, never no policy"
check_policy "corrupted cache" allowed blocked
EXTRA="--min-seq 2" run v2.jws refresh
expect_event rollback-refused "not above 2" "--min-seq: the app's floor holds without a cache"

# ---- signing-key rotation ---------------------------------------------------------
rm -rf "$CACHE"
run v3-rotate.jws refresh
expect_event updated "with a new signer set" "seq 3 signed by k1 hands over to k2"
run v5-k1.jws refresh
expect_event signature-invalid "no trusted signer key has kid" "after the hand-over k1 is no longer trusted"
run v4-k2.jws refresh
expect_event updated "seq 4" "seq 4 signed by k2 is accepted"
run v4-k2.jws
expect_event cache-loaded "cached bundle seq 4" "restart: the k2-signed cache verifies with the keys it was accepted with"
grep -q '"rotations":\["' "$CACHE/certpin-cache.json" && ok "the cache keeps the signed hand-over, not a key list" ||
	not_ok "no rotation chain in the cache"

# ---- a cache someone else wrote cannot bring in a key -----------------------------
# the attacker's own bundle, declared as a rotation and as the bundle in force
rm -rf "$CACHE" && mkdir -p "$CACHE"
sign evil-rot.jws evil.key v2.json 9 --signer evil.pub
"$E2E_PYTHON" - "$CACHE/certpin-cache.json" evil-rot.jws <<'PY'
import json, sys
jws = open(sys.argv[2]).read().strip()
json.dump({"certpin_cache": 2, "seq": 9, "etag": "", "url": "x", "rotations": [jws], "bundle": jws},
          open(sys.argv[1], "w"))
PY
run v2.jws
expect_event baseline "signer rotation 1 of the cache does not verify from the app's keys" \
	"a forged rotation in the cache file is refused: the baseline is in force"
"$E2E_PYTHON" - "$CACHE/certpin-cache.json" "$DOC/v3-evil.jws" <<'PY'
import json, sys
jws = open(sys.argv[2]).read().strip()
json.dump({"certpin_cache": 2, "seq": 3, "etag": "", "url": "x", "rotations": [], "bundle": jws},
          open(sys.argv[1], "w"))
PY
run v2.jws
expect_event baseline "no trusted signer key has kid" "a cached bundle signed by an unknown key is refused"

finish
