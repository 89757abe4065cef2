"""weft-control's certificate authority over 127.0.0.1, checked with the openssl command line:
keys and CSRs made by `openssl req`, POST /v1/certificates with sidecar and operator tokens, the
issued chains verified by `openssl verify`, the root kept (mode 0600) across restarts, a
plug-in CA directory, and an mTLS handshake between `openssl s_server` and `s_client` using two
issued certificates."""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

import weftlib
from test_control_plane import OPS, REVIEWS, Control
from weftlib import SLOW, free_port

WEFT_CONTROL = weftlib.BIN_DIR / "weft-control"
OPENSSL = shutil.which("openssl")

pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command line")


def spiffe(ns: str, sa: str, td: str = "cluster.local") -> str:
    return f"spiffe://{td}/ns/{ns}/sa/{sa}"


def openssl(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run([OPENSSL, *args], capture_output=True, text=True, timeout=30 * SLOW, **kw)
    if check:
        assert p.returncode == 0, f"openssl {' '.join(args)}\n{p.stdout}\n{p.stderr}"
    return p


def make_csr(workdir: Path, name: str, identity: str) -> tuple[Path, str]:
    """A P-256 key and a CSR with an empty subject and the identity as its one URI SAN."""
    key = workdir / f"{name}.key"
    csr = workdir / f"{name}.csr"
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/", "-addext", f"subjectAltName=URI:{identity}",
            "-keyout", str(key), "-out", str(csr))
    return key, csr.read_text()


def issue(cp: Control, workdir: Path, name: str, identity: str, token: str = REVIEWS,
          **extra) -> tuple[Path, Path, Path, dict]:
    """Asks for a certificate; returns the key, the chain file, the trust bundle file, the JSON."""
    key, csr = make_csr(workdir, name, identity)
    answer = cp.json("POST", "/v1/certificates", {"csr": csr, **extra}, token=token)
    chain = workdir / f"{name}.chain.pem"
    roots = workdir / f"{name}.roots.pem"
    chain.write_text(answer["certificate_chain"])
    roots.write_text(answer["root_certificates"])
    return key, chain, roots, answer


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


def test_sidecar_token_gets_its_identity_and_the_chain_verifies(control, tmp_path):
    cp = control()
    identity = spiffe("default", "reviews")
    _, chain, roots, answer = issue(cp, tmp_path, "reviews", identity, ttl="1h")
    assert answer["identity"] == identity
    assert abs(answer["expires_at"] - (time.time() + 3600)) < 30
    v = openssl("verify", "-CAfile", str(roots), "-untrusted", str(chain), str(chain))
    assert v.stdout.strip().endswith(": OK"), v.stdout
    san = openssl("x509", "-in", str(chain), "-noout", "-ext", "subjectAltName").stdout
    assert f"URI:{identity}" in san, san
    assert "critical" in san, san
    usage = openssl("x509", "-in", str(chain), "-noout", "-ext",
                    "basicConstraints,keyUsage,extendedKeyUsage").stdout
    assert "CA:FALSE" in usage and "Digital Signature" in usage, usage
    assert "TLS Web Server Authentication" in usage and "TLS Web Client Authentication" in usage
    # The trust bundle is the control plane's root.
    root = openssl("x509", "-in", str(roots), "-noout", "-subject").stdout
    assert "O = cluster.local" in root and "CN = weft root CA" in root, root


def test_other_identities_are_refused(control, tmp_path):
    cp = control()
    _, csr = make_csr(tmp_path, "ratings", spiffe("default", "ratings"))
    status, data, _ = cp.call("POST", "/v1/certificates", {"csr": csr}, token=REVIEWS)
    assert status == 403, data
    err = json.loads(data)
    assert err["identity"] == spiffe("default", "ratings")
    assert err["allowed"] == spiffe("default", "reviews")
    status, _, headers = cp.call("POST", "/v1/certificates", {"csr": csr}, token=None)
    assert status == 401 and headers.get("www-authenticate") == "Bearer"
    # An operator may get it; nobody gets another trust domain or a malformed request.
    assert cp.call("POST", "/v1/certificates", {"csr": csr}, token=OPS)[0] == 200
    _, foreign = make_csr(tmp_path, "foreign", spiffe("default", "reviews", td="evil.org"))
    status, data, _ = cp.call("POST", "/v1/certificates", {"csr": foreign}, token=OPS)
    assert status == 400 and b"trust domain" in data, data
    status, data, _ = cp.call("POST", "/v1/certificates", "not json", token=REVIEWS)
    assert status == 400, data
    metrics = cp.call("GET", "/metrics")[1].decode()
    assert "weft_control_certificates_issued_total 1" in metrics
    assert 'weft_control_certificate_requests_rejected_total{reason="identity"} 1' in metrics
    assert 'weft_control_certificate_requests_rejected_total{reason="bad_request"} 2' in metrics
    m = re.search(r"^weft_control_ca_root_expiry_timestamp_seconds (\S+)$", metrics, re.M)
    assert m and float(m.group(1)) > time.time() + 9 * 365 * 86400, metrics


def test_root_is_private_and_kept_across_restarts(control, tmp_path):
    cp = control()
    key = cp.data_dir / "ca" / "root-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    _, chain, roots, _ = issue(cp, tmp_path, "before", spiffe("default", "reviews"))
    cp.stop()
    cp.start()
    _, _, roots_after, _ = issue(cp, tmp_path, "after", spiffe("default", "reviews"))
    assert roots_after.read_text() == roots.read_text()
    # A certificate issued before the restart still verifies with the bundle served after it.
    openssl("verify", "-CAfile", str(roots_after), "-untrusted", str(chain), str(chain))
    assert "created the root CA" in cp.stderr() and "using the root CA" in cp.stderr()


def mtls(server: tuple[Path, Path], client: tuple[Path, Path], roots: Path,
         client_roots: Path | None = None) -> tuple[subprocess.CompletedProcess, str]:
    """One connection from `openssl s_client` to `openssl s_server`, each presenting an issued
    (key, chain) and requiring the other's to verify against `roots`: the client sends a line.
    Returns the client's result and the server's output."""
    port = free_port()
    srv_key, srv_chain = server
    cli_key, cli_chain = client
    proc = subprocess.Popen(
        [OPENSSL, "s_server", "-accept", f"127.0.0.1:{port}", "-naccept", "1",
         "-cert", str(srv_chain), "-cert_chain", str(srv_chain), "-key", str(srv_key),
         "-CAfile", str(roots), "-Verify", "1", "-verify_return_error"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # s_server prints ACCEPT once it listens (connecting to check would use its one accept).
        seen = []
        while not seen or seen[-1].strip() != "ACCEPT":
            line = proc.stdout.readline()
            assert line, f"s_server did not start: {''.join(seen)}"
            seen.append(line)
        result = subprocess.run(
            [OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-cert", str(cli_chain),
             "-cert_chain", str(cli_chain), "-key", str(cli_key),
             "-CAfile", str(client_roots or roots), "-verify_return_error", "-verify", "2"],
            input="hello over mTLS\n", capture_output=True, text=True, timeout=30 * SLOW)
        return result, "".join(seen) + proc.communicate(timeout=30 * SLOW)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_certificates_work_for_mutual_tls(control, tmp_path):
    cp = control()
    srv_key, srv_chain, roots, _ = issue(cp, tmp_path, "server", spiffe("default", "reviews"))
    cli_key, cli_chain, _, _ = issue(cp, tmp_path, "client", spiffe("default", "productpage"),
                                     token=OPS)
    client, server_out = mtls((srv_key, srv_chain), (cli_key, cli_chain), roots)
    assert client.returncode == 0, client.stdout + client.stderr
    assert "Verify return code: 0 (ok)" in client.stdout, client.stdout
    # The server asked for the client's certificate, verified it, then read the data.
    assert "Client certificate" in server_out, server_out
    assert "issuer=O = cluster.local, CN = weft root CA" in server_out, server_out
    assert "hello over mTLS" in server_out, server_out

    # A client certificate from another control plane's CA is refused by the server.
    other = control()
    bad_key, bad_chain, _, _ = issue(other, tmp_path, "stranger", spiffe("default", "reviews"))
    _, server_out = mtls((srv_key, srv_chain), (bad_key, bad_chain), roots)
    assert "hello over mTLS" not in server_out, server_out
    assert "certificate verify failed" in server_out, server_out


def make_plugin_ca(d: Path) -> None:
    """Istio's plug-in layout made with the openssl command line: root -> intermediate."""
    d.mkdir(parents=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/O=Example/CN=Example Root CA", "-days", "30",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", str(d / "root-key.pem"), "-out", str(d / "root-cert.pem"))
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/O=Example/CN=Intermediate CA", "-keyout", str(d / "ca-key.pem"),
            "-out", str(d / "ca.csr"))
    (d / "ext.cnf").write_text("[v3_ca]\nbasicConstraints=critical,CA:TRUE\n"
                               "keyUsage=critical,keyCertSign,cRLSign\n"
                               "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n")
    openssl("x509", "-req", "-in", str(d / "ca.csr"), "-CA", str(d / "root-cert.pem"),
            "-CAkey", str(d / "root-key.pem"), "-CAcreateserial", "-days", "20",
            "-extfile", str(d / "ext.cnf"), "-extensions", "v3_ca", "-out", str(d / "ca-cert.pem"))
    (d / "cert-chain.pem").write_text((d / "ca-cert.pem").read_text() +
                                      (d / "root-cert.pem").read_text())


def test_plugin_ca(control, tmp_path):
    plugin = tmp_path / "cacerts"
    make_plugin_ca(plugin)
    cp = control(extra=["--ca-dir", str(plugin)])
    _, chain, roots, _ = issue(cp, tmp_path, "reviews", spiffe("default", "reviews"))
    assert roots.read_text() == (plugin / "root-cert.pem").read_text()
    assert chain.read_text().count("BEGIN CERTIFICATE") == 3  # leaf, intermediate, root
    openssl("verify", "-CAfile", str(roots), "-untrusted", str(chain), str(chain))
    issuer = openssl("x509", "-in", str(chain), "-noout", "-issuer").stdout
    assert "Intermediate CA" in issuer, issuer
    assert not (cp.data_dir / "ca").exists(), "no root of its own with a plug-in CA"


def test_bad_plugin_ca_and_flags_stop_the_start(tmp_path):
    plugin = tmp_path / "cacerts"
    make_plugin_ca(plugin)
    shutil.copy(plugin / "root-key.pem", plugin / "ca-key.pem")  # the key of another certificate

    def serve(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(WEFT_CONTROL), "serve", "--listen", "127.0.0.1:0", *args],
                              capture_output=True, text=True, timeout=30 * SLOW)

    p = serve("--ca-dir", str(plugin))
    assert p.returncode == 1, p.stderr
    assert "ca-key.pem is not the private key of" in p.stderr, p.stderr
    p = serve("--ca-dir", str(tmp_path / "nowhere"))
    assert p.returncode == 1 and "cannot read" in p.stderr, p.stderr
    p = serve("--cert-ttl", "30s")
    assert p.returncode == 2 and "--cert-ttl" in p.stderr, p.stderr
    p = serve("--cert-ttl", "31d")
    assert p.returncode == 2, p.stderr
    p = serve("--trust-domain", "Bad/Domain")
    assert p.returncode == 2 and "--trust-domain" in p.stderr, p.stderr


def test_trust_domain_and_ttl_flags(control, tmp_path):
    cp = control(extra=["--trust-domain", "example.org", "--cert-ttl", "2h"])
    _, chain, roots, answer = issue(cp, tmp_path, "reviews",
                                    spiffe("default", "reviews", td="example.org"))
    assert abs(answer["expires_at"] - (time.time() + 7200)) < 30
    assert "O = example.org" in openssl("x509", "-in", str(roots), "-noout", "-subject").stdout
    _, csr = make_csr(tmp_path, "old", spiffe("default", "reviews"))
    status, data, _ = cp.call("POST", "/v1/certificates", {"csr": csr}, token=REVIEWS)
    assert status == 400 and b"example.org" in data, data
