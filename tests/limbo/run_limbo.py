#!/usr/bin/env python3
"""Run the x509-limbo suite through `certpin eval`, plus derived pinning checks.

Part 1 (always): every SERVER case of limbo.json whose expected peer name is a
DNS name or an IP address is validated with

    certpin eval --policy P --chain chain.pem --cafile ca.pem [--at T] --json HOST

where P is {"certpin":1,"domains":[]} (no rule, unlisted hosts allowed: pure
validation), ca.pem holds the case's trusted certs and chain.pem the peer
certificate followed by the untrusted intermediates. A case agrees when
certpin exits 0 and limbo expects SUCCESS, or exits 2 and limbo expects
FAILURE. Any other exit status (1, 4, 64, a signal, a timeout) is an anomaly;
anomalies count as disagreements and are also listed separately.

Cases without a validation_time are run without --at (certpin uses the
current time, as limbo's own harnesses do). All their certificates are valid
from 1970-01-01 to 2969-05-03, except one that is meant to be expired (it
expired in 1988), so the outcome does not depend on the day of the run.

Part 2 (--pinning): for every case that limbo expects to SUCCEED and certpin
validates, pins derived from the validated chain (the `chain` array of
`certpin eval --json`, leaf first) are checked:

  pin-N            a rule pinning only the SPKI of chain position N -> 0 PINNED
  cert-pin-leaf    a cert-sha256/ pin of the leaf                    -> 0 PINNED
  scoped-ok        leaf_pins = leaf, ca_pins = top of chain          -> 0 PINNED
  mismatch-X       a pin of a certificate outside the chain          -> 1 PIN_MISMATCH
  attack-X         the same, with that certificate appended to the
                   chain file (CVE-2016-2402)                        -> 1 PIN_MISMATCH
  leaf-scope       leaf_pins = an issuer's pin                       -> 1 PIN_MISMATCH
  ca-scope         ca_pins = the leaf's pin                          -> 1 PIN_MISMATCH

X is `fresh` (a self-signed P-256 certificate generated once per run with
the openssl CLI) and `foreign-root` (a trust anchor of another limbo case,
i.e. a real CA certificate unrelated to this chain). The chain's pins are
cross-checked against `certpin pin -q` of the case's files and against an
independent SPKI extraction in this script.

Standard library only. Every subprocess runs under a timeout; temporary
files live in TemporaryDirectory.
"""

import argparse
import base64
import concurrent.futures
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

EXPIRES = "2999-12-31"
TIMEOUT = 5.0


# --------------------------------------------------------------------------
# Certificates: PEM -> DER, SPKI extraction (independent of certpin)

PEM_RE = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)


def pem_to_ders(text):
    return [base64.b64decode("".join(m.group(1).split())) for m in PEM_RE.finditer(text)]


def _tlv(buf, off):
    """Returns (tag, header_len, content_len) of the DER element at off."""
    tag = buf[off]
    if tag & 0x1F == 0x1F:
        raise ValueError("multi-byte tag")
    n = buf[off + 1]
    if n < 0x80:
        return tag, 2, n
    k = n & 0x7F
    if k == 0 or k > 4 or off + 2 + k > len(buf):
        raise ValueError("bad length")
    return tag, 2 + k, int.from_bytes(buf[off + 2:off + 2 + k], "big")


def spki_of(der):
    """DER SubjectPublicKeyInfo of a certificate, or None if it cannot be found."""
    try:
        tag, h, _ = _tlv(der, 0)  # Certificate
        if tag != 0x30:
            return None
        off = h
        tag, h, _ = _tlv(der, off)  # tbsCertificate
        if tag != 0x30:
            return None
        off += h
        tag, h, n = _tlv(der, off)
        if tag == 0xA0:  # [0] version
            off += h + n
        # serial, signature, issuer, validity, subject
        for _ in range(5):
            tag, h, n = _tlv(der, off)
            off += h + n
        tag, h, n = _tlv(der, off)
        if tag != 0x30:
            return None
        return der[off:off + h + n]
    except (IndexError, ValueError):
        return None


def b64sha256(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def spki_pin(der):
    s = spki_of(der)
    return "sha256/" + b64sha256(s) if s is not None else None


def cert_pin(der):
    return "cert-sha256/" + b64sha256(der)


# --------------------------------------------------------------------------
# Running certpin


class Runner:
    def __init__(self, certpin, timeout):
        self.certpin = certpin
        self.timeout = timeout

    def run(self, args):
        """Returns (exit status or 'timeout' or 'signal N', stdout, stderr)."""
        # Own process group, so a timeout kills whatever the program started
        # too (a wrapper's children would otherwise keep the pipes open).
        p = subprocess.Popen([self.certpin] + args, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
        try:
            out, err = p.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.communicate()
            return "timeout", "", ""
        out = out.decode("utf-8", "replace")
        err = err.decode("utf-8", "replace")
        if p.returncode < 0:
            return "signal %d" % -p.returncode, out, err
        return p.returncode, out, err

    def eval(self, policy, chain, cafile, at, host, max_depth=None):
        args = ["eval", "--policy", policy, "--chain", chain, "--cafile", cafile, "--json"]
        if at:
            args += ["--at", at]
        if max_depth is not None:
            args += ["--max-depth", str(max_depth)]
        args.append(host)
        rc, out, err = self.run(args)
        verdict = None
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    verdict = json.loads(line)
                except ValueError:
                    pass
        return rc, verdict, err.strip()

    def pins(self, path, cert=False):
        """`certpin pin -q [--cert] PATH`: the pins, in file order, or None."""
        rc, out, err = self.run(["pin", "-q"] + (["--cert"] if cert else []) + [path])
        if rc != 0:
            return None
        prefix = "cert-sha256/" if cert else "sha256/"
        return [w for w in out.split() if w.startswith(prefix)]


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def pem_join(pems):
    return "".join(p if p.endswith("\n") else p + "\n" for p in pems)


def policy_json(host=None, **rule):
    doc = {"certpin": 1, "domains": []}
    if host is not None:
        r = {"host": host}
        r.update(rule)
        r["expires"] = EXPIRES
        doc["domains"].append(r)
    return json.dumps(doc, indent=1) + "\n"


def selected_cases(limbo):
    for tc in limbo["testcases"]:
        name = tc.get("expected_peer_name") or {}
        if tc["validation_kind"] == "SERVER" and name.get("kind") in ("DNS", "IP"):
            yield tc


# --------------------------------------------------------------------------
# Part 1: validation agreement


def run_case(runner, tc, compare_openssl):
    host = tc["expected_peer_name"]["value"]
    at = tc.get("validation_time")
    with tempfile.TemporaryDirectory(prefix="limbo-") as d:
        ca = os.path.join(d, "ca.pem")
        chain = os.path.join(d, "chain.pem")
        pol = os.path.join(d, "policy.json")
        write(ca, pem_join(tc["trusted_certs"]))
        write(chain, pem_join([tc["peer_certificate"]] + tc["untrusted_intermediates"]))
        write(pol, policy_json())
        t0 = time.monotonic()
        rc, verdict, err = runner.eval(pol, chain, ca, at, host, tc.get("max_chain_depth"))
        seconds = time.monotonic() - t0
        res = {
            "id": tc["id"],
            "expected": tc["expected_result"],
            "host": host,
            "at": at,
            "exit": rc,
            "verdict": verdict.get("verdict") if verdict else None,
            "reason": (verdict.get("reason") if verdict else None) or err,
            "chain": [c.get("pin") for c in verdict.get("chain", [])] if verdict else [],
            "seconds": round(seconds, 4),
        }
        if rc == 0:
            res["observed"] = "SUCCESS"
        elif rc == 2:
            res["observed"] = "FAILURE"
        else:
            res["observed"] = "ANOMALY"
        res["agree"] = res["observed"] == tc["expected_result"]
        if compare_openssl:
            res["openssl"] = openssl_verify(d, tc, ca, host, at, strict=False)
            res["openssl_strict"] = openssl_verify(d, tc, ca, host, at, strict=True)
        return res


def openssl_verify(d, tc, ca, host, at, strict):
    """Plain `openssl verify` on the same files, for classifying disagreements."""
    leaf = os.path.join(d, "leaf.pem")
    inter = os.path.join(d, "inter.pem")
    write(leaf, pem_join([tc["peer_certificate"]]))
    args = ["openssl", "verify", "-purpose", "sslserver", "-CAfile", ca]
    if strict:
        args.append("-x509_strict")
    if tc["untrusted_intermediates"]:
        write(inter, pem_join(tc["untrusted_intermediates"]))
        args += ["-untrusted", inter]
    if tc["expected_peer_name"]["kind"] == "IP":
        args += ["-verify_ip", host]
    else:
        args += ["-verify_hostname", host]
    if at:
        args += ["-attime", str(int(parse_time(at)))]
    args.append(leaf)
    try:
        p = subprocess.run(args, capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "timeout"
    text = (p.stdout + p.stderr).decode("utf-8", "replace")
    if p.returncode == 0:
        return "SUCCESS"
    m = re.search(r"error (\d+) at (\d+) depth lookup: ([^\n]*)", text)
    return "FAILURE: " + (m.group(3).strip() + " (depth %s)" % m.group(2) if m else
                          text.strip().splitlines()[-1] if text.strip() else "?")


def parse_time(s):
    """RFC 3339 -> POSIX seconds (fractions round up, like certpin)."""
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", s)
    if not m:
        raise ValueError(s)
    import calendar
    t = calendar.timegm(tuple(int(m.group(i)) for i in range(1, 7)))
    if m.group(7) and int(m.group(7)[1:]) != 0:
        t += 1
    z = m.group(8)
    if z != "Z":
        sign = 1 if z[0] == "+" else -1
        t -= sign * (int(z[1:3]) * 3600 + int(z[4:6]) * 60)
    return t


# --------------------------------------------------------------------------
# Part 2: derived pinning checks


def make_fresh_cert(d):
    key = os.path.join(d, "fresh.key")
    crt = os.path.join(d, "fresh.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                    "-subj", "/CN=certpin limbo outsider", "-days", "36500"],
                   check=True, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    with open(crt, encoding="ascii") as f:
        return f.read()


def pin_case(runner, tc, res, outsiders):
    """Returns (checks run, list of failure strings)."""
    host = tc["expected_peer_name"]["value"]
    at = tc.get("validation_time")
    failures = []
    ran = []  # names of the checks run

    def fail(check, msg):
        failures.append("%s: %s: %s" % (tc["id"], check, msg))

    with tempfile.TemporaryDirectory(prefix="limbo-pin-") as d:
        ca = os.path.join(d, "ca.pem")
        chain = os.path.join(d, "chain.pem")
        write(ca, pem_join(tc["trusted_certs"]))
        chain_pems = [tc["peer_certificate"]] + tc["untrusted_intermediates"]
        write(chain, pem_join(chain_pems))

        # The validated chain, as certpin reported it in part 1 (leaf first).
        vchain = res["chain"]
        ran.append("chain")
        if not vchain or not all(p.startswith("sha256/") for p in vchain):
            fail("chain", "eval --json gave no usable validated chain: %s" % vchain)
            return ran, failures

        # Cross-check the chain's pins with `certpin pin -q` and with our own
        # SPKI extraction.
        ran.append("pin-cross-check")
        leaf_der = pem_to_ders(tc["peer_certificate"])[0]
        own = {"trusted": [spki_pin(x) for p in tc["trusted_certs"] for x in pem_to_ders(p)],
               "inter": [spki_pin(x) for p in tc["untrusted_intermediates"] for x in pem_to_ders(p)],
               "leaf": [spki_pin(leaf_der)]}
        cp_trusted, cp_chain = runner.pins(ca), runner.pins(chain)
        cp_certpins = runner.pins(chain, cert=True)
        if not cp_trusted or not cp_chain or not cp_certpins:
            fail("pin-cross-check", "certpin pin -q failed on the case's files")
            cp_trusted, cp_chain = cp_trusted or [], cp_chain or []
        else:
            mine = own["leaf"] + own["inter"]
            if None not in mine and cp_chain != mine:
                fail("pin-cross-check", "certpin pin -q of the chain file says %s, SPKI hashes are %s"
                     % (cp_chain, mine))
            if None not in own["trusted"] and cp_trusted != own["trusted"]:
                fail("pin-cross-check", "certpin pin -q of ca.pem %s != %s" % (cp_trusted, own["trusted"]))
            if cp_certpins[0] != cert_pin(leaf_der):
                fail("pin-cross-check", "certpin pin --cert -q says %s for the leaf, not %s"
                     % (cp_certpins[0], cert_pin(leaf_der)))
            if vchain[0] != cp_chain[0]:
                fail("pin-cross-check", "validated chain starts with %s, not the leaf %s"
                     % (vchain[0], cp_chain[0]))
            if vchain[-1] not in cp_trusted:
                fail("pin-cross-check", "validated chain ends with %s, not a trusted cert" % vchain[-1])
            for p in vchain[1:-1]:
                if p not in cp_trusted and p not in cp_chain:
                    fail("pin-cross-check", "validated chain holds %s, not in the case's files" % p)

        def check(name, rule_kw, want_exit, want_verdict, chain_path=chain, cafile=ca):
            ran.append(name)
            pol = os.path.join(d, "p-%s.json" % name)
            write(pol, policy_json(host, **rule_kw))
            rc, v, err = runner.eval(pol, chain_path, cafile, at, host)
            got = v.get("verdict") if v else None
            if rc != want_exit or got != want_verdict:
                fail(name, "expected exit %d %s, got exit %s %s (%s)"
                     % (want_exit, want_verdict, rc, got,
                        (v.get("reason") if v else None) or err or "no output"))

        for i, pin in enumerate(vchain):
            check("pin-%d" % i, {"pins": [pin]}, 0, "PINNED")
        check("cert-pin-leaf", {"pins": [cert_pin(leaf_der)]}, 0, "PINNED")
        if len(vchain) >= 2:
            check("scoped-ok", {"leaf_pins": [vchain[0]], "ca_pins": [vchain[-1]]}, 0, "PINNED")
            issuer = next((p for p in vchain[1:] if p != vchain[0]), None)
            if issuer is not None:
                check("leaf-scope", {"leaf_pins": [issuer]}, 1, "PIN_MISMATCH")
            if vchain[0] not in vchain[1:]:
                check("ca-scope", {"ca_pins": [vchain[0]]}, 1, "PIN_MISMATCH")

        all_case_pins = set(vchain) | set(cp_chain or []) | set(cp_trusted or [])
        for label, pem in outsiders:
            if label == "foreign-root":
                pem = next((p for p in pem if spki_pin(pem_to_ders(p)[0]) not in all_case_pins), None)
                if pem is None:
                    continue
            opin = spki_pin(pem_to_ders(pem)[0])
            if opin in all_case_pins:
                continue
            check("mismatch-" + label, {"pins": [opin]}, 1, "PIN_MISMATCH")
            attack = os.path.join(d, "attack-%s.pem" % label)
            write(attack, pem_join(chain_pems + [pem]))
            check("attack-" + label, {"pins": [opin]}, 1, "PIN_MISMATCH", chain_path=attack)
            if label == "foreign-root":
                # The pinned CA is even a trust anchor, and sent: still not
                # on the validated path, so still no match.
                ca2 = os.path.join(d, "ca-plus-foreign.pem")
                write(ca2, pem_join(tc["trusted_certs"] + [pem]))
                check("attack-trusted-foreign-root", {"pins": [opin]}, 1, "PIN_MISMATCH",
                      chain_path=attack, cafile=ca2)
    return ran, failures


# --------------------------------------------------------------------------


def read_expected(path):
    ids = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            body, _, comment = line.partition("#")
            body = body.strip()
            if body:
                ids[body] = comment.strip()
    return ids


def default_limbo():
    td = os.environ.get("CERTPIN_TESTDATA")
    if not td:
        td = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                          "shared", "testdata")
    return os.path.join(td, "x509-limbo", "limbo.json")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--certpin", default=os.environ.get("CERTPIN_BIN", "certpin"))
    ap.add_argument("--limbo", default=default_limbo(), help="limbo.json")
    ap.add_argument("--json", metavar="OUT", help="write machine-readable results")
    ap.add_argument("--expected", metavar="FILE",
                    help="checked-in list of disagreeing ids; exit 1 if the list differs")
    ap.add_argument("--write-expected", metavar="FILE",
                    help="write the measured disagreement list (keeps reasons of --expected)")
    ap.add_argument("--min-agree", type=int, default=0)
    ap.add_argument("--max-case-ms", type=int, default=0,
                    help="fail when one certpin eval run takes longer (generous: includes start-up)")
    ap.add_argument("--pinning", action="store_true", help="also run the derived pinning checks")
    ap.add_argument("--compare-openssl", action="store_true",
                    help="also run plain `openssl verify` on each case and show it for disagreements")
    ap.add_argument("--id", action="append", help="run only these case ids (repeatable)")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=TIMEOUT, help="per certpin run, seconds")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()

    start = time.monotonic()
    with open(a.limbo, encoding="utf-8") as f:
        limbo = json.load(f)
    cases = list(selected_cases(limbo))
    if a.id:
        cases = [c for c in cases if c["id"] in set(a.id)]
    runner = Runner(a.certpin, a.timeout)

    with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as ex:
        results = list(ex.map(lambda tc: run_case(runner, tc, a.compare_openssl), cases))

    agree = [r for r in results if r["agree"]]
    disagree = [r for r in results if not r["agree"]]
    anomalies = [r for r in results if r["observed"] == "ANOMALY"]
    if a.verbose:
        for r in results:
            print("%-5s %-60s expected %-7s exit %-3s %s%s" % (
                "ok" if r["agree"] else "DIFF", r["id"], r["expected"], r["exit"],
                r["verdict"] or "-", (": " + r["reason"]) if r["reason"] else ""))
    print("limbo: %d SERVER cases with a DNS/IP name: %d agree, %d disagree (%d anomalies)"
          % (len(results), len(agree), len(disagree), len(anomalies)))
    slowest = max(results, key=lambda r: r["seconds"]) if results else None
    if slowest is not None:
        # wall clock of one whole `certpin eval` process (start-up, loading, validation)
        print("limbo: slowest case %s: %.0f ms per certpin eval run"
              % (slowest["id"], slowest["seconds"] * 1000))
    if slowest is not None and a.max_case_ms and slowest["seconds"] * 1000 > a.max_case_ms:
        print("limbo: slowest case took more than %d ms" % a.max_case_ms)
    if disagree:
        print("disagreements (expected -> observed, certpin's reason):")
        for r in sorted(disagree, key=lambda r: r["id"]):
            print("  %s: %s -> %s (exit %s, %s): %s" % (
                r["id"], r["expected"], r["observed"], r["exit"], r["verdict"] or "no verdict",
                r["reason"] or ""))
            if a.compare_openssl:
                print("      openssl verify: %s; with -x509_strict: %s"
                      % (r["openssl"], r["openssl_strict"]))
    if anomalies:
        print("anomalies (exit status other than 0 or 2):")
        for r in sorted(anomalies, key=lambda r: r["id"]):
            print("  %s: exit %s: %s" % (r["id"], r["exit"], r["reason"] or ""))

    status = 0
    measured = sorted(r["id"] for r in disagree)
    expected_match, expected_mismatch = len(agree), len(disagree)
    if a.expected and not a.id:
        want = read_expected(a.expected)
        added = sorted(set(measured) - set(want))
        removed = sorted(set(want) - set(measured))
        expected_mismatch = len(added) + len(removed)
        expected_match = len(results) - expected_mismatch
        if added or removed:
            status = 1
            print("disagreement list differs from %s:" % a.expected)
            for i in added:
                print("  + %s (new disagreement)" % i)
            for i in removed:
                print("  - %s (now agrees: %s)" % (i, want[i] or "no reason given"))
        else:
            print("disagreement list matches %s (%d ids)" % (os.path.basename(a.expected), len(want)))
    if a.write_expected:
        old = read_expected(a.expected) if a.expected and os.path.exists(a.expected) else {}
        by_id = {r["id"]: r for r in disagree}
        with open(a.write_expected, "w", encoding="utf-8") as f:
            for i in measured:
                reason = old.get(i) or "TODO: %s -> %s" % (by_id[i]["expected"], by_id[i]["observed"])
                f.write("%s # %s\n" % (i, reason))
    if slowest is not None and a.max_case_ms and slowest["seconds"] * 1000 > a.max_case_ms:
        status = 1
    if len(agree) < a.min_agree:
        status = 1
        print("agreement %d is below the minimum %d" % (len(agree), a.min_agree))

    pin_summary = None
    if a.pinning:
        by_id = {tc["id"]: tc for tc in cases}
        eligible = [r for r in results if r["expected"] == "SUCCESS" and r["exit"] == 0]
        with tempfile.TemporaryDirectory(prefix="limbo-out-") as d:
            fresh = make_fresh_cert(d)
        foreign = [p for tc in limbo["testcases"] for p in tc["trusted_certs"]]
        # Each case uses the first of these whose SPKI is not in its own files.
        foreign = list(dict.fromkeys(foreign))
        outsiders = [("fresh", fresh), ("foreign-root", foreign)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as ex:
            outs = list(ex.map(lambda r: pin_case(runner, by_id[r["id"]], r, outsiders), eligible))
        nchecks = sum(len(o[0]) for o in outs)
        kinds = {}
        for o in outs:
            for name in o[0]:
                k = re.sub(r"-\d+$", "-N", name)
                kinds[k] = kinds.get(k, 0) + 1
        failures = [f for o in outs for f in o[1]]
        if a.verbose:
            for r, o in zip(eligible, outs):
                print("pinning %-60s %d checks, %d failed" % (r["id"], len(o[0]), len(o[1])))
        print("pinning: %d cases, %d checks, %d passed, %d failed"
              % (len(eligible), nchecks, nchecks - len(failures), len(failures)))
        if kinds:
            print("  " + ", ".join("%s %d" % kv for kv in sorted(kinds.items())))
        for f in failures:
            print("  FAIL " + f)
        if failures or not eligible:
            status = 1
        pin_summary = {"cases": len(eligible), "checks": nchecks, "by_kind": kinds,
                       "failures": failures}

    elapsed = time.monotonic() - start
    print("limbo: done in %.1f s" % elapsed)
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"total": len(results), "agree": len(agree), "disagree": len(disagree),
                       "anomalies": len(anomalies), "expected_match": expected_match,
                       "expected_mismatch": expected_mismatch, "results": results,
                       "pinning": pin_summary, "seconds": round(elapsed, 2),
                       "slowest_case": slowest and {"id": slowest["id"],
                                                    "seconds": slowest["seconds"]}},
                      f, indent=1)
    return status


if __name__ == "__main__":
    sys.exit(main())
