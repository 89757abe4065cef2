"""Observability: Istio standard metrics on /metrics (names, labels, exact counts, histograms,
promtool), x-request-id and traceparent propagation, JSON access log lines."""

import json
import subprocess

import pytest

from weftlib import (TRACEPARENT, UUID4, get, have, join_docs, metric_series, metric_sum,
                     parse_metrics, service_entry, wait_for)

REVIEWS = "reviews.default.svc.cluster.local"


@pytest.fixture(scope="module")
def env(module_mesh):
    class E:
        pass
    e = E()
    m = module_mesh
    e.reviews = m.upstream("reviews")
    e.app = m.upstream("app")
    e.log_path = m.base / "access.log"
    e.proxy = m.proxy(join_docs(service_entry("reviews", [{"port": e.reviews.port}])),
                      app_port=e.app.port, workload="productpage-v1", service="productpage",
                      access_log=str(e.log_path))
    return e


def out_count(proxy, **labels):
    return metric_sum(proxy.metrics(), "istio_requests_total", **labels)


def test_outbound_request_counter_exact(env):
    sel = dict(reporter="source", source_workload="productpage-v1", destination_service=REVIEWS,
               response_code="200", response_flags="-")
    before = out_count(env.proxy, **sel)
    for i in range(7):
        assert env.proxy.get_out("reviews", f"/count/{i}").status == 200
    wait_for(lambda: out_count(env.proxy, **sel) - before == 7, timeout=3,
             what="istio_requests_total to grow by exactly 7 "
                  f"(labels {sel}; now {out_count(env.proxy, **sel) - before})")


def test_outbound_labels(env):
    env.proxy.get_out("reviews", "/labels")
    series = wait_for(lambda: metric_series(env.proxy.metrics(), "istio_requests_total",
                                            reporter="source", destination_service=REVIEWS),
                      what="an outbound istio_requests_total series")
    labels = series[0][0]
    expected = {
        "reporter": "source", "source_workload": "productpage-v1",
        "source_workload_namespace": "default", "source_app": "productpage",
        "source_version": "v1", "source_canonical_service": "productpage",
        "destination_service": REVIEWS, "destination_service_name": "reviews",
        "destination_service_namespace": "default", "request_protocol": "http",
    }
    wrong = {k: (labels.get(k), v) for k, v in expected.items() if labels.get(k) != v}
    assert not wrong, f"label (got, expected): {wrong}; all labels: {labels}"
    for k in ("response_code", "response_flags", "destination_workload",
              "connection_security_policy", "source_principal", "destination_principal"):
        assert k in labels, f"missing Istio label {k!r}: {labels}"


def test_inbound_reporter_destination(env):
    sel = dict(reporter="destination", destination_workload="productpage-v1",
               response_code="200")
    before = out_count(env.proxy, **sel)
    for i in range(3):
        r = get(env.proxy.inbound_port, f"/in/{i}", host="productpage:9080")
        assert r.status == 200 and r.json()["upstream"] == "app"
    wait_for(lambda: out_count(env.proxy, **sel) - before == 3, timeout=3,
             what="inbound istio_requests_total{reporter=destination} to grow by 3")
    labels = metric_series(env.proxy.metrics(), "istio_requests_total", **sel)[0][0]
    assert labels.get("destination_service") == "productpage.default.svc.cluster.local", labels
    assert labels.get("destination_app") == "productpage", labels


def test_histograms(env):
    text0 = env.proxy.metrics()
    base = metric_sum(text0, "istio_request_duration_milliseconds_count", reporter="source",
                      destination_service=REVIEWS)
    for _ in range(4):
        env.proxy.get_out("reviews", "/delay/20/h")

    def grown():
        t = env.proxy.metrics()
        return t if metric_sum(t, "istio_request_duration_milliseconds_count",
                               reporter="source", destination_service=REVIEWS) - base == 4 else None
    text = wait_for(grown, timeout=3, what="istio_request_duration_milliseconds_count +4")
    buckets = metric_series(text, "istio_request_duration_milliseconds_bucket",
                            reporter="source", destination_service=REVIEWS, response_code="200")
    assert buckets, "no istio_request_duration_milliseconds_bucket series"
    les = {l["le"] for l, _ in buckets}
    assert "+Inf" in les and len(les) >= 5, f"too few buckets: {sorted(les)}"
    # Each request took >= 20 ms: the 10 ms bucket (Istio's boundaries) must not hold them.
    small = [v for l, v in buckets if l["le"] not in ("+Inf",) and float(l["le"]) < 20]
    inf = [v for l, v in buckets if l["le"] == "+Inf"]
    assert sum(inf) >= 4 and all(v <= sum(inf) - 4 for v in small), \
        f"20 ms requests landed in buckets below 20 ms: {buckets}"
    assert metric_sum(text, "istio_request_duration_milliseconds_sum", reporter="source",
                      destination_service=REVIEWS) >= 80
    for fam in ("istio_request_bytes", "istio_response_bytes"):
        assert metric_sum(text, fam + "_count", reporter="source",
                          destination_service=REVIEWS) > 0, f"{fam} histogram missing"


def test_metrics_endpoints_and_content_type(env):
    r = env.proxy.admin("/metrics")
    ctype = r.header("content-type") or ""
    assert r.status == 200 and ctype.startswith("text/plain"), (r.status, ctype)
    a = {n for n, _, _ in parse_metrics(r.body.decode())}
    r2 = env.proxy.admin("/stats/prometheus")
    assert r2.status == 200
    b = {n for n, _, _ in parse_metrics(r2.body.decode())}
    assert "istio_requests_total" in a and a == b, f"only in /metrics: {a - b}; " \
                                                   f"only in /stats/prometheus: {b - a}"
    assert "# TYPE istio_requests_total counter" in r.body.decode()


@pytest.mark.skipif(not have("promtool"), reason="promtool not installed (scripts/deps.sh)")
def test_promtool_check_metrics(env):
    env.proxy.get_out("reviews", "/p")
    text = env.proxy.metrics()
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    out = (p.stdout + p.stderr).strip()
    if p.returncode == 0:
        return
    # Istio's own names use milliseconds; promtool lints that ("use base unit"). Nothing else
    # is acceptable.
    problems = [ln for ln in out.splitlines() if ln.strip() and "use base unit" not in ln]
    assert p.returncode == 3 and not problems, \
        f"promtool check metrics exited {p.returncode}:\n{out}"


def test_request_id_generated_and_echoed(env):
    r = env.proxy.get_out("reviews", "/rid")
    rid = r.header("x-request-id")
    assert rid and UUID4.match(rid), f"response must carry a generated UUIDv4 x-request-id: {rid!r}"
    assert r.json()["headers"].get("x-request-id") == rid, "the upstream must get the same id"


def test_request_id_kept(env):
    r = env.proxy.get_out("reviews", "/rid", headers={"x-request-id": "given-id-123"})
    assert r.header("x-request-id") == "given-id-123"
    assert r.json()["headers"].get("x-request-id") == "given-id-123"


def test_request_ids_unique(env):
    ids = {env.proxy.get_out("reviews", "/u").header("x-request-id") for _ in range(20)}
    assert len(ids) == 20, "generated x-request-id values repeat"


def test_traceparent_started(env):
    r = env.proxy.get_out("reviews", "/t")
    tp = r.json()["headers"].get("traceparent", "")
    m = TRACEPARENT.match(tp)
    assert m, f"upstream must get a W3C traceparent, got {tp!r}"
    assert m.group(1) != "0" * 32 and m.group(2) != "0" * 16


def test_traceparent_continued_with_new_span(env):
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    r = env.proxy.get_out("reviews", "/t", headers={"traceparent": incoming})
    tp = r.json()["headers"].get("traceparent", "")
    m = TRACEPARENT.match(tp)
    assert m, f"bad traceparent upstream: {tp!r}"
    assert m.group(1) == "4bf92f3577b34da6a3ce929d0e0e4736", "trace id must be kept"
    assert m.group(2) != "00f067aa0ba902b7", "a new span (parent) id is expected for this hop"
    assert m.group(3) == "01", "flags must be kept"


def test_invalid_traceparent_replaced(env):
    r = env.proxy.get_out("reviews", "/t", headers={"traceparent": "00-zzzz-bad-01"})
    tp = r.json()["headers"].get("traceparent", "")
    assert TRACEPARENT.match(tp), f"an invalid traceparent must start a new trace: {tp!r}"


def _log_lines(env):
    try:
        text = env.log_path.read_text()
    except FileNotFoundError:
        return []
    lines = []
    for ln in text.splitlines():
        try:
            lines.append(json.loads(ln))
        except ValueError:
            raise AssertionError(f"access log line is not JSON: {ln!r}")
    return lines


def test_access_log_json_line(env):
    r = env.proxy.get_out("reviews", "/logged?q=1", headers={"x-request-id": "log-me-1",
                                                            "User-Agent": "weft-test/1"})
    assert r.status == 200
    entry = wait_for(lambda: next((e for e in _log_lines(env) if
                                   e.get("x_request_id") == "log-me-1"), None),
                     timeout=3, what="an access log line with x_request_id log-me-1")
    expect = {"method": "GET", "path": "/logged?q=1", "response_code": 200,
              "response_flags": "-", "direction": "outbound", "authority": "reviews",
              "user_agent": "weft-test/1", "protocol": "HTTP/1.1",
              "upstream_cluster": f"outbound|9080||{REVIEWS}",
              "upstream_host": f"127.0.0.1:{env.reviews.port}"}
    wrong = {k: (entry.get(k), v) for k, v in expect.items() if entry.get(k) != v}
    assert not wrong, f"access log field (got, expected): {wrong}\nentry: {entry}"
    for k in ("start_time", "duration_ms", "bytes_received", "bytes_sent", "route_name",
              "traceparent", "downstream_remote_address", "attempts"):
        assert k in entry, f"access log entry lacks {k!r}: {entry}"
    assert entry["bytes_sent"] == len(r.body), entry


def test_access_log_no_route(env):
    env.proxy.get_out("nowhere", "/x", headers={"x-request-id": "log-nr-1"})
    entry = wait_for(lambda: next((e for e in _log_lines(env) if
                                   e.get("x_request_id") == "log-nr-1"), None),
                     timeout=3, what="an access log line for the 404")
    assert entry.get("response_code") == 404 and entry.get("response_flags") == "NR", entry
