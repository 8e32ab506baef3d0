#!/usr/bin/env bash
# certpin lint rotation checks: --chain would-block and no-backup, expiry
# with --warn-days, --host with unlisted deny, and --against over several
# deployed policy versions.
. "$(dirname "$0")/lib.sh"
make_pki
cd "$T"
L=("$CERTPIN" lint)

# ---- --chain: would block / no backup / fine ----
cat >blocks.json <<EOP
{"certpin": 1, "domains": [{"host": "api.test", "pins": ["$BACKUP_PIN", "$(spki_pin rogue.pem)"], "expires": "2099-01-01"}]}
EOP
expect_exit 1 "no pin matches the current chain: error" -- "${L[@]}" --chain chain.pem --cafile root.pem blocks.json
expect_grep out "error: \$.domains[0]: rule api.test: no pin matches the current chain (chain.pem): clients would block it today" "would-block message"

cat >nobackup.json <<EOP
{"certpin": 1, "domains": [{"host": "api.test", "pins": ["$LEAF_PIN", "$INT_PIN"], "expires": "2099-01-01"}]}
EOP
expect_exit 0 "every pin in the current chain: warning" -- "${L[@]}" --chain chain.pem --cafile root.pem nobackup.json
expect_grep out "every pin matches the current chain (chain.pem): no backup pin" "no-backup message"
expect_grep out "[no-backup]" "no-backup kind"

cat >good.json <<EOP
{"certpin": 1, "domains": [{"host": "api.test", "pins": ["$INT_PIN", "$BACKUP_PIN"], "expires": "2099-01-01"}]}
EOP
expect_exit 0 "a matching pin and a backup: clean" -- "${L[@]}" --chain chain.pem --cafile root.pem good.json
expect_grep out "0 errors, 0 warnings" "clean with a backup pin"

cat >report.json <<EOP
{"certpin": 1, "domains": [{"host": "api.test", "pins": ["$BACKUP_PIN"], "mode": "report", "expires": "2099-01-01"}]}
EOP
expect_exit 0 "report mode: a mismatch is only a warning" -- "${L[@]}" --chain chain.pem --cafile root.pem report.json
expect_grep out "[would-report]" "would-report warning"

cat >scoped.json <<EOP
{"certpin": 1, "domains": [{"host": "api.test", "leaf_pins": ["$INT_PIN", "$BACKUP_PIN"], "expires": "2099-01-01"}]}
EOP
expect_exit 1 "an intermediate's pin in leaf_pins does not match the leaf" -- "${L[@]}" --chain chain.pem --cafile root.pem scoped.json

expect_exit 1 "--host selects the rule that is checked" -- "${L[@]}" --chain chain.pem --cafile root.pem --host api.test blocks.json
expect_exit 0 "a host another rule covers is not checked against this chain" -- "${L[@]}" --chain chain.pem --cafile root.pem --host other.test blocks.json
expect_exit 1 "without --cafile the chain is checked as given, with a warning" -- "${L[@]}" --chain chain.pem blocks.json
expect_grep out "[chain-not-validated]" "chain-not-validated warning"

# ---- expiry ----
cat >exp.json <<EOP
{"certpin": 1, "domains": [{"host": "api.test", "pins": ["$INT_PIN", "$BACKUP_PIN"], "expires": "2030-01-31"}]}
EOP
expect_exit 1 "expired pin set: error" -- "${L[@]}" --at 2030-02-01 exp.json
expect_grep out "exp.json: error: \$.domains[0]: rule api.test: the pin set expired at 2030-02-01T00:00:00Z: clients no longer pin the host" "expired message"
expect_exit 1 "expired: kind in --json" -- "${L[@]}" --json --at 2030-02-01 exp.json
expect_grep out '"kind":"expired"' "expired kind"
expect_exit 0 "expiring within 30 days: warning" -- "${L[@]}" --at 2030-01-10 exp.json
expect_grep out "the pin set expires at 2030-02-01T00:00:00Z, in 22 days [expires-soon]" "expires-soon message"
expect_exit 0 "outside --warn-days: clean" -- "${L[@]}" --at 2030-01-10 --warn-days 7 exp.json
expect_grep out "0 errors, 0 warnings" "no expiry warning with --warn-days 7"
expect_exit 64 "bad --warn-days" -- "${L[@]}" --warn-days x exp.json

# ---- --host with deny ----
cat >deny.json <<EOP
{"certpin": 1, "unlisted_hosts": "deny", "domains": [{"host": "api.test", "pins": ["$INT_PIN", "$BACKUP_PIN"], "expires": "2099-01-01"}]}
EOP
expect_exit 1 "deny and no rule for --host: error" -- "${L[@]}" --host cdn.test deny.json
expect_grep out "deny.json: error: cdn.test has no rule and \"unlisted_hosts\" is \"deny\": clients block it" "unlisted-deny message"
expect_exit 0 "deny and a rule for --host: clean" -- "${L[@]}" --host api.test deny.json
expect_exit 64 "invalid --host" -- "${L[@]}" --host 'a..b' deny.json

# ---- --against: a certificate rotation over deployed policy versions ----
pki_key new.key; pki_issue "api.test" new.key int.pem int.key new-leaf.pem leaf.ext
NEW_PIN=$(spki_pin new-leaf.pem)
cat new-leaf.pem int.pem >new-chain.pem
cat >v1.json <<EOP
{"certpin": 1, "domains": [{"host": "api.test", "leaf_pins": ["$LEAF_PIN", "$BACKUP_PIN"]}]}
EOP
cat >v2.json <<EOP
{"certpin": 1, "domains": [{"host": "api.test", "pins": ["$INT_PIN", "$BACKUP_PIN"]}]}
EOP
cat >v3.json <<EOP
{"certpin": 1, "domains": [{"host": "api.test", "leaf_pins": ["$NEW_PIN", "$LEAF_PIN"]}]}
EOP
expect_exit 1 "--against: v1 pins only the old leaf" -- "${L[@]}" --against new-chain.pem --host api.test --cafile root.pem v1.json v2.json v3.json
expect_grep out "v1.json: api.test BLOCKED: PIN_MISMATCH (rule api.test)" "v1 line"
expect_grep out "v2.json: api.test accepted: PINNED (rule api.test)" "v2 line"
expect_grep out "v3.json: api.test accepted: PINNED (rule api.test)" "v3 line"
[ "$(wc -l <out)" -eq 3 ] && ok "one line per policy file" || not_ok "one line per policy file: $(wc -l <out)"
expect_exit 0 "--against: every version accepts" -- "${L[@]}" --against new-chain.pem --host api.test --cafile root.pem v2.json v3.json
expect_exit 1 "--against: an untrusted chain blocks" -- "${L[@]}" --against evil.pem --host api.test --cafile root.pem v2.json
expect_grep out "BLOCKED: CHAIN_INVALID" "chain-invalid line"
expect_exit 4 "--against: unreadable policy" -- "${L[@]}" --against new-chain.pem --host api.test --cafile root.pem v2.json missing.json
expect_grep out "missing.json: UNREADABLE" "unreadable line"
expect_exit 64 "--against needs --host" -- "${L[@]}" --against new-chain.pem v2.json

finish
