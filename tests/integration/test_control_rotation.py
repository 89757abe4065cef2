"""Root rotation of weft-control's CA (Istio's plug-in CA root rotation): `weft-control ca
rotate` puts a new root in the trust bundle, which is pushed to a real sidecar (its /certs shows
both roots); after the grace period the CA signs with the new root and the sidecar renews at
once; once the old root's certificates are replaced the old root is dropped, and the sidecar
keeps its configuration and traffic throughout. A restart in the middle of a rotation
continues it; a rotation to an operator's plug-in CA directory sticks across restarts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import weftlib
from test_control_ca import issue, make_plugin_ca, openssl, spiffe
from test_control_plane import OPS, REVIEWS, Control
from test_control_tls import TlsSidecar
from weftlib import SLOW, metric_sum, wait_for

WEFT_CONTROL = weftlib.BIN_DIR / "weft-control"
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None,
                                reason="needs the openssl command line")


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


def ca(cp: Control, *args: str, token: str = OPS) -> subprocess.CompletedProcess:
    token_file = cp.dir / "cli-token"
    token_file.write_text(token + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEFT_")}
    return subprocess.run([str(WEFT_CONTROL), "ca", *args, "--server", cp.url,
                           "--ca-certificate", str(cp.bundle), "--token-file", str(token_file)],
                          capture_output=True, text=True, timeout=20 * SLOW, env=env)


def status(cp: Control) -> dict:
    return cp.json("GET", "/v1/ca")


def bundle_count(cp: Control) -> int:
    return cp.bundle.read_text().count("BEGIN CERTIFICATE")


def test_rotation_reaches_the_sidecar_and_drops_the_old_root(control, tmp_path):
    cp = control(extra=["--rotation-grace", "3s"])
    up = weftlib.Upstream("details")
    p = TlsSidecar(tmp_path / "p", weftlib.service_entry("details", [{"port": up.port}]), cp,
                   REVIEWS).start()
    try:
        wait_for(lambda: p.certs(), timeout=10 * SLOW, what="a certificate")
        # The certificate may arrive while a long poll (up to 30 s) is held with the token: a
        # push ends that poll, and the next call goes out with the certificate.
        cp.json("POST", "/v1/resources?source=wake.yaml",
                weftlib.service_entry("wake", [{"port": 9}]))
        wait_for(lambda: "authenticating with the workload certificate" in p.stderr(),
                 timeout=10 * SLOW, what="the sidecar on its certificate")
        before = status(cp)
        assert before["phase"] == "none" and len(before["roots"]) == 1
        old_root = before["roots"][0]["fingerprint"]
        assert before["signing_root"] == old_root
        assert [c["subject"] for c in p.certs()[0]["ca_cert"]] == \
            ["O=cluster.local, CN=weft root CA"]

        # Only operators may rotate.
        r = ca(cp, "rotate", token=REVIEWS)
        assert r.returncode == 1 and "403" in r.stderr, r.stderr
        r = ca(cp, "rotate")
        assert r.returncode == 0, r.stderr
        assert "root rotation started" in r.stdout and "phase: distributing" in r.stdout
        assert len(r.stdout.strip().splitlines()) == 5, r.stdout  # +phase, header, two roots
        r = ca(cp, "rotate")
        assert r.returncode == 1 and "409" in r.stderr and "in progress" in r.stderr, r.stderr

        # The bundle old+new reaches the sidecar (same certificate, both roots) and the file.
        assert bundle_count(cp) == 2
        wait_for(lambda: len(p.certs()[0]["ca_cert"]) == 2, timeout=10 * SLOW,
                 what="both roots on the sidecar's /certs")
        subjects = [c["subject"] for c in p.certs()[0]["ca_cert"]]
        assert "O=cluster.local, CN=weft root CA (rotated)" in subjects, subjects
        m = cp.call("GET", "/metrics")[1].decode()
        assert metric_sum(m, "weft_control_ca_rotation_phase") == 1
        assert metric_sum(m, "weft_control_ca_trusted_roots") == 2
        assert metric_sum(m, "weft_control_ca_rotations_started_total") == 1

        # After the grace period the new root signs, and the sidecar renews at once: its chain
        # ends at the new root.
        wait_for(lambda: p.certs()[0]["cert_chain"][-1]["subject"].endswith("(rotated)"),
                 timeout=20 * SLOW, interval=0.2, what="a certificate from the new root")
        new_root = [r for r in status(cp)["roots"] if r["fingerprint"] != old_root][0]
        assert new_root["signing"] is True

        # Its old certificate replaced, the old root is dropped: bundle = the new root only.
        wait_for(lambda: status(cp)["phase"] == "none", timeout=70 * SLOW, interval=0.5,
                 what="the rotation to finish")
        after = status(cp)
        assert [r["fingerprint"] for r in after["roots"]] == [new_root["fingerprint"]]
        assert after["signing_root"] == new_root["fingerprint"]
        assert bundle_count(cp) == 1
        wait_for(lambda: [c["subject"] for c in p.certs()[0]["ca_cert"]] ==
                 ["O=cluster.local, CN=weft root CA (rotated)"], timeout=10 * SLOW,
                 what="the sidecar's bundle without the old root")
        m = cp.call("GET", "/metrics")[1].decode()
        assert metric_sum(m, "weft_control_ca_rotation_phase") == 0
        assert metric_sum(m, "weft_control_ca_trusted_roots") == 1
        assert metric_sum(m, "weft_control_ca_rotations_completed_total") == 1
        r = ca(cp, "status")
        assert r.returncode == 0 and r.stdout.startswith("phase: none"), r.stdout + r.stderr
        # The new root is the root now, on disk too.
        root_file = (cp.data_dir / "ca" / "root-cert.pem").read_text()
        assert root_file.strip() == cp.bundle.read_text().strip()
        assert not (cp.data_dir / "ca" / "next").exists()

        # The sidecar still follows the control plane (with its new certificate) and serves.
        cp.json("POST", "/v1/resources", weftlib.service_entry("ratings", [{"port": 9}]))
        wait_for(lambda: "ratings" in p.admin("/config_dump").body.decode(), timeout=10 * SLOW,
                 what="a change after the rotation")
        assert p.get_out("details.default.svc.cluster.local").status == 200
        assert "issued a certificate" in cp.stderr()
    finally:
        p.stop()
        up.close()


def test_a_restart_in_the_middle_of_a_rotation_continues_it(control, tmp_path):
    cp = control(extra=["--rotation-grace", "1h"])
    # A certificate of the old root, to keep the rotation waiting later.
    issue(cp, tmp_path, "reviews", spiffe("default", "reviews"), ttl="1h")
    assert ca(cp, "rotate").returncode == 0
    first = status(cp)
    assert first["phase"] == "distributing"
    cp.stop()
    cp.start()
    again = status(cp)
    assert again["phase"] == "distributing"
    assert again["switch_at"] == first["switch_at"]
    assert [r["fingerprint"] for r in again["roots"]] == [r["fingerprint"] for r in first["roots"]]
    assert bundle_count(cp) == 2
    assert "root rotation in progress (distributing): continuing" in cp.stderr()
    # Restarted with a short grace: the switch comes, and the old root waits for its
    # certificate (valid for an hour, not replaced) while a new certificate chains to the new
    # root.
    cp.stop()
    cp.extra = ["--rotation-grace", "1s"]
    state = json.loads((cp.data_dir / "ca-state.json").read_text())
    state["switch_at"] = state["started_at"] + 1  # the grace is the one the rotation began with
    (cp.data_dir / "ca-state.json").write_text(json.dumps(state))
    cp.start()
    wait_for(lambda: status(cp)["phase"] == "signing", timeout=10 * SLOW, what="the switch")
    s = status(cp)
    assert s["outstanding_certificates"] == 1
    _, chain, roots, answer = issue(cp, tmp_path, "reviews2", spiffe("default", "reviews"))
    assert answer["root_certificates"].count("BEGIN CERTIFICATE") == 2
    out = openssl("x509", "-in", str(chain), "-noout", "-issuer").stdout
    assert "(rotated)" in out, out
    cp.stop()
    cp.start()
    assert status(cp)["phase"] == "signing"
    assert status(cp)["outstanding_certificates"] == 1


def test_rotation_to_an_operators_plugin_ca(control, tmp_path):
    cp = control(extra=["--rotation-grace", "1s"])
    plugin = tmp_path / "cacerts"
    make_plugin_ca(plugin)
    r = ca(cp, "rotate", "--ca-dir", str(tmp_path / "missing"))
    assert r.returncode == 1 and "400" in r.stderr, r.stderr
    r = ca(cp, "rotate", "--ca-dir", str(plugin))
    assert r.returncode == 0, r.stderr
    # No certificate of the old root was issued: it is dropped right after the switch.
    wait_for(lambda: status(cp)["phase"] == "none", timeout=10 * SLOW, what="the rotation")
    s = status(cp)
    assert s["source"].startswith("plug-in"), s
    _, chain, _, answer = issue(cp, tmp_path, "reviews", spiffe("default", "reviews"))
    assert answer["certificate_chain"].count("BEGIN CERTIFICATE") == 3  # leaf, intermediate, root
    assert bundle_count(cp) == answer["root_certificates"].count("BEGIN CERTIFICATE")
    # A restart (still without --ca-dir) keeps the operator's CA.
    cp.stop()
    cp.start()
    assert status(cp)["source"].startswith("plug-in")
    assert "the CA was rotated to" in cp.stderr()
