"""weft-control's client commands (apply, delete, get, validate, status, explain) against a real
`weft-control serve` on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import os
import signal
import ssl
import subprocess
import time
from pathlib import Path

import pytest

import weftlib
from weftlib import SLOW, free_port

WEFT_CONTROL = weftlib.BIN_DIR / "weft-control"
OPS = "s3cr3t-ops"


def service_entry(name: str, ns: str = "default") -> str:
    return f"""apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: {name}
  namespace: {ns}
spec:
  hosts: [{name}.{ns}.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {{number: 9080, name: http, protocol: HTTP}}
  endpoints:
  - {{address: 127.0.0.1, ports: {{http: 9001}}, labels: {{version: v1}}}}
  - {{address: 127.0.0.1, ports: {{http: 9002}}, labels: {{version: v2}}, weight: 3}}
"""


RULES = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews.default.svc.cluster.local
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - name: beta
    match: [{uri: {prefix: /beta}}]
    route:
    - destination: {host: reviews, subset: v2}
  - route:
    - destination: {host: reviews, subset: v1}
"""

NODE = {"id": "reviews-v1-1", "workload": "reviews-v1", "namespace": "default",
        "service_account": "reviews", "service": "reviews",
        "labels": {"app": "reviews", "version": "v1"}, "address": "127.0.0.1",
        "ports": [{"name": "http", "port": 15006, "app_port": 9080}]}


class Server:
    """A running weft-control serve with an operator token."""

    def __init__(self, workdir: Path):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        # The API's roots: what the CLI verifies the server with (--ca-certificate).
        self.bundle = self.dir / "data" / "trust-bundle.pem"
        (self.dir / "tokens.yaml").write_text(f"- {{token: {OPS}}}\n")
        self.token_file = self.dir / "token"
        self.token_file.write_text(OPS + "\n")
        self.stderr_path = self.dir / "serve.stderr"
        assert WEFT_CONTROL.exists(), f"{WEFT_CONTROL} not found: build it or set WEFT_BIN_DIR"
        self.proc = subprocess.Popen(
            [str(WEFT_CONTROL), "serve", "--listen", f"127.0.0.1:{self.port}",
             "--tokens", str(self.dir / "tokens.yaml"), "--data-dir", str(self.dir / "data")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.stderr_path, "ab"))
        deadline = time.monotonic() + 10 * SLOW
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"weft-control exited early\n{self.stderr()}"
            try:
                if self.call("GET", "/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"weft-control not ready\n{self.stderr()}")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def call(self, method: str, path: str, body=None) -> tuple[int, bytes]:
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.port, timeout=10 * SLOW,
            context=ssl.create_default_context(cafile=str(self.bundle)))
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            conn.request(method, path, body=body, headers={"Authorization": f"Bearer {OPS}"})
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(10 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"weft-control ignored SIGTERM\n{self.stderr()}")
            assert rc == 0, f"exit code {rc}\n{self.stderr()}"
        assert not any(p in self.stderr() for p in weftlib.SANITIZER_PATTERNS), self.stderr()


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path / "cp")
    yield s
    s.stop()


def cli(*args: str, server: Server | None = None, cwd: Path | None = None,
        env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs a client command (with the server's URL and token in the environment)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("WEFT_")}
    if server is not None:
        e["WEFT_SERVER"] = server.url
        e["WEFT_TOKEN_FILE"] = str(server.token_file)
        e["WEFT_CA_CERTIFICATE"] = str(server.bundle)
    e.update(env or {})
    p = subprocess.run([str(WEFT_CONTROL), *args], cwd=cwd, env=e, capture_output=True,
                       text=True, timeout=30 * SLOW)
    assert not any(pat in p.stderr for pat in weftlib.SANITIZER_PATTERNS), p.stderr
    return p


def write_mesh_dir(base: Path) -> Path:
    d = base / "mesh.d"
    d.mkdir()
    (d / "a-services.yaml").write_text(service_entry("reviews"))
    (d / "b-rules.yml").write_text(RULES)
    (d / "notes.txt").write_text("not yaml")
    return d


def test_apply_a_directory_then_get(server, tmp_path):
    d = write_mesh_dir(tmp_path)
    p = cli("apply", "-f", "mesh.d", server=server, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["created ServiceEntry default/reviews",
                                     "created DestinationRule default/reviews",
                                     "created VirtualService default/reviews"]
    p = cli("apply", "-f", str(d), server=server)
    assert p.returncode == 0, p.stderr
    assert all(line.startswith("unchanged ") for line in p.stdout.splitlines()), p.stdout

    p = cli("get", "vs", server=server)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "HOSTS", "SOURCE", "REVISION"]
    assert lines[1].split()[:3] == ["default", "reviews", "reviews"]
    p = cli("get", "all", server=server)
    assert [line.split()[0] for line in p.stdout.splitlines()[1:]] == [
        "DestinationRule", "ServiceEntry", "VirtualService"]
    p = cli("get", "DestinationRule", "default/reviews", "-o", "yaml", server=server)
    assert p.returncode == 0, p.stderr
    assert p.stdout == RULES.split("---\n")[0]

    p = cli("get", "serviceentries", "-o", "json", server=server)
    assert p.returncode == 0, p.stderr
    items = json.loads(p.stdout)
    assert [i["name"] for i in items] == ["reviews"]
    assert items[0]["object"]["spec"]["ports"][0]["number"] == 9080

    p = cli("get", "se", "nope", server=server)
    assert p.returncode == 1
    assert p.stdout == ""
    assert len(p.stderr.strip().splitlines()) == 1
    assert "404" in p.stderr and "no se" not in p.stderr


def test_a_bad_file_is_reported_with_its_position_and_nothing_is_applied(server, tmp_path):
    d = tmp_path / "conf"
    d.mkdir()
    (d / "a.yaml").write_text(service_entry("ratings"))
    # b.yaml: a valid document, then a bad port on line 24 (the 11th line of the 2nd document).
    bad = service_entry("details") + "---\n" + service_entry("broken").replace(
        "number: 9080", "number: 99999")
    (d / "b.yaml").write_text(bad)
    bad_line = bad.splitlines().index("  - {number: 99999, name: http, protocol: HTTP}") + 1
    col = len("  - {") + 1 + len("number: ")
    p = cli("apply", "-f", "conf", server=server, cwd=tmp_path)
    assert p.returncode == 1
    assert p.stdout == ""
    errors = [line for line in p.stderr.splitlines() if not line.startswith("weft-control:")]
    assert errors, p.stderr
    assert errors[0].startswith(f"conf/b.yaml:{bad_line}:{col}: "), p.stderr
    assert "99999" in errors[0]
    status, body = server.call("GET", "/v1/resources")
    assert status == 200 and json.loads(body) == []

    # One file alone: its own name, its own lines.
    p = cli("apply", "-f", "conf/b.yaml", server=server, cwd=tmp_path)
    assert p.returncode == 1
    assert p.stderr.startswith(f"conf/b.yaml:{bad_line}:{col}: "), p.stderr

    # validate reports the same without a server.
    p = cli("validate", "conf", cwd=tmp_path)
    assert p.returncode == 1
    assert p.stdout.startswith(f"conf/b.yaml:{bad_line}:{col}: "), p.stdout


def test_delete(server, tmp_path):
    write_mesh_dir(tmp_path)
    assert cli("apply", "-f", "mesh.d", server=server, cwd=tmp_path).returncode == 0
    p = cli("delete", "-f", "mesh.d/b-rules.yml", server=server, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["deleted DestinationRule default/reviews",
                                     "deleted VirtualService default/reviews"]
    p = cli("get", "all", "-o", "json", server=server)
    assert [i["kind"] for i in json.loads(p.stdout)] == ["ServiceEntry"]
    # Deleting what does not exist: positioned errors, nothing deleted.
    p = cli("delete", "-f", "mesh.d", server=server, cwd=tmp_path)
    assert p.returncode == 1
    assert "mesh.d/b-rules.yml:1:1: DestinationRule default/reviews does not exist" in p.stderr
    assert "mesh.d/b-rules.yml:10:1: VirtualService default/reviews does not exist" in p.stderr
    p = cli("get", "se", "-o", "json", server=server)
    assert [i["name"] for i in json.loads(p.stdout)] == ["reviews"]


def test_validate_offline_catches_references_that_point_nowhere(tmp_path):
    d = write_mesh_dir(tmp_path)
    p = cli("validate", "mesh.d", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout == ""
    typo = RULES.replace("subset: v2", "subset: v3").replace(
        "- route:\n    - destination: {host: reviews, subset: v1}",
        "- route:\n    - destination: {host: nowhere}")
    (tmp_path / "typo.yaml").write_text(typo)
    lines = typo.splitlines()
    v3_line = next(i for i, line in enumerate(lines) if "subset: v3" in line) + 1
    nowhere_line = next(i for i, line in enumerate(lines) if "host: nowhere" in line) + 1
    col = lines[v3_line - 1].index("{") + 1
    # No server anywhere: validate works offline (an unreachable WEFT_SERVER is not used).
    p = cli("validate", str(d / "a-services.yaml"), "typo.yaml",
            cwd=tmp_path, env={"WEFT_SERVER": f"http://127.0.0.1:{free_port()}"})
    assert p.returncode == 1
    out = p.stdout.splitlines()
    assert any(line.startswith(f"typo.yaml:{v3_line}:{col}: ") and "subset 'v3'" in line
               for line in out), p.stdout
    assert any(line.startswith(f"typo.yaml:{nowhere_line}:{col}: ") and "'nowhere" in line
               for line in out), p.stdout
    assert "warning" not in p.stdout
    p = cli("validate", "-o", "json", "typo.yaml", str(d / "a-services.yaml"), cwd=tmp_path)
    assert p.returncode == 1
    assert any("subset 'v3'" in e for e in json.loads(p.stdout)["errors"]), p.stdout
    # A VirtualService for a service nobody declares is ignored whole: an error too.
    (tmp_path / "other.yaml").write_text(RULES.replace("hosts: [reviews]", "hosts: [ratings]"))
    p = cli("validate", "other.yaml", str(d / "a-services.yaml"), cwd=tmp_path)
    assert p.returncode == 1
    assert p.stdout.startswith("other.yaml:14:11: VirtualService default/reviews: host "
                               "'ratings.default.svc.cluster.local' matches no"), p.stdout


def test_validate_against_the_server(server, tmp_path):
    d = write_mesh_dir(tmp_path)
    (d / "b-rules.yml").unlink()
    assert cli("apply", "-f", "mesh.d", server=server, cwd=tmp_path).returncode == 0
    (tmp_path / "rules.yaml").write_text(RULES)
    # Offline, the VirtualService's service is unknown; the server knows it.
    assert cli("validate", "rules.yaml", cwd=tmp_path).returncode == 1
    p = cli("validate", "--server", server.url, "--token-file", str(server.token_file),
            "--ca-certificate", str(server.bundle), "rules.yaml", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr


def test_status_lists_registered_sidecars(server):
    p = cli("status", server=server)
    assert p.returncode == 0, p.stderr
    assert "no sidecars" in p.stderr
    assert server.call("POST", "/v1/nodes", NODE)[0] == 200
    status, body = server.call("GET", "/v1/nodes/reviews-v1-1/config?version=0")
    assert status == 200
    version = json.loads(body)["version"]
    p = cli("status", server=server)
    assert p.returncode == 0, p.stderr
    head, row = p.stdout.splitlines()
    assert head.split()[:6] == ["NODE", "WORKLOAD", "NAMESPACE", "VERSION", "ACKED", "STATUS"]
    assert row.split()[:6] == ["reviews-v1-1", "reviews-v1", "default", str(version), "0",
                               "STALE"]
    assert row.rstrip().endswith("ago")
    assert server.call("POST", "/v1/nodes/reviews-v1-1/ack",
                       {"version": version, "error": "resources:3:5: bad port"})[0] == 204
    p = cli("status", server=server)
    assert "NACK (resources:3:5: bad port)" in p.stdout
    assert server.call("POST", "/v1/nodes/reviews-v1-1/ack", {"version": version})[0] == 204
    p = cli("status", "-o", "json", server=server)
    nodes = json.loads(p.stdout)
    assert (nodes[0]["id"], nodes[0]["status"], nodes[0]["version_acked"]) == (
        "reviews-v1-1", "SYNCED", version)


def test_explain_names_the_route(server, tmp_path):
    write_mesh_dir(tmp_path)
    assert cli("apply", "-f", "mesh.d", server=server, cwd=tmp_path).returncode == 0
    assert server.call("POST", "/v1/nodes", NODE)[0] == 200
    p = cli("explain", "--from", "reviews-v1", "http://reviews:9080/beta/x",
            "-H", "x-user: jason", server=server, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    beta_line = RULES.splitlines().index("  - name: beta") + 1
    assert f"Route:        reviews.default.beta (mesh.d/b-rules.yml:{beta_line}:5)" in out, out
    assert "from VirtualService default/reviews, http rule 'beta'" in out, out
    assert "subset v2" in out
    assert "127.0.0.1:9002" in out and "127.0.0.1:9001" not in out
    assert "Result:       routed" in out
    p = cli("explain", "--from", "reviews-v1", "http://reviews:9080/", "-o", "json",
            server=server, cwd=tmp_path)
    out = json.loads(p.stdout)
    assert out["route"]["name"] == "reviews.default"
    assert out["destinations"][0]["subset"] == "v1"
    p = cli("explain", "--from", "nobody", "http://reviews/", server=server)
    assert p.returncode == 1
    assert "nobody" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_errors_are_one_clean_line(server, tmp_path):
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-token\n")
    for args in (["status"], ["get", "vs"], ["apply", "-f", str(tmp_path / "x.yaml")]):
        if args[0] == "apply":
            (tmp_path / "x.yaml").write_text(service_entry("x"))
        p = cli(*args, "--token-file", str(wrong), server=server)
        assert p.returncode == 1, (args, p.stdout, p.stderr)
        assert p.stdout == ""
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert "401" in p.stderr
    assert server.call("GET", "/v1/resources")[1] == b"[]"
    # No token at all, nothing listening, bad URL, missing file, missing token file.
    p = cli("status", env={"WEFT_SERVER": server.url, "WEFT_CA_CERTIFICATE": str(server.bundle)})
    assert p.returncode == 1 and "401" in p.stderr
    p = cli("status", "--server", f"http://127.0.0.1:{free_port()}")
    assert p.returncode == 1 and "cannot reach" in p.stderr
    p = cli("status", "--server", "ftp://127.0.0.1:1")
    assert p.returncode == 1 and "https://" in p.stderr
    # https needs the server's roots, and checks them.
    p = cli("status", "--server", server.url, "--token-file", str(server.token_file))
    assert p.returncode == 1 and "--ca-certificate" in p.stderr, p.stderr
    p = cli("status", "--ca-certificate", str(tmp_path / "nope.pem"), server=server)
    assert p.returncode == 1 and "nope.pem" in p.stderr, p.stderr
    other = tmp_path / "other-root.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=other", "-days", "1",
                    "-keyout", str(tmp_path / "other-key.pem"), "-out", str(other)],
                   check=True, capture_output=True)
    p = cli("status", "--ca-certificate", str(other), server=server)
    assert p.returncode == 1 and "certificate" in p.stderr, p.stderr
    # Plain HTTP to the TLS port fails with a message, not a hang.
    p = cli("status", "--server", server.url.replace("https", "http"), server=server)
    assert p.returncode == 1 and "400" in p.stderr and "TLS" in p.stderr, p.stderr
    p = cli("apply", "-f", str(tmp_path / "missing.yaml"), server=server)
    assert p.returncode == 1 and "missing.yaml" in p.stderr
    p = cli("status", "--token-file", str(tmp_path / "nope"), server=server)
    assert p.returncode == 1 and "nope" in p.stderr
    for p in (cli("status", "--token-file", str(wrong), server=server),
              cli("status", "--server", f"http://127.0.0.1:{free_port()}")):
        assert "Traceback" not in p.stderr and "terminate" not in p.stderr


def test_json_output_parses(server, tmp_path):
    write_mesh_dir(tmp_path)
    p = cli("apply", "-f", "mesh.d", "-o", "json", server=server, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert {i["action"] for i in out["applied"]} == {"created"}
    assert isinstance(out["revision"], int)
    for args in (["get", "all"], ["get", "vs", "reviews"], ["status"]):
        p = cli(*args, "-o", "json", server=server)
        assert p.returncode == 0, p.stderr
        json.loads(p.stdout)
    p = cli("delete", "-f", "mesh.d/b-rules.yml", "-o", "json", server=server, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert [i["kind"] for i in json.loads(p.stdout)["deleted"]] == [
        "DestinationRule", "VirtualService"]
