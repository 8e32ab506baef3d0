#!/usr/bin/env bash
# certpin lint: findings with file:line:column, exit codes, --json, --strict,
# --chain root-only detection.
. "$(dirname "$0")/lib.sh"
make_pki
cd "$T"
L=("$CERTPIN" lint)

cat >clean.json <<EOP
{"certpin": 1, "domains": [
  {"host": "api.test", "pins": ["$LEAF_PIN", "$BACKUP_PIN"], "expires": "2099-01-01"}]}
EOP
expect_exit 0 "clean policy" -- "${L[@]}" clean.json
expect_grep out "0 errors, 0 warnings" "clean summary"

cat >warn.json <<EOP
{"certpin": 1, "domains": [
  {"host": "api.test",
   "pins": ["$LEAF_PIN"]}]}
EOP
expect_exit 0 "warnings only: exit 0" -- "${L[@]}" warn.json
expect_grep out "[few-pins]" "few-pins warning"
expect_grep out "[no-expiry]" "no-expiry warning"
expect_grep out "warn.json:2:" "warning names file and line"
expect_exit 1 "--strict turns warnings into errors" -- "${L[@]}" --strict warn.json

cat >bad.json <<EOP
{"certpin": 1, "domains": [
  {"host": "api.test", "pins": ["$LEAF_PIN", "sha1/AAAAAAAAAAAAAAAAAAAAAAAAAAA="]}]}
EOP
expect_exit 1 "sha1 pin: error" -- "${L[@]}" bad.json
expect_grep out "bad.json:2:" "error names file and line"
expect_grep out "\$.domains[0].pins[1]" "error names the JSON path"
expect_grep out "sha1" "error says which algorithm"

printf '{"certpin": 1, "domains": [\n  {"host": "a.test",, }]}\n' >syntax.json
expect_exit 1 "JSON syntax error: exit 1" -- "${L[@]}" syntax.json
expect_grep out "syntax.json:2:" "syntax error position"

expect_exit 4 "missing file: exit 4" -- "${L[@]}" missing.json
expect_grep err "certpin: missing.json" "unreadable file message"

cat >root-only.json <<EOP
{"certpin": 1, "domains": [
  {"host": "api.test", "pins": ["$ROOT_PIN", "$BACKUP_PIN"], "expires": "2099-01-01"}]}
EOP
cat leaf.pem int.pem root.pem >full.pem
expect_exit 0 "root-only pins with a chain: warning" -- "${L[@]}" --chain full.pem root-only.json
expect_grep out "[root-only]" "root-only warning with --chain"
expect_exit 0 "intermediate pin with a chain: no root-only warning" -- "${L[@]}" --chain full.pem clean.json
if grep -qF "[root-only]" out; then not_ok "clean policy flagged root-only"; else ok "no false root-only"; fi

cat >root-files.json <<EOP
{"certpin": 1, "domains": [
  {"host": "api.test", "pin_files": ["root.pem", "rogue.pem"], "expires": "2099-01-01"}]}
EOP
expect_exit 0 "only root certificates in pin_files: warning" -- "${L[@]}" root-files.json
expect_grep out "[root-only]" "root-only warning from pin_files"

expect_exit 0 "--json" -- "${L[@]}" --json warn.json
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); k=sorted(f["kind"] for f in d["findings"]); assert d["warnings"]==2 and k==["few-pins","no-expiry"], d; assert all(f["line"]>0 for f in d["findings"])' out; then
	ok "--json findings"
else not_ok "--json findings"; cat out; fi
# ---- report-only rules are listed ---------------------------------------------
if grep -qF "report-only:" "$T/out"; then not_ok "warn.json has no report-only rule"; else ok "no report-only line without one"; fi
cat >report.json <<EOP
{"certpin": 1, "domains": [
  {"host": "api.test", "pins": ["$LEAF_PIN", "$BACKUP_PIN"], "expires": "2099-01-01", "mode": "report",
   "report_uris": ["https://reports.test/pins"]},
  {"host": "b.test", "pins": ["$LEAF_PIN", "$BACKUP_PIN"], "expires": "2099-01-01", "mode": "report"},
  {"host": "c.test", "pins": ["$LEAF_PIN", "$BACKUP_PIN"], "expires": "2099-01-01"}]}
EOP
expect_exit 0 "report-only rules: exit 0" -- "${L[@]}" report.json
expect_grep out 'report-only: api.test ($.domains[0]): a pin mismatch is allowed and reported to 1 URI' "report-only rule with a URI"
expect_grep out 'report-only: b.test ($.domains[1]): a pin mismatch is allowed and reported (no report_uris' "report-only rule without URIs"
if grep -qF "c.test" out; then not_ok "an enforced rule listed as report-only"; else ok "enforced rule not listed"; fi
expect_exit 0 "report-only rules: --json" -- "${L[@]}" --json report.json
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["report_only"]==[{"rule":"api.test","path":"$.domains[0]","report_uris":1},{"rule":"b.test","path":"$.domains[1]","report_uris":0}], d' out; then
	ok "--json report_only"
else not_ok "--json report_only"; cat out; fi
expect_exit 64 "no policy: usage" -- "${L[@]}"
expect_exit 0 "--help" -- "${L[@]}" --help
finish
