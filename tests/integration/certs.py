"""Test certificates for the mutual TLS tests: a throw-away CA (EC P-256) that issues SPIFFE
leaf certificates, written in the layout a sidecar reads (cert-chain.pem, key.pem,
root-cert.pem), and small TLS client helpers."""

from __future__ import annotations

import datetime
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def pem(obj) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class Ca:
    def __init__(self, name: str):
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(hours=1))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .sign(self.key, hashes.SHA256()))

    def leaf(self, spiffe_id: str, expired: bool = False):
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        if expired:
            now -= datetime.timedelta(hours=2)
        cert = (x509.CertificateBuilder().subject_name(x509.Name([]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=1))
                .not_valid_after(now + datetime.timedelta(hours=1))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                .add_extension(x509.SubjectAlternativeName(
                    [x509.UniformResourceIdentifier(spiffe_id)]), True)
                .sign(self.key, hashes.SHA256()))
        return cert, key

    def dns_leaf(self, name: str, directory: Path) -> Path:
        """A server certificate for DNS name `name`: directory/server.crt and server.key."""
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=1))
                .not_valid_after(now + datetime.timedelta(hours=1))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
                .sign(self.key, hashes.SHA256()))
        (directory / "server.crt").write_bytes(pem(cert))
        (directory / "server.key").write_bytes(pem(key))
        (directory / "ca.crt").write_bytes(pem(self.cert))
        return directory

    def write_identity(self, directory: Path, spiffe_id: str, expired: bool = False) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = self.leaf(spiffe_id, expired)
        (directory / "cert-chain.pem").write_bytes(pem(cert))
        (directory / "key.pem").write_bytes(pem(key))
        (directory / "root-cert.pem").write_bytes(pem(self.cert))
        return directory


def client_context(ca: Ca, tmp: Path, spiffe_id: str | None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False  # mesh peers are named by SPIFFE ID, not host name
    ctx.load_verify_locations(cadata=pem(ca.cert).decode())
    if spiffe_id:
        d = ca.write_identity(tmp / f"client-{abs(hash(spiffe_id))}", spiffe_id)
        ctx.load_cert_chain(d / "cert-chain.pem", d / "key.pem")
    return ctx


def tls_get(port: int, ctx: ssl.SSLContext, host: str = "x",
            path: str = "/hello") -> tuple[bytes, dict]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw) as s:
            peer = s.getpeercert()
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                      .encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            return data, peer



def read_response(s: ssl.SSLSocket, buf: bytearray) -> tuple[bytes, bytes]:
    """One Content-Length response from `s` (extra bytes stay in `buf`): (head, body)."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        assert chunk, "connection closed before the response head"
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = bytearray(rest)
    while len(body) < length:
        chunk = s.recv(65536)
        assert chunk, "connection closed in the response body"
        body += chunk
    buf[:] = body[length:]
    return head, bytes(body[:length])
