#!/usr/bin/env bash
# certpin lint --connect against a real nginx on loopback: the chain the
# handshake validates decides would-block and no-backup, and a server whose
# chain does not validate for the host is an error.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tools nginx openssl
need_certpin
make_e2e_pki
P=$E2E_PKI
cd "$T"

policy good.json api.test "\"$INT_PIN\", \"$BACKUP_PIN\"" '"expires": "2099-01-01"'
policy blocks.json api.test "\"$BACKUP_PIN\"" '"expires": "2099-01-01"'
policy nobackup.json api.test "\"$LEAF_PIN\", \"$INT_PIN\"" '"expires": "2099-01-01"'

start_nginx "$T/nginx" "$P/fullchain.pem" "$P/leaf.key"
N=(--connect "127.0.0.1:$NGINX_PORT" --host api.test --cafile "$P/root.pem")
L=("$CERTPIN" lint)

expect_exit 0 "live chain matches, backup pin present: clean" -- "${L[@]}" "${N[@]}" good.json
expect_grep out "0 errors, 0 warnings" "clean summary"
expect_exit 1 "live chain matches no pin: error" -- "${L[@]}" "${N[@]}" blocks.json
expect_grep out "no pin matches the current chain (127.0.0.1:$NGINX_PORT): clients would block it today" "would-block names the server"
expect_exit 0 "every pin in the live chain: warning" -- "${L[@]}" "${N[@]}" nobackup.json
expect_grep out "[no-backup]" "no-backup warning"
expect_exit 1 "wrong host for the served certificate: error" -- "${L[@]}" --connect "127.0.0.1:$NGINX_PORT" --host wrong.test --cafile "$P/root.pem" good.json
expect_grep out "does not present a valid chain for wrong.test" "chain-invalid message"
expect_exit 64 "--connect needs --host" -- "${L[@]}" --connect "127.0.0.1:$NGINX_PORT" good.json

finish
