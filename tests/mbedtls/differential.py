#!/usr/bin/env python3
"""The same chains and policies through the OpenSSL and the mbedTLS builds.

Corpus: every x509-limbo SERVER case with a DNS or IP peer name (197), each
validated with no pinning rule, and, for every case both builds validate,
derived pinning cases on the chain each build validated:

  pin-leaf       a rule pinning the leaf's SPKI            -> PINNED in both
  pin-top        a rule pinning the top of the chain       -> PINNED in both
  mismatch       a pin of a certificate outside the chain  -> PIN_MISMATCH
  attack         the same certificate appended to the chain (CVE-2016-2402)
                 -> PIN_MISMATCH

OpenSSL side: `certpin eval --at T` (certpin_openssl_verify). mbedTLS side:
tests/tools/mbedtls_eval (certpin_mbedtls_verify), dates checked against T.
A case agrees when both give the same verdict code. Every disagreement must
be listed, with its reason, in --expected (id, a tab, the reason); the run
fails when the list of disagreements changes, or a pinning case disagrees.
"""

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "limbo"))
import run_limbo  # noqa: E402  (the case selection, PEM and pin helpers)

CODES = {0: None, 1: None, 2: None}


def mbedtls_eval(tool, pol, chain, ca, at, host, timeout):
    args = [tool, "--policy", pol, "--chain", chain, "--cafile", ca]
    if at:
        # the instant certpin eval --at uses: a clock reading stays in the
        # second it started (fractions floor), so both builds get the same T
        args += ["--at", str(run_limbo.parse_time(re.sub(r"\.\d+", "", at)))]
    args.append(host)
    try:
        p = subprocess.run(args, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "timeout", None, ""
    out = p.stdout.decode("utf-8", "replace")
    verdict = reason = None
    for line in out.splitlines():
        if line.startswith("verdict: "):
            verdict = line[9:].strip()
        elif line.startswith("reason: "):
            reason = line[8:].strip()
    return p.returncode, verdict, reason or p.stderr.decode("utf-8", "replace").strip()


def openssl_eval(runner, pol, chain, ca, at, host):
    rc, v, err = runner.eval(pol, chain, ca, at, host)
    return rc, (v or {}).get("verdict"), (v or {}).get("reason") or err, (v or {})


def one_case(args, runner, tc, outsider):
    host = tc["expected_peer_name"]["value"]
    at = tc.get("validation_time")
    res = {"id": tc["id"], "pinning": []}
    with tempfile.TemporaryDirectory(prefix="mbedtls-diff-") as d:
        ca = os.path.join(d, "ca.pem")
        chain = os.path.join(d, "chain.pem")
        pol = os.path.join(d, "policy.json")
        run_limbo.write(ca, run_limbo.pem_join(tc["trusted_certs"]))
        peer = [tc["peer_certificate"]] + tc["untrusted_intermediates"]
        run_limbo.write(chain, run_limbo.pem_join(peer))
        run_limbo.write(pol, run_limbo.policy_json())
        o_rc, o_v, o_reason, o_json = openssl_eval(runner, pol, chain, ca, at, host)
        m_rc, m_v, m_reason = mbedtls_eval(args.mbedtls_eval, pol, chain, ca, at, host, args.timeout)
        res.update(openssl=o_v, mbedtls=m_v, openssl_reason=o_reason, mbedtls_reason=m_reason,
                   agree=(o_rc == m_rc and o_v == m_v))
        if not (o_rc == 0 and m_rc == 0):
            return res
        # derived pinning cases on the chain OpenSSL validated (leaf first);
        # the top may differ between the builds: pin the leaf, and the top
        # only when both report chains of the same length
        o_chain = [c.get("pin") for c in o_json.get("chain", [])]
        leaf_pin = o_chain[0] if o_chain else None
        cases = []
        if leaf_pin:
            cases.append(("pin-leaf", {"pins": [leaf_pin]}, "PINNED", chain))
            cases.append(("mismatch", {"pins": [outsider["pin"]]}, "PIN_MISMATCH", chain))
            attack = os.path.join(d, "attack.pem")
            run_limbo.write(attack, run_limbo.pem_join(peer + [outsider["pem"]]))
            cases.append(("attack", {"pins": [outsider["pin"]]}, "PIN_MISMATCH", attack))
        if len(o_chain) > 1:
            cases.append(("pin-top", {"pins": [o_chain[-1]]}, "PINNED", chain))
        for name, rule, want, ch in cases:
            p2 = os.path.join(d, name + ".json")
            run_limbo.write(p2, run_limbo.policy_json(host, **rule))
            _, ov, _, _ = openssl_eval(runner, p2, ch, ca, at, host)
            _, mv, mr = mbedtls_eval(args.mbedtls_eval, p2, ch, ca, at, host, args.timeout)
            res["pinning"].append({"name": name, "want": want, "openssl": ov, "mbedtls": mv,
                                   "mbedtls_reason": mr})
    return res


def read_expected(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line and not line.startswith("#"):
                cid, _, why = line.partition("\t")
                out[cid] = why
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--certpin", required=True, help="certpin of the OpenSSL build")
    ap.add_argument("--mbedtls-eval", required=True)
    ap.add_argument("--limbo", default=run_limbo.default_limbo())
    ap.add_argument("--expected", help="expected disagreements (id TAB reason)")
    ap.add_argument("--write-expected")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("-j", type=int, default=2)
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    with open(args.limbo, encoding="utf-8") as f:
        limbo = json.load(f)
    cases = list(run_limbo.selected_cases(limbo))
    runner = run_limbo.Runner(args.certpin, args.timeout)
    with tempfile.TemporaryDirectory(prefix="mbedtls-diff-") as d:
        pem = run_limbo.make_fresh_cert(d)
        der = run_limbo.pem_to_ders(pem)[0]
        outsider = {"pem": pem, "pin": run_limbo.spki_pin(der)}
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.j) as ex:
            results = list(ex.map(lambda tc: one_case(args, runner, tc, outsider), cases))
    differ = [r for r in results if not r["agree"]]
    pin_total = sum(len(r["pinning"]) for r in results)
    pin_bad = [(r["id"], p) for r in results for p in r["pinning"]
               if not (p["openssl"] == p["want"] == p["mbedtls"])]
    for r in results:
        if args.v or not r["agree"]:
            print("%-60s openssl %-18s mbedtls %-18s %s" % (r["id"], r["openssl"], r["mbedtls"],
                  "" if r["agree"] else "| " + (r["mbedtls_reason"] or "")[:90]))
    for cid, p in pin_bad:
        print("PINNING DISAGREES: %s %s: want %s, openssl %s, mbedtls %s (%s)"
              % (cid, p["name"], p["want"], p["openssl"], p["mbedtls"], p["mbedtls_reason"]))
    print("# %d cases: %d agree, %d differ; %d derived pinning cases, %d disagree"
          % (len(results), len(results) - len(differ), len(differ), pin_total, len(pin_bad)))
    if args.write_expected:
        old = read_expected(args.expected) if args.expected and os.path.exists(args.expected) else {}
        with open(args.write_expected, "w", encoding="utf-8") as f:
            f.write("# x509-limbo SERVER cases where the OpenSSL and mbedTLS builds give\n"
                    "# different verdicts (tests/mbedtls/differential.py). id TAB reason.\n")
            for r in sorted(differ, key=lambda r: r["id"]):
                f.write("%s\t%s\n" % (r["id"], old.get(r["id"], "openssl %s, mbedtls %s: %s" % (
                    r["openssl"], r["mbedtls"], r["mbedtls_reason"] or ""))))
    rc = 0
    if pin_bad:
        rc = 1
    if args.expected:
        exp = read_expected(args.expected)
        got = {r["id"] for r in differ}
        for cid in sorted(got - set(exp)):
            print("NEW DIFFERENCE: %s" % cid)
            rc = 1
        for cid in sorted(set(exp) - got):
            print("NO LONGER DIFFERS (remove from the list): %s" % cid)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
