"""weft-control serve over 127.0.0.1: authentication, the resource API, the config directory,
persistence, registration, long-polls, acks, TTL expiry, Prometheus service discovery."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

import weftlib
from weftlib import SLOW, free_port

WEFT_CONTROL = weftlib.BIN_DIR / "weft-control"

OPS = "s3cr3t-ops"
REVIEWS = "t-reviews"
TOKENS = f"""- {{token: {OPS}}}
- {{token: {REVIEWS}, namespace: default, service_account: reviews}}
"""


def service_entry(name: str, host: str | None = None, port: int = 9080, ns: str = "default",
                  address: str = "127.0.0.1") -> str:
    host = host or f"{name}.{ns}.svc.cluster.local"
    return (f"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: {name}\n"
            f"  namespace: {ns}\nspec:\n  hosts: [{host}]\n  location: MESH_INTERNAL\n"
            f"  resolution: STATIC\n  ports:\n  - {{number: {port}, name: http, protocol: HTTP}}\n"
            f"  endpoints:\n  - address: {address}\n")


def node_json(node_id: str = "reviews-v1-1", sa: str = "reviews", ns: str = "default",
              admin: str = "127.0.0.1:15000", labels: dict | None = None) -> dict:
    return {"id": node_id, "workload": "reviews-v1", "namespace": ns, "service_account": sa,
            "service": "reviews", "labels": labels or {"app": "reviews", "version": "v1"},
            "address": "127.0.0.1", "ports": [{"name": "http", "port": 15006, "app_port": 9080}],
            "admin": admin, "scope": "full"}


class Control:
    """A running weft-control serve."""

    def __init__(self, workdir: Path, *, config_dir: bool = True, extra: list[str] | None = None,
                 plaintext: bool = False):
        self.dir = workdir
        self.plaintext = plaintext
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tokens = self.dir / "tokens.yaml"
        self.tokens.write_text(TOKENS)
        self.config_dir = self.dir / "conf"
        self.data_dir = self.dir / "data"
        if config_dir:
            self.config_dir.mkdir(exist_ok=True)
        self.use_config_dir = config_dir
        self.extra = extra or []
        self.proc: subprocess.Popen | None = None
        self.stderr_path = self.dir / "control.stderr"

    def start(self) -> "Control":
        assert WEFT_CONTROL.exists(), f"{WEFT_CONTROL} not found: build it or set WEFT_BIN_DIR"
        cmd = [str(WEFT_CONTROL), "serve", "--listen", f"127.0.0.1:{self.port}",
               "--data-dir", str(self.data_dir), "--tokens", str(self.tokens), *self.extra]
        if self.plaintext:
            cmd.append("--plaintext")
        if self.use_config_dir:
            cmd += ["--config-dir", str(self.config_dir)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.stderr_path, "ab"))
        deadline = time.monotonic() + 10 * SLOW
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"weft-control exited early\n{self.stderr()}"
            try:
                if self.call("GET", "/ready", timeout=1)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"weft-control not ready\n{self.stderr()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(10 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"weft-control ignored SIGTERM\n{self.stderr()}")
            assert rc == 0, f"exit code {rc}\n{self.stderr()}"
            assert not any(p in self.stderr() for p in weftlib.SANITIZER_PATTERNS), self.stderr()

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def url(self) -> str:
        return f"{'http' if self.plaintext else 'https'}://127.0.0.1:{self.port}"

    @property
    def bundle(self) -> Path:
        """The trust bundle the control plane keeps in its data dir (verifies its API)."""
        return self.data_dir / "trust-bundle.pem"

    def ssl_context(self, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
        """Verifies the API's certificate (127.0.0.1 is one of its names) against the bundle."""
        ctx = ssl.create_default_context(cafile=str(self.bundle))
        if cert:
            ctx.load_cert_chain(str(cert), str(key) if key else None)
        return ctx

    def connect(self, timeout: float = 5.0) -> socket.socket:
        """A socket to the API (wrapped in TLS unless plaintext)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        if self.plaintext:
            return s
        return self.ssl_context().wrap_socket(s, server_hostname="127.0.0.1")

    def call(self, method: str, path: str, body: bytes | str | dict | list | None = None,
             token: str | None = OPS, timeout: float = 10.0,
             headers: dict | None = None, cert: tuple[Path, Path] | None = None
             ) -> tuple[int, bytes, dict]:
        if self.plaintext:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout * SLOW)
        else:
            conn = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=timeout * SLOW,
                context=self.ssl_context(*(cert or (None, None))))
        try:
            hdrs = dict(headers or {})
            if token is not None:
                hdrs["Authorization"] = f"Bearer {token}"
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode()
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            return r.status, r.read(), {k.lower(): v for k, v in r.getheaders()}
        finally:
            conn.close()

    def json(self, method: str, path: str, body=None, token: str | None = OPS,
             expect: int = 200, **kw):
        status, data, _ = self.call(method, path, body, token, **kw)
        assert status == expect, f"{method} {path}: {status} {data[:500]!r}"
        return json.loads(data) if data else None


@pytest.fixture
def control(tmp_path):
    started: list[Control] = []

    def make(**kw) -> Control:
        c = Control(tmp_path / f"cp{len(started)}", **kw)
        started.append(c)
        return c.start()

    yield make
    for c in started:
        c.stop()


def test_authentication_and_authorization(control):
    cp = control()
    status, _, headers = cp.call("GET", "/v1/nodes", token=None)
    assert status == 401
    assert headers.get("www-authenticate") == "Bearer"
    assert cp.call("GET", "/v1/nodes", token="wrong")[0] == 401
    assert cp.call("GET", "/v1/nodes", token=REVIEWS)[0] == 403
    assert cp.call("POST", "/v1/resources", service_entry("a"), token=REVIEWS)[0] == 403
    assert cp.call("GET", "/metrics", token=REVIEWS)[0] == 403
    # A sidecar token registers only its own identity.
    assert cp.call("POST", "/v1/nodes", node_json(sa="ratings"), token=REVIEWS)[0] == 403
    assert cp.call("POST", "/v1/nodes", node_json(ns="other"), token=REVIEWS)[0] == 403
    out = cp.json("POST", "/v1/nodes", node_json(), token=REVIEWS)
    assert out["id"] == "reviews-v1-1"
    # ... and reads only its own node's config.
    cp.json("POST", "/v1/nodes", node_json("ratings-1", sa="ratings"))
    assert cp.call("GET", "/v1/nodes/ratings-1/config?wait=1s", token=REVIEWS)[0] == 403
    assert cp.call("GET", "/v1/nodes/reviews-v1-1/config", token=REVIEWS)[0] == 200


def test_apply_then_get(control):
    cp = control()
    out = cp.json("POST", "/v1/resources?source=reviews.yaml",
                  service_entry("reviews") + "---\n" + service_entry("ratings"))
    assert sorted(i["name"] for i in out["applied"]) == ["ratings", "reviews"]
    assert {i["action"] for i in out["applied"]} == {"created"}
    one = cp.json("GET", "/v1/resources/ServiceEntry/default/reviews")
    assert one["object"]["spec"]["hosts"] == ["reviews.default.svc.cluster.local"]
    assert one["object"]["spec"]["ports"][0]["number"] == 9080
    assert "kind: ServiceEntry" in one["yaml"]
    listed = cp.json("GET", "/v1/resources/serviceentries")
    assert sorted(d["name"] for d in listed) == ["ratings", "reviews"]
    assert cp.call("GET", "/v1/resources/ServiceEntry/default/nope")[0] == 404
    again = cp.json("POST", "/v1/resources", service_entry("reviews"))
    assert again["applied"][0]["action"] == "unchanged"
    changed = cp.json("POST", "/v1/resources", service_entry("reviews", port=9090))
    assert changed["applied"][0]["action"] == "updated"
    deleted = cp.json("DELETE", "/v1/resources",
                      "kind: ServiceEntry\nmetadata: {name: ratings}\n")
    assert deleted["deleted"][0]["name"] == "ratings"
    assert cp.call("DELETE", "/v1/resources", "kind: ServiceEntry\nmetadata: {name: ratings}\n"
                   )[0] == 404


def test_bad_apply_is_rejected_with_positions_and_changes_nothing(control):
    cp = control()
    cp.json("POST", "/v1/resources", service_entry("reviews"))
    before = cp.json("GET", "/v1/resources")
    bad = service_entry("good") + "---\n" + service_entry("broken").replace(
        "number: 9080", "number: 99999")
    status, data, _ = cp.call("POST", "/v1/resources?source=bad.yaml", bad)
    assert status == 400, data
    errors = json.loads(data)["errors"]
    assert any(e.startswith("bad.yaml:25:") for e in errors), errors
    assert cp.json("GET", "/v1/resources") == before
    assert cp.call("GET", "/v1/resources/ServiceEntry/default/good")[0] == 404
    v = cp.json("POST", "/v1/validate?source=bad.yaml", bad)
    assert any(e.startswith("bad.yaml:25:") for e in v["errors"]), v
    ok = cp.json("POST", "/v1/validate", service_entry("x"))
    assert ok["errors"] == []


def test_api_resources_survive_a_restart(control, tmp_path):
    cp = control()
    cp.json("POST", "/v1/resources", service_entry("reviews"))
    rev = cp.json("POST", "/v1/resources", service_entry("ratings"))["revision"]
    cp.stop()
    cp.start()
    assert cp.json("GET", "/v1/resources/ServiceEntry/default/reviews")["name"] == "reviews"
    # The revision keeps growing across restarts.
    out = cp.json("POST", "/v1/resources", service_entry("details"))
    assert out["revision"] > rev


def test_config_dir_file_is_applied_within_a_second(control):
    cp = control()
    (cp.config_dir / "mesh.yaml").write_text(service_entry("reviews"))
    deadline = time.monotonic() + 1.5 * SLOW
    found = False
    while time.monotonic() < deadline and not found:
        found = cp.call("GET", "/v1/resources/ServiceEntry/default/reviews")[0] == 200
        time.sleep(0.05)
    assert found, cp.stderr()
    # A broken save is rejected (logged with its position); the last good version keeps serving.
    (cp.config_dir / "mesh.yaml").write_text(service_entry("reviews").replace(
        "resolution: STATIC", "resolution: SOMETIMES"))
    time.sleep(1.0 * SLOW)
    assert "mesh.yaml:9:" in cp.stderr(), cp.stderr()
    one = cp.json("GET", "/v1/resources/ServiceEntry/default/reviews")
    assert one["object"]["spec"]["resolution"] == "STATIC"
    # The API may not change what a file defines.
    status, data, _ = cp.call("POST", "/v1/resources", service_entry("reviews", port=1234))
    assert status == 400 and b"mesh.yaml" in data
    # Removing the file removes its resources.
    (cp.config_dir / "mesh.yaml").unlink()
    deadline = time.monotonic() + 1.5 * SLOW
    while time.monotonic() < deadline:
        if cp.call("GET", "/v1/resources/ServiceEntry/default/reviews")[0] == 404:
            break
        time.sleep(0.05)
    assert cp.call("GET", "/v1/resources/ServiceEntry/default/reviews")[0] == 404


def test_register_and_long_poll(control):
    cp = control()
    cp.json("POST", "/v1/resources", service_entry("ratings"))
    reg = cp.json("POST", "/v1/nodes", node_json(), token=REVIEWS)
    assert reg["version"] > 0
    t0 = time.monotonic()
    cfg = cp.json("GET", "/v1/nodes/reviews-v1-1/config?version=0&wait=30s", token=REVIEWS)
    assert time.monotonic() - t0 < 1.0
    assert cfg["version"] == reg["version"]
    assert "ratings.default.svc.cluster.local" in cfg["resources"]
    # Its own service is synthesized from the registration.
    assert "reviews.default.svc.cluster.local" in cfg["resources"]
    assert any(b.startswith("ServiceEntry default/ratings@") for b in cfg["built_from"])
    # Same version: held until the wait passes, then 304.
    time.sleep(0.3)  # let the registration's own change settle
    cfg = cp.json("GET", "/v1/nodes/reviews-v1-1/config?version=0", token=REVIEWS)
    t0 = time.monotonic()
    status, _, _ = cp.call("GET", f"/v1/nodes/reviews-v1-1/config?version={cfg['version']}"
                           "&wait=1s", token=REVIEWS)
    elapsed = time.monotonic() - t0
    assert status == 304
    assert 0.9 <= elapsed < 3 * SLOW
    assert cp.call("GET", "/v1/nodes/nobody/config")[0] == 404
    assert cp.call("GET", "/v1/nodes/reviews-v1-1/config?wait=soon")[0] == 400


def test_held_poll_is_woken_by_an_apply(control):
    cp = control()
    cp.json("POST", "/v1/nodes", node_json(), token=REVIEWS)
    time.sleep(0.3)
    v = cp.json("GET", "/v1/nodes/reviews-v1-1/config?version=0", token=REVIEWS)["version"]
    result = {}

    def poll():
        t0 = time.monotonic()
        status, data, _ = cp.call("GET", f"/v1/nodes/reviews-v1-1/config?version={v}&wait=20s",
                                  token=REVIEWS, timeout=30)
        result.update(status=status, data=data, elapsed=time.monotonic() - t0)

    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.5)
    assert "status" not in result, "the poll must be held"
    t_apply = time.monotonic()
    cp.json("POST", "/v1/resources", service_entry("details"))
    th.join(10 * SLOW)
    assert result.get("status") == 200, result
    cfg = json.loads(result["data"])
    assert cfg["version"] > v
    assert "details.default.svc.cluster.local" in cfg["resources"]
    assert time.monotonic() - t_apply < 2.0 * SLOW


def test_ack_and_nack_are_visible_in_node_status(control):
    cp = control()
    cp.json("POST", "/v1/nodes", node_json(), token=REVIEWS)
    time.sleep(0.3)
    v = cp.json("GET", "/v1/nodes/reviews-v1-1/config?version=0", token=REVIEWS)["version"]
    status = cp.json("GET", "/v1/nodes")
    assert status[0]["status"] == "STALE"
    assert status[0]["version_sent"] == v
    assert cp.call("POST", "/v1/nodes/reviews-v1-1/ack", {"version": v}, token=REVIEWS)[0] == 204
    status = cp.json("GET", "/v1/nodes")[0]
    assert (status["status"], status["version_acked"]) == ("SYNCED", v)
    assert cp.call("POST", "/v1/nodes/reviews-v1-1/ack",
                   {"version": v, "error": "resources:3:5: bad"}, token=REVIEWS)[0] == 204
    status = cp.json("GET", "/v1/nodes")[0]
    assert status["status"] == "NACK"
    assert status["error"] == "resources:3:5: bad"
    assert cp.call("POST", "/v1/nodes/reviews-v1-1/ack", "{", token=REVIEWS)[0] == 400
    _, metrics, _ = cp.call("GET", "/metrics")
    text = metrics.decode()
    assert "weft_control_nacks_total 1" in text
    assert "weft_control_nodes 1" in text
    assert "weft_control_convergence_seconds_count 1" in text
    assert "weft_control_pushes_total" in text


def test_node_expires_after_the_ttl_and_deregisters(control):
    cp = control(extra=["--node-ttl", "1s"])
    cp.json("POST", "/v1/nodes", node_json())
    cp.json("POST", "/v1/nodes", node_json("reviews-v1-2"))
    assert len(cp.json("GET", "/v1/nodes")) == 2
    assert cp.call("DELETE", "/v1/nodes/reviews-v1-2")[0] == 204
    assert [n["id"] for n in cp.json("GET", "/v1/nodes")] == ["reviews-v1-1"]
    assert cp.call("GET", "/v1/resources/WorkloadEntry/default/reviews-v1-1")[0] == 200
    deadline = time.monotonic() + 4 * SLOW
    while time.monotonic() < deadline and cp.json("GET", "/v1/nodes"):
        time.sleep(0.1)
    assert cp.json("GET", "/v1/nodes") == []
    assert cp.call("GET", "/v1/nodes/reviews-v1-1/config")[0] == 404
    assert cp.call("GET", "/v1/resources/WorkloadEntry/default/reviews-v1-1")[0] == 404


def test_a_polling_node_stays_registered(control):
    cp = control(extra=["--node-ttl", "1s"])
    cp.json("POST", "/v1/nodes", node_json())
    v = cp.json("GET", "/v1/nodes/reviews-v1-1/config?version=0")["version"]
    status, _, _ = cp.call("GET", f"/v1/nodes/reviews-v1-1/config?version={v}&wait=2s")
    assert status in (200, 304)
    assert len(cp.json("GET", "/v1/nodes")) == 1


def test_prometheus_sd_targets(control):
    cp = control()
    cp.json("POST", "/v1/nodes", node_json(admin="127.0.0.1:15000"))
    cp.json("POST", "/v1/nodes", node_json("reviews-v2-1", admin="127.0.0.1:16000",
                                           labels={"app": "reviews", "version": "v2"}))
    groups = cp.json("GET", "/v1/prometheus/targets")
    by_node = {g["labels"]["__meta_weft_node"]: g for g in groups}
    assert by_node["reviews-v1-1"]["targets"] == ["127.0.0.1:15000"]
    labels = by_node["reviews-v2-1"]["labels"]
    assert labels["__meta_weft_workload"] == "reviews-v1"
    assert labels["__meta_weft_namespace"] == "default"
    assert labels["__meta_weft_label_version"] == "v2"
    assert labels["__meta_weft_label_app"] == "reviews"


def test_registered_service_is_synthesized(control):
    cp = control()
    cp.json("POST", "/v1/nodes", node_json())
    cp.json("POST", "/v1/nodes", node_json("ratings-1", sa="ratings") | {"service": "ratings",
                                                                         "labels": {"app": "r"}})
    time.sleep(0.3)
    cfg = cp.json("GET", "/v1/nodes/reviews-v1-1/config?version=0")
    assert "reviews.default.svc.cluster.local" in cfg["resources"]
    assert "ratings.default.svc.cluster.local" in cfg["resources"]
    assert "15006" in cfg["resources"]


def test_bad_http_never_crashes_the_server(control):
    cp = control()
    for raw in [b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nContent-Length: 1\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n", b"\x00\xff" * 100 + b"\r\n\r\n"]:
        with cp.connect() as s:
            s.sendall(raw)
            data = s.recv(4096)
            assert data.startswith(b"HTTP/1.1 4"), data
    big = b"x" * (5 * 1024 * 1024)
    with cp.connect() as s:
        s.sendall(b"POST /v1/resources HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                  OPS.encode() + b"\r\nContent-Length: " + str(len(big)).encode() + b"\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 413")
    status, data, _ = cp.call("POST", "/v1/nodes", "{not json")
    assert status == 400 and b"JSON" in data
    assert cp.call("GET", "/ready")[0] == 200


RATINGS_BY_SELECTOR = """apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings, namespace: default}
spec:
  hosts: [ratings.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  workloadSelector:
    labels: {app: ratings}
"""


def test_pushed_resources_drive_a_real_sidecar(control, mesh):
    """The set pushed to a node, compiled by the real weft-proxy: a service selected by
    workloadSelector and a service synthesized from a registration both route to the
    registered endpoints."""
    cp = control()
    ratings = mesh.upstream("ratings")
    details = mesh.upstream("details")
    cp.json("POST", "/v1/resources?source=ratings.yaml", RATINGS_BY_SELECTOR)
    # Nodes whose inbound port is the test upstream itself (no sidecar in front of it).
    for node_id, service, up in (("ratings-1", "ratings", ratings),
                                 ("details-1", "details", details)):
        cp.json("POST", "/v1/nodes", {
            "id": node_id, "namespace": "default", "service_account": service,
            "service": service, "labels": {"app": service}, "address": "127.0.0.1",
            "ports": [{"name": "http", "port": up.port, "app_port": 9080}]})
    cp.json("POST", "/v1/nodes", node_json())
    time.sleep(0.3)
    cfg = cp.json("GET", "/v1/nodes/reviews-v1-1/config?version=0")
    assert "workloadSelector" not in cfg["resources"]
    proxy = mesh.proxy(cfg["resources"])
    r = proxy.get_out("ratings:9080", "/stars")
    assert r.status == 200, r.describe()
    assert r.json()["path"] == "/stars"
    assert ratings.paths() == ["/stars"]
    r = proxy.get_out("details.default.svc.cluster.local:9080", "/book")
    assert r.status == 200, r.describe()
    assert details.paths() == ["/book"]


def test_random_input_never_crashes_the_server(control):
    """Random bytes on the socket, random YAML to the resource API, random JSON to the node
    API: every answer is an HTTP status, and the server keeps serving."""
    import random
    rng = random.Random(1234)
    cp = control()
    yaml_bits = ["kind: ServiceEntry", "metadata: {name: x}", "spec:", "  hosts: [a]", "---",
                 "  ports: [{number: 1}]", "- [", "{", "&a *a", "!!binary", "\t", "name: \"",
                 "  workloadSelector: {labels: {a: b}}", "kind: WorkloadEntry", "kind: Sidecar",
                 "spec: {address: 1.2.3.4}", "  egress: [{hosts: [\"*/*\"]}]", "...", "%YAML 1.2"]
    for _ in range(600):
        body = "\n".join(rng.choice(yaml_bits) for _ in range(rng.randint(1, 12)))
        method = rng.choice(["POST", "DELETE"])
        status, _, _ = cp.call(method, "/v1/resources", body)
        assert 200 <= status < 500, (method, body, status)
        status, _, _ = cp.call("POST", "/v1/validate", body)
        assert status == 200
    json_bits = ['{"id": "a"', '"address": "127.0.0.1"', '"ports": [{"name": "h", "port": 1}]',
                 '"labels": {"x": "y"}', '"namespace": "n"', '[', ']', '}', ',', 'null', '1e999',
                 '"id": "' + "a" * 300 + '"', '"admin": "1.2.3.4:5"', '"scope": "on_demand"']
    for _ in range(600):
        body = "".join(rng.choice(json_bits) for _ in range(rng.randint(1, 8)))
        status, _, _ = cp.call("POST", "/v1/nodes", body)
        assert status in (200, 400, 409), (body, status)
    for i in range(300):
        raw = bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))
        if rng.random() < 0.5:
            raw = b"POST /v1/nodes HTTP/1.1\r\n" + raw
        if i % 2 == 0:
            # Inside TLS: the HTTP parser gets the bytes.
            with cp.connect() as s:
                s.sendall(raw)
            continue
        # On the raw socket: the TLS layer gets them (a plaintext server: the parser).
        with socket.create_connection(("127.0.0.1", cp.port), timeout=5) as s:
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)
            try:
                s.recv(4096)
            except OSError:
                pass
    assert cp.call("GET", "/ready")[0] == 200
    assert cp.proc.poll() is None


def test_on_demand_node_gets_services_it_asks_for(control):
    cp = control()
    cp.json("POST", "/v1/resources", service_entry("ratings") + "---\n" + service_entry("details"))
    cp.json("POST", "/v1/nodes", node_json() | {"scope": "on_demand"}, token=REVIEWS)
    time.sleep(0.3)
    cfg = cp.json("GET", "/v1/nodes/reviews-v1-1/config?version=0", token=REVIEWS)
    assert "ratings.default.svc.cluster.local" not in cfg["resources"]
    result = {}

    def poll():
        status, data, _ = cp.call("GET", f"/v1/nodes/reviews-v1-1/config?version="
                                  f"{cfg['version']}&wait=20s", token=REVIEWS, timeout=30)
        result.update(status=status, data=data)

    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.3)
    out = cp.json("POST", "/v1/nodes/reviews-v1-1/interest",
                  {"hosts": ["ratings.default.svc.cluster.local"]}, token=REVIEWS)
    assert out["version"] > cfg["version"]
    th.join(5 * SLOW)
    assert result.get("status") == 200, result
    pushed = json.loads(result["data"])
    assert pushed["version"] == out["version"]
    assert "ratings.default.svc.cluster.local" in pushed["resources"]
    assert "details.default.svc.cluster.local" not in pushed["resources"]


def test_explain_names_the_rule_and_its_endpoints(control):
    cp = control()
    from types import SimpleNamespace
    mesh_yaml = weftlib.two_version_service("reviews", SimpleNamespace(port=9001),
                                            SimpleNamespace(port=9002), "v2")
    cp.json("POST", "/v1/resources?source=reviews.yaml", mesh_yaml)
    cp.json("POST", "/v1/nodes", node_json())
    out = cp.json("GET", "/v1/explain?from=reviews-v1&url=http://reviews:9080/a")
    assert out["result"] == "routed", out
    assert out["node"] == "reviews-v1-1"
    assert out["route"]["source"].startswith("reviews.yaml:")
    dest = out["destinations"][0]
    assert dest["subset"] == "v2"
    assert [e["port"] for e in dest["endpoints"]] == [9002]
    out = cp.json("GET", "/v1/explain?from=reviews-v1-1&url=http://nothing.example/")
    assert out["status"] == 404


def test_fan_out_wakes_only_the_groups_whose_set_changed(control):
    """40 held polls in two namespaces; a Sidecar keeps namespace 'a' to itself, so a change in
    namespace 'b' answers the 20 polls of 'b' and leaves those of 'a' held."""
    cp = control()
    cp.json("POST", "/v1/resources",
            "apiVersion: networking.istio.io/v1\nkind: Sidecar\n"
            "metadata: {name: default, namespace: a}\nspec:\n  egress:\n  - hosts: [\"./*\"]\n")
    ids = []
    for ns in ("a", "b"):
        for i in range(20):
            node_id = f"w-{ns}-{i}"
            cp.json("POST", "/v1/nodes", {"id": node_id, "namespace": ns, "address": "127.0.0.1",
                                          "service": "w", "labels": {"app": "w"},
                                          "ports": [{"name": "http", "port": 15006}]})
            ids.append(node_id)
    time.sleep(0.5)
    versions = {i: cp.json("GET", f"/v1/nodes/{i}/config?version=0")["version"] for i in ids}
    results: dict[str, tuple[int, float]] = {}
    lock = threading.Lock()

    def poll(node_id: str):
        t0 = time.monotonic()
        status, _, _ = cp.call("GET", f"/v1/nodes/{node_id}/config?version={versions[node_id]}"
                               "&wait=4s", timeout=20)
        with lock:
            results[node_id] = (status, time.monotonic() - t0)

    threads = [threading.Thread(target=poll, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    time.sleep(0.5)
    cp.json("POST", "/v1/resources", service_entry("extra", ns="b"))
    for t in threads:
        t.join(20)
    woken = {i for i, (status, elapsed) in results.items() if status == 200 and elapsed < 2.5}
    held = {i for i, (status, _) in results.items() if status == 304}
    assert woken == {i for i in ids if i.startswith("w-b-")}, results
    assert held == {i for i in ids if i.startswith("w-a-")}, results


def test_a_burst_of_saved_files_makes_one_push(control):
    cp = control()
    cp.json("POST", "/v1/nodes", node_json())
    time.sleep(0.3)
    v = cp.json("GET", "/v1/nodes/reviews-v1-1/config?version=0")["version"]
    result = {}

    def poll():
        status, data, _ = cp.call("GET", f"/v1/nodes/reviews-v1-1/config?version={v}&wait=10s",
                                  timeout=20)
        result.update(status=status, data=data)

    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.3)
    for i in range(50):
        (cp.config_dir / f"svc{i:02d}.yaml").write_text(service_entry(f"svc{i:02d}"))
    th.join(15 * SLOW)
    assert result.get("status") == 200, result
    cfg = json.loads(result["data"])
    assert all(f"svc{i:02d}.default.svc.cluster.local" in cfg["resources"] for i in range(50)), \
        "the push came before the burst ended"
    # No second version followed: the next poll is held until it times out.
    status, _, _ = cp.call("GET", f"/v1/nodes/reviews-v1-1/config?version={cfg['version']}"
                           "&wait=1s")
    assert status == 304


def test_sigterm_with_held_polls_exits_cleanly(control):
    cp = control()
    cp.json("POST", "/v1/nodes", node_json())
    v = cp.json("GET", "/v1/nodes/reviews-v1-1/config?version=0")["version"]
    errors = []

    def poll():
        try:
            cp.call("GET", f"/v1/nodes/reviews-v1-1/config?version={v}&wait=30s", timeout=20)
        except (OSError, http.client.HTTPException) as e:
            errors.append(e)

    threads = [threading.Thread(target=poll) for _ in range(5)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    cp.stop()  # asserts exit code 0 and no sanitizer report
    assert time.monotonic() - t0 < 3 * SLOW
    for t in threads:
        t.join(5)
    assert len(errors) == 5, "every held poll saw its connection close"


def test_command_line(tmp_path):
    def run(*args):
        return subprocess.run([str(WEFT_CONTROL), *args], capture_output=True, text=True,
                              timeout=20)

    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("weft-control "), r
    r = run("serve", "--help")
    assert r.returncode == 0
    for flag in ("--config", "--listen", "--config-dir", "--data-dir", "--tokens", "--plaintext"):
        assert flag in r.stdout
    assert run().returncode != 0, "a subcommand is required"
    assert run("serve", "--bogus").returncode != 0
    bad = tmp_path / "control.yaml"
    bad.write_text("listen: 127.0.0.1:1\nnode_ttl: soon\n")
    r = run("serve", "--config", str(bad))
    assert r.returncode == 2
    assert f"{bad}:2:11:" in r.stderr, r.stderr
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("- {token: a}\n- {token: a}\n")
    r = run("serve", "--listen", "127.0.0.1:0", "--tokens", str(tokens))
    assert r.returncode == 2 and f"{tokens}:2:" in r.stderr, r.stderr


def test_config_file_with_flag_override(tmp_path):
    port = free_port()
    (tmp_path / "tokens.yaml").write_text(TOKENS)
    cfg = tmp_path / "control.yaml"
    cfg.write_text(f"listen: 127.0.0.1:1\ntokens: {tmp_path / 'tokens.yaml'}\n"
                   f"data_dir: {tmp_path / 'data'}\nnode_ttl: 5s\n")
    proc = subprocess.Popen([str(WEFT_CONTROL), "serve", "--config", str(cfg),
                             "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert weftlib.wait_port_open(port, 5 * SLOW), "the --listen flag overrides the file"
        ctx = ssl.create_default_context(cafile=str(tmp_path / "data" / "trust-bundle.pem"))
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=ctx)
        conn.request("GET", "/ready")
        assert conn.getresponse().status == 401, "tokens come from the file"
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


# ---------------------------------------------------------------------------------------------
# The real sidecar in dynamic mode against the real control plane (skipped when the weft-proxy
# in WEFT_BIN_DIR has no `control_plane` bootstrap key yet).


class DynamicSidecar:
    def __init__(self, workdir: Path, cp: Control, node_id: str, service: str, token: str,
                 app_port: int, scope: str = "full"):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.admin_port, self.outbound_port, self.inbound_port = free_port(), free_port(), \
            free_port()
        (self.dir / "token").write_text(token + "\n")
        self.bootstrap = self.dir / "bootstrap.yaml"
        tls = "" if cp.plaintext else f", ca_certificate: '{cp.bundle}'"
        self.bootstrap.write_text(
            f"node: {{id: {node_id}, workload: {service}, service: {service}, "
            f"namespace: default, service_account: {service}, labels: {{app: {service}}}}}\n"
            f"admin: {{address: 127.0.0.1, port: {self.admin_port}}}\n"
            f"outbound: {{address: 127.0.0.1, port: {self.outbound_port}}}\n"
            f"inbound: {{address: 127.0.0.1, port: {self.inbound_port}, "
            f"app: 127.0.0.1:{app_port}}}\n"
            f"control_plane: {{url: '{cp.url}', token_file: token{tls}, "
            f"resource_scope: {scope}}}\n")
        self.proc: subprocess.Popen | None = None

    def supported(self) -> bool:
        r = subprocess.run([str(weftlib.WEFT_PROXY), "--validate", "--config",
                            str(self.bootstrap)], capture_output=True, text=True, timeout=20)
        return "control_plane" not in r.stderr

    def start(self) -> None:
        self.proc = subprocess.Popen([str(weftlib.WEFT_PROXY), "--config", str(self.bootstrap),
                                      "--concurrency", "1"], cwd=self.dir,
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(self.dir / "stderr", "wb"))

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(15 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_real_sidecars_in_dynamic_mode(control, mesh, tmp_path):
    """Two weft-proxy sidecars register with weft-control, get their sets by long-poll, ack
    them, route to each other, follow an applied VirtualService, and deregister on SIGTERM."""
    cp = control()
    cp.tokens.write_text(TOKENS + "- {token: t-details, namespace: default, "
                         "service_account: details}\n- {token: t-pp, namespace: default, "
                         "service_account: productpage}\n")
    cp.stop()
    cp.start()
    app = mesh.upstream("details-app")
    details = DynamicSidecar(tmp_path / "details", cp, "details-0", "details", "t-details",
                             app.port)
    if not details.supported():
        pytest.skip("this weft-proxy has no dynamic mode (control_plane bootstrap key)")
    page = DynamicSidecar(tmp_path / "pp", cp, "productpage-0", "productpage", "t-pp", 9)
    try:
        details.start()
        page.start()

        def synced() -> bool:
            nodes = cp.json("GET", "/v1/nodes")
            return len(nodes) == 2 and all(n["status"] == "SYNCED" for n in nodes)

        assert wait_until(synced, 10), cp.json("GET", "/v1/nodes")
        # productpage reaches details through both sidecars, on the synthesized service.
        assert wait_until(lambda: weftlib.get(page.outbound_port, "/a", host="details").status
                          == 200, 5)
        assert app.paths()[-1] == "/a"
        # An applied VirtualService reaches the sidecar.
        cp.json("POST", "/v1/resources",
                "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                "metadata: {name: details}\nspec:\n  hosts: [details]\n  http:\n"
                "  - match: [{uri: {prefix: /old/}}]\n    rewrite: {uri: /new/}\n"
                "    route: [{destination: {host: details}}]\n"
                "  - route: [{destination: {host: details}}]\n")
        assert wait_until(lambda: weftlib.get(page.outbound_port, "/old/x", host="details")
                          .status == 200 and app.paths()[-1] == "/new/x", 5), app.paths()
        assert wait_until(synced, 5)
        # SIGTERM: the sidecar deregisters.
        assert details.stop() == 0
        assert wait_until(lambda: [n["id"] for n in cp.json("GET", "/v1/nodes")] ==
                          ["productpage-0"], 5)
    finally:
        details.stop()
        page.stop()


def test_on_demand_sidecar_fetches_a_service_on_first_use(control, mesh, tmp_path):
    """A sidecar with resource_scope on_demand gets no services at first; its first request to
    a host makes it ask the control plane, wait for the push, and then route; the service then
    stays in its set."""
    cp = control()
    cp.tokens.write_text(TOKENS + "- {token: t-details, namespace: default, "
                         "service_account: details}\n- {token: t-pp, namespace: default, "
                         "service_account: productpage}\n")
    cp.stop()
    cp.start()
    app = mesh.upstream("details-app")
    details = DynamicSidecar(tmp_path / "details", cp, "details-0", "details", "t-details",
                             app.port)
    page = DynamicSidecar(tmp_path / "pp", cp, "productpage-0", "productpage", "t-pp", 9,
                          scope="on_demand")
    try:
        details.start()
        page.start()
        assert wait_until(lambda: len(cp.json("GET", "/v1/nodes")) == 2, 10)
        # Nothing asked for yet: the on-demand sidecar's set has no details service.
        dump = json.loads(weftlib.get(page.admin_port, "/config_dump").body)
        assert "details" not in json.dumps(dump.get("routes", dump)), "pushed before first use"
        t0 = time.monotonic()
        r = weftlib.get(page.outbound_port, "/first", host="details", timeout=10 * SLOW)
        assert r.status == 200, r.describe()
        assert time.monotonic() - t0 < 5 * SLOW
        assert app.paths()[-1] == "/first"
        # Kept: the next request routes at once.
        assert weftlib.get(page.outbound_port, "/second", host="details").status == 200
        # A host nobody serves still ends in 404 NR after the interest round trip.
        assert weftlib.get(page.outbound_port, "/", host="nowhere", timeout=15 * SLOW).status \
            == 404
    finally:
        details.stop()
        page.stop()
