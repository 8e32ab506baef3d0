#!/usr/bin/env python3
"""Test collector for certpin violation reports.

HTTPS on 127.0.0.1 only, on a port the kernel chooses; prints
"ACCEPT 127.0.0.1:PORT" once it listens. Every request is appended to LOG as
one JSON line: method, path, headers (lower-case names) and body. --mode says
how it answers a POST: ok (204), 500, or redirect (302 to another path on the
same server, which a reporter must not follow).
"""
import argparse
import http.server
import json
import ssl
import sys
import threading

ap = argparse.ArgumentParser()
ap.add_argument("--cert", required=True)
ap.add_argument("--key", required=True)
ap.add_argument("--log", required=True)
ap.add_argument("--mode", choices=["ok", "500", "redirect"], default="ok")
args = ap.parse_args()
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def record(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        rec = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
        }
        with lock, open(args.log, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def answer(self, code, location=None):
        self.send_response(code)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        self.record()
        if args.mode == "500":
            self.answer(500)
        elif args.mode == "redirect":
            port = self.server.server_address[1]
            self.answer(302, "https://127.0.0.1:%d/redirected" % port)
        else:
            self.answer(204)

    def do_GET(self):
        self.record()
        self.answer(404)

    def log_message(self, fmt, *a):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(args.cert, args.key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("ACCEPT 127.0.0.1:%d" % srv.server_address[1], flush=True)
try:
    srv.serve_forever()
except KeyboardInterrupt:
    sys.exit(0)
