#!/usr/bin/env python3
"""A tiny Bookinfo: one program that plays productpage, details, reviews (v1/v2/v3) or ratings.

    app.py --role productpage --port 9081
    app.py --role reviews --version v2 --port 9085

Calls to other services go through the local sidecar: the standard http_proxy variable points
at the sidecar's outbound listener and urllib sends absolute-form requests there
(GET http://reviews:9080/reviews/0). Like every app in an Istio mesh, each call forwards the
incoming correlation headers (x-request-id, traceparent, tracestate, end-user, ...), and every
response echoes x-request-id and traceparent. Standard library only.
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Headers an app must copy from its incoming request to its outgoing calls (Istio's list).
PROPAGATE = ["x-request-id", "traceparent", "tracestate", "x-b3-traceid", "x-b3-spanid",
             "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags", "b3", "x-ot-span-context",
             "end-user", "user-agent", "cookie"]

BOOK = {"id": 0, "title": "The Comedy of Errors", "author": "William Shakespeare",
        "year": 1595, "type": "paperback", "pages": 200, "publisher": "PublisherA",
        "language": "English", "ISBN-10": "1234567890", "ISBN-13": "123-1234567890"}


def call(url: str, incoming, timeout: float = 5.0):
    """GET url through the sidecar (http_proxy), forwarding correlation headers.
    Returns (status, parsed JSON or None, error text or None)."""
    req = urllib.request.Request(url)
    for h in PROPAGATE:
        v = incoming.get(h)
        if v:
            req.add_header(h, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null"), None
    except urllib.error.HTTPError as e:
        reason = e.headers.get("x-weft-error") if e.headers else None
        return e.code, None, reason or e.reason
    except (urllib.error.URLError, OSError, ValueError) as e:
        return 0, None, str(e)


class App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive with the sidecar
    # One write per response (head and body together) and no Nagle delay: small responses
    # written in two pieces would otherwise wait on the peer's delayed ACK.
    wbufsize = -1
    disable_nagle_algorithm = True
    role = "details"
    version = "v1"
    server_version = "bookinfo"

    def log_message(self, fmt, *args):  # one short line per request on stderr
        sys.stderr.write(f"{self.role}-{self.version} {self.command} {self.path} "
                         f"rid={self.headers.get('x-request-id', '-')} {args[1] if len(args) > 1 else ''}\n")

    def reply(self, status: int, body, ctype: str = "application/json"):
        data = (json.dumps(body, indent=1) + "\n").encode() if not isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for h in ("x-request-id", "traceparent"):
            if self.headers.get(h):
                self.send_header(h, self.headers[h])
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = self.path.split("?")[0]
        if path in ("/health", "/healthz"):
            return self.reply(200, {"status": "ok", "role": self.role, "version": self.version})
        handler = getattr(self, "serve_" + self.role)
        return handler(path)

    def serve_productpage(self, path):
        if path not in ("/", "/productpage"):
            return self.reply(404, {"error": "not found", "path": path})
        ds, details, derr = call("http://details:9080/details/0", self.headers)
        rs, reviews, rerr = call("http://reviews:9080/reviews/0", self.headers)
        page = {
            "product": "The Comedy of Errors",
            "details": details if ds == 200 else {"error": f"details unavailable ({ds}: {derr})"},
            "reviews": reviews if rs == 200 else {"error": f"reviews unavailable ({rs}: {rerr})"},
            "user": self.headers.get("end-user", "anonymous"),
            "request_id": self.headers.get("x-request-id"),
            "traceparent": self.headers.get("traceparent"),
        }
        # Like Bookinfo: the page renders even when a backend is down, but tell the caller.
        self.reply(200 if ds == 200 and rs == 200 else 503, page)

    def serve_details(self, path):
        if not path.startswith("/details"):
            return self.reply(404, {"error": "not found"})
        self.reply(200, dict(BOOK))

    def serve_reviews(self, path):
        if not path.startswith("/reviews"):
            return self.reply(404, {"error": "not found"})
        reviews = [{"reviewer": "Reviewer1", "text": "An extremely entertaining play by "
                                                     "Shakespeare. The slapstick humour is "
                                                     "refreshing!"},
                   {"reviewer": "Reviewer2", "text": "Absolutely fun and entertaining. The "
                                                     "play lacks thematic depth when compared "
                                                     "to other plays by Shakespeare."}]
        body = {"id": 0, "podname": f"reviews-{self.version}", "clustername": "null",
                "reviews": reviews}
        if self.version in ("v2", "v3"):
            status, ratings, err = call("http://ratings:9080/ratings/0", self.headers)
            color = "black" if self.version == "v2" else "red"
            for i, rv in enumerate(reviews, 1):
                if status == 200:
                    rv["rating"] = {"stars": ratings["ratings"].get(f"Reviewer{i}"),
                                    "color": color}
                else:
                    rv["rating"] = {"error": f"Ratings service is currently unavailable "
                                             f"({status}: {err})"}
        self.reply(200, body)

    def serve_ratings(self, path):
        if not path.startswith("/ratings"):
            return self.reply(404, {"error": "not found"})
        self.reply(200, {"id": 0, "ratings": {"Reviewer1": 5, "Reviewer2": 4}})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--role", required=True,
                    choices=["productpage", "details", "reviews", "ratings"])
    ap.add_argument("--version", default="v1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--address", default="127.0.0.1")
    a = ap.parse_args()
    proxy = os.environ.get("http_proxy") or os.environ.get("HTTP_PROXY")
    if a.role in ("productpage", "reviews") and not proxy:
        print(f"{a.role}: warning: http_proxy is not set; calls will not go through the "
              f"sidecar", file=sys.stderr)
    App.role, App.version = a.role, a.version
    srv = ThreadingHTTPServer((a.address, a.port), App)
    srv.daemon_threads = True
    print(f"{a.role}-{a.version} listening on {a.address}:{a.port}"
          f"{' (calls via ' + proxy + ')' if proxy else ''}", file=sys.stderr, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
