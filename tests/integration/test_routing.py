"""Routing on the outbound listener: Host forms, absolute-form, VirtualService matches, weights,
rewrites (uri and uriRegexRewrite) and header operations, 404 NR; the inbound listener goes to
the local app."""

import time
from collections import Counter

import pytest

from weftlib import (RawConn, curl, destination_rule, get, join_docs, metric_sum, request,
                     service_entry, wait_for)

VS_REVIEWS = """apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - name: jason
    match:
    - headers:
        end-user: {exact: jason}
    route:
    - destination: {host: reviews, subset: v2}
  - name: posts
    match:
    - method: {exact: POST}
    route:
    - destination: {host: reviews, subset: v3}
  - name: legacy
    match:
    - uri: {prefix: /old/}
    rewrite: {uri: /new/}
    route:
    - destination: {host: reviews, subset: v1}
  - name: regex-rewrite
    match:
    - uri: {prefix: /shop/}
    rewrite:
      uriRegexRewrite:
        match: ([a-z]+)-([0-9]+)
        rewrite: \\2_\\1
    route:
    - destination: {host: reviews, subset: v3}
  - name: header-ops
    match:
    - uri: {exact: /hdr}
    headers:
      request:
        set: {x-set: s}
        add: {x-added: a}
        remove: [x-remove-me]
      response:
        set: {x-resp-set: rs}
        add: {x-resp-add: ra}
        remove: [x-upstream]
    route:
    - destination: {host: reviews, subset: v1}
  - name: regex
    match:
    - uri: {regex: "/r/[0-9]+"}
    route:
    - destination: {host: reviews, subset: v3}
  - name: default
    route:
    - destination: {host: reviews, subset: v1}
"""

VS_RATINGS = """apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: ratings, namespace: default}
spec:
  hosts: [ratings.default.svc.cluster.local]
  http:
  - route:
    - destination: {host: ratings, subset: v1}
      weight: 80
    - destination: {host: ratings, subset: v2}
      weight: 20
"""

VS_PRODUCTPAGE = """apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: productpage, namespace: default}
spec:
  hosts: [productpage]
  http:
  - match:
    - uri: {prefix: /productpage}
    route:
    - destination: {host: productpage}
"""


class Env:
    pass


@pytest.fixture(scope="module")
def env(module_mesh):
    e = Env()
    m = module_mesh
    e.up = {n: m.upstream(n) for n in ("reviews-v1", "reviews-v2", "reviews-v3", "ratings-v1",
                                       "ratings-v2", "details-1", "details-2", "productpage",
                                       "app")}
    u = e.up
    mesh = join_docs(
        service_entry("reviews", [{"port": u[f"reviews-{v}"].port, "labels": {"version": v}}
                                  for v in ("v1", "v2", "v3")]),
        destination_rule("reviews", ["v1", "v2", "v3"]),
        service_entry("ratings", [{"port": u[f"ratings-{v}"].port, "labels": {"version": v}}
                                  for v in ("v1", "v2")]),
        destination_rule("ratings", ["v1", "v2"]),
        service_entry("details", [{"port": u["details-1"].port}, {"port": u["details-2"].port}]),
        service_entry("productpage", [{"port": u["productpage"].port}]),
        VS_REVIEWS, VS_RATINGS, VS_PRODUCTPAGE)
    e.proxy = m.proxy(mesh, app_port=u["app"].port)
    return e


def who(r) -> str:
    assert r.status == 200, f"expected 200 from an upstream, got {r.describe()}"
    return r.json()["upstream"]


HOST_FORMS = ["details", "details:9080", "details.default", "details.default:9080",
              "details.default.svc.cluster.local",
              "details.default.svc.cluster.local:9080", "Details.Default.Svc.Cluster.Local"]


@pytest.mark.parametrize("host", HOST_FORMS)
def test_host_forms_reach_the_service(env, host):
    r = env.proxy.get_out(host, "/x")
    assert who(r).startswith("details-"), f"Host {host!r} went to {who(r)}"
    assert r.json()["path"] == "/x"


def test_endpoints_share_load(env):
    seen = Counter(who(env.proxy.get_out("details", "/lb")) for _ in range(60))
    assert set(seen) == {"details-1", "details-2"}, \
        f"both endpoints of details should get requests: {dict(seen)}"
    assert min(seen.values()) >= 10, f"load is very uneven across two endpoints: {dict(seen)}"


def test_absolute_form_with_curl_proxy(env):
    env.up["details-1"].reset_log()
    env.up["details-2"].reset_log()
    p = curl("-x", f"http://127.0.0.1:{env.proxy.outbound_port}", "-D", "-",
             "http://details:9080/abs?q=1")
    assert p.returncode == 0, f"curl -x failed: {p.stderr}"
    head, _, body = p.stdout.replace("\r\n", "\n").partition("\n\n")
    assert head.startswith("HTTP/1.1 200"), f"curl -x through the outbound listener: {head}"
    import json
    seen = json.loads(body)
    assert seen["path"] == "/abs?q=1", f"upstream must get origin-form, got {seen['path']!r}"
    assert seen["headers"]["host"] == "details:9080", seen["headers"]


def test_absolute_form_with_http_proxy_env(env):
    import os
    import subprocess
    envv = dict(os.environ, http_proxy=f"http://127.0.0.1:{env.proxy.outbound_port}",
                no_proxy="", NO_PROXY="")
    p = subprocess.run(["curl", "-sS", "--max-time", "10", "http://reviews.default:9080/env"],
                       capture_output=True, text=True, env=envv, timeout=20)
    assert p.returncode == 0, p.stderr
    import json
    assert json.loads(p.stdout)["upstream"] == "reviews-v1"


def test_absolute_form_authority_wins_over_host(env):
    with RawConn(env.proxy.outbound_port) as c:
        c.send(b"GET http://ratings.default.svc.cluster.local:9080/abs HTTP/1.1\r\n"
               b"Host: ratings.default.svc.cluster.local:9080\r\n\r\n")
        r = c.read_response()
    assert who(r).startswith("ratings-")
    assert r.json()["path"] == "/abs"


@pytest.mark.parametrize("host", ["unknown", "unknown.default.svc.cluster.local", "reviews.other"])
def test_unknown_host_is_404_nr(env, host):
    r = env.proxy.get_out(host, "/nothing")
    assert r.status == 404, f"unknown host {host!r}: {r.describe()}"
    reason = r.header("x-weft-error")
    assert reason, f"a proxy-generated 404 must carry x-weft-error: {r.headers}"
    assert reason.encode() in r.body, f"the body should name the reason {reason!r}: {r.body!r}"
    assert r.header("x-upstream") is None, "the 404 must not come from an upstream"


def test_no_matching_route_is_404_nr(env):
    env.up["productpage"].reset_log()
    r = env.proxy.get_out("productpage", "/elsewhere")
    assert r.status == 404 and r.header("x-weft-error"), r.describe()
    assert env.up["productpage"].requests == [], "nothing may reach the upstream"
    assert who(env.proxy.get_out("productpage", "/productpage")) == "productpage"


def test_404_nr_in_metrics(env):
    def count():
        return metric_sum(env.proxy.metrics(), "istio_requests_total", response_code="404",
                          response_flags="NR")
    time.sleep(0.2)  # let earlier requests be recorded
    before = count()
    for _ in range(3):
        env.proxy.get_out("nowhere", "/")
    wait_for(lambda: count() - before == 3, timeout=3,
             what=f"istio_requests_total{{response_code=404,response_flags=NR}} to grow by "
                  f"exactly 3 from {before}")


def test_header_match(env):
    assert who(env.proxy.get_out("reviews", "/", headers={"end-user": "jason"})) == "reviews-v2"
    assert who(env.proxy.get_out("reviews", "/", headers={"end-user": "jasonx"})) == "reviews-v1"
    assert who(env.proxy.get_out("reviews", "/")) == "reviews-v1"


def test_method_match(env):
    r = request(env.proxy.outbound_port, "POST", "/p", {"Host": "reviews"}, body=b"x")
    assert who(r) == "reviews-v3"


def test_regex_match_is_whole_path(env):
    assert who(env.proxy.get_out("reviews", "/r/123")) == "reviews-v3"
    assert who(env.proxy.get_out("reviews", "/r/123?q=abc")) == "reviews-v3"
    assert who(env.proxy.get_out("reviews", "/r/123x")) == "reviews-v1"
    assert who(env.proxy.get_out("reviews", "/x/r/123")) == "reviews-v1"


def test_prefix_rewrite(env):
    r = env.proxy.get_out("reviews", "/old/page?x=1")
    assert who(r) == "reviews-v1"
    assert r.json()["path"] == "/new/page?x=1", f"rewrite /old/ -> /new/ gave {r.json()['path']}"


def test_uri_regex_rewrite(env):
    # Every match in the path is replaced, groups are substituted, the query string is kept.
    r = env.proxy.get_out("reviews", "/shop/item-7/box-42?q=box-1")
    assert who(r) == "reviews-v3"
    assert r.json()["path"] == "/shop/7_item/42_box?q=box-1", \
        f"uriRegexRewrite gave {r.json()['path']}"
    r = env.proxy.get_out("reviews", "/shop/none")
    assert who(r) == "reviews-v3"
    assert r.json()["path"] == "/shop/none"


def test_header_operations(env):
    r = env.proxy.get_out("reviews", "/hdr",
                          headers={"x-remove-me": "1", "x-set": "client", "x-added": "client"})
    assert r.status == 200, r.describe()
    seen = r.json()["header_list"]
    names = [k.lower() for k, _ in seen]
    assert "x-remove-me" not in names, f"request remove failed: {seen}"
    assert [v for k, v in seen if k.lower() == "x-set"] == ["s"], f"request set failed: {seen}"
    assert sorted(v for k, v in seen if k.lower() == "x-added") == ["a", "client"], \
        f"request add must append: {seen}"
    assert r.header("x-resp-set") == "rs", r.headers
    assert r.header("x-resp-add") == "ra", r.headers
    assert r.header("x-upstream") is None, f"response remove failed: {r.headers}"


def test_weighted_split(env):
    n = 200
    seen = Counter(who(env.proxy.get_out("ratings", "/w")) for _ in range(n))
    assert set(seen) <= {"ratings-v1", "ratings-v2"}
    # 80/20: expect 160 +- 5.7 (one standard deviation); allow about 5 of them.
    assert 130 <= seen["ratings-v1"] <= 185, f"80/20 split gave {dict(seen)} over {n}"


def test_inbound_goes_to_local_app(env):
    r = get(env.proxy.inbound_port, "/inbound", host="sleep.default.svc.cluster.local:9080")
    assert who(r) == "app", "the inbound listener must forward to the local app"
    assert r.json()["path"] == "/inbound"
    r = get(env.proxy.inbound_port, "/inbound2", host="anything")
    assert who(r) == "app"
