#!/usr/bin/env python3
"""A minimal read-only registry that demands bearer tokens, for berth's pull test of the
token flow (distribution spec + Docker's token auth): every /v2/ request without
`Authorization: Bearer <token>` gets 401 with a WWW-Authenticate challenge naming the
realm; GET /token?service=..&scope=.. hands out the token. Manifests and blobs are served
from an OCI image layout directory.

Usage: token_registry.py LAYOUT_DIR PORT_FILE   (binds 127.0.0.1:0, writes its port)
"""
import http.server
import json
import os
import sys

LAYOUT, PORT_FILE = sys.argv[1], sys.argv[2]
TOKEN = "berth-test-token"
STATS = {"tokens": 0, "unauthorized": 0}


def blob(digest):
    path = os.path.join(LAYOUT, "blobs", "sha256", digest.split(":", 1)[1])
    with open(path, "rb") as f:
        return f.read()


class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, body=b"", ctype="application/json", headers=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        port = self.server.server_address[1]
        if self.path.startswith("/token"):
            STATS["tokens"] += 1
            return self.send(200, json.dumps({"token": TOKEN, "access_token": TOKEN}).encode())
        if self.path == "/stats":
            return self.send(200, json.dumps(STATS).encode())
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            STATS["unauthorized"] += 1
            chal = f'Bearer realm="http://127.0.0.1:{port}/token",service="berth-test"'
            parts = self.path.split("/")
            if len(parts) > 4:
                chal += f',scope="repository:{"/".join(parts[2:-2])}:pull"'
            return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', headers={"WWW-Authenticate": chal})
        if self.path == "/v2/":
            return self.send(200, b"{}")
        parts = self.path.split("/")
        kind, ref = parts[-2], parts[-1]
        try:
            if kind == "manifests":
                if ref.startswith("sha256:"):
                    data = blob(ref)
                else:
                    idx = json.load(open(os.path.join(LAYOUT, "index.json")))
                    d = next(m for m in idx["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref)
                    ref = d["digest"]
                    data = blob(ref)
                mt = json.loads(data).get("mediaType", "application/vnd.oci.image.manifest.v1+json")
                return self.send(200, data, mt, {"Docker-Content-Digest": ref})
            if kind == "blobs":
                return self.send(200, blob(ref), "application/octet-stream", {"Docker-Content-Digest": ref})
        except (StopIteration, FileNotFoundError):
            pass
        return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
srv.serve_forever()
