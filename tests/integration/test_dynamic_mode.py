"""Dynamic mode: weft-proxy with `control_plane` in its bootstrap, against a stub control plane
(http.server in a thread) that implements the sidecar's side of the protocol and records every
call: registration, long-poll config pushes, ack/nack, 404 -> re-registration, an unreachable
control plane, and deregistration on SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from weftlib import (SLOW, WEFT_PROXY, Proxy, free_port, join_docs, metric_sum,
                     request, service_entry, wait_for)

TOKEN = "t-sleep-0123456789"


# ---------------------------------------------------------------------------------------------
# Stub control plane


class StubControlPlane:
    """The endpoints of weft-control that a sidecar uses, in memory:
    POST /v1/nodes, GET /v1/nodes/{id}/config?version=V&wait=..., POST /v1/nodes/{id}/ack,
    DELETE /v1/nodes/{id}. A poll is held until the config version differs from V, or for
    `hold_s` (then 304). push() publishes a new version to every node."""

    def __init__(self, token: str = TOKEN, port: int | None = None, hold_s: float = 1.0,
                 first_version: int = 1):
        self.token = token
        self.port = port or free_port()
        self.hold_s = hold_s
        self.cond = threading.Condition()
        self.calls: list[dict] = []
        self.nodes: dict[str, dict] = {}
        self.version = 0
        self.next_version = first_version
        self.resources = ""
        self.built_from: list[str] = []
        self.closed = False
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: stop() drops them all

            def log_message(self, *a):  # quiet
                pass

            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                stub._serve(self, body)

            do_GET = do_POST = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                       name=f"stub-cp-{self.port}")
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- control
    def push(self, resources: str, built_from: list[str] | None = None) -> int:
        with self.cond:
            self.version = self.next_version
            self.next_version += 1
            self.resources = resources
            self.built_from = built_from or [f"test push {self.version}"]
            self.cond.notify_all()
            return self.version

    def forget_nodes(self) -> None:
        """What a restarted control plane does: it no longer knows any node."""
        with self.cond:
            self.nodes.clear()
            self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # -- what was seen
    def calls_of(self, method: str, pattern: str) -> list[dict]:
        with self.cond:
            return [c for c in self.calls if c["method"] == method and
                    re.fullmatch(pattern, c["path"].split("?")[0])]

    def registrations(self) -> list[dict]:
        return self.calls_of("POST", r"/v1/nodes")

    def acks(self) -> list[dict]:
        return [json.loads(c["body"]) for c in self.calls_of("POST", r"/v1/nodes/[^/]+/ack")]

    def ack_for(self, version: int) -> dict | None:
        for a in self.acks():
            if a.get("version") == version:
                return a
        return None

    # -- server side
    def _reply(self, h: BaseHTTPRequestHandler, status: int, obj=None) -> None:
        data = b"" if obj is None else json.dumps(obj).encode()
        h.send_response(status)
        if data:
            h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if data:
            h.wfile.write(data)

    def _serve(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        parsed = urllib.parse.urlsplit(h.path)
        call = {"method": h.command, "path": h.path, "body": body.decode(errors="replace"),
                "authorization": h.headers.get("Authorization"), "time": time.monotonic()}
        with self.cond:
            self.calls.append(call)
        if self.closed:
            h.close_connection = True
            return
        if h.headers.get("Authorization") != f"Bearer {self.token}":
            return self._reply(h, 401, {"error": "unknown token"})
        parts = parsed.path.strip("/").split("/")
        if h.command == "POST" and parsed.path == "/v1/nodes":
            node = json.loads(body)
            with self.cond:
                self.nodes[node["id"]] = node
                return self._reply(h, 200, {"id": node["id"], "version": self.version})
        if len(parts) < 3 or parts[:2] != ["v1", "nodes"]:
            return self._reply(h, 404, {"error": "no such endpoint"})
        node_id = urllib.parse.unquote(parts[2])
        if h.command == "GET" and parts[3:] == ["config"]:
            q = urllib.parse.parse_qs(parsed.query)
            have = int(q.get("version", ["0"])[0])
            deadline = time.monotonic() + self.hold_s
            with self.cond:
                while True:
                    if self.closed:
                        h.close_connection = True
                        return  # dropped without an answer, as a crash would
                    if node_id not in self.nodes:
                        return self._reply(h, 404, {"error": "unknown node"})
                    if self.version != 0 and self.version != have:
                        return self._reply(h, 200, {"version": self.version,
                                                    "built_from": self.built_from,
                                                    "resources": self.resources})
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return self._reply(h, 304)
                    self.cond.wait(left)
        if h.command == "POST" and parts[3:] == ["ack"]:
            with self.cond:
                known = node_id in self.nodes
            return self._reply(h, 204 if known else 404)
        if h.command == "DELETE" and len(parts) == 3:
            with self.cond:
                self.nodes.pop(node_id, None)
            return self._reply(h, 204)
        return self._reply(h, 404, {"error": "no such endpoint"})


# ---------------------------------------------------------------------------------------------
# A sidecar in dynamic mode


class DynamicProxy(Proxy):
    """weft-proxy whose bootstrap has `control_plane` (and static resources only when given)."""

    def __init__(self, workdir, cp_url: str, token: str = TOKEN, static_mesh: str | None = None,
                 cache_file: str | None = None, **kw):
        self.cp_url = cp_url
        self.cache_file = cache_file
        self.static = static_mesh is not None
        super().__init__(workdir, static_mesh or "", **kw)
        (self.dir / "token").write_text(token + "\n")

    def bootstrap_text(self) -> str:
        lines = [ln for ln in super().bootstrap_text().splitlines()
                 if self.static or not ln.startswith("resources:")]
        # token_file relative: resolved like resource paths (against the bootstrap's directory)
        cache = f", cache_file: {self.cache_file}" if self.cache_file else ""
        lines.append(f"control_plane: {{url: \"{self.cp_url}\", token_file: token{cache}}}")
        return "\n".join(lines) + "\n"

    def spawn(self) -> "DynamicProxy":
        """Starts the process without waiting for /ready."""
        cmd = [str(WEFT_PROXY), "--config", str(self.bootstrap_path), "--concurrency",
               str(self.concurrency), "--log-level", self.log_level]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=open(self.stdout_path, "wb"),
                                     stderr=open(self.stderr_path, "wb"), cwd=self.dir)
        return self

    def ready_status(self) -> int | None:
        try:
            return self.admin("/ready", timeout=1).status
        except OSError:
            return None

    def config_dump(self) -> dict:
        r = self.admin("/config_dump")
        assert r.status == 200, r.describe()
        return json.loads(r.body)


@pytest.fixture
def stubs():
    made: list[StubControlPlane] = []

    def make(**kw) -> StubControlPlane:
        s = StubControlPlane(**kw)
        made.append(s)
        return s
    yield make
    for s in made:
        if not s.closed:
            s.stop()


def dynamic_proxy(mesh, cp: StubControlPlane, start: bool = True, **kw) -> DynamicProxy:
    p = DynamicProxy(mesh.base / f"dyn{len(mesh.proxies)}", cp.url, **kw)
    mesh.proxies.append(p)  # stopped (SIGTERM, exit code checked) at teardown
    if start:
        p.start()
    return p


def routes_to(p: Proxy, host: str, upstream_name: str) -> bool:
    try:
        r = p.get_out(host, "/probe", timeout=3)
    except OSError:
        return False
    return r.status == 200 and r.header("x-upstream") == upstream_name


def reviews_to(upstream) -> str:
    return join_docs(service_entry("reviews", [{"port": upstream.port}]))


def describe(cp: StubControlPlane, p: Proxy) -> str:
    calls = "\n".join(f"  {c['method']} {c['path']} {c['body'][:200]}" for c in cp.calls[-30:])
    return f"stub calls (last 30):\n{calls}\n{p.describe()}"


# ---------------------------------------------------------------------------------------------
# Tests


def test_registers_then_applies_first_push_and_becomes_ready(mesh, stubs):
    a = mesh.upstream("reviews-a")
    cp = stubs()
    p = dynamic_proxy(mesh, cp, start=False).spawn()

    reg = wait_for(lambda: cp.registrations(), timeout=10, what="registration")[0]
    assert reg["authorization"] == f"Bearer {TOKEN}"
    node = json.loads(reg["body"])
    assert node == {
        "id": "sleep-v1-0", "workload": "sleep-v1", "namespace": "default",
        "service_account": "sleep", "service": "sleep",
        "labels": {"app": "sleep", "version": "v1"}, "address": "127.0.0.1",
        "ports": [{"name": "http", "port": p.inbound_port, "app_port": p.app_port}],
        "admin": f"127.0.0.1:{p.admin_port}", "scope": "full",
    }, f"registration body: {node}"

    # No static resources: not ready before the first configuration.
    poll = wait_for(lambda: cp.calls_of("GET", r"/v1/nodes/sleep-v1-0/config"), timeout=5,
                    what="a config poll")[0]
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(poll["path"]).query)
    assert q == {"version": ["0"], "wait": ["30s"]}, poll["path"]
    wait_for(lambda: p.ready_status() == 503, timeout=5, what="/ready 503 before the first push")
    time.sleep(0.3)
    assert p.ready_status() == 503, "ready before any configuration was pushed"
    assert p.config_dump()["control_plane"]["version"] is None

    v = cp.push(reviews_to(a), built_from=["ServiceEntry default/reviews@1"])
    wait_for(lambda: p.ready_status() == 200, timeout=10, what="/ready 200 after the first push")
    assert routes_to(p, "reviews", "reviews-a"), describe(cp, p)
    ack = wait_for(lambda: cp.ack_for(v), timeout=5, what=f"ack of version {v}")
    assert ack == {"version": v}, f"ack body {ack}"

    dump = p.config_dump()
    assert dump["control_plane"]["version"] == v
    assert dump["control_plane"]["built_from"] == ["ServiceEntry default/reviews@1"]
    assert dump["control_plane"]["url"] == cp.url
    assert dump["version_info"] == f"control-plane@v{v}"
    assert TOKEN not in json.dumps(dump), "the token must not be in /config_dump"

    m = p.metrics()
    assert metric_sum(m, "weft_control_plane_connected") == 1, m
    assert metric_sum(m, "weft_control_plane_updates_total", result="ack") == 1
    assert metric_sum(m, "weft_control_plane_updates_total", result="nack") == 0

    # Every call carried the bearer token.
    assert cp.calls and all(c["authorization"] == f"Bearer {TOKEN}" for c in cp.calls), \
        [(c["method"], c["path"], c["authorization"]) for c in cp.calls]


@pytest.mark.parametrize("workers", [1, 2])
def test_pushes_change_routing_and_a_bad_push_is_nacked(mesh, stubs, workers):
    a = mesh.upstream("reviews-a")
    b = mesh.upstream("reviews-b")
    cp = stubs()
    v1 = cp.push(reviews_to(a))
    p = dynamic_proxy(mesh, cp, concurrency=workers)
    assert routes_to(p, "reviews", "reviews-a"), describe(cp, p)
    wait_for(lambda: cp.ack_for(v1), timeout=5, what="ack of v1")

    v2 = cp.push(reviews_to(b))
    wait_for(lambda: routes_to(p, "reviews", "reviews-b"), timeout=10,
             what="the second push to move reviews to upstream b")
    assert wait_for(lambda: cp.ack_for(v2), timeout=5, what="ack of v2") == {"version": v2}

    # Line 6 of the pushed text has an unknown field.
    bad = ("apiVersion: networking.istio.io/v1\n"
           "kind: VirtualService\n"
           "metadata: {name: broken}\n"
           "spec:\n"
           "  hosts: [reviews]\n"
           "  htp: []\n"
           "---\n" + reviews_to(a))
    v3 = cp.push(bad)
    nack = wait_for(lambda: cp.ack_for(v3), timeout=10, what="nack of the bad push")
    assert set(nack) == {"version", "error"}, nack
    assert re.search(rf"control-plane@v{v3}:6:3: .*'htp'", nack["error"]), nack["error"]
    # The old configuration keeps serving (several connections: with 2 workers, both of them).
    for _ in range(6):
        assert routes_to(p, "reviews", "reviews-b"), describe(cp, p)
    assert p.config_dump()["control_plane"]["version"] == v2
    m = p.metrics()
    assert metric_sum(m, "weft_control_plane_updates_total", result="nack") == 1, m
    assert metric_sum(m, "weft_control_plane_updates_total", result="ack") == 2, m
    assert metric_sum(m, "weft_config_last_reload_success") == 0, m
    assert f"control-plane@v{v3}:6:3:" in p.stderr()

    # The NACKed version is not asked for again: the next poll says version=v3.
    wait_for(lambda: any(f"version={v3}&" in c["path"]
                         for c in cp.calls_of("GET", r"/v1/nodes/[^/]+/config")),
             timeout=5, what="a poll with the rejected version")

    # A good push after the bad one is applied.
    v4 = cp.push(reviews_to(a))
    wait_for(lambda: routes_to(p, "reviews", "reviews-a"), timeout=10, what="push v4 applied")
    assert wait_for(lambda: cp.ack_for(v4), timeout=5, what="ack of v4") == {"version": v4}
    assert metric_sum(p.metrics(), "weft_config_last_reload_success") == 1


def test_static_resources_are_kept_beside_the_push(mesh, stubs):
    local = mesh.upstream("local")
    a = mesh.upstream("reviews-a")
    cp = stubs()
    static = join_docs(service_entry("local", [{"port": local.port}]))
    # Ready at once: the static resources are a configuration.
    p = dynamic_proxy(mesh, cp, static_mesh=static)
    assert routes_to(p, "local", "local")
    assert p.get_out("reviews", "/x").status == 404
    v = cp.push(reviews_to(a))
    wait_for(lambda: routes_to(p, "reviews", "reviews-a"), timeout=10, what="push applied")
    assert routes_to(p, "local", "local"), "the static resources must stay"
    wait_for(lambda: cp.ack_for(v), timeout=5, what="ack")

    # A push that clashes with a local resource is rejected, naming both sources.
    v2 = cp.push(join_docs(service_entry("local", [{"port": a.port}])))
    nack = wait_for(lambda: cp.ack_for(v2), timeout=10, what="nack of the clashing push")
    assert f"control-plane@v{v2}:" in nack.get("error", ""), nack
    assert routes_to(p, "local", "local") and routes_to(p, "reviews", "reviews-a")


def test_404_on_poll_registers_again(mesh, stubs):
    a = mesh.upstream("reviews-a")
    cp = stubs()
    v = cp.push(reviews_to(a))
    p = dynamic_proxy(mesh, cp)
    wait_for(lambda: cp.ack_for(v), timeout=5, what="ack")
    assert len(cp.registrations()) == 1

    cp.forget_nodes()
    wait_for(lambda: len(cp.registrations()) == 2, timeout=10,
             what="a second registration after 404")
    assert "sleep-v1-0" in cp.nodes
    assert routes_to(p, "reviews", "reviews-a")
    assert metric_sum(p.metrics(), "weft_control_plane_connected") == 1


def test_control_plane_down_traffic_flows_then_reconnects(mesh, stubs):
    a = mesh.upstream("reviews-a")
    b = mesh.upstream("reviews-b")
    cp = stubs()
    v = cp.push(reviews_to(a))
    p = dynamic_proxy(mesh, cp)
    wait_for(lambda: cp.ack_for(v), timeout=5, what="ack")

    cp.stop()
    wait_for(lambda: metric_sum(p.metrics(), "weft_control_plane_connected") == 0, timeout=10,
             what="weft_control_plane_connected 0 with the control plane down")
    t_end = time.monotonic() + 2.5
    while time.monotonic() < t_end:
        assert routes_to(p, "reviews", "reviews-a"), "traffic must flow without the control plane"
        time.sleep(0.1)
    assert "retrying in" in p.stderr(), p.describe()

    # It comes back on the same port, without its registry and with a new configuration.
    cp2 = stubs(port=cp.port, first_version=50)
    v2 = cp2.push(reviews_to(b))
    wait_for(lambda: cp2.registrations(), timeout=25 * SLOW, what="registration with the new stub")
    wait_for(lambda: routes_to(p, "reviews", "reviews-b"), timeout=10,
             what="the new control plane's configuration")
    assert wait_for(lambda: cp2.ack_for(v2), timeout=5, what="ack to the new stub") == \
        {"version": v2}
    assert metric_sum(p.metrics(), "weft_control_plane_connected") == 1


def test_server_errors_back_off_without_touching_traffic(mesh, stubs):
    a = mesh.upstream("reviews-a")
    cp = stubs()
    v = cp.push(reviews_to(a))
    p = dynamic_proxy(mesh, cp)
    wait_for(lambda: cp.ack_for(v), timeout=5, what="ack")
    t0 = time.monotonic()
    cp.token = "rotated"  # every call is now refused (401)
    time.sleep(4 * SLOW)
    since = [c for c in cp.calls if c["time"] > t0]
    # The certificate requests back off on their own schedule: counted apart.
    refused = [c for c in since if not c["path"].startswith("/v1/certificates")]
    certs = [c for c in since if c["path"].startswith("/v1/certificates")]
    # Back-off 0.5 s, 1 s, 2 s, 4 s ...: a handful of calls (at least one retry), not a loop.
    assert 2 <= len(refused) <= 8, f"{len(refused)} calls in {4 * SLOW:.0f} s while refused"
    assert len(certs) <= 8, f"{len(certs)} certificate requests in {4 * SLOW:.0f} s"
    assert routes_to(p, "reviews", "reviews-a")
    assert metric_sum(p.metrics(), "weft_control_plane_connected") == 0
    cp.token = TOKEN
    wait_for(lambda: metric_sum(p.metrics(), "weft_control_plane_connected") == 1, timeout=20,
             what="reconnected once the token is accepted again")


def test_sigterm_deregisters_and_exits_promptly(mesh, stubs):
    a = mesh.upstream("reviews-a")
    cp = stubs(hold_s=60)  # polls are held far longer than the drain
    v = cp.push(reviews_to(a))
    p = dynamic_proxy(mesh, cp)
    wait_for(lambda: cp.ack_for(v), timeout=5, what="ack")
    wait_for(lambda: any(f"version={v}&" in c["path"]
                         for c in cp.calls_of("GET", r"/v1/nodes/[^/]+/config")),
             timeout=5, what="a held poll")
    t0 = time.monotonic()
    p.signal(signal.SIGTERM)
    dele = wait_for(lambda: cp.calls_of("DELETE", r"/v1/nodes/sleep-v1-0"), timeout=3,
                    what="DELETE of the node after SIGTERM")[0]
    assert dele["authorization"] == f"Bearer {TOKEN}"
    assert dele["time"] - t0 < 1.5 * SLOW, "deregistration must not wait for the held poll"
    rc = p.wait(10)
    elapsed = time.monotonic() - t0
    assert rc == 0, f"exit code {rc}\n{p.describe()}"
    # drain is 1 s in the harness; the held 60 s poll must not delay the exit.
    assert elapsed < 3.5 * SLOW, f"exit took {elapsed:.1f}s"
    assert "sleep-v1-0" not in cp.nodes


def test_bootstrap_errors_are_positioned(tmp_path):
    boot = tmp_path / "bootstrap.yaml"
    boot.write_text("node: {id: a, service: s}\n"
                    "control_plane: {url: \"ftps://127.0.0.1:1\", token_file: missing}\n")
    r = subprocess.run([str(WEFT_PROXY), "--config", str(boot), "--validate"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    assert (f"{boot}:2:22: 'url' 'ftps://127.0.0.1:1': only http:// and https:// are supported"
            in r.stderr), r.stderr
    assert f"{boot}:2:56: token file 'missing' cannot be read" in r.stderr, r.stderr
    # https needs the roots that verify the control plane, in a readable PEM file.
    (tmp_path / "token").write_text("t\n")
    boot.write_text("node: {id: a, service: s}\n"
                    "control_plane: {url: \"https://127.0.0.1:1\", token_file: token}\n")
    r = subprocess.run([str(WEFT_PROXY), "--config", str(boot), "--validate"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    assert f"{boot}:2:16: 'control_plane' with an https:// url needs 'ca_certificate'" in \
        r.stderr, r.stderr
    (tmp_path / "notpem").write_text("hello\n")
    boot.write_text("node: {id: a, service: s}\n"
                    "control_plane: {url: \"https://127.0.0.1:1\", token_file: token,\n"
                    "  ca_certificate: nope.pem}\n")
    r = subprocess.run([str(WEFT_PROXY), "--config", str(boot), "--validate"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    assert f"{boot}:3:19: 'ca_certificate' file 'nope.pem' cannot be read" in r.stderr, r.stderr
    boot.write_text(boot.read_text().replace("nope.pem", "notpem"))
    r = subprocess.run([str(WEFT_PROXY), "--config", str(boot), "--validate"],
                       capture_output=True, text=True, timeout=20)
    assert f"{boot}:3:19: 'ca_certificate' file 'notpem' holds no PEM certificate" in r.stderr, \
        r.stderr


def test_unreachable_control_plane_does_not_block_start(mesh):
    """Dynamic mode with static resources starts and serves with no control plane at all."""
    local = mesh.upstream("local")
    port = free_port()  # nothing listens there
    p = DynamicProxy(mesh.base / "nocp", f"http://127.0.0.1:{port}",
                     static_mesh=join_docs(service_entry("local", [{"port": local.port}])))
    mesh.proxies.append(p)
    p.start()
    assert routes_to(p, "local", "local")
    assert metric_sum(p.metrics(), "weft_control_plane_connected") == 0
    assert request(p.admin_port, "GET", "/ready").status == 200


# ---------------------------------------------------------------------------------------------
# weft-proxy wait-ready


def wait_ready_cmd(*args: str) -> list[str]:
    return [str(WEFT_PROXY), "wait-ready", *args]


@pytest.mark.parametrize("via", ["config", "admin"])
def test_wait_ready_returns_once_the_first_push_is_applied(mesh, stubs, via):
    a = mesh.upstream("reviews-a")
    cp = stubs()
    p = dynamic_proxy(mesh, cp, start=False).spawn()
    wait_for(lambda: p.ready_status() == 503, timeout=10, what="/ready 503 before the push")
    target = (["--config", str(p.bootstrap_path)] if via == "config"
              else ["--admin", f"127.0.0.1:{p.admin_port}"])
    w = subprocess.Popen(wait_ready_cmd(*target, "--timeout", "30s"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        assert w.poll() is None, f"wait-ready returned {w.returncode} before the sidecar was " \
            f"ready: {w.stderr.read() if w.stderr else ''}"
        t0 = time.monotonic()
        cp.push(reviews_to(a))
        rc = w.wait(20 * SLOW)
        elapsed = time.monotonic() - t0
    finally:
        if w.poll() is None:
            w.kill()
            w.wait()
    assert rc == 0, w.stderr.read() if w.stderr else ""
    assert elapsed < 3 * SLOW, f"wait-ready took {elapsed:.1f}s after the push"
    # When it returns, the application can use its sidecar.
    assert p.ready_status() == 200
    assert routes_to(p, "reviews", "reviews-a"), describe(cp, p)


def test_wait_ready_times_out_without_a_control_plane(mesh):
    p = DynamicProxy(mesh.base / "nocp-wait", f"http://127.0.0.1:{free_port()}")
    mesh.proxies.append(p)
    p.spawn()
    wait_for(lambda: p.ready_status() == 503, timeout=10, what="/ready 503")
    t0 = time.monotonic()
    r = subprocess.run(wait_ready_cmd("--config", str(p.bootstrap_path), "--timeout", "1500ms"),
                       capture_output=True, text=True, timeout=30)
    elapsed = time.monotonic() - t0
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert 1.4 <= elapsed < 4 * SLOW, f"timeout 1500ms took {elapsed:.1f}s"
    assert f"127.0.0.1:{p.admin_port} not ready after" in r.stderr, r.stderr
    assert "503 PRE_INITIALIZING" in r.stderr, r.stderr


def test_wait_ready_with_nothing_listening_and_bad_arguments():
    port = free_port()
    r = subprocess.run(wait_ready_cmd("--admin", f"127.0.0.1:{port}", "--timeout", "300ms"),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r.stderr
    assert "not ready after" in r.stderr, r.stderr
    r = subprocess.run(wait_ready_cmd("--admin", f"127.0.0.1:{port}", "--timeout", "soon"),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--timeout" in r.stderr, r.stderr
    r = subprocess.run(wait_ready_cmd("--admin", "nowhere"), capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2 and "--admin" in r.stderr, r.stderr


# ---------------------------------------------------------------------------------------------
# The configuration cache (control_plane.cache_file)


def read_cache(p: DynamicProxy) -> dict:
    return json.loads((p.dir / "config-cache.json").read_text())


def test_restart_with_the_control_plane_down_serves_the_cached_config(mesh, stubs):
    a = mesh.upstream("reviews-a")
    b = mesh.upstream("reviews-b")
    cp = stubs()
    v = cp.push(reviews_to(a), built_from=["ServiceEntry default/reviews@1"])
    # Relative: resolved against the bootstrap's directory.
    p = dynamic_proxy(mesh, cp, cache_file="config-cache.json")
    wait_for(lambda: cp.ack_for(v), timeout=5, what="ack")
    cache_path = p.dir / "config-cache.json"
    wait_for(lambda: cache_path.exists(), timeout=5, what="the cache file")
    assert cache_path.stat().st_mode & 0o777 == 0o600, oct(cache_path.stat().st_mode)
    cached = read_cache(p)
    assert cached["version"] == v and cached["resources"] == reviews_to(a), cached
    assert cached["built_from"] == ["ServiceEntry default/reviews@1"]
    assert p.config_dump()["control_plane"]["origin"] == "control_plane"
    assert not list(p.dir.glob("config-cache.json.tmp*")), "a temporary file was left"

    # Restart while the control plane is down: ready at once from the cache, and routing.
    p.stop()
    cp.stop()
    p.start()  # waits for /ready 200
    assert routes_to(p, "reviews", "reviews-a"), p.describe()
    dump = p.config_dump()
    assert dump["control_plane"]["origin"] == "cache", dump["control_plane"]
    assert dump["control_plane"]["version"] == v
    assert dump["control_plane"]["built_from"] == ["ServiceEntry default/reviews@1"]
    assert f"serving the cached configuration of version {v}" in p.stderr(), p.stderr()
    assert metric_sum(p.metrics(), "weft_control_plane_connected") == 0

    # The control plane comes back, unchanged (same version): the sidecar polls with the
    # cached version, so nothing is pushed again.
    cp2 = stubs(port=cp.port, first_version=v)
    assert cp2.push(reviews_to(a), built_from=["ServiceEntry default/reviews@1"]) == v
    poll = wait_for(lambda: cp2.calls_of("GET", r"/v1/nodes/sleep-v1-0/config"),
                    timeout=25 * SLOW, what="a poll to the control plane once it is back")[0]
    assert f"version={v}&" in poll["path"], poll["path"]
    time.sleep(1.5)  # a held poll (hold_s 1) answered 304, polled again
    assert cp2.acks() == [], f"the cached version was pushed again: {cp2.acks()}"
    assert p.config_dump()["control_plane"]["origin"] == "cache"

    # A new version replaces the cached one and is cached in turn.
    v2 = cp2.push(reviews_to(b))
    wait_for(lambda: routes_to(p, "reviews", "reviews-b"), timeout=10, what="push v2 applied")
    assert wait_for(lambda: cp2.ack_for(v2), timeout=5, what="ack of v2") == {"version": v2}
    assert p.config_dump()["control_plane"]["origin"] == "control_plane"
    wait_for(lambda: read_cache(p)["version"] == v2, timeout=5, what="v2 in the cache")


@pytest.mark.parametrize("content", ["torn", "uncompilable"])
def test_a_corrupt_cache_is_ignored(mesh, stubs, content):
    a = mesh.upstream("reviews-a")
    cp = stubs()
    p = dynamic_proxy(mesh, cp, start=False, cache_file="config-cache.json")
    cache_path = p.dir / "config-cache.json"
    if content == "torn":
        cache_path.write_text('{"weft_config_cache": 1, "version": 7, "resources": "apiVers')
        reason = "not JSON"
    else:
        bad = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\n" \
              "spec: {hosts: [reviews], htp: []}\n"
        cache_path.write_text(json.dumps({"weft_config_cache": 1, "version": 7,
                                          "resources": bad}))
        reason = "does not compile"
    p.spawn()
    # Not fatal, not served: the sidecar waits for the control plane as without a cache.
    wait_for(lambda: p.ready_status() == 503, timeout=10, what="/ready 503")
    wait_for(lambda: "cached configuration" in p.stderr(), timeout=5, what="the log line")
    assert reason in p.stderr() and str(cache_path) in p.stderr(), p.stderr()
    assert "serving the cached configuration" not in p.stderr()
    poll = wait_for(lambda: cp.calls_of("GET", r"/v1/nodes/sleep-v1-0/config"), timeout=10,
                    what="a config poll")[0]
    assert "version=0&" in poll["path"], poll["path"]

    v = cp.push(reviews_to(a))
    wait_for(lambda: p.ready_status() == 200, timeout=10, what="/ready 200 after the push")
    assert routes_to(p, "reviews", "reviews-a"), describe(cp, p)
    # The corrupt file is replaced by the applied configuration.
    wait_for(lambda: read_cache(p)["version"] == v, timeout=5, what="the cache rewritten")
