"""Inbound mutual TLS (--inbound-mtls-certs): the inbound listener accepts only TLS clients
presenting a certificate from the mesh roots; plain text and certificate-less clients are
refused at the connection level; requests from mesh peers reach the app as before."""

from __future__ import annotations

import signal
import socket
import ssl
from pathlib import Path

import pytest

pytest.importorskip("cryptography")
from certs import Ca, client_context, pem, read_response, tls_get  # noqa: E402
from weftlib import join_docs, service_entry, wait_for  # noqa: E402

SERVER_ID = "spiffe://cluster.local/ns/default/sa/ratings"
CLIENT_ID = "spiffe://cluster.local/ns/default/sa/productpage"


@pytest.fixture
def ca():
    return Ca("weft test mesh")


@pytest.fixture
def sidecar(mesh, ca, tmp_path):
    app = mesh.upstream("ratings-app")
    certs = ca.write_identity(tmp_path / "certs", SERVER_ID)
    p = mesh.proxy(join_docs(service_entry("x", [{"port": app.port}])), app_port=app.port,
                   extra_args=["--inbound-mtls-certs", str(certs)], log_level="debug")
    return p, app, certs


def test_mesh_client_gets_through(sidecar, ca, tmp_path):
    p, app, _ = sidecar
    data, peer = tls_get(p.inbound_port, client_context(ca, tmp_path, CLIENT_ID))
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    assert ("URI", SERVER_ID) in peer["subjectAltName"]
    assert app.paths()[-1] == "/hello"
    assert "mutual TLS as " + SERVER_ID in p.stderr() + p.stdout()


def test_client_without_certificate_is_refused(sidecar, ca, tmp_path):
    p, app, _ = sidecar
    with pytest.raises((ssl.SSLError, ConnectionError)):
        tls_get(p.inbound_port, client_context(ca, tmp_path, None))
    assert app.paths() == []
    wait_for(lambda: "peer did not return a certificate" in p.stderr() + p.stdout(),
             timeout=5, what="the refusal in the debug log")


def test_client_from_another_ca_is_refused(sidecar, ca, tmp_path):
    p, app, _ = sidecar
    other = Ca("someone else")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cadata=pem(ca.cert).decode())
    d = other.write_identity(tmp_path / "other", CLIENT_ID)
    ctx.load_cert_chain(d / "cert-chain.pem", d / "key.pem")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        tls_get(p.inbound_port, ctx)
    assert app.paths() == []


def test_plain_text_is_refused_at_the_connection_level(sidecar):
    p, app, _ = sidecar
    with socket.create_connection(("127.0.0.1", p.inbound_port), timeout=5) as s:
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except ConnectionError:
            pass
    assert not data.startswith(b"HTTP/"), data[:200]
    assert app.paths() == []


def test_renewed_certificate_is_picked_up_on_sighup(sidecar, ca, tmp_path):
    p, _, certs = sidecar
    renewed_id = "spiffe://cluster.local/ns/default/sa/ratings-renewed"
    ca.write_identity(certs, renewed_id)
    p.signal(signal.SIGHUP)

    def serves_renewed() -> bool:
        _, peer = tls_get(p.inbound_port, client_context(ca, tmp_path, CLIENT_ID))
        return ("URI", renewed_id) in peer["subjectAltName"]

    wait_for(serves_renewed, timeout=5, what="the renewed certificate")


def test_keep_alive_large_bodies_and_resumption(sidecar, ca, tmp_path):
    p, app, _ = sidecar
    ctx = client_context(ca, tmp_path, CLIENT_ID)
    payload = bytes(i * 31 % 251 for i in range(1 << 20))
    with socket.create_connection(("127.0.0.1", p.inbound_port), timeout=10) as raw:
        with ctx.wrap_socket(raw) as s:
            buf = bytearray()
            # 1 MB up, its length and CRC back; then 1 MB down; same connection.
            s.sendall(b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                      % len(payload) + payload)
            head, body = read_response(s, buf)
            assert head.startswith(b"HTTP/1.1 200"), head
            assert str(len(payload)).encode() in body, body
            s.sendall(b"GET /stream/1048576 HTTP/1.1\r\nHost: x\r\n\r\n")
            head, body = read_response(s, buf)
            assert head.startswith(b"HTTP/1.1 200"), head
            assert len(body) == 1 << 20
            session = s.session
            assert not s.session_reused
            s.unwrap()  # close_notify
    with socket.create_connection(("127.0.0.1", p.inbound_port), timeout=10) as raw:
        with ctx.wrap_socket(raw, session=session) as s:
            s.sendall(b"GET /again HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            head, _ = read_response(s, bytearray())
            assert head.startswith(b"HTTP/1.1 200"), head
            assert s.session_reused, "the second connection resumes the session"
    assert app.paths()[-1] == "/again"
