"""Traffic policy on the outbound path, with Istio's semantics: retries (Istio's default policy,
retryOn conditions, attempt counts, body replay), route and per-try timeouts, fault injection."""

import json
import time

from weftlib import (free_port, join_docs, metric_series, metric_sum, request, service_entry,
                     wait_for)


def vs(http_rule: str, host: str = "svc") -> str:
    """A VirtualService for `host` with one http rule (YAML lines, indented for `http:`)."""
    return f"""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {host}, namespace: default}}
spec:
  hosts: [{host}]
  http:
  - route:
    - destination: {{host: {host}}}
{http_rule}"""


def flags(proxy, code):
    series = metric_series(proxy.metrics(), "istio_requests_total", reporter="source",
                           destination_service_name="svc", response_code=str(code))
    return {l["response_flags"]: v for l, v in series}


def attempts_seen(upstream):
    return [r.header("x-envoy-attempt-count") for r in upstream.requests]


def test_default_policy_retries_connect_failures_on_another_endpoint(mesh):
    up = mesh.upstream("up")
    dead = free_port()  # nothing listens there: connection refused
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": dead}, {"port": up.port}])))
    for i in range(20):
        r = p.get_out("svc", f"/r/{i}")
        assert r.status == 200, f"Istio's default retries connect failures: {r.describe()}"
    assert metric_sum(p.metrics(), "weft_upstream_rq_retry_total") > 0
    # Each request went to the live endpoint once, with its attempt number (a retry may, rarely,
    # draw the dead endpoint again: Istio's two retries cover that).
    assert len(up.requests) == 20
    assert set(attempts_seen(up)) <= {"1", "2", "3"}
    # A retried request that got its answer counts once as a retry success.
    retried_requests = sum(1 for a in attempts_seen(up) if a != "1")
    assert retried_requests > 0
    assert sum(cluster_metric(p, "weft_cluster_upstream_rq_retry_success_total").values()) == \
        retried_requests


def test_default_policy_does_not_retry_a_503_answer(mesh):
    up = mesh.upstream("up")
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": up.port}])))
    r = p.get_out("svc", "/status/503")
    assert r.status == 503
    assert len(up.requests) == 1, "since Istio 1.24 a 503 answer is not retried by default"


def test_retry_on_5xx_until_attempts_run_out(mesh):
    up = mesh.upstream("up")
    rule = "    retries: {attempts: 3, retryOn: 5xx}\n"
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": up.port}]), vs(rule)))
    r = p.get_out("svc", "/status/503")
    assert r.status == 503, r.describe()
    assert attempts_seen(up) == ["1", "2", "3", "4"], "attempts counts retries: 1 + 3 tries"
    assert "URX" in ",".join(flags(p, 503)), f"retries exhausted must say URX: {flags(p, 503)}"
    retries = cluster_metric(p, "weft_cluster_upstream_rq_retry_total")
    assert list(retries.values()) == [3], f"three retries, counted for the svc cluster: {retries}"
    assert sum(cluster_metric(p, "weft_cluster_upstream_rq_retry_limit_exceeded_total").values()) == 1
    assert sum(cluster_metric(p, "weft_cluster_upstream_rq_retry_success_total").values()) == 0


def test_retry_on_listed_status_code(mesh):
    up = mesh.upstream("up")
    rule = '    retries: {attempts: 1, retryOn: "409,retriable-4xx"}\n'
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": up.port}]), vs(rule)))
    assert p.get_out("svc", "/status/409").status == 409
    assert len(up.requests) == 2
    up.reset_log()
    assert p.get_out("svc", "/status/404").status == 404
    assert len(up.requests) == 1, "404 is not in retryOn"


def test_attempts_zero_disables_retries(mesh):
    dead = free_port()
    rule = "    retries: {attempts: 0}\n"
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": dead}]), vs(rule)))
    r = p.get_out("svc", "/")
    assert r.status == 503 and r.header("x-weft-error"), r.describe()
    assert metric_sum(p.metrics(), "weft_upstream_rq_retry_total") == 0
    assert "UF" in ",".join(flags(p, 503))


def test_retried_request_carries_its_body_each_time(mesh):
    up = mesh.upstream("up")
    rule = "    retries: {attempts: 2, retryOn: 5xx}\n"
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": up.port}]), vs(rule)))
    body = b"x" * 3000
    r = request(p.outbound_port, "POST", "/status/503", headers={"Host": "svc"}, body=body)
    assert r.status == 503
    assert [q.body_len for q in up.requests] == [3000, 3000, 3000]


def test_body_over_the_retry_buffer_is_not_retried(mesh):
    up = mesh.upstream("up")
    rule = "    retries: {attempts: 2, retryOn: 5xx}\n"
    log = "access.log"
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": up.port}]), vs(rule)),
                   access_log=log)
    r = request(p.outbound_port, "POST", "/status/503", headers={"Host": "svc"},
                body=b"y" * (200 * 1024))
    assert r.status == 503
    assert len(up.requests) == 1, "a body larger than the 64 KiB retry buffer cannot be replayed"
    p.stop()
    lines = [json.loads(x) for x in (p.dir / log).read_text().splitlines() if x.strip()]
    assert any("retry buffer" in x.get("response_code_details", "") for x in lines), lines


def test_retry_buffer_limit_is_configurable(mesh):
    up = mesh.upstream("up")
    rule = "    retries: {attempts: 1, retryOn: 5xx}\n"
    resources = join_docs(service_entry("svc", [{"port": up.port}]), vs(rule))
    small = mesh.proxy(resources, limits={"retry_buffer_bytes": 1024})
    r = request(small.outbound_port, "POST", "/status/503", headers={"Host": "svc"},
                body=b"y" * 2000)
    assert r.status == 503
    assert len(up.requests) == 1, "2000 bytes exceed a 1024-byte retry buffer"
    up.reset_log()
    large = mesh.proxy(resources, limits={"retry_buffer_bytes": 512 * 1024})
    r = request(large.outbound_port, "POST", "/status/503", headers={"Host": "svc"},
                body=b"y" * (200 * 1024))
    assert r.status == 503
    assert [q.body_len for q in up.requests] == [200 * 1024] * 2, "fits a 512 KiB buffer"


def test_route_timeout_gives_504_ut(mesh):
    up = mesh.upstream("up")
    rule = "    timeout: 0.3s\n"
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": up.port}]), vs(rule)))
    t0 = time.monotonic()
    r = p.get_out("svc", "/delay/3000/slow", timeout=10)
    elapsed = time.monotonic() - t0
    assert r.status == 504, r.describe()
    assert r.body.startswith(b"upstream request timeout")
    assert r.header("x-weft-error") == "upstream request timeout"
    assert 0.25 < elapsed < 2.0, f"answered after {elapsed:.2f}s with a 0.3s timeout"
    assert "UT" in ",".join(flags(p, 504))


def test_per_try_timeout_is_retried_for_5xx(mesh):
    up = mesh.upstream("up")
    rule = "    retries: {attempts: 1, perTryTimeout: 0.2s, retryOn: gateway-error}\n"
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": up.port}]), vs(rule)))
    r = p.get_out("svc", "/delay/2000/x", timeout=10)
    assert r.status == 504, r.describe()
    assert attempts_seen(up) == ["1", "2"]


def test_fault_abort_never_reaches_the_upstream(mesh):
    up = mesh.upstream("up")
    rule = "    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}\n"
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": up.port}]), vs(rule)))
    r = p.get_out("svc", "/")
    assert r.status == 418, r.describe()
    assert r.body.startswith(b"fault filter abort")
    assert up.requests == []
    assert "FI" in ",".join(flags(p, 418))


def test_fault_without_percentage_injects_nothing(mesh):
    up = mesh.upstream("up")
    rule = "    fault: {abort: {httpStatus: 418}}\n"
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": up.port}]), vs(rule)))
    assert all(p.get_out("svc", "/").status == 200 for _ in range(10))


def test_fault_delay_is_applied_and_flagged(mesh):
    up = mesh.upstream("up")
    rule = "    fault: {delay: {fixedDelay: 0.4s, percentage: {value: 100}}}\n"
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": up.port}]), vs(rule)))
    t0 = time.monotonic()
    r = p.get_out("svc", "/")
    assert r.status == 200
    assert time.monotonic() - t0 >= 0.4
    assert "DI" in ",".join(flags(p, 200))


def dr(policy: str, host: str = "svc") -> str:
    return f"""apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {host}, namespace: default}}
spec:
  host: {host}
  trafficPolicy:
{policy}"""


def test_max_requests_overflow_is_503_uo_at_once(mesh):
    import threading
    up = mesh.upstream("up")
    policy = "    connectionPool: {http: {http2MaxRequests: 1}}\n"
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": up.port}]), dr(policy)))
    slow = threading.Thread(target=lambda: p.get_out("svc", "/delay/1500/slow", timeout=10))
    slow.start()
    deadline = time.monotonic() + 3
    while not up.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    t0 = time.monotonic()
    r = p.get_out("svc", "/second")
    # the slow request holds its slot for 1.5 s: well under that means not queued
    assert time.monotonic() - t0 < 1.0, "overflow must be answered at once, not queued"
    slow.join(10)
    assert r.status == 503, r.describe()
    assert r.header("x-envoy-overloaded") == "true"
    assert b"reset reason: overflow" in r.body
    assert "UO" in ",".join(flags(p, 503))
    assert [q.path for q in up.requests] == ["/delay/1500/slow"]


def cluster_metric(proxy, name):
    """{cluster_name: value} of a weft_cluster_* metric, for the svc clusters."""
    series = metric_series(proxy.metrics(), name)
    return {l["cluster_name"]: v for l, v in series if "svc" in l["cluster_name"]}


def in_thread(fn):
    import threading
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", fn()))
    t.start()
    return t, result


def wait_requests(up, n, timeout=3.0):
    deadline = time.monotonic() + timeout
    while len(up.requests) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(up.requests) >= n, f"the upstream saw {len(up.requests)} requests, not {n}"


def test_max_connections_makes_requests_wait_for_a_connection(mesh):
    up = mesh.upstream("up")
    policy = "    connectionPool: {tcp: {maxConnections: 1}}\n"
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": up.port}]), dr(policy)))
    slow, _ = in_thread(lambda: p.get_out("svc", "/delay/800/slow", timeout=10))
    wait_requests(up, 1)
    t0 = time.monotonic()
    r = p.get_out("svc", "/second", timeout=10)
    waited = time.monotonic() - t0
    slow.join(10)
    assert r.status == 200, r.describe()
    # It waited for the only connection instead of opening a second one.
    assert waited > 0.4, f"answered after {waited:.2f}s: it did not wait for the connection"
    assert [q.path for q in up.requests] == ["/delay/800/slow", "/second"]
    assert len({q.conn_id for q in up.requests}) == 1, "maxConnections: 1 allows one connection"
    assert sum(cluster_metric(p, "weft_cluster_upstream_rq_pending_total").values()) == 1
    assert sum(cluster_metric(p, "weft_cluster_upstream_rq_pending_active").values()) == 0


def test_pending_requests_overflow_is_503_uo(mesh):
    up = mesh.upstream("up")
    policy = "    connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}\n"
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": up.port}]), dr(policy)))
    slow, _ = in_thread(lambda: p.get_out("svc", "/delay/1000/slow", timeout=10))
    wait_requests(up, 1)
    waiting, waited = in_thread(lambda: p.get_out("svc", "/waiting", timeout=10))
    wait_for(lambda: sum(cluster_metric(p, "weft_cluster_upstream_rq_pending_active").values()) == 1)
    t0 = time.monotonic()
    r = p.get_out("svc", "/third")
    assert time.monotonic() - t0 < 0.5, "overflow must be answered at once"
    assert r.status == 503, r.describe()
    assert r.header("x-envoy-overloaded") == "true"
    assert b"reset reason: overflow" in r.body
    slow.join(10)
    waiting.join(10)
    assert waited["r"].status == 200, "the request in the wait list is served"
    assert "UO" in ",".join(flags(p, 503))
    assert [q.path for q in up.requests] == ["/delay/1000/slow", "/waiting"]
    assert sum(cluster_metric(p, "weft_cluster_upstream_rq_pending_overflow_total").values()) == 1


def test_waiting_for_a_connection_is_bounded_by_the_connect_timeout(mesh):
    up = mesh.upstream("up")
    policy = "    connectionPool: {tcp: {maxConnections: 1, connectTimeout: 0.3s}}\n"
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": up.port}]), dr(policy)))
    slow, _ = in_thread(lambda: p.get_out("svc", "/delay/2500/slow", timeout=10))
    wait_requests(up, 1)
    t0 = time.monotonic()
    r = p.get_out("svc", "/second", timeout=10)
    waited = time.monotonic() - t0
    assert r.status == 503 and b"overflow" in r.body, r.describe()
    assert 0.2 < waited < 1.5, f"gave up after {waited:.2f}s with a 0.3s connect timeout"
    assert sum(cluster_metric(p, "weft_cluster_upstream_rq_pending_active").values()) == 0
    slow.join(10)
    assert [q.path for q in up.requests] == ["/delay/2500/slow"]
    # The wait list is empty again: the next request is not refused for a full list.
    assert p.get_out("svc", "/third").status == 200


def test_max_connections_spreads_over_endpoints(mesh):
    # The limit is the cluster's; each endpoint may still open its first connection (as Envoy),
    # so a cluster at its limit never starves an endpoint.
    ups = [mesh.upstream(f"up{i}") for i in range(2)]
    policy = ("    loadBalancer: {simple: ROUND_ROBIN}\n"
              "    connectionPool: {tcp: {maxConnections: 1}}\n")
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": u.port} for u in ups]), dr(policy)))
    t0 = time.monotonic()
    threads = [in_thread(lambda i=i: p.get_out("svc", f"/delay/300/{i}", timeout=10))
               for i in range(4)]
    for t, _ in threads:
        t.join(10)
    elapsed = time.monotonic() - t0
    assert all(res["r"].status == 200 for _, res in threads)
    # Two at a time, one per endpoint: about 0.6 s. An endpoint left waiting for the other's
    # connection to close would take seconds.
    assert elapsed < 2.0, f"4 requests of 0.3 s over 2 endpoints took {elapsed:.2f}s"
    for u in ups:
        assert len({q.conn_id for q in u.requests}) == 1, "one connection per endpoint"


def test_max_requests_per_connection_one_disables_keepalive(mesh):
    up = mesh.upstream("up")
    policy = "    connectionPool: {http: {maxRequestsPerConnection: 1}}\n"
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": up.port}]), dr(policy)))
    for i in range(3):
        assert p.get_out("svc", f"/n/{i}").status == 200
    assert len({q.conn_id for q in up.requests}) == 3


def test_outlier_detection_ejects_a_failing_endpoint(mesh):
    up = mesh.upstream("up")
    dead = free_port()
    policy = ("    outlierDetection: {consecutive5xxErrors: 1, maxEjectionPercent: 100,\n"
              "                       baseEjectionTime: 30s, interval: 1s}\n")
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": dead}, {"port": up.port}]),
                             dr(policy)))
    for i in range(30):
        assert p.get_out("svc", f"/o/{i}").status == 200  # default retries cover the failure
    text = p.metrics()
    assert metric_sum(text, "weft_outlier_ejections_total") == 1
    assert metric_sum(text, "weft_upstream_cx_connect_fail_total") == 1, \
        "once ejected, the dead endpoint must not be tried again"
    clusters = p.admin("/clusters").body.decode()
    assert f"127.0.0.1:{dead}::health_flags::/failed_outlier_check" in clusters, clusters
    assert f"127.0.0.1:{up.port}::health_flags::healthy" in clusters


def three_endpoints(mesh):
    ups = [mesh.upstream(f"up{i}") for i in range(3)]
    return ups, service_entry("svc", [{"port": u.port} for u in ups])


def served_by(r):
    return r.json()["upstream"]


def test_consistent_hash_on_a_header_keeps_a_user_on_one_endpoint(mesh):
    ups, se = three_endpoints(mesh)
    policy = "    loadBalancer: {consistentHash: {httpHeaderName: x-user}}\n"
    p = mesh.proxy(join_docs(se, dr(policy)))
    seen = {}
    for user in ["ana", "bo", "cy", "di", "ed", "flo", "gus", "hal"]:
        hosts = {served_by(p.get_out("svc", "/h", headers={"x-user": user})) for _ in range(5)}
        assert len(hosts) == 1, f"user {user} went to {hosts}"
        seen[user] = hosts.pop()
    assert len(set(seen.values())) > 1, f"8 users should not all hash to one endpoint: {seen}"


def test_consistent_hash_cookie_is_generated_and_then_honoured(mesh):
    ups, se = three_endpoints(mesh)
    policy = ("    loadBalancer:\n"
              "      consistentHash: {httpCookie: {name: sticky, path: /, ttl: 60s}}\n")
    p = mesh.proxy(join_docs(se, dr(policy)))
    first = p.get_out("svc", "/c")
    cookie = first.header("set-cookie")
    assert cookie and cookie.startswith("sticky="), first.describe()
    assert "Max-Age=60" in cookie and "Path=/" in cookie
    value = cookie.split(";")[0]
    hosts = {served_by(p.get_out("svc", "/c", headers={"Cookie": value})) for _ in range(6)}
    assert hosts == {served_by(first)}, "the cookie must lead back to the first endpoint"


def mirror_mesh(primary, shadow_port, rule):
    return join_docs(service_entry("svc", [{"port": primary.port}]),
                     service_entry("shadow", [{"port": shadow_port}]),
                     vs(rule))


def test_mirror_copies_the_request_fire_and_forget(mesh):
    primary, shadow = mesh.upstream("primary"), mesh.upstream("shadow")
    p = mesh.proxy(mirror_mesh(primary, shadow.port, "    mirror: {host: shadow}\n"))
    r = request(p.outbound_port, "POST", "/m?x=1", headers={"Host": "svc"}, body=b"copy me")
    assert r.status == 200 and r.json()["upstream"] == "primary"
    deadline = time.monotonic() + 3
    while not shadow.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(shadow.requests) == 1, "mirrorPercentage absent means 100%"
    copy = shadow.requests[0]
    assert copy.path == "/m?x=1" and copy.body_len == 7
    assert copy.header("host") == "svc", "Istio >= 1.28 keeps the authority (no -shadow suffix)"


def test_mirror_failure_or_slowness_never_reaches_the_caller(mesh):
    primary, slow_shadow = mesh.upstream("primary"), mesh.upstream("slow")
    p = mesh.proxy(mirror_mesh(primary, free_port(), "    mirror: {host: shadow}\n"))
    assert all(p.get_out("svc", "/dead-mirror").status == 200 for _ in range(5))
    q = mesh.proxy(mirror_mesh(primary, slow_shadow.port, "    mirror: {host: shadow}\n"))
    t0 = time.monotonic()
    # the primary answers at once; the copy goes to a path the shadow delays
    r = q.get_out("svc", "/delay/1500/m")
    assert r.status == 200
    assert time.monotonic() - t0 >= 1.4  # the primary itself delays this path too
    t0 = time.monotonic()
    assert q.get_out("svc", "/fast").status == 200
    assert time.monotonic() - t0 < 1.0, "a slow mirror must not slow the next request"


def test_mirror_percentage_zero_copies_nothing(mesh):
    primary, shadow = mesh.upstream("primary"), mesh.upstream("shadow")
    rule = "    mirror: {host: shadow}\n    mirrorPercentage: {value: 0}\n"
    p = mesh.proxy(mirror_mesh(primary, shadow.port, rule))
    for _ in range(5):
        assert p.get_out("svc", "/none").status == 200
    time.sleep(0.2)
    assert shadow.requests == []


def vs_rules(rules: str, host: str = "svc") -> str:
    return f"""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {host}, namespace: default}}
spec:
  hosts: [{host}]
  http:
{rules}"""


def test_redirect_direct_response_and_query_match(mesh):
    up = mesh.upstream("up")
    rules = """  - match: [{uri: {prefix: /old}}]
    redirect: {uri: /new, authority: example.com, redirectCode: 308}
  - match: [{uri: {exact: /teapot}}]
    directResponse: {status: 418, body: {string: "short and stout"}}
  - match: [{queryParams: {debug: {exact: "1"}}}]
    directResponse: {status: 200, body: {string: "debug"}}
  - route:
    - destination: {host: svc}
"""
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": up.port}]), vs_rules(rules)))
    r = p.get_out("svc", "/old/x?a=b")
    assert r.status == 308, r.describe()
    assert r.header("location") == "http://example.com/new?a=b", r.headers
    r = p.get_out("svc", "/teapot")
    assert (r.status, r.body) == (418, b"short and stout")
    assert r.header("x-weft-error") is None, "a direct response is not an error"
    assert p.get_out("svc", "/any?debug=1").body == b"debug"
    assert p.get_out("svc", "/any?debug=2").json()["upstream"] == "up"
    assert [q.path for q in up.requests] == ["/any?debug=2"]


def test_cors_preflight_is_answered_by_the_sidecar(mesh):
    up = mesh.upstream("up")
    rule = ("    corsPolicy:\n"
            "      allowOrigins: [{exact: https://app.example.com}]\n"
            "      allowMethods: [GET, POST]\n"
            "      allowHeaders: [x-token]\n"
            "      maxAge: 24h\n")
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": up.port}]), vs(rule)))
    r = request(p.outbound_port, "OPTIONS", "/api", headers={
        "Host": "svc", "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "POST"})
    assert r.status == 200, r.describe()
    assert r.header("access-control-allow-origin") == "https://app.example.com"
    assert "POST" in r.header("access-control-allow-methods")
    assert r.header("access-control-max-age") == "86400"
    assert up.requests == [], "an allowed preflight is answered by the sidecar"
    r = p.get_out("svc", "/api", headers={"Origin": "https://app.example.com"})
    assert r.status == 200
    assert r.header("access-control-allow-origin") == "https://app.example.com"
    r = p.get_out("svc", "/api", headers={"Origin": "https://evil.example.com"})
    assert r.header("access-control-allow-origin") is None


# --- Distributions over real upstreams (tolerances are 4 standard deviations or more, so a
# correct proxy fails them about once in 15,000 runs; a wrong policy misses them by far).

def counts_by_upstream(proxy, n, path="/lb"):
    counts = {}
    for i in range(n):
        r = proxy.get_out("svc", f"{path}/{i}")
        assert r.status == 200, r.describe()
        counts[served_by(r)] = counts.get(served_by(r), 0) + 1
    return counts


def weighted_endpoints(mesh):
    ups = [mesh.upstream(f"w{i}") for i in range(3)]
    se = service_entry("svc", [{"port": u.port, "weight": w} for u, w in zip(ups, (1, 1, 2))])
    return ups, se


def test_round_robin_follows_the_weights_exactly(mesh):
    ups, se = weighted_endpoints(mesh)
    p = mesh.proxy(join_docs(se, dr("    loadBalancer: {simple: ROUND_ROBIN}\n")))
    counts = counts_by_upstream(p, 400)
    assert counts == {"w0": 100, "w1": 100, "w2": 200}, counts


def test_random_and_least_request_follow_the_weights(mesh):
    for policy in ("RANDOM", "LEAST_REQUEST"):
        ups, se = weighted_endpoints(mesh)
        p = mesh.proxy(join_docs(se, dr(f"    loadBalancer: {{simple: {policy}}}\n")))
        counts = counts_by_upstream(p, 800)
        # Expected 200 / 200 / 400; one standard deviation is about 12 and 14.
        for name, expected in (("w0", 200), ("w1", 200), ("w2", 400)):
            assert abs(counts.get(name, 0) - expected) <= 60, f"{policy}: {counts}"
        p.stop()


def test_fault_percentages_hold_over_a_thousand_requests(mesh):
    up = mesh.upstream("up")
    rule = ("    fault:\n"
            "      abort: {httpStatus: 418, percentage: {value: 25}}\n"
            "      delay: {fixedDelay: 0.001s, percentage: {value: 2.5}}\n")
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": up.port}]), vs(rule)))
    n = 1000
    aborted = sum(p.get_out("svc", f"/f/{i}").status == 418 for i in range(n))
    # 25 %: expected 250, one standard deviation 13.7.
    assert 190 <= aborted <= 310, f"{aborted} of {n} aborted at 25 %"
    assert len(up.requests) == n - aborted, "an aborted request never reaches the upstream"
    series = metric_series(p.metrics(), "istio_requests_total", reporter="source")
    flagged = lambda flag: sum(v for labels, v in series
                               if flag in labels["response_flags"].split(","))
    assert flagged("FI") == aborted
    # 2.5 % delayed (a fractional percentage), rolled independently of the abort: expected 25.
    delayed = flagged("DI")
    assert 5 <= delayed <= 55, f"{delayed} of {n} delayed at 2.5 %"


def test_ejected_endpoint_returns_after_the_ejection_time(mesh):
    from weftlib import Upstream
    up = mesh.upstream("up")
    flaky_port = free_port()  # nothing listens yet: connection refused
    policy = ("    outlierDetection: {consecutive5xxErrors: 1, maxEjectionPercent: 100,\n"
              "                       baseEjectionTime: 1.5s, interval: 0.1s}\n")
    p = mesh.proxy(join_docs(service_entry("svc", [{"port": flaky_port}, {"port": up.port}]),
                             dr(policy)))
    for i in range(10):
        assert p.get_out("svc", f"/e/{i}").status == 200  # the failure is retried elsewhere
    assert metric_sum(p.metrics(), "weft_outlier_ejections_total") == 1
    ejected_at = time.monotonic()
    revived = Upstream("revived", port=flaky_port)
    mesh.upstreams.append(revived)
    # While ejected, the endpoint gets nothing even though it answers again.
    while time.monotonic() - ejected_at < 1.0:
        assert p.get_out("svc", "/during").status == 200
    assert revived.requests == [], "an ejected endpoint must not get requests"
    # After the ejection time it is back in the rotation.
    time.sleep(max(0.0, ejected_at + 1.7 - time.monotonic()))
    for i in range(20):
        assert p.get_out("svc", f"/after/{i}").status == 200
    assert len(revived.requests) > 0, "the endpoint must return after its ejection time"
    clusters = p.admin("/clusters").body.decode()
    assert f"127.0.0.1:{flaky_port}::health_flags::healthy" in clusters, clusters
