#!/usr/bin/env python3
"""Hand-made JWS tokens for the bundle tests (no JOSE library on purpose).

usage: jws_tool.py COMMAND BUNDLE [ARG]   prints a token on stdout
  tamper-payload      payload changed (seq + 1), original signature
  tamper-header       header re-serialised with spaces, original signature
  header-jwk          header with an extra "jwk" member, original signature
  none                {"alg":"none"} header, no signature ("h.p.")
  none-sig            {"alg":"none"} header, the original signature
  hs256 PUB.pem       HS256 with the public key PEM as the HMAC secret
  alg ALG             the header's alg replaced, kid and signature kept
  parts N             4 parts (an extra ".AAAA") or 2 (no signature)
  thumbprint JWK_JSON prints the RFC 7638 thumbprint of a JWK (BUNDLE unused)
  claims              prints the payload JSON (compact)
"""
import base64
import hashlib
import hmac
import json
import sys


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def compact(o):
    return json.dumps(o, separators=(",", ":")).encode()


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    arg = sys.argv[3] if len(sys.argv) > 3 else None
    if cmd == "thumbprint":
        jwk = json.loads(arg)
        keys = ["crv", "kty", "x", "y"] if jwk["kty"] == "EC" else ["crv", "kty", "x"]
        canon = compact({k: jwk[k] for k in keys})
        print(b64(hashlib.sha256(canon).digest()))
        return
    h, p, s = open(path).read().strip().split(".")
    header = json.loads(unb64(h))
    payload = json.loads(unb64(p))
    if cmd == "claims":
        print(json.dumps(payload, separators=(",", ":")))
    elif cmd == "tamper-payload":
        payload["seq"] += 1
        print(f"{h}.{b64(compact(payload))}.{s}")
    elif cmd == "tamper-header":
        print(f"{b64(json.dumps(header).encode())}.{p}.{s}")
    elif cmd == "header-jwk":
        header["jwk"] = {"kty": "oct", "k": "AAAA"}
        print(f"{b64(compact(header))}.{p}.{s}")
    elif cmd in ("none", "none-sig"):
        nh = b64(compact({"alg": "none", "typ": header["typ"]}))
        print(f"{nh}.{p}.{s if cmd == 'none-sig' else ''}")
    elif cmd == "hs256":
        secret = open(arg, "rb").read()
        nh = b64(compact({"alg": "HS256", "kid": header["kid"], "typ": header["typ"]}))
        mac = hmac.new(secret, f"{nh}.{p}".encode(), hashlib.sha256).digest()
        print(f"{nh}.{p}.{b64(mac)}")
    elif cmd == "alg":
        header["alg"] = arg
        print(f"{b64(compact(header))}.{p}.{s}")
    elif cmd == "parts":
        print(f"{h}.{p}.{s}.AAAA" if arg == "4" else f"{h}.{p}")
    else:
        sys.exit(f"jws_tool.py: unknown command {cmd}")


main()
