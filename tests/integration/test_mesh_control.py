"""A mesh run through weft-control: the real control plane and several real weft-proxy sidecars
in dynamic mode on 127.0.0.1, under continuous traffic.

  - a VirtualService weight change applied through the API moves live traffic from v1 to v2
    without a failed request;
  - the control plane killed (SIGKILL) under load: no failed request, the sidecars keep serving;
    restarted on the same data dir (resources and registrations kept), they reconnect,
    converge and follow a later change, still without a failed request; a sidecar that
    registers anew after the restart (404 on its poll when its node is gone) is covered by
    test_sidecar_re_registers_when_its_node_is_gone;
  - the Prometheus HTTP SD answer, saved as a file_sd file, passes `promtool check config` and
    lists the sidecars' admin addresses.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

import weftlib
from weftlib import SLOW, free_port
from test_control_plane import OPS, Control, wait_until

CLIENT_TOKEN = "t-client"
REVIEWS_TOKEN = "t-bookinfo-reviews"
TOKENS = (f"- {{token: {OPS}}}\n"
          f"- {{token: {CLIENT_TOKEN}, namespace: default, service_account: client}}\n"
          f"- {{token: {REVIEWS_TOKEN}, namespace: default, service_account: bookinfo-reviews}}\n")

# reviews: endpoints from the registered sidecars labelled app=reviews (workloadSelector),
# subsets by version.
REVIEWS = """apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  workloadSelector:
    labels: {app: reviews}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"""


def weights(v1: int, v2: int) -> str:
    return ("apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
            "metadata: {name: reviews, namespace: default}\nspec:\n  hosts: [reviews]\n"
            "  http:\n  - route:\n"
            f"    - destination: {{host: reviews, subset: v1}}\n      weight: {v1}\n"
            f"    - destination: {{host: reviews, subset: v2}}\n      weight: {v2}\n")


class Sidecar:
    """A weft-proxy in dynamic mode: no local resources, everything from weft-control."""

    def __init__(self, workdir: Path, cp: Control, node_id: str, service: str, sa: str,
                 token: str, app_port: int, labels: dict[str, str], cert_ttl: str = ""):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.node_id = node_id
        self.admin_port, self.outbound_port, self.inbound_port = \
            free_port(), free_port(), free_port()
        (self.dir / "token").write_text(token + "\n")
        flow_labels = ", ".join(f"{k}: {v}" for k, v in labels.items())
        self.bootstrap = self.dir / "bootstrap.yaml"
        self.bootstrap.write_text(
            f"node: {{id: {node_id}, workload: {node_id.rsplit('-', 1)[0]}, "
            f"service: {service}, namespace: default, service_account: {sa}, "
            f"labels: {{{flow_labels}}}}}\n"
            f"admin: {{address: 127.0.0.1, port: {self.admin_port}}}\n"
            f"outbound: {{address: 127.0.0.1, port: {self.outbound_port}}}\n"
            f"inbound: {{address: 127.0.0.1, port: {self.inbound_port}, "
            f"app: 127.0.0.1:{app_port}}}\n"
            f"control_plane: {{url: '{cp.url}', token_file: token, "
            f"ca_certificate: '{cp.bundle}'"
            + (f", certificate_ttl: {cert_ttl}" if cert_ttl else "") + "}\n")
        self.proc = subprocess.Popen([str(weftlib.WEFT_PROXY), "--config", str(self.bootstrap),
                                      "--concurrency", "1"], cwd=self.dir,
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(self.dir / "stderr", "wb"))

    @property
    def admin(self) -> str:
        return f"127.0.0.1:{self.admin_port}"

    def stderr(self) -> str:
        return (self.dir / "stderr").read_text(errors="replace")

    def ready(self) -> bool:
        try:
            return weftlib.get(self.admin_port, "/ready", timeout=2).status == 200
        except OSError:
            return False

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(15 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode


class Load:
    """A client sending requests to reviews through a sidecar's outbound listener, back to back,
    until stopped: each result is (start time, status or exception, the app that answered)."""

    def __init__(self, port: int):
        self.port = port
        self.results: list[tuple[float, object, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                r = weftlib.get(self.port, f"/r{i}", host="reviews:9080", timeout=5)
                self.results.append((t0, r.status, r.header("x-upstream")))
            except Exception as e:  # noqa: BLE001 - every failure counts
                self.results.append((t0, repr(e), None))
            i += 1
            time.sleep(0.005)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def failures(self, since: float = 0.0) -> list:
        return [r for r in self.results if r[0] >= since and r[1] != 200]

    def served_by(self, since: float, until: float = float("inf")) -> dict[str, int]:
        out: dict[str, int] = {}
        for t0, status, who in list(self.results):
            if since <= t0 < until and status == 200:
                out[who] = out.get(who, 0) + 1
        return out


class MiniMesh:
    """weft-control with reviews (v1, v2 sidecars in front of two test apps) and a client
    sidecar; every sidecar registered and SYNCED."""

    def __init__(self, tmp_path: Path, mesh, v1: int = 100, v2: int = 0, cert_ttl: str = "",
                 cp_extra: list[str] | None = None):
        self.cp = Control(tmp_path / "cp", extra=cp_extra)
        self.cp.tokens.write_text(TOKENS)
        self.cp.start()
        self.sidecars: list[Sidecar] = []
        self.cp.json("POST", "/v1/resources?source=reviews.yaml", REVIEWS + "---\n" +
                     weights(v1, v2))
        self.apps = {v: mesh.upstream(v) for v in ("v1", "v2")}
        for v, app in self.apps.items():
            self.sidecars.append(Sidecar(tmp_path / f"reviews-{v}", self.cp, f"reviews-{v}-0",
                                         "reviews", "bookinfo-reviews", REVIEWS_TOKEN, app.port,
                                         {"app": "reviews", "version": v}, cert_ttl))
        self.client = Sidecar(tmp_path / "client", self.cp, "client-0", "client", "client",
                              CLIENT_TOKEN, 9, {"app": "client"}, cert_ttl)
        self.sidecars.append(self.client)
        assert wait_until(self.synced, 15), self.describe()
        # The last registration reaches the others after a debounce (at most 1 s).
        time.sleep(1.2)
        assert wait_until(self.synced, 5), self.describe()
        assert wait_until(lambda: all(s.ready() for s in self.sidecars), 5), self.describe()

    def nodes(self) -> dict[str, dict]:
        return {n["id"]: n for n in self.cp.json("GET", "/v1/nodes")}

    def synced(self, min_version: int = 0) -> bool:
        try:
            nodes = self.nodes()
        except (OSError, AssertionError):
            return False
        return (len(nodes) == len(self.sidecars) and
                all(n["status"] == "SYNCED" and n["version_acked"] == n["version"] and
                    n["version"] >= min_version for n in nodes.values()))

    def apply(self, text: str) -> int:
        return self.cp.json("POST", "/v1/resources?source=vs.yaml", text)["revision"]

    def describe(self) -> str:
        try:
            nodes = json.dumps(self.cp.json("GET", "/v1/nodes"), indent=1)
        except Exception as e:  # noqa: BLE001
            nodes = repr(e)
        return (f"nodes: {nodes}\ncontrol plane:\n{self.cp.stderr()[-3000:]}\n" +
                "\n".join(f"{s.node_id}:\n{s.stderr()[-1500:]}" for s in self.sidecars))

    def close(self) -> list[str]:
        bad = []
        for s in self.sidecars:
            rc = s.stop()
            if rc != 0:
                bad.append(f"{s.node_id} exited with {rc}\n{s.stderr()[-2000:]}")
        self.cp.stop()
        return bad


@pytest.fixture
def mini(tmp_path, mesh):
    made: list[MiniMesh] = []

    def make(**kw) -> MiniMesh:
        m = MiniMesh(tmp_path, mesh, **kw)
        made.append(m)
        return m

    yield make
    errors = []
    for m in made:
        errors += m.close()
    assert not errors, "\n".join(errors)


def test_weight_change_shifts_live_traffic_without_a_failed_request(mini):
    m = mini()
    load = Load(m.client.outbound_port)
    try:
        time.sleep(1.0)
        # Everything on v1 first.
        first = load.served_by(0)
        assert first.get("v1", 0) > 10 and set(first) == {"v1"}, first
        # 20/80, then everything on v2, applied through the API while the client sends.
        rev = m.apply(weights(20, 80))
        assert wait_until(lambda: m.synced(rev), 5), m.describe()
        t_split = time.monotonic()
        time.sleep(1.5)
        rev = m.apply(weights(0, 100))
        assert wait_until(lambda: m.synced(rev), 5), m.describe()
        t_v2 = time.monotonic()
        time.sleep(1.0)
    finally:
        load.stop()
    assert not load.failures(), load.failures()[:10]
    split = load.served_by(t_split, t_v2 - 0.001)
    assert split.get("v1", 0) > 0 and split.get("v2", 0) > split.get("v1", 0), split
    after = load.served_by(t_v2)
    assert after and set(after) == {"v2"}, after
    # The shift reached the apps themselves.
    assert len(m.apps["v2"].paths()) >= sum(after.values())


def test_control_plane_killed_and_restarted_under_load(mini):
    m = mini()
    load = Load(m.client.outbound_port)
    try:
        time.sleep(0.5)
        m.cp.proc.send_signal(signal.SIGKILL)
        m.cp.proc.wait(5)
        t_kill = time.monotonic()
        time.sleep(3.0)
        # The data path does not need the control plane.
        assert all(s.proc.poll() is None for s in m.sidecars), m.describe()
        assert all(s.ready() for s in m.sidecars), m.describe()
        served = load.served_by(t_kill)
        assert served.get("v1", 0) > 20, served
        for s in m.sidecars:
            connected = weftlib.metric_sum(weftlib.get(s.admin_port, "/metrics").body.decode(),
                                           "weft_control_plane_connected")
            assert connected == 0, f"{s.node_id} still reports a connected control plane"
        # Restarted on the same port and data dir: the API resources and the registrations are
        # back (so the endpoints every sidecar gets stay the same meanwhile); the sidecars
        # reconnect on their next poll and converge.
        m.cp.start()
        assert m.cp.json("GET", "/v1/resources/VirtualService/default/reviews")["name"] == \
            "reviews"
        assert sorted(m.nodes()) == sorted(s.node_id for s in m.sidecars)
        assert wait_until(lambda: all(n["polling"] for n in m.nodes().values()), 30), \
            m.describe()
        assert wait_until(m.synced, 10), m.describe()
        t_back = time.monotonic()
        # A later change still reaches them.
        rev = m.apply(weights(0, 100))
        assert wait_until(lambda: m.synced(rev), 5), m.describe()
        t_v2 = time.monotonic()
        time.sleep(1.0)
    finally:
        load.stop()
    assert not load.failures(), load.failures()[:10]
    assert load.served_by(t_back, t_v2).get("v1", 0) > 0
    after = load.served_by(t_v2)
    assert after and set(after) == {"v2"}, after


def test_sidecar_re_registers_when_its_node_is_gone(mini):
    """A control plane restarted without the registrations (its nodes file removed): each
    sidecar's next poll gets 404, it registers again, and everything converges and follows a
    later change."""
    m = mini()
    m.cp.proc.send_signal(signal.SIGKILL)
    m.cp.proc.wait(5)
    nodes_file = m.cp.data_dir / "nodes.jsonl"
    assert len(nodes_file.read_text().splitlines()) == len(m.sidecars)
    nodes_file.unlink()
    m.cp.start()
    assert m.nodes() == {}
    assert wait_until(m.synced, 30), m.describe()
    assert all(n["last_seen_seconds"] < 30 for n in m.nodes().values())
    rev = m.apply(weights(0, 100))
    assert wait_until(lambda: m.synced(rev), 5), m.describe()
    assert wait_until(lambda: weftlib.get(m.client.outbound_port, "/x", host="reviews")
                      .header("x-upstream") == "v2", 5)


def test_prometheus_sd_targets_pass_promtool(mini, tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found (Debian package prometheus; scripts/deps.sh installs it)",
                    pytrace=False)
    m = mini()
    groups = m.cp.json("GET", "/v1/prometheus/targets")
    # One group per sidecar, its target the sidecar's admin address, which serves /metrics.
    by_node = {g["labels"]["__meta_weft_node"]: g for g in groups}
    assert sorted(by_node) == sorted(s.node_id for s in m.sidecars), groups
    for s in m.sidecars:
        assert by_node[s.node_id]["targets"] == [s.admin], by_node[s.node_id]
        port = s.admin.rsplit(":", 1)[1]
        r = weftlib.get(int(port), "/metrics")
        assert r.status == 200 and b"weft_control_plane_connected" in r.body
    assert by_node["reviews-v2-0"]["labels"]["__meta_weft_label_version"] == "v2"
    assert by_node["client-0"]["labels"]["__meta_weft_service_account"] == "client"

    # promtool cannot fetch an http_sd_configs URL: the same JSON as a file_sd_configs file.
    sd = tmp_path / "weft-targets.json"
    sd.write_text(json.dumps(groups))
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 15s}\n"
        "scrape_configs:\n"
        "- job_name: weft-sidecars\n"
        "  metrics_path: /metrics\n"
        "  file_sd_configs:\n"
        f"  - files: [{sd}]\n"
        "  relabel_configs:\n"
        "  - {source_labels: [__meta_weft_workload], target_label: workload}\n"
        "  - {source_labels: [__meta_weft_namespace], target_label: namespace}\n"
        "  - {source_labels: [__meta_weft_label_version], target_label: version}\n")
    r = subprocess.run([promtool, "check", "config", str(config)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout + r.stderr, r.stdout + r.stderr

    # The check does look at the file: an invalid target group fails it.
    sd.write_text(json.dumps([{"targets": ["127.0.0.1:1"], "labels": {"bad-name": "x"}}]))
    r = subprocess.run([promtool, "check", "config", str(config)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0, "promtool accepted an invalid SD file: the check proves nothing"


CLIENT_ID = "spiffe://cluster.local/ns/default/sa/client"
REVIEWS_ID = "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"
STRICT = """apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec:
  mtls: {mode: STRICT}
"""


def strict_with_fresh_connections(m: MiniMesh) -> None:
    """Mesh-wide STRICT, and at most 5 requests per connection to reviews: new connections (and
    handshakes) all the time."""
    pool = ("---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
            "metadata: {name: reviews, namespace: default}\nspec:\n  host: reviews\n"
            "  trafficPolicy:\n    connectionPool: {http: {maxRequestsPerConnection: 5}}\n"
            "  subsets:\n  - {name: v1, labels: {version: v1}}\n"
            "  - {name: v2, labels: {version: v2}}\n")
    rev = m.cp.json("POST", "/v1/resources?source=reviews.yaml", REVIEWS.split("---")[0] + pool)
    assert wait_until(lambda: m.synced(rev["revision"]), 5), m.describe()
    rev = m.cp.json("POST", "/v1/resources?source=pa.yaml", STRICT)["revision"]
    assert wait_until(lambda: m.synced(rev), 5), m.describe()


def test_sidecars_with_only_a_token_talk_mutual_tls(mini):
    """Each sidecar has a bootstrap token and nothing else: its certificate comes from
    weft-control's CA, and the hop between the sidecars is mutual TLS with those certificates
    (secure naming included: the endpoints are registered with their service account)."""
    m = mini()
    reviews = m.sidecars[0]

    def has_cert(s: Sidecar) -> bool:
        r = weftlib.get(s.admin_port, "/certs")
        return r.status == 200 and json.loads(r.body)["certificates"] != []

    assert wait_until(lambda: all(has_cert(s) for s in m.sidecars), 10), m.describe()
    for i in range(10):
        r = weftlib.get(m.client.outbound_port, f"/m{i}", host="reviews:9080", timeout=5)
        assert r.status == 200, r.describe()
    client_metrics = weftlib.get(m.client.admin_port, "/metrics").body.decode()
    assert weftlib.metric_sum(client_metrics, "weft_upstream_tls_handshakes_total") >= 1
    assert weftlib.metric_sum(client_metrics, "istio_requests_total", reporter="source",
                              destination_principal=REVIEWS_ID) == 10
    reviews_metrics = weftlib.get(reviews.admin_port, "/metrics").body.decode()
    assert weftlib.metric_sum(reviews_metrics, "istio_requests_total", reporter="destination",
                              source_principal=CLIENT_ID,
                              connection_security_policy="mutual_tls") == 10
    seen = m.apps["v1"].requests[-1]
    assert f"URI={CLIENT_ID}" in (seen.header("x-forwarded-client-cert") or "")

    # Mesh-wide STRICT through the control plane: plain text to a sidecar is refused, the
    # mesh traffic goes on.
    rev = m.cp.json("POST", "/v1/resources?source=peer-authentication.yaml", STRICT)["revision"]
    assert wait_until(lambda: m.synced(rev), 5), m.describe()
    with socket.create_connection(("127.0.0.1", reviews.inbound_port), timeout=5) as c:
        c.sendall(b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            assert c.recv(65536) == b""
        except ConnectionError:
            pass
    assert weftlib.get(m.client.outbound_port, "/after", host="reviews:9080").status == 200


def test_certificate_rotation_under_load_fails_no_request(mini):
    """One-minute certificates, renewed at about half their lifetime, while requests flow
    through new connections all the time (at most 5 requests per connection): every sidecar
    renews at least once and not one request fails."""
    m = mini(cert_ttl="1m")
    strict_with_fresh_connections(m)

    def renewals(s: Sidecar) -> float:
        text = weftlib.get(s.admin_port, "/metrics").body.decode()
        return weftlib.metric_sum(text, "weft_identity_renewals_total", result="ok")

    load = Load(m.client.outbound_port)
    try:
        # Each certificate is renewed 27-33 s after it was issued.
        assert wait_until(lambda: all(renewals(s) >= 2 for s in m.sidecars), 60 * SLOW), \
            m.describe()
        time.sleep(2)
    finally:
        load.stop()
    assert len(load.results) > 500, len(load.results)
    assert not load.failures(), load.failures()[:10]
    client_metrics = weftlib.get(m.client.admin_port, "/metrics").body.decode()
    assert weftlib.metric_sum(client_metrics, "weft_upstream_tls_handshakes_total") > 50
    assert weftlib.metric_sum(client_metrics, "weft_upstream_tls_failures_total") == 0


def test_root_rotation_under_load_fails_no_request(mini):
    """weft-control ca rotate while requests flow between the sidecars over mutual TLS, through
    new connections all the time: the new root joins the trust bundle everywhere, certificates
    move to the new root, the old root is dropped, and not one request fails."""
    m = mini(cp_extra=["--rotation-grace", "3s"])
    strict_with_fresh_connections(m)
    old_root = m.cp.json("GET", "/v1/ca")["signing_root"]

    def roots_seen(s: Sidecar) -> int:
        r = weftlib.get(s.admin_port, "/certs")
        certs = json.loads(r.body)["certificates"] if r.status == 200 else []
        return len(certs[0]["ca_cert"]) if certs else 0

    load = Load(m.client.outbound_port)
    try:
        time.sleep(1)
        m.cp.json("POST", "/v1/ca/rotate", "")
        assert wait_until(lambda: all(roots_seen(s) == 2 for s in m.sidecars), 10 * SLOW), \
            m.describe()
        assert wait_until(lambda: m.cp.json("GET", "/v1/ca")["phase"] == "none",
                          60 * SLOW), m.describe()
        status = m.cp.json("GET", "/v1/ca")
        assert status["signing_root"] != old_root and len(status["roots"]) == 1
        assert wait_until(lambda: all(roots_seen(s) == 1 for s in m.sidecars), 10 * SLOW), \
            m.describe()
        time.sleep(1.5)  # traffic on the new root only
    finally:
        load.stop()
    assert len(load.results) > 200, len(load.results)
    assert not load.failures(), load.failures()[:10]
    client_metrics = weftlib.get(m.client.admin_port, "/metrics").body.decode()
    assert weftlib.metric_sum(client_metrics, "weft_upstream_tls_failures_total") == 0

