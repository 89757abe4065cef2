"""weft-control's API over TLS, checked with real clients: `openssl s_client` and curl verify its
certificate (TLS 1.3, signed by its own CA, the control plane's SPIFFE ID and 127.0.0.1 /
localhost as names); plain HTTP to the TLS port gets a clear 400; --plaintext keeps plain HTTP.
Workload certificates as TLS client certificates: their SPIFFE ID is the caller (the rights of
a token bound to its namespace and service account), a certificate from another CA is refused
in the handshake. A real sidecar with an https control plane gets its configuration and its
certificate, then authenticates with the certificate: its token removed from the tokens file,
it keeps polling and renews its certificate."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

import weftlib
from test_control_ca import issue, make_csr, openssl, spiffe
from test_control_plane import OPS, REVIEWS, TOKENS, Control, node_json
from weftlib import SLOW, metric_sum, wait_for

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command line")

CONTROL_ID = "spiffe://cluster.local/ns/istio-system/sa/weft-control"


@pytest.fixture
def control(tmp_path):
    started: list[Control] = []

    def make(**kw) -> Control:
        c = Control(tmp_path / f"cp{len(started)}", config_dir=False, **kw)
        started.append(c)
        return c.start()

    yield make
    for c in started:
        c.stop()


def s_client(cp: Control, *extra: str, data: str = "") -> subprocess.CompletedProcess:
    return openssl("s_client", "-connect", f"127.0.0.1:{cp.port}", "-CAfile", str(cp.bundle),
                   "-verify_return_error", *extra, input=data, check=False)


def test_the_api_speaks_tls_with_its_own_certificate(control, tmp_path):
    cp = control()
    assert cp.bundle.read_text().count("BEGIN CERTIFICATE") == 1
    r = s_client(cp, "-showcerts")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Verify return code: 0 (ok)" in r.stdout, r.stdout
    assert "TLSv1.3" in r.stdout, r.stdout
    leaf = r.stdout[r.stdout.index("-----BEGIN CERTIFICATE-----"):]
    leaf = leaf[:leaf.index("-----END CERTIFICATE-----") + 25]
    (tmp_path / "leaf.pem").write_text(leaf + "\n")
    text = openssl("x509", "-in", str(tmp_path / "leaf.pem"), "-noout", "-text").stdout
    assert f"URI:{CONTROL_ID}" in text, text
    assert "DNS:localhost" in text and "IP Address:127.0.0.1" in text, text
    assert "TLS Web Server Authentication" in text, text
    assert "CN = weft root CA" in text, text  # the issuer: the control plane's own root
    # TLS 1.2 is not offered.
    r = s_client(cp, "-tls1_2")
    assert r.returncode != 0
    # curl verifies the certificate with the bundle and the name 127.0.0.1.
    p = weftlib.curl("--cacert", str(cp.bundle), "-H", f"Authorization: Bearer {OPS}",
                     f"https://127.0.0.1:{cp.port}/ready")
    assert p.returncode == 0 and p.stdout == "ready\n", p.stderr
    p = weftlib.curl("--cacert", str(cp.bundle), "-H", f"Authorization: Bearer {OPS}",
                     f"https://localhost:{cp.port}/v1/nodes")
    assert p.returncode == 0 and p.stdout == "[]", p.stderr
    # Without the bundle curl refuses the server.
    p = weftlib.curl(f"https://127.0.0.1:{cp.port}/ready")
    assert p.returncode != 0


def test_plain_http_to_the_tls_port_fails_cleanly(control):
    cp = control()
    with socket.create_connection(("127.0.0.1", cp.port), timeout=5 * SLOW) as s:
        s.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n"), data
    assert b"this port speaks TLS" in data, data
    p = weftlib.curl(f"http://127.0.0.1:{cp.port}/ready")
    assert p.returncode == 0 and "speaks TLS" in p.stdout, p
    # The server is fine afterwards.
    assert cp.call("GET", "/ready")[0] == 200


def test_plaintext_flag_serves_plain_http(control):
    cp = control(plaintext=True)
    assert cp.call("GET", "/ready")[0] == 200
    assert "plain HTTP" in cp.stderr() and "labs and benchmarks only" in cp.stderr()


def test_workload_certificate_is_the_caller(control, tmp_path):
    cp = control()
    key, chain, _, _ = issue(cp, tmp_path, "reviews", spiffe("default", "reviews"))
    cert = (chain, key)
    # Registration for its own identity, no token at all.
    status, body, _ = cp.call("POST", "/v1/nodes", node_json(), token=None, cert=cert)
    assert status == 200, body
    # A bearer token sent along does not widen the rights: the certificate is the caller.
    status, _, _ = cp.call("GET", "/v1/nodes", token=OPS, cert=cert)
    assert status == 403
    status, body, _ = cp.call("POST", "/v1/nodes", node_json("ratings-1", sa="ratings"),
                              token=None, cert=cert)
    assert status == 403, body
    status, body, _ = cp.call("GET", "/v1/nodes/reviews-v1-1/config?version=0", token=None,
                              cert=cert)
    assert status == 200 and "version" in json.loads(body)
    # A renewal with the certificate only.
    _, csr = make_csr(tmp_path, "again",
                                                     spiffe("default", "reviews"))
    status, body, _ = cp.call("POST", "/v1/certificates", {"csr": csr}, token=None, cert=cert)
    assert status == 200, body
    m = cp.call("GET", "/metrics")[1].decode()
    assert metric_sum(m, "weft_control_api_requests_authenticated_total",
                      credential="certificate") == 5
    assert metric_sum(m, "weft_control_api_requests_authenticated_total", credential="token") >= 1


def test_foreign_client_certificate_and_reserved_identity_are_refused(control, tmp_path):
    cp = control()
    other = control()
    key, chain, _, _ = issue(other, tmp_path, "stranger", spiffe("default", "reviews"))
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        cp.call("POST", "/v1/nodes", node_json(), token=REVIEWS, cert=(chain, key))
    r = s_client(cp, "-cert", str(chain), "-key", str(key), data="GET /ready HTTP/1.1\r\n\r\n")
    assert "HTTP/1.1" not in r.stdout, r.stdout
    # The control plane's own identity is never issued to a workload, not even to an operator.
    _, csr = make_csr(tmp_path, "cp", CONTROL_ID)
    status, body, _ = cp.call("POST", "/v1/certificates", {"csr": csr}, token=OPS)
    assert status == 403 and b"control plane" in body, body


class TlsSidecar(weftlib.Proxy):
    """A sidecar (reviews) in dynamic mode against an https control plane."""

    def __init__(self, workdir: Path, mesh: str, cp: Control, token: str, ttl: str = "1m"):
        self.cp = cp
        self.ttl = ttl
        Path(workdir).mkdir(parents=True, exist_ok=True)
        (Path(workdir) / "token").write_text(token + "\n")
        # The bundle, relative to the bootstrap (resolved from its directory).
        shutil.copy(cp.bundle, Path(workdir) / "cp-roots.pem")
        super().__init__(workdir, mesh, workload="reviews-v1", service="reviews")

    def bootstrap_text(self) -> str:
        return super().bootstrap_text() + (
            f"control_plane: {{url: \"{self.cp.url}\", token_file: token, "
            f"ca_certificate: cp-roots.pem, certificate_ttl: {self.ttl}}}\n")

    def certs(self) -> list[dict]:
        r = self.admin("/certs")
        assert r.status == 200, r.describe()
        return json.loads(r.body)["certificates"]


def test_sidecar_over_https_then_with_its_certificate(control, tmp_path):
    cp = control()
    up = weftlib.Upstream("details")
    p = TlsSidecar(tmp_path / "p", weftlib.service_entry("details", [{"port": up.port}]), cp,
                   REVIEWS).start()
    try:
        wait_for(lambda: p.certs(), timeout=10 * SLOW, what="a certificate")
        first = p.certs()[0]
        assert first["identity"] == spiffe("default", "reviews")
        wait_for(lambda: [n["status"] for n in cp.json("GET", "/v1/nodes")] == ["SYNCED"],
                 timeout=10 * SLOW, what="the node SYNCED")
        # After the first certificate the sidecar's calls present it.
        wait_for(lambda: "authenticating with the workload certificate" in p.stderr(),
                 timeout=40 * SLOW, interval=0.2, what="the switch to the certificate")
        # Its token is removed: the control plane restarts without it (same data dir: same
        # root), and the sidecar keeps polling, acking and renewing with its certificate.
        cp.stop()
        cp.tokens.write_text(f"- {{token: {OPS}}}\n")
        cp.start()
        before = metric_sum(cp.call("GET", "/metrics")[1].decode(),
                            "weft_control_api_requests_authenticated_total",
                            credential="certificate")
        cp.json("POST", "/v1/resources", weftlib.service_entry("ratings", [{"port": 9}]))
        wait_for(lambda: [n["status"] for n in cp.json("GET", "/v1/nodes")] == ["SYNCED"] and
                 "ratings" in p.admin("/config_dump").body.decode(),
                 timeout=10 * SLOW, what="the new configuration acked")
        wait_for(lambda: p.certs()[0]["serial_number"] != first["serial_number"],
                 timeout=45 * SLOW, interval=0.5, what="a renewal with the certificate")
        m = cp.call("GET", "/metrics")[1].decode()
        assert metric_sum(m, "weft_control_api_requests_authenticated_total",
                          credential="certificate") > before
        assert "missing or unknown bearer token" not in p.stderr()
        assert "issued a certificate for " + spiffe("default", "reviews") in cp.stderr()
        assert p.get_out("details.default.svc.cluster.local").status == 200
    finally:
        p.stop()
        up.close()


def test_sidecar_with_identity_files_authenticates_with_them(control, tmp_path):
    """Static identity (files) and an https control plane: the files' certificate, issued by
    the control plane's CA, is presented on the control-plane calls instead of the token."""
    cp = control()
    d = tmp_path / "p"
    d.mkdir()
    key, chain, roots, _ = issue(cp, d, "reviews", spiffe("default", "reviews"), ttl="1h")
    up = weftlib.Upstream("details")

    class FileSidecar(TlsSidecar):
        def bootstrap_text(self) -> str:
            return super().bootstrap_text().replace(", certificate_ttl: 1m", "") + (
                f"identity: {{certificate: {chain.name}, private_key: {key.name}, "
                f"ca_certificates: {roots.name}}}\n")

    p = FileSidecar(d, weftlib.service_entry("details", [{"port": up.port}]), cp, REVIEWS).start()
    try:
        wait_for(lambda: [n["status"] for n in cp.json("GET", "/v1/nodes")] == ["SYNCED"],
                 timeout=10 * SLOW, what="the node SYNCED")
        assert p.certs()[0]["source"] == "files"
        wait_for(lambda: "authenticating with the workload certificate" in p.stderr(),
                 timeout=10 * SLOW, what="calls with the files' certificate")
        m = cp.call("GET", "/metrics")[1].decode()
        assert metric_sum(m, "weft_control_api_requests_authenticated_total",
                          credential="certificate") >= 2
    finally:
        p.stop()
        up.close()
