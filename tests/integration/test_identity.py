"""The sidecar's workload identity in dynamic mode, against a real weft-control: weft-proxy makes
a key in memory, sends a CSR to POST /v1/certificates with its bootstrap token, shows the
certificate on the admin GET /certs, and renews it at about half its lifetime (certificate_ttl:
1m, the shortest the CA gives: renewed after 27-33 s, with a new serial). A token bound to
another service account gets 403: no certificate, but plain traffic is still served. Static
mode (identity files) is checked at start with a positioned error."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import weftlib
from test_control_plane import OPS, Control
from weftlib import SLOW, Proxy, Upstream, metric_sum, service_entry, wait_for

REVIEWS_TOKEN = "t-reviews-sidecar"
RATINGS_TOKEN = "t-ratings-sidecar"
TOKENS = (f"- {{token: {OPS}}}\n"
          f"- {{token: {REVIEWS_TOKEN}, namespace: default, service_account: reviews}}\n"
          f"- {{token: {RATINGS_TOKEN}, namespace: default, service_account: ratings}}\n")
REVIEWS_ID = "spiffe://cluster.local/ns/default/sa/reviews"


class IdentityProxy(Proxy):
    """A sidecar for service (and service account) reviews, in dynamic mode."""

    def __init__(self, workdir: Path, mesh: str, *, cp: Control | None, token: str,
                 ttl: str | None = "1m", identity_files: dict | None = None):
        self.cp = cp
        self.ttl = ttl
        self.identity_files = identity_files
        (Path(workdir)).mkdir(parents=True, exist_ok=True)
        (Path(workdir) / "token").write_text(token + "\n")
        super().__init__(workdir, mesh, workload="reviews-v1", service="reviews")

    def bootstrap_text(self) -> str:
        text = super().bootstrap_text()
        if self.cp:
            ttl = f", certificate_ttl: {self.ttl}" if self.ttl else ""
            ca = "" if self.cp.plaintext else f", ca_certificate: \"{self.cp.bundle}\""
            text += (f"control_plane: {{url: \"{self.cp.url}\", "
                     f"token_file: token{ttl}{ca}}}\n")
        if self.identity_files:
            text += "identity:\n" + "".join(f"  {k}: {v}\n"
                                            for k, v in self.identity_files.items())
        return text

    def certs(self) -> list[dict]:
        r = self.admin("/certs")
        assert r.status == 200, r.describe()
        assert r.header("content-type") == "application/json"
        assert b"PRIVATE KEY" not in r.body
        return json.loads(r.body)["certificates"]


@pytest.fixture
def control(tmp_path):
    c = Control(tmp_path / "cp", config_dir=False)
    c.tokens.write_text(TOKENS)
    c.start()
    yield c
    c.stop()


@pytest.fixture
def upstream():
    u = Upstream("details")
    yield u
    u.close()


def mesh_for(upstream: Upstream) -> str:
    return service_entry("details", [{"port": upstream.port}])


def test_certificate_from_the_control_plane_and_its_renewal(control, upstream, tmp_path):
    p = IdentityProxy(tmp_path / "p", mesh_for(upstream), cp=control,
                      token=REVIEWS_TOKEN).start()
    try:
        wait_for(lambda: p.certs(), timeout=10 * SLOW, what="a certificate on /certs")
        first = p.certs()[0]
        assert first["identity"] == REVIEWS_ID
        assert first["source"] == "control_plane"
        assert first["trust_domain"] == "cluster.local"
        # ttl 1m: the CA back-dates notBefore by a minute.
        assert first["not_after"] - first["not_before"] == 120, first
        assert first["days_until_expiration"] == 0
        assert 0 < first["seconds_until_expiration"] <= 60
        assert [c["subject_alt_names"] for c in first["cert_chain"]][0] == [{"uri": REVIEWS_ID}]
        assert first["ca_cert"][0]["subject"] == "O=cluster.local, CN=weft root CA", first
        m = p.metrics()
        assert metric_sum(m, "weft_identity_expiry_timestamp_seconds") == first["not_after"]
        assert metric_sum(m, "weft_identity_renewals_total", result="ok") == 1
        assert f"identity {REVIEWS_ID} valid until" in p.stderr()
        assert "issued a certificate for " + REVIEWS_ID in control.stderr()

        # Renewed at half the lifetime left (30 s ± 10 %), with a new serial and a new key.
        wait_for(lambda: p.certs()[0]["serial_number"] != first["serial_number"],
                 timeout=40 * SLOW, interval=0.5, what="a renewed certificate")
        second = p.certs()[0]
        assert second["identity"] == REVIEWS_ID
        assert second["generation"] > first["generation"]
        assert second["not_after"] > first["not_after"]
        m = p.metrics()
        assert metric_sum(m, "weft_identity_renewals_total", result="ok") == 2
        assert metric_sum(m, "weft_identity_renewals_total", result="error") == 0
        assert metric_sum(m, "weft_identity_expiry_timestamp_seconds") == second["not_after"]
        assert p.stderr().count(f"identity {REVIEWS_ID} valid until") == 2
        assert control.stderr().count("issued a certificate for " + REVIEWS_ID) == 2
        assert p.get_out("details.default.svc.cluster.local").status == 200
    finally:
        p.stop()


def test_a_token_for_another_service_account_gets_no_certificate(control, upstream, tmp_path):
    p = IdentityProxy(tmp_path / "p", mesh_for(upstream), cp=control,
                      token=RATINGS_TOKEN).start()
    try:
        wait_for(lambda: "HTTP 403" in p.stderr() and "certificate for " + REVIEWS_ID in p.stderr(),
                 timeout=10 * SLOW, what="the 403 logged")
        assert p.certs() == []
        m = p.metrics()
        assert metric_sum(m, "weft_identity_renewals_total", result="error") >= 1
        assert metric_sum(m, "weft_identity_renewals_total", result="ok") == 0
        assert metric_sum(m, "weft_identity_expiry_timestamp_seconds") == 0
        # Plain traffic is served all the same.
        r = p.get_out("details.default.svc.cluster.local", "/hello")
        assert r.status == 200, r.describe()
        assert p.alive()
    finally:
        p.stop()


def test_identity_files_are_checked_at_start(tmp_path, upstream):
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("needs the openssl command line")
    d = tmp_path / "p"
    d.mkdir()

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=d, timeout=30)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=test root", "-days", "2")
    run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "key.pem", "-out", "req.pem", "-subj", "/")
    (d / "ext.cnf").write_text(f"subjectAltName=critical,URI:{REVIEWS_ID}\n")
    run("x509", "-req", "-in", "req.pem", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "1", "-extfile", "ext.cnf", "-out", "cert.pem")
    run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
        "other.pem")

    files = {"certificate": "cert.pem", "private_key": "key.pem", "ca_certificates": "ca.pem"}
    p = IdentityProxy(d, mesh_for(upstream), cp=None, token="unused", identity_files=files)
    p.start()
    try:
        c = p.certs()[0]
        assert c["identity"] == REVIEWS_ID and c["source"] == "files"
        assert metric_sum(p.metrics(), "weft_identity_renewals_total", result="ok") == 1
    finally:
        p.stop()

    p.identity_files = {**files, "private_key": "other.pem"}
    p.write_bootstrap()
    r = subprocess.run([str(weftlib.WEFT_PROXY), "--config", str(p.bootstrap_path), "--validate"],
                       capture_output=True, text=True, timeout=30)
    line = p.bootstrap_text().splitlines().index("identity:") + 1
    assert r.returncode == 1
    assert (f"{p.bootstrap_path}:{line}:1: identity: the private key is not the key of the "
            "certificate") in r.stderr, r.stderr
