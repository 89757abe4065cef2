"""Lifecycle: SIGTERM drain (in-flight requests finish, /ready 503, inbound stops accepting,
outbound keeps serving, exit 0) and SIGHUP reload (good config applied, bad config rejected
while the old one keeps serving)."""

import http.client
import re
import signal
import threading
import time


from weftlib import SLOW, get, join_docs, service_entry, two_version_service, wait_for


def reviews_mesh(v1, v2, subset):
    return two_version_service("reviews", v1, v2, subset)


def in_thread(fn):
    result = {}

    def run():
        try:
            result["value"] = fn()
        except Exception as e:  # noqa: BLE001
            result["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result


def test_sigterm_drains_in_flight_and_exits_zero(mesh):
    app = mesh.upstream("app")
    other = mesh.upstream("other")
    p = mesh.proxy(join_docs(service_entry("other", [{"port": other.port}])),
                   app_port=app.port, timeouts={"drain": "3s"})
    t, res = in_thread(lambda: get(p.inbound_port, "/delay/1500/inflight", host="sleep",
                                   timeout=20))
    wait_for(lambda: any("inflight" in r for r in app.paths()), timeout=3,
             what="the in-flight request to reach the app")
    t0 = time.monotonic()
    p.signal(signal.SIGTERM)
    wait_for(lambda: p.admin("/ready").status == 503, timeout=1,
             what="/ready to answer 503 right after SIGTERM")

    # inbound stops accepting new requests
    try:
        r = get(p.inbound_port, "/new-inbound", host="sleep", timeout=2)
        assert r.status == 503, f"inbound accepted a new request while draining: {r.describe()}"
    except OSError:
        pass
    assert not any("new-inbound" in x for x in app.paths()), "a new inbound request reached the app"

    # outbound keeps serving while the drain lasts
    r = p.get_out("other", "/during-drain")
    assert r.status == 200, f"outbound must keep serving during the drain: {r.describe()}"

    t.join(10 * SLOW)
    assert "error" not in res, f"in-flight request failed during drain: {res.get('error')!r}"
    r = res["value"]
    assert r.status == 200 and r.json()["path"] == "/delay/1500/inflight", r.describe()

    rc = p.wait(3 + 5)
    elapsed = time.monotonic() - t0
    assert rc == 0, f"exit code after SIGTERM: {rc}\n{p.describe()}"
    assert elapsed < (3 + 3) * SLOW, f"exit took {elapsed:.1f}s with drain 3s"


def test_sigterm_with_request_longer_than_drain(mesh):
    app = mesh.upstream("app")
    p = mesh.proxy(join_docs(service_entry("x", [{"port": app.port}])), app_port=app.port,
                   timeouts={"drain": "1s"})
    t, res = in_thread(lambda: get(p.inbound_port, "/delay/8000/long", host="sleep",
                                   timeout=20))
    wait_for(lambda: app.paths(), timeout=3, what="the long request to reach the app")
    t0 = time.monotonic()
    p.signal(signal.SIGTERM)
    rc = p.wait(6)
    assert rc == 0, f"exit code {rc} after SIGTERM with a request outliving the drain\n" \
                    f"{p.describe()}"
    assert time.monotonic() - t0 < 4 * SLOW, "the drain timeout (1s) was not enforced"
    t.join(5)


def test_sighup_reload_applies_new_routes(mesh):
    v1, v2 = mesh.upstream("reviews-v1"), mesh.upstream("reviews-v2")
    p = mesh.proxy(reviews_mesh(v1, v2, "v1"))
    assert p.get_out("reviews", "/").json()["upstream"] == "reviews-v1"
    version0 = p.admin("/config_dump").body
    # a keep-alive client connection opened before the reload
    conn = http.client.HTTPConnection("127.0.0.1", p.outbound_port, timeout=10)
    conn.request("GET", "/before", headers={"Host": "reviews"})
    assert conn.getresponse().read()

    p.write_mesh(reviews_mesh(v1, v2, "v2"))
    p.signal(signal.SIGHUP)
    wait_for(lambda: p.get_out("reviews", "/").json()["upstream"] == "reviews-v2", timeout=5,
             what="routes to switch to reviews-v2 after SIGHUP")
    assert p.admin("/config_dump").body != version0, "config_dump unchanged after reload"

    conn.request("GET", "/after", headers={"Host": "reviews"})
    r = conn.getresponse()
    import json
    assert r.status == 200 and json.loads(r.read())["upstream"] == "reviews-v2", \
        "an existing client connection must use the new routes for new requests"
    conn.close()
    assert p.alive()


def test_sighup_bad_config_rejected_old_keeps_serving(mesh):
    v1, v2 = mesh.upstream("reviews-v1"), mesh.upstream("reviews-v2")
    p = mesh.proxy(reviews_mesh(v1, v2, "v1"))
    bad = reviews_mesh(v1, v2, "v2").replace("subset: v2}", "subset: v2, port: {number: nope}}")
    assert bad != reviews_mesh(v1, v2, "v2")
    p.write_mesh(bad)
    p.signal(signal.SIGHUP)
    time.sleep(1.0 * SLOW)
    assert p.alive(), f"a bad config on SIGHUP must not stop the proxy\n{p.describe()}"
    for _ in range(5):
        r = p.get_out("reviews", "/")
        assert r.status == 200 and r.json()["upstream"] == "reviews-v1", \
            f"the old config must keep serving after a rejected reload: {r.describe()}"
    assert re.search(r"mesh\.yaml:\d+:\d+: ", p.stderr() + p.stdout()), \
        f"the rejected reload should be logged with file:line:col\n{p.describe()}"
    assert p.admin("/ready").status == 200

    p.write_mesh(reviews_mesh(v1, v2, "v2"))
    p.signal(signal.SIGHUP)
    wait_for(lambda: p.get_out("reviews", "/").json()["upstream"] == "reviews-v2", timeout=5,
             what="a good config after a bad one to be applied")
