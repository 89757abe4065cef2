"""AuthorizationPolicy on the inbound listener: ALLOW/DENY decisions, 403 `RBAC: access denied`,
policies selecting other workloads, ipBlocks, the weft_authz_* metrics and the RBAC flag in the
access log. The sidecar is workload sleep (namespace default, labels app=sleep, version=v1)."""

import json
import subprocess

import pytest

from weftlib import WEFT_PROXY, get, join_docs, metric_sum, request, wait_for

ALLOW_GET_API = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-get-api, namespace: default}
spec:
  selector: {matchLabels: {app: sleep}}
  action: ALLOW
  rules:
  - to:
    - operation: {methods: [GET], paths: [/api/*]}
"""

DENY_EVIL = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-evil, namespace: default}
spec:
  action: DENY
  rules:
  - when:
    - {key: "request.headers[x-evil]", values: ["*"]}
"""

# Selects another workload: no effect on this sidecar (it would deny everything here).
OTHER_WORKLOAD = """apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: httpbin-deny-all, namespace: default}
spec:
  selector: {matchLabels: {app: httpbin}}
"""

# Another namespace's policy: no effect either.
OTHER_NAMESPACE = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-all, namespace: foo}
spec: {}
"""

LOCALHOST_ONLY = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: from-localhost, namespace: istio-system}
spec:
  rules:
  - from:
    - source: {ipBlocks: [127.0.0.0/8]}
    to:
    - operation: {paths: [/local/*]}
"""

# The original client (leftmost X-Forwarded-For) from a documentation network is refused.
DENY_REMOTE = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-remote, namespace: default}
spec:
  action: DENY
  rules:
  - from:
    - source: {remoteIpBlocks: [203.0.113.0/24]}
"""


@pytest.fixture(scope="module")
def env(module_mesh):
    class E:
        pass
    e = E()
    m = module_mesh
    e.app = m.upstream("app")
    e.log_path = m.base / "access.log"
    e.proxy = m.proxy(join_docs(ALLOW_GET_API, DENY_EVIL, OTHER_WORKLOAD, OTHER_NAMESPACE,
                                LOCALHOST_ONLY, DENY_REMOTE),
                      app_port=e.app.port, access_log=str(e.log_path))
    return e


def inbound(env, method, path, headers=None):
    return request(env.proxy.inbound_port, method, path,
                   headers={"Host": "sleep.default.svc.cluster.local:9080", **(headers or {})})


def assert_denied(r):
    assert r.status == 403, r.describe()
    assert r.body == b"RBAC: access denied", r.describe()
    assert (r.header("content-type") or "").startswith("text/plain"), r.describe()


def log_entry(env, request_id):
    def find():
        try:
            lines = env.log_path.read_text().splitlines()
        except FileNotFoundError:
            return None
        for ln in lines:
            try:
                e = json.loads(ln)
            except ValueError:
                continue
            if e.get("x_request_id") == request_id:
                return e
        return None
    return wait_for(find, timeout=3, what=f"an access log line with x_request_id {request_id}")


def test_allow_get_api(env):
    env.app.reset_log()
    r = inbound(env, "GET", "/api/x?debug=1")
    assert r.status == 200, r.describe()
    assert env.app.paths() == ["/api/x?debug=1"]


def test_post_denied_and_not_forwarded(env):
    env.app.reset_log()
    assert_denied(inbound(env, "POST", "/api/x"))
    assert_denied(inbound(env, "GET", "/admin"))
    assert env.app.paths() == [], "a denied request must not reach the app"


def test_deny_wins_over_allow(env):
    assert_denied(inbound(env, "GET", "/api/x", {"x-evil": "1"}))


def test_ip_blocks_allow(env):
    # The mesh-wide policy allows /local/* from 127.0.0.0/8 (the test client's address).
    r = inbound(env, "PUT", "/local/thing")
    assert r.status == 200, r.describe()


def test_remote_ip_blocks_deny(env):
    assert_denied(inbound(env, "GET", "/api/x", {"X-Forwarded-For": "203.0.113.7, 10.0.0.1"}))
    r = inbound(env, "GET", "/api/x", {"X-Forwarded-For": "198.51.100.7, 203.0.113.7"})
    assert r.status == 200, r.describe()


def test_outbound_not_authorized(env):
    # Authorization applies to inbound requests only: the outbound listener answers 404 NR
    # for an unknown host, not 403.
    r = get(env.proxy.outbound_port, "/admin", host="nowhere")
    assert r.status == 404, r.describe()


def test_metrics_count(env):
    before = env.proxy.metrics()
    denied0 = metric_sum(before, "weft_authz_denied_total")
    evil0 = metric_sum(before, "weft_authz_denied_total", policy="default/deny-evil")
    allowed0 = metric_sum(before, "weft_authz_allowed_total", policy="default/allow-get-api")
    assert_denied(inbound(env, "DELETE", "/api/x"))
    assert_denied(inbound(env, "GET", "/api/x", {"x-evil": "yes"}))
    assert inbound(env, "GET", "/api/ok").status == 200
    after = env.proxy.metrics()
    assert metric_sum(after, "weft_authz_denied_total") == denied0 + 2, after
    assert metric_sum(after, "weft_authz_denied_total", policy="default/deny-evil") == evil0 + 1
    assert metric_sum(after, "weft_authz_allowed_total",
                      policy="default/allow-get-api") == allowed0 + 1
    # Policies that do not apply to this workload have no series.
    assert "httpbin-deny-all" not in after and "foo/deny-all" not in after


def test_access_log_shows_rbac(env):
    assert_denied(inbound(env, "POST", "/api/x", {"x-request-id": "authz-denied-1"}))
    entry = log_entry(env, "authz-denied-1")
    assert entry.get("response_code") == 403, entry
    assert entry.get("response_flags") == "RBAC", entry
    assert entry.get("direction") == "inbound", entry
    assert inbound(env, "GET", "/api/y", {"x-request-id": "authz-ok-1"}).status == 200
    assert log_entry(env, "authz-ok-1").get("response_flags") == "-"


def test_no_policy_no_effect(mesh):
    app = mesh.upstream("app")
    p = mesh.proxy(join_docs(OTHER_WORKLOAD, OTHER_NAMESPACE), app_port=app.port)
    r = request(p.inbound_port, "POST", "/admin", headers={"Host": "sleep"})
    assert r.status == 200, r.describe()
    assert "weft_authz_" not in p.metrics()


def test_invalid_policy_rejected(mesh):
    bad = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: bad, namespace: default}
spec:
  rules:
  - from:
    - source: {ipBlocks: [10.0.0.0/40]}
"""
    p = mesh.proxy(bad, start=False)
    r = subprocess.run([str(WEFT_PROXY), "--validate", "--config", str(p.bootstrap_path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r
    assert "mesh.yaml:7:27: invalid IP address or CIDR '10.0.0.0/40' in 'ipBlocks'" in r.stderr + \
        r.stdout, r


def test_config_dump_lists_the_applying_policies(env):
    dump = env.proxy.admin("/config_dump").json()
    names = [(p["name"], p["action"]) for p in dump.get("authorization_policies", [])]
    assert names == [("default/allow-get-api", "ALLOW"), ("default/deny-evil", "DENY"),
                     ("istio-system/from-localhost", "ALLOW"), ("default/deny-remote", "DENY")], \
        names
