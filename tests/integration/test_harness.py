"""Self-checks of the test harness (the upstream server and the raw client), without the proxy.
If these fail, the other integration tests' verdicts cannot be trusted."""

import time

import pytest

from weftlib import RawConn, Upstream, get, parse_metrics, request


def test_echo_and_keepalive(upstream: Upstream):
    with RawConn(upstream.port) as c:
        c.send(b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\nX-One: 1\r\n\r\n")
        r1 = c.read_response()
        c.send(b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc")
        r2 = c.read_response()
    assert r1.status == 200 and r1.json()["path"] == "/a?x=1"
    assert r1.json()["headers"]["x-one"] == "1"
    assert r2.json()["body"] == "abc" and r2.json()["seq"] == 2
    assert upstream.connections == 1


def test_pipelined_and_chunked_request(upstream: Upstream):
    with RawConn(upstream.port) as c:
        c.send(b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"3\r\nabc\r\n2\r\nde\r\n0\r\nx-t: 1\r\n\r\n"
               b"GET /delay/50 HTTP/1.1\r\nHost: h\r\n\r\nGET /d HTTP/1.1\r\nHost: h\r\n\r\n")
        rs = [c.read_response() for _ in range(3)]
    assert [r.json()["path"] for r in rs] == ["/c", "/delay/50", "/d"]
    assert rs[0].json()["body"] == "abcde" and rs[0].json()["trailers"] == {"x-t": "1"}


def test_chunked_response_trailers_head_204_304(upstream: Upstream):
    with RawConn(upstream.port) as c:
        c.send(b"GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n")
        r = c.read_response()
        assert r.body == b"hello chunked world" and ("x-trailer", "done") in r.trailers
        c.send(b"HEAD /stream/1000 HTTP/1.1\r\nHost: h\r\n\r\n")
        r = c.read_response(head_request=True)
        assert r.header("content-length") == "1000"
        for code in (204, 304):
            c.send(b"GET /status/%d HTTP/1.1\r\nHost: h\r\n\r\n" % code)
            assert c.read_response().status == code
        c.send(b"GET /stream/200000 HTTP/1.1\r\nHost: h\r\n\r\n")
        assert len(c.read_response().body) == 200000


def test_close_mid_response_is_detected(upstream: Upstream):
    with RawConn(upstream.port) as c:
        c.send(b"GET /close-mid HTTP/1.1\r\nHost: h\r\n\r\n")
        with pytest.raises(EOFError):
            c.read_response()


def test_upgrade_echo(upstream: Upstream):
    with RawConn(upstream.port) as c:
        c.send(b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        r = c.read_response(skip_1xx=False)
        assert r.status == 101
        c.send(b"ping")
        assert c.read_exact(4) == b"ping"


def test_expect_continue(upstream: Upstream):
    with RawConn(upstream.port) as c:
        c.send(b"PUT /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        status, _, _, _ = c.read_head()
        assert status == 100
        c.send(b"ok")
        assert c.read_response().json()["body"] == "ok"


def test_idle_close_and_drop_reused(upstream: Upstream):
    upstream.idle_close_ms = 100
    with RawConn(upstream.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        c.read_response()
        t0 = time.monotonic()
        assert c.closed_within(2)
        assert 0.05 < time.monotonic() - t0 < 1.0
    upstream.idle_close_ms = None
    upstream.drop_reused = True
    with RawConn(upstream.port) as c:
        c.send(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n")
        assert c.read_response().status == 200
        c.send(b"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
        assert c.closed_within(2) and c.buf == b""
    assert [r.path for r in upstream.dropped] == ["/2"]


def test_sink_counts_large_upload(upstream: Upstream):
    n = 8 << 20
    with RawConn(upstream.port) as c:
        c.send(b"POST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % n)
        block = b"z" * 65536
        for _ in range(n // len(block)):
            c.send(block)
        assert c.read_response().json()["body_len"] == n


def test_http_client_helper(upstream: Upstream):
    r = get(upstream.port, "/x", host="reviews:9080", headers={"X-A": "b"})
    assert r.json()["headers"]["host"] == "reviews:9080"
    r = request(upstream.port, "POST", "/y", {"Host": "h"}, body=b"123")
    assert r.json()["body"] == "123"


def test_metrics_parser():
    text = ('# TYPE a counter\na_total{x="1",y="a\\"b"} 3\nb 2.5\n'
            'c_bucket{le="+Inf"} 7\n')
    assert parse_metrics(text) == [("a_total", {"x": "1", "y": 'a\\"b'}, 3.0), ("b", {}, 2.5),
                                   ("c_bucket", {"le": "+Inf"}, 7.0)]
