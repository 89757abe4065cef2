"""HTTP/1.1 behaviour through the outbound listener: keep-alive on both sides, pipelining,
chunked bodies and trailers, HEAD/204/304, 100-continue, Upgrade, hop-by-hop headers,
x-forwarded-*, and large bodies streamed with bounded memory."""

import http.client
import threading
import time
import zlib

import pytest

from weftlib import PATTERN, SLOW, RawConn, join_docs, service_entry

MIB = 1 << 20


@pytest.fixture(scope="module")
def env(module_mesh):
    class E:
        pass
    e = E()
    e.web = module_mesh.upstream("web")
    e.proxy = module_mesh.proxy(join_docs(service_entry("web", [{"port": e.web.port}])))
    return e


@pytest.fixture
def web(env):
    env.web.reset_log()
    return env.web


def req(path, method="GET", extra=b"", host=b"web"):
    return b"%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (method.encode(), path.encode(), host, extra)


def test_keepalive_reused_on_both_sides(env, web):
    conn = http.client.HTTPConnection("127.0.0.1", env.proxy.outbound_port, timeout=10 * SLOW)
    try:
        socks = set()
        for i in range(5):
            conn.request("GET", f"/ka/{i}", headers={"Host": "web"})
            r = conn.getresponse()
            body = r.read()
            assert r.status == 200, body
            assert "close" not in (r.getheader("connection") or "").lower(), \
                "the proxy closed a keep-alive client connection"
            socks.add(id(conn.sock))
        assert len(socks) == 1, "the client connection was not kept alive"
    finally:
        conn.close()
    seen = [(r.path, r.conn_id) for r in web.requests]
    assert [p for p, _ in seen] == [f"/ka/{i}" for i in range(5)]
    assert len({c for _, c in seen}) == 1, \
        f"sequential requests should reuse one pooled upstream connection: {seen}"


def test_client_closing_its_connection_keeps_the_upstream_one(env, web):
    web.reset_log()
    for i in range(4):
        with RawConn(env.proxy.outbound_port) as c:
            c.send(req(f"/churn/{i}", extra=b"Connection: close\r\n"))
            assert c.read_response().status == 200
    conns = {r.conn_id for r in web.requests}
    assert len(conns) == 1, f"a client's Connection: close must not close the pooled upstream " \
                            f"connection: {len(conns)} upstream connections for 4 requests"


def test_connection_close_from_client_is_honoured(env, web):
    with RawConn(env.proxy.outbound_port) as c:
        c.send(req("/bye", extra=b"Connection: close\r\n"))
        r = c.read_response()
        assert r.status == 200
        assert c.closed_within(3), "the proxy must close after 'Connection: close'"


def test_pipelined_responses_in_order(env, web):
    with RawConn(env.proxy.outbound_port, timeout=10) as c:
        c.send(req("/delay/300/first") + req("/second") + req("/delay/100/third") +
               req("/fourth"))
        paths = [c.read_response().json()["path"] for _ in range(4)]
    assert paths == ["/delay/300/first", "/second", "/delay/100/third", "/fourth"], \
        f"pipelined responses out of order: {paths}"


def test_chunked_request_body_and_trailers(env, web):
    with RawConn(env.proxy.outbound_port) as c:
        c.send(req("/up", "POST", b"Transfer-Encoding: chunked\r\n") +
               b"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nx-req-trailer: 1\r\n\r\n")
        r = c.read_response()
    assert r.status == 200, r.describe()
    j = r.json()
    assert j["body"] == "hello world", f"upstream got body {j['body']!r}"
    assert j["trailers"] == {"x-req-trailer": "1"}, f"request trailers lost: {j['trailers']}"


def test_chunked_response_with_trailers(env, web):
    with RawConn(env.proxy.outbound_port) as c:
        c.send(req("/chunked", extra=b"TE: trailers\r\n"))
        r = c.read_response()
        assert r.status == 200, r.describe()
        assert r.body == b"hello chunked world"
        assert ("x-trailer", "done") in [(k.lower(), v) for k, v in r.trailers], \
            f"response trailers lost: head={r.raw_head!r} trailers={r.trailers}"
        c.send(req("/after-chunked"))
        assert c.read_response().json()["path"] == "/after-chunked"


def test_head_has_no_body_and_keeps_framing(env, web):
    with RawConn(env.proxy.outbound_port) as c:
        c.send(req("/stream/5000", "HEAD"))
        r = c.read_response(head_request=True)
        assert r.status == 200 and r.header("content-length") == "5000", r.describe()
        c.send(req("/after-head"))
        r2 = c.read_response()
        assert r2.status == 200 and r2.json()["path"] == "/after-head", \
            f"framing broken after HEAD: {r2.describe()}"


def test_204_and_304_have_no_body(env, web):
    with RawConn(env.proxy.outbound_port) as c:
        c.send(req("/status/204"))
        r = c.read_response()
        assert r.status == 204 and r.header("transfer-encoding") is None, r.describe()
        c.send(req("/status/304", extra=b'If-None-Match: "v1"\r\n'))
        r = c.read_response()
        assert r.status == 304, r.describe()
        c.send(req("/after"))
        r = c.read_response()
        assert r.status == 200 and r.json()["path"] == "/after", \
            f"a body was sent with 204/304 or framing broke: {r.describe()} buf={c.buf[:100]!r}"


def test_expect_100_continue(env, web):
    with RawConn(env.proxy.outbound_port, timeout=5) as c:
        c.send(req("/expect", "PUT", b"Expect: 100-continue\r\nContent-Length: 5\r\n"))
        status, _, _, _ = c.read_head()
        assert status == 100, f"expected an interim 100 Continue before sending the body, got {status}"
        c.send(b"hello")
        r = c.read_response()
    assert r.status == 200 and r.json()["body"] == "hello", r.describe()


def test_websocket_upgrade_passthrough(env, web):
    with RawConn(env.proxy.outbound_port, timeout=5) as c:
        c.send(req("/ws", extra=b"Connection: Upgrade\r\nUpgrade: websocket\r\n"
                                b"Sec-WebSocket-Version: 13\r\n"
                                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"))
        r = c.read_response(skip_1xx=False)
        assert r.status == 101, f"upgrade not passed through: {r.describe()}"
        assert (r.header("upgrade") or "").lower() == "websocket", r.headers
        for msg in (b"ping-1", b"\x00\xff binary \r\n\r\n", b"x" * 100000):
            c.send(msg)
            assert c.read_exact(len(msg)) == msg, "upgraded stream not echoed byte for byte"
    up = web.requests[-1]
    assert (up.header("upgrade") or "").lower() == "websocket", \
        f"the upstream must see the Upgrade header: {up.headers}"


def test_hop_by_hop_request_headers_removed(env, web):
    with RawConn(env.proxy.outbound_port) as c:
        c.send(req("/hop-req", extra=b"Connection: keep-alive, X-Foo\r\nX-Foo: secret\r\n"
                                     b"Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n"
                                     b"TE: gzip\r\nX-End-To-End: yes\r\n"))
        r = c.read_response()
    h = r.json()["headers"]
    for name in ("x-foo", "keep-alive", "proxy-connection"):
        assert name not in h, f"hop-by-hop {name!r} forwarded upstream: {h}"
    assert "x-foo" not in h.get("connection", "").lower(), h
    assert "gzip" not in h.get("te", ""), f"TE other than trailers must not be forwarded: {h}"
    assert h.get("x-end-to-end") == "yes", "end-to-end headers must be kept"


def test_hop_by_hop_response_headers_removed(env, web):
    with RawConn(env.proxy.outbound_port) as c:
        c.send(req("/hop"))
        r = c.read_response()
    names = [k.lower() for k, _ in r.headers]
    assert "x-resp-hop" not in names, f"header named in upstream Connection forwarded: {r.headers}"
    assert "keep-alive" not in names, r.headers
    assert "x-resp-hop" not in (r.header("connection") or "").lower()
    assert r.header("x-end-to-end") == "kept"


def test_x_forwarded_headers(env, web):
    r = env.proxy.get_out("web", "/xff")
    h = r.json()["headers"]
    assert "127.0.0.1" in h.get("x-forwarded-for", ""), f"x-forwarded-for not set: {h}"
    assert h.get("x-forwarded-proto") == "http", f"x-forwarded-proto not 'http': {h}"
    r = env.proxy.get_out("web", "/xff2", headers={"X-Forwarded-For": "203.0.113.7"})
    xff = r.json()["headers"].get("x-forwarded-for", "")
    assert xff.split(",")[0].strip() == "203.0.113.7", \
        f"an incoming x-forwarded-for must be kept as the first entry: {xff!r}"


def _download(port, path, pause_after=None, pause=0.0):
    """GET through the proxy reading the whole body; returns (status, length, crc32)."""
    with RawConn(port, timeout=60) as c:
        c.sock.setsockopt(__import__("socket").SOL_SOCKET, __import__("socket").SO_RCVBUF, 65536)
        c.send(req(path))
        status, _, hdrs, _ = c.read_head()
        total = len(c.buf)
        crc = zlib.crc32(c.buf)
        c.buf = b""
        paused = False
        while True:
            if pause_after is not None and not paused and total >= pause_after:
                time.sleep(pause)
                paused = True
            chunk = c.sock.recv(1 << 20)
            if not chunk:
                break
            total += len(chunk)
            crc = zlib.crc32(chunk, crc)
            if total >= int(dict((k.lower(), v) for k, v in hdrs)["content-length"]):
                break
        return status, total, crc


def _expected_crc(n):
    crc = 0
    full, rest = divmod(n, len(PATTERN))
    for _ in range(full):
        crc = zlib.crc32(PATTERN, crc)
    return zlib.crc32(PATTERN[:rest], crc)


def test_large_response_streams_with_bounded_memory(env, web):
    env.proxy.get_out("web", "/warm")
    before = env.proxy.vmhwm_kib()
    n = 256 * MIB
    t0 = time.monotonic()
    # Pause after 4 MiB for 2 s: the proxy must stop reading from the upstream meanwhile.
    status, total, crc = _download(env.proxy.outbound_port, f"/stream/{n}", 4 * MIB, 2.0)
    elapsed = time.monotonic() - t0
    after = env.proxy.vmhwm_kib()
    assert status == 200
    assert total == n, f"got {total} of {n} bytes"
    assert crc == _expected_crc(n), "body corrupted on the way"
    growth = (after - before) / 1024
    assert growth < 32, f"VmHWM grew {growth:.1f} MiB for a 256 MiB streamed response " \
                        f"(limit 32 MiB): the body is buffered instead of streamed"
    print(f"256 MiB download in {elapsed:.1f}s, VmHWM +{growth:.1f} MiB")


def test_large_request_streams_with_bounded_memory(env, web):
    env.proxy.get_out("web", "/warm")
    before = env.proxy.vmhwm_kib()
    n = 256 * MIB
    block = PATTERN * 16  # 1 MiB
    with RawConn(env.proxy.outbound_port, timeout=120) as c:
        # slow-sink waits 2 s before reading: the proxy must stop reading from us meanwhile.
        c.send(req("/slow-sink", "POST", b"Content-Length: %d\r\n" % n))
        crc = 0
        for _ in range(n // len(block)):
            c.send(block)
            crc = zlib.crc32(block, crc)
        r = c.read_response()
    after = env.proxy.vmhwm_kib()
    assert r.status == 200, r.describe()
    j = r.json()
    assert j["body_len"] == n and j["crc32"] == crc, f"upload arrived damaged: {j}"
    growth = (after - before) / 1024
    assert growth < 32, f"VmHWM grew {growth:.1f} MiB for a 256 MiB streamed upload " \
                        f"(limit 32 MiB): the body is buffered instead of streamed"


def test_concurrent_clients(env, web):
    errors = []

    def worker(i):
        try:
            for j in range(20):
                r = env.proxy.get_out("web", f"/c/{i}/{j}")
                if r.status != 200 or r.json()["path"] != f"/c/{i}/{j}":
                    errors.append(r.describe())
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    assert len(web.requests) == 160
