#!/usr/bin/env bash
# certpin probe against real servers on loopback: the presented and the
# validated chain with pins, a snippet, JSON, and each failure's exit code.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tools nginx openssl
need_certpin
make_e2e_pki
P=$E2E_PKI
start_nginx "$T/nginx" "$P/fullchain.pem" "$P/leaf.key"
C=(--connect "127.0.0.1:$NGINX_PORT")

expect_exit 0 "probe a valid server" -- "$CERTPIN" probe "${C[@]}" --cafile "$P/root.pem" api.test
expect_grep "$T/out" "Presented chain (as the server sent it):" "presented chain shown"
expect_grep "$T/out" "Validated chain (what pins are checked against):" "validated chain shown"
expect_grep "$T/out" "  0  $LEAF_PIN" "leaf pin listed"
expect_grep "$T/out" "  1  $INT_PIN" "intermediate pin listed"
expect_grep "$T/out" "  2  $ROOT_PIN" "root pin listed in the validated chain"
expect_grep "$T/out" "subject:  CN=api.test" "subject shown"
expect_grep "$T/out" "issuer:   CN=certpin e2e Issuing CA" "issuer shown"
expect_grep "$T/out" "key:      EC P-256" "key type shown"
expect_grep "$T/out" "days left" "days left shown"
expect_grep "$T/out" "\"pins\": [\"$LEAF_PIN\"," "snippet pins the leaf"
expect_grep "$T/out" "$INT_PIN\"]," "snippet pins the intermediate"
# The snippet is a policy that certpin itself accepts.
sed -n '/^{/,/^}/p' "$T/out" >"$T/snippet.json"
expect_exit 0 "the snippet loads (lint)" -- "$CERTPIN" lint "$T/snippet.json"
expect_exit 0 "the snippet's pins pass eval on the served chain" -- \
	"$CERTPIN" eval --policy "$T/snippet.json" --chain "$P/fullchain.pem" --cafile "$P/root.pem" api.test

expect_exit 0 "--json" -- "$CERTPIN" probe "${C[@]}" --cafile "$P/root.pem" --json api.test
if python3 - "$T/out" "$LEAF_PIN" "$ROOT_PIN" <<'PY'; then ok "--json content"; else not_ok "--json content"; cat "$T/out"; fi
import json, sys
d = json.load(open(sys.argv[1]))
assert d["validated"] is True and d["host"] == "api.test"
assert [c["pin"] for c in d["presented"]][0] == sys.argv[2]
assert len(d["presented"]) == 2 and len(d["validated_chain"]) == 3
assert d["validated_chain"][2]["pin"] == sys.argv[3]
assert d["validated_chain"][1]["is_ca"] is True
PY

# Validation fails: the presented chain is still shown, exit 2.
expect_exit 2 "untrusted server: exit 2" -- "$CERTPIN" probe "${C[@]}" --cafile "$P/rogue.pem" api.test
expect_grep "$T/out" "  0  $LEAF_PIN" "presented chain still shown when validation fails"
expect_grep "$T/out" "Validation failed: unable to get local issuer certificate" "reason shown"
expect_exit 2 "wrong host name: exit 2" -- "$CERTPIN" probe "${C[@]}" --cafile "$P/root.pem" www.test
expect_grep "$T/out" "hostname mismatch" "hostname mismatch reason"
expect_exit 0 "IP literal host checked against the IP SAN" -- "$CERTPIN" probe "${C[@]}" --cafile "$P/root.pem" 127.0.0.1

# Connection errors: exit 3.
closed=$(free_port)
expect_exit 3 "closed port: exit 3" -- "$CERTPIN" probe --connect "127.0.0.1:$closed" --cafile "$P/root.pem" api.test
expect_grep "$T/err" "certpin: probe: cannot connect to 127.0.0.1 port $closed" "connection error message"
# A listener that never answers the handshake: --timeout applies.
"$E2E_PYTHON" - "$T/silent.port" <<'PY' &
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
c, _ = s.accept(); time.sleep(8)
PY
silent_pid=$!
E2E_PIDS+=("$silent_pid")
for _ in $(seq 50); do [ -s "$T/silent.port" ] && break; sleep 0.1; done
start=$(date +%s)
expect_exit 3 "silent server: handshake timeout, exit 3" -- "$CERTPIN" probe --timeout 1 --connect "127.0.0.1:$(cat "$T/silent.port")" --cafile "$P/root.pem" api.test
[ $(( $(date +%s) - start )) -le 4 ] && ok "timeout honoured" || not_ok "timeout took too long"
expect_grep "$T/err" "timed out" "timeout message"
expect_exit 64 "no host: usage" -- "$CERTPIN" probe
expect_exit 64 "bad --connect: usage" -- "$CERTPIN" probe --connect nowhere api.test
expect_exit 0 "--help" -- "$CERTPIN" probe --help
finish
