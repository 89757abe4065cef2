"""Test harness for the weft-proxy integration tests (standard library only).

- Upstream: a threaded, scriptable HTTP/1.1 origin server on 127.0.0.1 (echo as JSON, delays,
  chunked + trailers, 204/304/HEAD, mid-response resets, idle closes, upgrade echo, large
  streaming bodies) that records every request it saw.
- Proxy: writes a bootstrap + mesh.yaml into a directory, runs the real weft-proxy, waits for
  /ready and stops it with SIGTERM, checking the exit code and stderr for sanitizer reports.
- RawConn: a raw client socket with an HTTP/1.1 response reader, for pipelining and smuggling.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

SOURCE_DIR = Path(os.environ.get("WEFT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BIN_DIR = Path(os.environ.get("WEFT_BIN_DIR", SOURCE_DIR / "build" / "bin"))
WEFT_PROXY = BIN_DIR / "weft-proxy"

# Slower under sanitizers: every wait below is scaled by this.
SLOW = float(os.environ.get("WEFT_TEST_SLOWDOWN", "1"))

SANITIZER_PATTERNS = [
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "SUMMARY: UndefinedBehaviorSanitizer",
    "WARNING: ThreadSanitizer",
    "ERROR: MemorySanitizer",
]

# ---------------------------------------------------------------------------------------------
# Ports

_handed_out: set[int] = set()
_port_lock = threading.Lock()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (and not handed out before)."""
    with _port_lock:
        for _ in range(100):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError("no free port found")


def wait_port_open(port: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


# ---------------------------------------------------------------------------------------------
# Simple client helpers


@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    trailers: list[tuple[str, str]] = field(default_factory=list)
    raw_head: bytes = b""

    def header(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        vals = [v for k, v in self.headers if k.lower() == name]
        return ", ".join(vals) if vals else default

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise AssertionError(
                f"expected a JSON body (from the test upstream), got status {self.status} "
                f"headers {self.headers} body {self.body[:300]!r}") from e

    def describe(self) -> str:
        return f"status={self.status} headers={self.headers} body={self.body[:300]!r}"


def request(port: int, method: str = "GET", path: str = "/", headers: dict | list | None = None,
            body: bytes | None = None, timeout: float = 10.0, host: str = "127.0.0.1",
            conn: http.client.HTTPConnection | None = None) -> Response:
    """One request with http.client. Pass a Host header to choose the destination."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection(host, port, timeout=timeout * SLOW)
    try:
        hdrs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        names = {k.lower() for k, _ in hdrs}
        conn.putrequest(method, path, skip_host="host" in names,
                        skip_accept_encoding=True)
        for k, v in hdrs:
            conn.putheader(k, v)
        if body is not None and "content-length" not in names and \
                "transfer-encoding" not in names:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.reason, list(r.getheaders()), data)
    finally:
        if own:
            conn.close()


def get(port: int, path: str = "/", host: str | None = None, headers: dict | None = None,
        **kw) -> Response:
    hdrs = dict(headers or {})
    if host is not None:
        hdrs["Host"] = host
    return request(port, "GET", path, hdrs, **kw)


def curl(*args: str, timeout: float = 20.0) -> subprocess.CompletedProcess:
    """Runs curl (the real client) and returns the completed process (text mode)."""
    cmd = ["curl", "-sS", "--max-time", str(int(timeout * SLOW)), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout * SLOW + 5)


# ---------------------------------------------------------------------------------------------
# Raw client connection with a response reader


class RawConn:
    def __init__(self, port: int, timeout: float = 5.0, host: str = "127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout * SLOW)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def settimeout(self, t: float) -> None:
        self.sock.settimeout(t * SLOW)

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_until(self, delim: bytes, limit: int = 1 << 20) -> bytes:
        while delim not in self.buf:
            if len(self.buf) > limit:
                raise AssertionError(f"no {delim!r} within {limit} bytes")
            if not self._fill():
                raise EOFError(f"connection closed before {delim!r}; got {self.buf[:300]!r}")
        i = self.buf.index(delim) + len(delim)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError(f"connection closed after {len(self.buf)} of {n} bytes")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_head(self) -> tuple[int, str, list[tuple[str, str]], bytes]:
        head = self.read_until(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        m = re.match(rb"HTTP/1\.[01] (\d{3}) ?(.*)", lines[0])
        if not m:
            raise AssertionError(f"bad status line {lines[0]!r}")
        hdrs = []
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            hdrs.append((k.decode("latin-1").strip(), v.decode("latin-1").strip()))
        return int(m.group(1)), m.group(2).decode("latin-1"), hdrs, head

    def read_response(self, head_request: bool = False, skip_1xx: bool = True) -> Response:
        """Reads one response. A body cut short raises EOFError (with what was read)."""
        while True:
            status, reason, hdrs, head = self.read_head()
            if not (skip_1xx and 100 <= status < 200 and status != 101):
                break
        r = Response(status, reason, hdrs, b"", raw_head=head)
        if head_request or status in (204, 304) or 100 <= status < 200:
            return r
        te = (r.header("transfer-encoding") or "").lower()
        cl = r.header("content-length")
        if "chunked" in te:
            body = b""
            while True:
                line = self.read_until(b"\r\n")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    break
                body += self.read_exact(size)
                self.read_exact(2)
            r.body = body
            while True:
                line = self.read_until(b"\r\n")
                if line == b"\r\n":
                    break
                k, _, v = line[:-2].partition(b":")
                r.trailers.append((k.decode().strip(), v.decode().strip()))
        elif cl is not None:
            n = int(cl)
            try:
                r.body = self.read_exact(n)
            except EOFError:
                r.body = self.buf
                self.buf = b""
                raise EOFError(f"body cut short: {len(r.body)} of {n} bytes")
        else:
            while self._fill():
                pass
            r.body, self.buf = self.buf, b""
        return r

    def closed_within(self, timeout: float) -> bool:
        """True if the peer closes (FIN or RST) within timeout, discarding data read meanwhile."""
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not chunk:
                return True
            self.buf += chunk
        return False

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


# ---------------------------------------------------------------------------------------------
# Upstream test server

PATTERN = bytes(range(256)) * 256  # 64 KiB


class _Reader:
    """Buffered reads from a socket that can tell whether bytes are already buffered."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""

    def _recv(self) -> bool:
        data = self.sock.recv(1 << 20)
        if not data:
            return False
        self.buf += data
        return True

    def readline(self, limit: int = 65536) -> bytes:
        while b"\n" not in self.buf:
            if len(self.buf) >= limit or not self._recv():
                out, self.buf = self.buf, b""
                return out
        i = self.buf.index(b"\n") + 1
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read(self, n: int) -> bytes:
        if not self.buf and not self._recv():
            return b""
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def take_buffered(self) -> bytes:
        out, self.buf = self.buf, b""
        return out


def rst_close(sock: socket.socket) -> None:
    """Closes with a TCP RST (SO_LINGER 0)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    sock.close()


@dataclass
class SeenRequest:
    method: str
    path: str
    version: str
    headers: list[tuple[str, str]]
    body_len: int
    body: bytes
    trailers: list[tuple[str, str]]
    conn_id: int
    seq: int  # 1 for the first request on its connection

    def header(self, name: str) -> str | None:
        vals = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(vals) if vals else None


class Upstream:
    """Scriptable origin server. Behaviour is chosen by the request path:

      /delay/<ms>/...        wait, then echo
      /status/<code>         that status (204/304: no body)
      /chunked               chunked response (3 chunks) with trailer x-trailer: done
      /stream/<bytes>        a Content-Length body of that many bytes (64 KiB writes)
      /sink                  reads the request body without keeping it; answers its length + crc32
      /slow-sink             the same after waiting 2 s before reading the body
      /close-mid             Content-Length 100000, sends 1000 bytes, then RST
      /close-mid-chunked     chunked, sends one chunk, then RST
      /reset                 reads the request, then RST without a response
      /fin                   reads the request, then closes (FIN) without a response
      /hop                   echo, plus hop-by-hop response headers
      anything else          echo as JSON (method, path, headers, body, trailers, conn, seq)
    A request with "Upgrade: websocket" gets 101 and its bytes echoed back until close.
    "Expect: 100-continue" gets an interim 100 before the body is read.

    Connection-level options (attributes, changeable at any time):
      idle_close_ms   close a keep-alive connection idle that long (FIN, or RST if idle_rst)
      drop_reused     on the 2nd+ request of a connection: read it, then close without answering
                      (what an upstream closing an idle connection just as it is reused does)
    """

    def __init__(self, name: str = "upstream", port: int | None = None):
        self.name = name
        self.port = port or free_port()
        self.requests: list[SeenRequest] = []
        self.dropped: list[SeenRequest] = []
        self.connections = 0
        self.idle_close_ms: int | None = None
        self.idle_rst = False
        self.drop_reused = False
        self.extra_response_headers: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()
        self._closing = False
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", self.port))
        self.lsock.listen(128)
        self.thread = threading.Thread(target=self._accept_loop, daemon=True,
                                       name=f"upstream-{name}")
        self.thread.start()

    # -- bookkeeping
    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.dropped.clear()
            self.connections = 0

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    def close(self) -> None:
        self._closing = True
        try:
            self.lsock.close()
        except OSError:
            pass
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    # -- server
    def _accept_loop(self) -> None:
        while not self._closing:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                cid = self.connections
                self._socks.add(s)
            threading.Thread(target=self._serve, args=(s, cid), daemon=True).start()

    def _serve(self, s: socket.socket, cid: int) -> None:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rf = _Reader(s)
        seq = 0
        try:
            while True:
                seq += 1
                if seq > 1 and self.idle_close_ms is not None and not rf.buf:
                    s.settimeout(self.idle_close_ms / 1000.0)
                else:
                    s.settimeout(60)
                try:
                    line = rf.readline(65536)
                except (socket.timeout, TimeoutError):
                    if self.idle_rst:
                        rst_close(s)
                    else:
                        s.close()
                    return
                s.settimeout(60)
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    seq -= 1
                    continue
                keep = self._one(s, rf, line, cid, seq)
                if not keep:
                    return
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                self._socks.discard(s)
            try:
                s.close()
            except OSError:
                pass

    def _read_headers(self, rf) -> list[tuple[str, str]]:
        hdrs = []
        while True:
            ln = rf.readline(65536)
            if not ln:
                raise ValueError("eof in headers")
            if ln in (b"\r\n", b"\n"):
                return hdrs
            k, _, v = ln.decode("latin-1").partition(":")
            hdrs.append((k.strip(), v.strip()))

    def _one(self, s, rf, line: bytes, cid: int, seq: int) -> bool:
        parts = line.decode("latin-1").strip().split(" ")
        if len(parts) != 3:
            s.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return False
        method, path, version = parts
        hdrs = self._read_headers(rf)
        hmap: dict[str, str] = {}
        for k, v in hdrs:
            hmap[k.lower()] = hmap[k.lower()] + ", " + v if k.lower() in hmap else v

        if self.drop_reused and seq > 1:
            with self._lock:
                self.dropped.append(SeenRequest(method, path, version, hdrs, 0, b"", [], cid, seq))
            if self.idle_rst:
                rst_close(s)
            else:
                s.close()
            return False

        if "100-continue" in hmap.get("expect", "").lower():
            s.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

        sink = path.startswith("/sink") or path.startswith("/slow-sink")
        if path.startswith("/slow-sink"):
            time.sleep(2.0)  # let the sender fill every buffer on the way
        body = bytearray()
        body_len = 0
        crc = 0
        trailers: list[tuple[str, str]] = []
        if "chunked" in hmap.get("transfer-encoding", "").lower():
            while True:
                sz = int(rf.readline(1024).split(b";")[0].strip(), 16)
                if sz == 0:
                    trailers = self._read_headers(rf)
                    break
                remaining = sz
                while remaining:
                    chunk = rf.read(min(remaining, 1 << 20))
                    if not chunk:
                        raise ValueError("eof in chunk")
                    remaining -= len(chunk)
                    body_len += len(chunk)
                    crc = zlib.crc32(chunk, crc)
                    if not sink and len(body) < (1 << 20):
                        body += chunk
                rf.readline(16)
        elif "content-length" in hmap:
            remaining = int(hmap["content-length"])
            while remaining:
                chunk = rf.read(min(remaining, 1 << 20))
                if not chunk:
                    raise ValueError("eof in body")
                remaining -= len(chunk)
                body_len += len(chunk)
                crc = zlib.crc32(chunk, crc)
                if not sink and len(body) < (1 << 20):
                    body += chunk

        seen = SeenRequest(method, path, version, hdrs, body_len, bytes(body), trailers, cid, seq)
        with self._lock:
            self.requests.append(seen)

        client_close = "close" in hmap.get("connection", "").lower() or version == "HTTP/1.0"

        if "websocket" in hmap.get("upgrade", "").lower():
            s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\n\r\n")
            pending = rf.take_buffered()
            if pending:
                s.sendall(pending)
            while True:
                data = s.recv(65536)
                if not data:
                    return False
                s.sendall(data)

        base = [("x-upstream", self.name)] + list(self.extra_response_headers)
        head_only = method == "HEAD"
        p = path.split("?")[0]

        def send(status: int, reason: str, headers: list[tuple[str, str]], payload: bytes,
                 close: bool = False) -> bool:
            h = base + headers
            if close or client_close:
                h.append(("Connection", "close"))
            out = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h)
            s.sendall(out.encode("latin-1") + b"\r\n" + (b"" if head_only else payload))
            return not (close or client_close)

        m = re.match(r"/delay/(\d+)", p)
        if m:
            time.sleep(int(m.group(1)) / 1000.0)

        m = re.match(r"/status/(\d{3})", p)
        if m:
            code = int(m.group(1))
            if code in (204, 304):
                return send(code, "No Content" if code == 204 else "Not Modified",
                            [("ETag", '"v1"')] if code == 304 else [], b"")
            payload = f"status {code}\n".encode()
            return send(code, "Status", [("Content-Length", str(len(payload)))], payload)

        if p == "/chunked":
            chunks = [b"hello ", b"chunked ", b"world"]
            h = base + [("Transfer-Encoding", "chunked"), ("Trailer", "x-trailer"),
                        ("Content-Type", "text/plain")]
            if client_close:
                h.append(("Connection", "close"))
            out = "HTTP/1.1 200 OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h) + "\r\n"
            s.sendall(out.encode())
            if head_only:
                return not client_close
            for c in chunks:
                s.sendall(b"%x\r\n%s\r\n" % (len(c), c))
                time.sleep(0.01)
            s.sendall(b"0\r\nx-trailer: done\r\n\r\n")
            return not client_close

        m = re.match(r"/stream/(\d+)", p)
        if m:
            n = int(m.group(1))
            h = base + [("Content-Length", str(n)), ("Content-Type", "application/octet-stream")]
            s.sendall(("HTTP/1.1 200 OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h) +
                       "\r\n").encode())
            if head_only:
                return True
            sent = 0
            while sent < n:
                chunk = PATTERN[: min(len(PATTERN), n - sent)]
                s.sendall(chunk)
                sent += len(chunk)
            return not client_close

        if p in ("/sink", "/slow-sink"):
            payload = json.dumps({"upstream": self.name, "body_len": body_len,
                                  "crc32": crc}).encode()
            return send(200, "OK", [("Content-Type", "application/json"),
                                    ("Content-Length", str(len(payload)))], payload)

        if p == "/close-mid":
            s.sendall(b"HTTP/1.1 200 OK\r\nx-upstream: " + self.name.encode() +
                      b"\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
            time.sleep(0.05)
            rst_close(s)
            return False

        if p == "/close-mid-chunked":
            s.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n" +
                      b"x" * 1000 + b"\r\n")
            time.sleep(0.05)
            rst_close(s)
            return False

        if p == "/reset":
            rst_close(s)
            return False

        if p == "/fin":
            s.close()
            return False

        extra = []
        if p == "/hop":
            extra = [("Connection", "x-resp-hop"), ("X-Resp-Hop", "1"),
                     ("Keep-Alive", "timeout=5"), ("X-End-To-End", "kept")]
        payload = json.dumps({
            "upstream": self.name, "method": method, "path": path, "version": version,
            "headers": hmap, "header_list": hdrs,
            "body": bytes(body).decode("latin-1") if body_len <= 65536 else None,
            "body_len": body_len, "trailers": dict((k.lower(), v) for k, v in trailers),
            "conn": cid, "seq": seq,
        }).encode()
        return send(200, "OK", extra + [("Content-Type", "application/json"),
                                        ("Content-Length", str(len(payload)))], payload)


# ---------------------------------------------------------------------------------------------
# Mesh configuration (Istio-format YAML)


def service_entry(name: str, endpoints: list[dict], port: int = 9080, namespace: str = "default",
                  port_name: str = "http", hosts: list[str] | None = None) -> str:
    """A ServiceEntry for <name>.<namespace>.svc.cluster.local; endpoints: dicts with
    port (required), address (default 127.0.0.1), labels, weight."""
    hosts = hosts or [f"{name}.{namespace}.svc.cluster.local"]
    lines = [
        "apiVersion: networking.istio.io/v1beta1",
        "kind: ServiceEntry",
        "metadata:",
        f"  name: {name}",
        f"  namespace: {namespace}",
        "spec:",
        "  hosts: [" + ", ".join(hosts) + "]",
        "  location: MESH_INTERNAL",
        "  ports:",
        f"  - {{number: {port}, name: {port_name}, protocol: HTTP}}",
        "  resolution: STATIC",
        "  endpoints:",
    ]
    for ep in endpoints:
        lines.append(f"  - address: {ep.get('address', '127.0.0.1')}")
        lines.append(f"    ports: {{{port_name}: {ep['port']}}}")
        if ep.get("labels"):
            lines.append("    labels: {" + ", ".join(f"{k}: {v}" for k, v in
                                                     ep["labels"].items()) + "}")
        if ep.get("weight"):
            lines.append(f"    weight: {ep['weight']}")
        if ep.get("service_account"):
            lines.append(f"    serviceAccount: {ep['service_account']}")
    return "\n".join(lines) + "\n"


def destination_rule(name: str, subsets: list[str], namespace: str = "default") -> str:
    lines = [
        "apiVersion: networking.istio.io/v1beta1",
        "kind: DestinationRule",
        "metadata:",
        f"  name: {name}",
        f"  namespace: {namespace}",
        "spec:",
        f"  host: {name}.{namespace}.svc.cluster.local",
        "  subsets:",
    ]
    for s in subsets:
        lines.append(f"  - {{name: {s}, labels: {{version: {s}}}}}")
    return "\n".join(lines) + "\n"


def route_to_subset(name: str, subset: str, namespace: str = "default") -> str:
    """A VirtualService sending every request for `name` to one subset."""
    return "\n".join([
        "apiVersion: networking.istio.io/v1beta1",
        "kind: VirtualService",
        f"metadata: {{name: {name}, namespace: {namespace}}}",
        "spec:",
        f"  hosts: [{name}]",
        "  http:",
        "  - route:",
        f"    - destination: {{host: {name}, subset: {subset}}}",
    ]) + "\n"


def two_version_service(name: str, v1, v2, subset: str) -> str:
    """Service `name` with endpoints v1 and v2 (test upstreams), routed to `subset`."""
    return join_docs(
        service_entry(name, [{"port": v1.port, "labels": {"version": "v1"}},
                             {"port": v2.port, "labels": {"version": "v2"}}]),
        destination_rule(name, ["v1", "v2"]), route_to_subset(name, subset))


def join_docs(*docs: str) -> str:
    return "---\n".join(d if d.endswith("\n") else d + "\n" for d in docs)


# ---------------------------------------------------------------------------------------------
# The proxy under test


class ProxyError(AssertionError):
    pass


class Proxy:
    def __init__(self, workdir: Path, mesh: str, *, app_port: int | None = None,
                 workload: str = "sleep-v1", service: str = "sleep",
                 timeouts: dict | None = None, limits: dict | None = None,
                 access_log: str | None = None, concurrency: int = 1,
                 extra_args: list[str] | None = None, log_level: str = "info",
                 bootstrap_extra: str = ""):
        self.dir = Path(workdir)
        self.bootstrap_extra = bootstrap_extra
        self.dir.mkdir(parents=True, exist_ok=True)
        self.admin_port = free_port()
        self.outbound_port = free_port()
        self.inbound_port = free_port()
        self.app_port = app_port or free_port()
        self.workload = workload
        self.service = service
        # A short drain by default: every test's teardown sends SIGTERM and waits for it.
        self.timeouts = {"drain": "1s", **(timeouts or {})}
        self.limits = dict(limits or {})
        self.access_log = access_log
        self.concurrency = concurrency
        self.extra_args = list(extra_args or [])
        self.log_level = log_level
        self.mesh_path = self.dir / "mesh.yaml"
        self.bootstrap_path = self.dir / "bootstrap.yaml"
        self.stdout_path = self.dir / "proxy.stdout"
        self.stderr_path = self.dir / "proxy.stderr"
        self.proc: subprocess.Popen | None = None
        self.exit_code: int | None = None
        self.write_mesh(mesh)
        self.write_bootstrap()

    # -- files
    def write_mesh(self, text: str) -> None:
        tmp = self.mesh_path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(self.mesh_path)

    def bootstrap_text(self) -> str:
        t = [
            "node:",
            f"  id: {self.workload}-0",
            f"  workload: {self.workload}",
            f"  service: {self.service}",
            "  namespace: default",
            f"  service_account: {self.service}",
            f"  labels: {{app: {self.service}, version: v1}}",
            f"admin: {{address: 127.0.0.1, port: {self.admin_port}}}",
            f"outbound: {{address: 127.0.0.1, port: {self.outbound_port}}}",
            f"inbound: {{address: 127.0.0.1, port: {self.inbound_port}, "
            f"app: 127.0.0.1:{self.app_port}}}",
            f"resources: [{self.mesh_path}]",
        ]
        if self.access_log:
            t.append(f"access_log: {{path: {self.access_log}, format: json}}")
        if self.timeouts:
            t.append("timeouts: {" + ", ".join(f"{k}: {v}" for k, v in
                                                self.timeouts.items()) + "}")
        if self.limits:
            t.append("limits: {" + ", ".join(f"{k}: {v}" for k, v in self.limits.items()) + "}")
        if self.bootstrap_extra:
            t.append(self.bootstrap_extra.rstrip("\n"))
        return "\n".join(t) + "\n"

    def write_bootstrap(self) -> None:
        self.bootstrap_path.write_text(self.bootstrap_text())

    # -- process
    def start(self, ready_timeout: float = 15.0) -> "Proxy":
        if not WEFT_PROXY.exists():
            raise ProxyError(f"{WEFT_PROXY} does not exist: build first (make test)")
        cmd = [str(WEFT_PROXY), "--config", str(self.bootstrap_path),
               "--concurrency", str(self.concurrency), "--log-level", self.log_level,
               *self.extra_args]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=open(self.stdout_path, "wb"),
                                     stderr=open(self.stderr_path, "wb"), cwd=self.dir)
        deadline = time.monotonic() + ready_timeout * SLOW
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ProxyError(f"weft-proxy exited with {self.proc.returncode} before /ready "
                                 f"answered 200\n{self.describe()}")
            try:
                r = request(self.admin_port, "GET", "/ready", timeout=1)
                if r.status == 200:
                    return self
                last = f"/ready answered {r.status}"
            except OSError as e:
                last = f"/ready: {e}"
            time.sleep(0.05)
        self.kill()
        raise ProxyError(f"weft-proxy not ready within {ready_timeout * SLOW:.0f}s ({last})\n"
                         f"{self.describe()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        assert self.proc is not None
        try:
            self.exit_code = self.proc.wait(timeout * SLOW)
            return self.exit_code
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM and wait; raises ProxyError if the exit is not clean."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.wait(timeout)
            if rc is None:
                self.kill()
                raise ProxyError(f"weft-proxy did not exit within {timeout * SLOW:.0f}s of "
                                 f"SIGTERM\n{self.describe()}")
        self.check_exit()

    def check_exit(self) -> None:
        assert self.proc is not None
        rc = self.proc.returncode
        problems = []
        if rc != 0:
            problems.append(f"exit code {rc} (expected 0)")
        report = self.sanitizer_report()
        if report:
            problems.append("sanitizer report in stderr")
        if problems:
            raise ProxyError("weft-proxy: " + "; ".join(problems) + "\n" + self.describe())

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stdout(self) -> str:
        try:
            return self.stdout_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def sanitizer_report(self) -> str:
        err = self.stderr()
        return err if any(p in err for p in SANITIZER_PATTERNS) else ""

    def describe(self, tail: int = 60) -> str:
        err = self.stderr().splitlines()[-tail:]
        return (f"--- bootstrap ({self.bootstrap_path}):\n{self.bootstrap_text()}"
                f"--- stderr (last {tail} lines):\n" + "\n".join(err))

    # -- admin helpers
    def admin(self, path: str, method: str = "GET", timeout: float = 5.0) -> Response:
        return request(self.admin_port, method, path, timeout=timeout)

    def metrics(self) -> str:
        r = self.admin("/metrics")
        assert r.status == 200, f"/metrics answered {r.status}: {r.body[:200]!r}"
        return r.body.decode()

    def vmhwm_kib(self) -> int:
        return proc_status_kib(self.pid, "VmHWM")

    def vmrss_kib(self) -> int:
        return proc_status_kib(self.pid, "VmRSS")

    # -- traffic helpers
    def get_out(self, host: str, path: str = "/", headers: dict | None = None, **kw) -> Response:
        return get(self.outbound_port, path, host=host, headers=headers, **kw)


def proc_status_kib(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise KeyError(field_name)


# ---------------------------------------------------------------------------------------------
# Prometheus text parsing

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise AssertionError(f"unparseable metrics line: {line!r}")
        labels = dict(_LABEL.findall(m.group(3) or ""))
        out.append((m.group(1), labels, float(m.group(4))))
    return out


def metric_sum(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for n, l, v in parse_metrics(text):
        if n == name and all(l.get(k) == val for k, val in labels.items()):
            total += v
    return total


def metric_series(text: str, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    return [(l, v) for n, l, v in parse_metrics(text)
            if n == name and all(l.get(k) == val for k, val in labels.items())]


def wait_for(pred: Callable[[], object], timeout: float = 5.0, interval: float = 0.05,
             what: str = "condition"):
    deadline = time.monotonic() + timeout * SLOW
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout * SLOW:.1f}s waiting for {what} "
                         f"(last value {last!r})")


UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def have(tool: str) -> bool:
    return shutil.which(tool) is not None
