"""Upstream failures: refused connections (503 UF), resets before and during a response, and
the stale pooled connection race (an upstream closing an idle keep-alive connection just as
the proxy reuses it must never surface as a 503)."""

import time

import pytest

from weftlib import RawConn, free_port, join_docs, metric_series, service_entry, wait_for

FQDN = "{}.default.svc.cluster.local"


@pytest.fixture(scope="module")
def env(module_mesh):
    class E:
        pass
    e = E()
    m = module_mesh
    e.flaky = m.upstream("flaky")
    e.stale = m.upstream("stale", drop_reused=True)
    e.stale_rst = m.upstream("stale-rst", drop_reused=True, idle_rst=True)
    e.idle = m.upstream("idle", idle_close_ms=50)
    e.idle_rst = m.upstream("idle-rst", idle_close_ms=50, idle_rst=True)
    e.refused_port = free_port()
    mesh = join_docs(
        service_entry("refused", [{"port": e.refused_port}]),
        service_entry("flaky", [{"port": e.flaky.port}]),
        service_entry("stale", [{"port": e.stale.port}]),
        service_entry("stale-rst", [{"port": e.stale_rst.port}]),
        service_entry("idle", [{"port": e.idle.port}]),
        service_entry("idle-rst", [{"port": e.idle_rst.port}]),
    )
    e.proxy = m.proxy(mesh, timeouts={"upstream_connect": "2s"})
    return e


def flags_for(proxy, service, code):
    """{response_flags: count} of istio_requests_total for service/code (waits up to 2 s for
    the series: a request is recorded just after its response is written)."""
    def get():
        series = metric_series(proxy.metrics(), "istio_requests_total", reporter="source",
                               destination_service=FQDN.format(service), response_code=str(code))
        return {l.get("response_flags", "<missing>"): v for l, v in series}
    try:
        return wait_for(get, timeout=2, what=f"istio_requests_total for {service}/{code}")
    except AssertionError:
        return {}


def test_refused_is_503_uf(env):
    r = env.proxy.get_out("refused", "/")
    assert r.status == 503, f"connection refused must give 503: {r.describe()}"
    assert r.header("x-weft-error"), f"a proxy-generated 503 needs x-weft-error: {r.headers}"
    flags = flags_for(env.proxy, "refused", 503)
    assert any("UF" in f.split(",") for f in flags), \
        f"istio_requests_total for refused/503 should carry response_flags with UF: {flags}"


def test_client_connection_survives_a_503(env):
    with RawConn(env.proxy.outbound_port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: refused\r\n\r\n")
        assert c.read_response().status == 503
        c.send(b"GET /next HTTP/1.1\r\nHost: flaky\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.json()["path"] == "/next", r.describe()


@pytest.mark.parametrize("path", ["/reset", "/fin"])
def test_upstream_gone_before_response(env, path):
    r = env.proxy.get_out("flaky", path)
    assert r.status in (502, 503), f"upstream {path} before any response byte: {r.describe()}"
    assert r.header("x-weft-error"), r.headers
    flags = flags_for(env.proxy, "flaky", r.status)
    assert any(set(f.split(",")) & {"UC", "UR", "URX"} for f in flags), \
        f"expected UC/UR/URX in response_flags: {flags}"


def test_reset_mid_response_is_not_a_complete_response(env):
    with RawConn(env.proxy.outbound_port, timeout=10) as c:
        c.send(b"GET /close-mid HTTP/1.1\r\nHost: flaky\r\n\r\n")
        try:
            r = c.read_response()
        except EOFError:
            return  # body cut short and the connection closed: what a client must see
        assert r.status in (502, 503), \
            f"a response reset midway reached the client as complete-looking: {r.status}, " \
            f"{len(r.body)} body bytes"


def test_reset_mid_chunked_response_has_no_terminator(env):
    with RawConn(env.proxy.outbound_port, timeout=10) as c:
        c.send(b"GET /close-mid-chunked HTTP/1.1\r\nHost: flaky\r\n\r\n")
        try:
            r = c.read_response()
        except EOFError:
            return
        assert r.status in (502, 503), \
            "the proxy ended a reset chunked response with a last-chunk: it looks complete"


def _many(env, service, n, gaps=(0.0,)):
    bad = []
    for i in range(n):
        r = env.proxy.get_out(service, f"/s/{i}")
        if r.status != 200:
            bad.append((i, r.status, r.header("x-weft-error")))
        g = gaps[i % len(gaps)]
        if g:
            time.sleep(g)
    return bad


@pytest.mark.parametrize("name", ["stale", "stale-rst"])
def test_stale_pooled_connection_is_retried_transparently(env, name):
    up = env.stale if name == "stale" else env.stale_rst
    up.reset_log()
    bad = _many(env, name, 40)
    assert not bad, f"requests on a pooled connection the upstream had closed failed " \
                    f"(expected a transparent resend): {bad[:5]} of {len(bad)}"
    assert len(up.dropped) > 0, "the race was not exercised: the proxy never reused a connection"
    served = [r.path for r in up.requests]
    assert sorted(served) == sorted(f"/s/{i}" for i in range(40)), \
        f"every request must be served exactly once: {served}"


@pytest.mark.parametrize("name", ["idle", "idle-rst"])
def test_idle_closed_pooled_connection_never_503(env, name):
    # The upstream closes connections idle for 50 ms; gaps around that value hit the window
    # where the proxy may pick a connection whose close is in flight.
    bad = _many(env, name, 80, gaps=(0.0, 0.045, 0.05, 0.055, 0.06, 0.03, 0.1))
    assert not bad, f"idle-closed pooled connections surfaced as errors: {bad[:5]} " \
                    f"of {len(bad)}"


def test_pool_idle_timeout_closes_upstream_connections(mesh):
    up = mesh.upstream("pooled")
    p = mesh.proxy(join_docs(service_entry("pooled", [{"port": up.port}])),
                   timeouts={"upstream_pool_idle": "500ms"})
    assert p.get_out("pooled", "/1").status == 200
    time.sleep(1.2)
    assert p.get_out("pooled", "/2").status == 200
    conns = [r.conn_id for r in up.requests]
    assert conns[0] != conns[1], \
        "a pooled connection idle longer than upstream_pool_idle (500ms) was reused"
