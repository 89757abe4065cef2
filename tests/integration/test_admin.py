"""Admin listener: /ready, /healthz, /config_dump, /clusters, /drain, /logging, /quitquitquit."""

import json
import time

import pytest

from weftlib import join_docs, service_entry, wait_for

REVIEWS_CLUSTER = "outbound|9080||reviews.default.svc.cluster.local"


@pytest.fixture
def env(mesh):
    class E:
        pass
    e = E()
    e.reviews = mesh.upstream("reviews")
    e.proxy = mesh.proxy(join_docs(service_entry("reviews", [{"port": e.reviews.port}])),
                         workload="admin-test-v1", service="admintest",
                         timeouts={"drain": "2s"})
    return e


def test_ready_and_healthz(env):
    assert env.proxy.admin("/ready").status == 200
    assert env.proxy.admin("/healthz").status == 200


def test_config_dump_is_json_with_node_and_clusters(env):
    r = env.proxy.admin("/config_dump")
    assert r.status == 200, r.describe()
    assert "json" in (r.header("content-type") or ""), r.headers
    dump = json.loads(r.body)
    text = json.dumps(dump)
    assert "admin-test-v1" in text, "config_dump should show the node identity"
    assert REVIEWS_CLUSTER in text, f"config_dump should list cluster {REVIEWS_CLUSTER}"
    assert "127.0.0.1" in text and str(env.reviews.port) in text, "endpoints missing"


def test_clusters_lists_endpoints(env):
    env.proxy.get_out("reviews", "/warm")
    r = env.proxy.admin("/clusters")
    assert r.status == 200
    body = r.body.decode()
    assert REVIEWS_CLUSTER in body, body[:500]
    assert f"127.0.0.1:{env.reviews.port}" in body, f"endpoint missing from /clusters:\n{body}"


def test_unknown_admin_path_is_404(env):
    assert env.proxy.admin("/no-such-admin-page").status == 404


def test_logging_level_change(env):
    r = env.proxy.admin("/logging?level=debug", method="POST")
    assert r.status == 200, r.describe()
    r = env.proxy.admin("/logging?level=nonsense", method="POST")
    assert r.status == 400, f"an unknown level must be refused: {r.describe()}"
    r = env.proxy.admin("/logging?level=info", method="POST")
    assert r.status == 200


def test_drain_makes_ready_503_and_exit_clean(env):
    r = env.proxy.admin("/drain", method="POST")
    assert r.status == 200, r.describe()
    wait_for(lambda: env.proxy.admin("/ready").status == 503, timeout=2,
             what="/ready to answer 503 after POST /drain")
    # outbound keeps serving while draining
    assert env.proxy.get_out("reviews", "/during-drain").status == 200


def test_admin_actions_need_post(env):
    r = env.proxy.admin("/quitquitquit")  # GET
    assert r.status in (404, 405), f"GET must not trigger /quitquitquit: {r.status}"
    time.sleep(0.2)
    assert env.proxy.alive()
    r = env.proxy.admin("/drain")  # GET
    assert r.status in (404, 405)
    assert env.proxy.admin("/ready").status == 200


def test_quitquitquit_exits_zero(env):
    r = env.proxy.admin("/quitquitquit", method="POST")
    assert r.status == 200, r.describe()
    rc = env.proxy.wait(10)
    assert rc == 0, f"/quitquitquit should exit 0, got {rc}\n{env.proxy.describe()}"
    env.proxy.check_exit()
