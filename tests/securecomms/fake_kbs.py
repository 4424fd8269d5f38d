#!/usr/bin/python3
"""Stand-ins for Trustee's key broker and the confidential data hub's api-server-rest, for
secure comms tests. The admin JWT is checked with PyJWT (python3-jwt + python3-cryptography), an
implementation independent of ours.

  fake_kbs.py kbs --public-key FILE      POST /kbs/v0/resource/<repo>/<type>/<tag> (admin: EdDSA
                                         JWT signed by the kbs-client key, exp checked) stores the
                                         body; GET of the same path returns it (as the broker
                                         releases it to an attested VM), 404 when unknown
  fake_kbs.py api-server-rest --kbs URL  GET /cdh/resource/<repo>/<type>/<tag> fetches
                                         <URL>/kbs/v0/resource/<repo>/<type>/<tag>

Both listen on 127.0.0.1 (--port, 0 = ephemeral) and print "PORT <n>" once listening.
"""
import argparse
import http.server
import re
import sys
import urllib.error
import urllib.request

import jwt

RESOURCE = re.compile(r"^/kbs/v0/resource/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)$")
CDH = re.compile(r"^/cdh/resource/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)$")
MAX_BODY = 64 * 1024


class Kbs(http.server.BaseHTTPRequestHandler):
    public_key = None
    store = {}

    def log_message(self, fmt, *args):
        sys.stderr.write("fake-kbs: " + fmt % args + "\n")

    def reply(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        m = RESOURCE.match(self.path)
        if not m:
            return self.reply(404, b"no such endpoint")
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return self.reply(401, b"no bearer token")
        try:
            claims = jwt.decode(auth[7:], self.public_key, algorithms=["EdDSA"],
                                options={"require": ["exp"]})
        except jwt.PyJWTError as e:
            return self.reply(401, ("bad token: %s" % e).encode())
        if claims.get("expires_at", 0) - claims.get("issued_at", 0) != 24 * 3600:
            return self.reply(401, b"token is not valid for 24 h")
        length = int(self.headers.get("Content-Length", "0"))
        if length <= 0 or length > MAX_BODY:
            return self.reply(400, b"bad length")
        Kbs.store["/".join(m.groups())] = self.rfile.read(length)
        self.reply(200)

    def do_GET(self):
        m = RESOURCE.match(self.path)
        key = "/".join(m.groups()) if m else None
        if key not in Kbs.store:
            return self.reply(404, b"unknown resource")
        self.reply(200, Kbs.store[key])


class ApiServerRest(http.server.BaseHTTPRequestHandler):
    kbs = ""

    def log_message(self, fmt, *args):
        sys.stderr.write("fake-api-server-rest: " + fmt % args + "\n")

    def do_GET(self):
        m = CDH.match(self.path)
        if not m:
            body, status = b"no such endpoint", 404
        else:
            try:
                with urllib.request.urlopen(self.kbs + "/kbs/v0/resource/" + "/".join(m.groups()),
                                            timeout=10) as r:
                    body, status = r.read(MAX_BODY + 1), 200
            except urllib.error.HTTPError as e:
                body, status = b"kbs: %d" % e.code, e.code
            except OSError as e:
                body, status = ("kbs unreachable: %s" % e).encode(), 502
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["kbs", "api-server-rest"])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--public-key")
    p.add_argument("--kbs")
    a = p.parse_args()
    if a.mode == "kbs":
        with open(a.public_key, "rb") as f:
            Kbs.public_key = f.read()
        handler = Kbs
    else:
        ApiServerRest.kbs = a.kbs
        handler = ApiServerRest
    server = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), handler)
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
