"""Mutual TLS between two sidecars (static mode, identities from files signed by one test CA):
automatic mTLS on the outbound side, PeerAuthentication on the inbound side, secure naming,
DestinationRule tls modes, the peer's identity in metrics, the app's x-forwarded-client-cert
and AuthorizationPolicy principals. The client sidecar A (productpage) calls the service
reviews behind the server sidecar B; every test would fail with plain text between them."""

from __future__ import annotations

import signal
import socket
import ssl
from pathlib import Path

import pytest

pytest.importorskip("cryptography")
from certs import Ca, client_context, tls_get  # noqa: E402
from certs import pem  # noqa: E402
from weftlib import join_docs, metric_series, metric_sum, request, service_entry, wait_for  # noqa: E402

TD = "cluster.local"
A_ID = f"spiffe://{TD}/ns/default/sa/productpage"
B_ID = f"spiffe://{TD}/ns/default/sa/reviews"
HOST = "reviews.default.svc.cluster.local"


def identity_block(d: Path) -> str:
    return ("identity:\n"
            f"  certificate: {d / 'cert-chain.pem'}\n"
            f"  private_key: {d / 'key.pem'}\n"
            f"  ca_certificates: {d / 'root-cert.pem'}\n")


def peer_authentication(mode: str, name: str = "default", namespace: str = "default",
                        selector: dict | None = None, ports: dict | None = None) -> str:
    t = ["apiVersion: security.istio.io/v1", "kind: PeerAuthentication",
         f"metadata: {{name: {name}, namespace: {namespace}}}", "spec:"]
    if selector:
        t.append("  selector: {matchLabels: {" +
                 ", ".join(f"{k}: {v}" for k, v in selector.items()) + "}}")
    t.append(f"  mtls: {{mode: {mode}}}")
    if ports:
        t.append("  portLevelMtls:")
        for port, m in ports.items():
            t.append(f"    {port}: {{mode: {m}}}")
    return "\n".join(t) + "\n"


def dr_tls(mode: str, extra: str = "") -> str:
    return ("apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
            "metadata: {name: reviews, namespace: default}\n"
            f"spec:\n  host: {HOST}\n  trafficPolicy:\n    tls: {{mode: {mode}{extra}}}\n")


class Pair:
    """Sidecar A (client side) and sidecar B (in front of the reviews app)."""

    def __init__(self, mesh, ca: Ca, tmp: Path, b_mesh: str = "", a_mesh: str = "",
                 endpoint_sa: str = "reviews", b_id: str = B_ID):
        self.ca = ca
        self.app = mesh.upstream("reviews-app")
        b_certs = ca.write_identity(tmp / "b-certs", b_id)
        self.b = mesh.proxy(b_mesh or "\n", app_port=self.app.port, workload="reviews-v1",
                            service="reviews", bootstrap_extra=identity_block(b_certs),
                            access_log=str(tmp / "b-access.log"))
        a_certs = ca.write_identity(tmp / "a-certs", A_ID)
        ep = {"port": self.b.inbound_port, "service_account": endpoint_sa}
        self.a = mesh.proxy(join_docs(service_entry("reviews", [ep]), a_mesh) if a_mesh
                            else service_entry("reviews", [ep]),
                            workload="productpage-v1", service="productpage",
                            bootstrap_extra=identity_block(a_certs),
                            access_log=str(tmp / "a-access.log"))

    def call(self, path: str = "/r", **kw):
        return self.a.get_out(f"{HOST}:9080", path, **kw)


@pytest.fixture
def ca():
    return Ca("weft test mesh")


def test_auto_mtls_between_sidecars(mesh, ca, tmp_path):
    pair = Pair(mesh, ca, tmp_path, b_mesh=peer_authentication("STRICT"))
    for _ in range(20):
        r = pair.call()
        assert r.status == 200, r.describe()
    seen = pair.app.requests[-1]
    xfcc = seen.header("x-forwarded-client-cert") or ""
    assert f"URI={A_ID}" in xfcc and f"By={B_ID}" in xfcc and "Hash=" in xfcc, xfcc

    ma, mb = pair.a.metrics(), pair.b.metrics()
    # One handshake for twenty requests: the connection is pooled.
    assert metric_sum(ma, "weft_upstream_tls_handshakes_total") == 1
    assert metric_sum(mb, "weft_downstream_tls_handshakes_total") == 1
    assert metric_sum(mb, "istio_requests_total", reporter="destination", source_principal=A_ID,
                      destination_principal=B_ID,
                      connection_security_policy="mutual_tls") == 20
    assert metric_sum(ma, "istio_requests_total", reporter="source", source_principal=A_ID,
                      destination_principal=B_ID) == 20
    # The access logs name the peers too.
    import json
    b_log = [json.loads(x) for x in (tmp_path / "b-access.log").read_text().splitlines()]
    a_log = [json.loads(x) for x in (tmp_path / "a-access.log").read_text().splitlines()]
    assert b_log[-1]["downstream_peer_uri_san"] == A_ID, b_log[-1]
    assert a_log[-1]["upstream_peer_uri_san"] == B_ID, a_log[-1]


def test_strict_refuses_plain_text_permissive_accepts_both(mesh, ca, tmp_path):
    pair = Pair(mesh, ca, tmp_path, b_mesh=peer_authentication("STRICT"))
    with socket.create_connection(("127.0.0.1", pair.b.inbound_port), timeout=5) as s:
        s.sendall(b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except ConnectionError:
            pass
    assert data == b"", data[:200]
    assert "/plain" not in pair.app.paths()
    assert metric_sum(pair.b.metrics(), "weft_downstream_plaintext_refused_total") == 1
    assert pair.call().status == 200  # mTLS still gets through

    # PERMISSIVE on the same port: plain text and mutual TLS side by side.
    pair.b.write_mesh(peer_authentication("PERMISSIVE"))
    pair.b.signal(signal.SIGHUP)
    wait_for(lambda: "config reloaded" in pair.b.stderr(), what="the reload")
    r = pair.b.admin("/config_dump")
    assert b'"PERMISSIVE"' in r.body
    with socket.create_connection(("127.0.0.1", pair.b.inbound_port), timeout=5) as s:
        s.sendall(b"GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = s.recv(65536)
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    data, _ = tls_get(pair.b.inbound_port, client_context(ca, tmp_path, A_ID))
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    assert pair.call().status == 200


def test_mesh_wide_policy_and_workload_port_override(mesh, ca, tmp_path):
    # Mesh-wide STRICT from the root namespace; the workload's policy turns its app port to
    # DISABLE: plain text accepted, TLS not.
    pair = Pair(mesh, ca, tmp_path, b_mesh=peer_authentication("STRICT", namespace="istio-system"))
    dump = pair.b.admin("/config_dump").body
    assert b'"STRICT"' in dump and b"istio-system/default" in dump
    port = pair.app.port
    pair.b.write_mesh(join_docs(
        peer_authentication("STRICT", namespace="istio-system"),
        peer_authentication("STRICT", name="reviews", selector={"app": "reviews"},
                            ports={port: "DISABLE"})))
    pair.b.signal(signal.SIGHUP)
    wait_for(lambda: "config reloaded" in pair.b.stderr(), what="the reload")
    with socket.create_connection(("127.0.0.1", pair.b.inbound_port), timeout=5) as s:
        s.sendall(b"GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        tls_get(pair.b.inbound_port, client_context(ca, tmp_path, A_ID))


def test_destination_rule_disable_to_strict_server_fails(mesh, ca, tmp_path):
    pair = Pair(mesh, ca, tmp_path, b_mesh=peer_authentication("STRICT"),
                a_mesh=dr_tls("DISABLE"))
    r = pair.call()
    assert r.status == 503, r.describe()
    assert pair.app.paths() == []
    assert metric_sum(pair.a.metrics(), "weft_upstream_tls_handshakes_total") == 0


def test_secure_naming_rejects_the_wrong_identity(mesh, ca, tmp_path):
    # The ServiceEntry says the endpoint runs as "ratings"; B proves it is "reviews".
    pair = Pair(mesh, ca, tmp_path, endpoint_sa="ratings")
    r = pair.call()
    assert r.status == 503, r.describe()
    assert pair.app.paths() == []
    ma = pair.a.metrics()
    assert metric_sum(ma, "weft_upstream_tls_failures_total") >= 1
    # UF (and URX: Istio's default retries on connect failure were used up).
    flags = [lbl["response_flags"] for lbl, _ in metric_series(ma, "istio_requests_total")]
    assert any("UF" in f.split(",") for f in flags), flags
    wait_for(lambda: f'peer identity "{B_ID}" is not the one expected' in pair.a.stderr(),
             what="the secure-naming log line")


def test_peer_without_sidecar_gets_plain_text(mesh, ca, tmp_path):
    # No serviceAccount on the endpoint: not a sidecar, so automatic mTLS sends plain text.
    app = mesh.upstream("plain-app")
    a_certs = ca.write_identity(tmp_path / "a", A_ID)
    a = mesh.proxy(service_entry("reviews", [{"port": app.port}]), service="productpage",
                   bootstrap_extra=identity_block(a_certs))
    r = a.get_out(f"{HOST}:9080", "/x")
    assert r.status == 200, r.describe()
    assert metric_sum(a.metrics(), "weft_upstream_tls_handshakes_total") == 0


def test_istio_mutual_explicit_and_resumption(mesh, ca, tmp_path):
    # One request per connection: every request after the first resumes its TLS session.
    pool = "\n    connectionPool: {http: {maxRequestsPerConnection: 1}}"
    a_mesh = ("apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
              "metadata: {name: reviews, namespace: default}\n"
              f"spec:\n  host: {HOST}\n  trafficPolicy:\n    tls: {{mode: ISTIO_MUTUAL}}" + pool
              + "\n")
    pair = Pair(mesh, ca, tmp_path, b_mesh=peer_authentication("STRICT"), a_mesh=a_mesh)
    for _ in range(10):
        assert pair.call().status == 200
    ma = pair.a.metrics()
    assert metric_sum(ma, "weft_upstream_tls_handshakes_total") == 10
    assert metric_sum(ma, "weft_upstream_tls_resumed_total") >= 8
    assert metric_sum(pair.b.metrics(), "weft_downstream_tls_resumed_total") >= 8


def test_refused_client_certificates(mesh, ca, tmp_path):
    pair = Pair(mesh, ca, tmp_path, b_mesh=peer_authentication("STRICT"))
    port = pair.b.inbound_port
    # Another CA.
    other = Ca("someone else")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cadata=pem(ca.cert).decode())
    d = other.write_identity(tmp_path / "other", A_ID)
    ctx.load_cert_chain(d / "cert-chain.pem", d / "key.pem")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        tls_get(port, ctx)
    # Expired.
    ctx = client_context(ca, tmp_path, None)
    d = ca.write_identity(tmp_path / "expired", A_ID, expired=True)
    ctx.load_cert_chain(d / "cert-chain.pem", d / "key.pem")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        tls_get(port, ctx)
    assert pair.app.paths() == []
    assert metric_sum(pair.b.metrics(), "weft_downstream_tls_failures_total") >= 2


AUTHZ = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-callers, namespace: default}
spec:
  action: ALLOW
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/default/sa/productpage"]}
    to:
    - operation: {methods: [GET], paths: ["/reviews/*"]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-other-namespace, namespace: default}
spec:
  action: DENY
  rules:
  - from:
    - source: {namespaces: ["other"]}
"""


def test_authorization_by_principal_namespace_path_method(mesh, ca, tmp_path):
    pair = Pair(mesh, ca, tmp_path, b_mesh=join_docs(peer_authentication("STRICT"), AUTHZ))
    assert pair.call("/reviews/1").status == 200
    r = pair.call("/admin")
    assert r.status == 403 and r.body == b"RBAC: access denied", r.describe()
    r = request(pair.a.outbound_port, "POST", "/reviews/1", headers={"Host": f"{HOST}:9080"},
                body=b"x")
    assert r.status == 403, r.describe()
    # Another identity of the mesh: not among the principals.
    data, _ = tls_get(pair.b.inbound_port,
                      client_context(ca, tmp_path, f"spiffe://{TD}/ns/default/sa/intruder"),
                      path="/reviews/1")
    assert data.startswith(b"HTTP/1.1 403"), data[:200]
    # The right service account name in the denied namespace.
    data, _ = tls_get(pair.b.inbound_port,
                      client_context(ca, tmp_path, f"spiffe://{TD}/ns/other/sa/productpage"),
                      path="/reviews/1")
    assert data.startswith(b"HTTP/1.1 403"), data[:200]
    # Plain text has no principal: denied by the ALLOW policy (PERMISSIVE would let it in).
    pair.b.write_mesh(join_docs(peer_authentication("PERMISSIVE"), AUTHZ))
    pair.b.signal(signal.SIGHUP)
    wait_for(lambda: "config reloaded" in pair.b.stderr(), what="the reload")
    with socket.create_connection(("127.0.0.1", pair.b.inbound_port), timeout=5) as s:
        s.sendall(b"GET /reviews/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 403")
    assert pair.call("/reviews/2").status == 200
    mb = pair.b.metrics()
    assert metric_sum(mb, "weft_authz_denied_total") >= 4


def test_identity_files_rotate_under_load_on_one_thread(mesh, ca, tmp_path):
    """Static mode: new certificate files are picked up (polled on the main loop: a one-worker
    sidecar stays one thread) while requests flow, and not one request fails."""
    import threading
    import time

    pair = Pair(mesh, ca, tmp_path, b_mesh=peer_authentication("STRICT"))
    assert len(list(Path(f"/proc/{pair.b.pid}/task").iterdir())) == 1
    results: list[int] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                results.append(pair.call(headers={"Connection": "close"}).status)
            except OSError as e:  # every failure counts
                results.append(repr(e))

    t = threading.Thread(target=load, daemon=True)
    t.start()
    try:
        time.sleep(0.5)
        _, before = tls_get(pair.b.inbound_port, client_context(ca, tmp_path, A_ID))
        ca.write_identity(tmp_path / "b-certs", B_ID)  # same identity, new certificate

        def renewed() -> bool:
            _, peer = tls_get(pair.b.inbound_port, client_context(ca, tmp_path, A_ID))
            return peer["serialNumber"] != before["serialNumber"]

        wait_for(renewed, timeout=10, what="the new certificate served")
        time.sleep(0.5)
    finally:
        stop.set()
        t.join(10)
    assert len(results) > 20 and all(r == 200 for r in results), results[-10:]
    assert metric_sum(pair.b.metrics(), "weft_identity_renewals_total", result="ok") >= 2


class TlsOrigin:
    """An HTTPS server outside the mesh (127.0.0.1, certificate for api.example.com), answering
    every GET with 200 and the SNI it saw; with `client_ca` it requires a client certificate."""

    def __init__(self, certs: Path, client_ca: Path | None = None):
        import http.server
        import threading

        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                body = f"sni={getattr(self.connection, 'weft_sni', None)}".encode()
                seen.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certs / "server.crt", certs / "server.key")
        if client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(client_ca)

        def remember_sni(sock, name, _ctx):
            sock.weft_sni = name

        ctx.sni_callback = remember_sni
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


def external(port: int, tls: str) -> str:
    return f"""apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: api, namespace: default}}
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP, targetPort: {port}}}]
  endpoints: [{{address: 127.0.0.1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: api, namespace: default}}
spec:
  host: api.example.com
  trafficPolicy:
    tls: {tls}
"""


def test_tls_origination_simple_and_mutual(mesh, ca, tmp_path):
    certs = ca.dns_leaf("api.example.com", tmp_path / "origin")
    origin = TlsOrigin(certs)
    try:
        a = mesh.proxy(external(origin.port, f"{{mode: SIMPLE, caCertificates: {certs}/ca.crt}}"),
                       service="productpage")
        r = a.get_out("api.example.com", "/s")
        assert r.status == 200 and r.body == b"sni=api.example.com", r.describe()
        assert metric_sum(a.metrics(), "weft_upstream_tls_handshakes_total") == 1
        # The server's name must match: a SAN it does not have fails the connection (UF).
        a.write_mesh(external(origin.port, f"{{mode: SIMPLE, caCertificates: {certs}/ca.crt, "
                                           "subjectAltNames: [other.example.com]}"))
        a.signal(signal.SIGHUP)
        wait_for(lambda: "config reloaded" in a.stderr(), what="the reload")
        assert a.get_out("api.example.com", "/s").status == 503
        assert metric_sum(a.metrics(), "weft_upstream_tls_failures_total") >= 1
    finally:
        origin.close()

    # MUTUAL: the server asks for a client certificate from our CA.
    client = ca.write_identity(tmp_path / "client", A_ID)
    origin = TlsOrigin(certs, client_ca=certs / "ca.crt")
    try:
        tls = (f"{{mode: MUTUAL, caCertificates: {certs}/ca.crt, "
               f"clientCertificate: {client}/cert-chain.pem, privateKey: {client}/key.pem}}")
        b = mesh.proxy(external(origin.port, tls), service="productpage")
        r = b.get_out("api.example.com", "/m")
        assert r.status == 200, r.describe()
        simple = mesh.proxy(external(origin.port, f"{{mode: SIMPLE, caCertificates: "
                                                  f"{certs}/ca.crt}}"), service="productpage")
        assert simple.get_out("api.example.com", "/m").status == 503
    finally:
        origin.close()


def test_tls12_only_when_enabled(mesh, ca, tmp_path):
    def tls12_client() -> ssl.SSLContext:
        ctx = client_context(ca, tmp_path, A_ID)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    default = Pair(mesh, ca, tmp_path / "default", b_mesh=peer_authentication("STRICT"))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        tls_get(default.b.inbound_port, tls12_client())

    app = mesh.upstream("app12")
    certs = ca.write_identity(tmp_path / "b12", B_ID)
    b = mesh.proxy(peer_authentication("STRICT"), app_port=app.port, service="reviews",
                   bootstrap_extra=identity_block(certs) +
                   "tls: {min_version: TLSv1_2, cipher_suites: [ECDHE-ECDSA-AES128-GCM-SHA256]}\n")
    data, _ = tls_get(b.inbound_port, tls12_client())
    assert data.startswith(b"HTTP/1.1 200"), data[:200]


def test_openssl_s_client_as_an_independent_peer(mesh, ca, tmp_path):
    """openssl s_client, not our own TLS code, as the client of a STRICT sidecar."""
    import subprocess

    pair = Pair(mesh, ca, tmp_path, b_mesh=peer_authentication("STRICT"))
    client = ca.write_identity(tmp_path / "s-client", A_ID)
    base = ["openssl", "s_client", "-connect", f"127.0.0.1:{pair.b.inbound_port}", "-quiet",
            "-CAfile", str(client / "root-cert.pem"), "-verify_return_error"]
    request = b"GET /via-s-client HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    ok = subprocess.run(base + ["-cert", str(client / "cert-chain.pem"),
                                "-key", str(client / "key.pem")],
                        input=request, capture_output=True, timeout=20)
    assert ok.stdout.startswith(b"HTTP/1.1 200"), (ok.stdout[:200], ok.stderr[-500:])
    assert "/via-s-client" in pair.app.paths()
    # The sidecar's certificate verifies with `openssl verify` against the mesh root.
    served = subprocess.run(["openssl", "s_client", "-connect",
                             f"127.0.0.1:{pair.b.inbound_port}", "-showcerts",
                             "-cert", str(client / "cert-chain.pem"),
                             "-key", str(client / "key.pem")],
                            input=b"", capture_output=True, timeout=20).stdout.decode()
    leaf = served[served.index("-----BEGIN CERTIFICATE-----"):
                  served.index("-----END CERTIFICATE-----") + 25]
    (tmp_path / "served.pem").write_text(leaf + "\n")
    v = subprocess.run(["openssl", "verify", "-CAfile", str(client / "root-cert.pem"),
                        str(tmp_path / "served.pem")], capture_output=True, text=True)
    assert v.returncode == 0 and ": OK" in v.stdout, v.stdout + v.stderr
    # Without a client certificate: refused in the handshake, nothing reaches the app.
    refused = subprocess.run(base, input=request, capture_output=True, timeout=20)
    assert not refused.stdout.startswith(b"HTTP/"), refused.stdout[:200]
    assert pair.app.paths().count("/via-s-client") == 1
