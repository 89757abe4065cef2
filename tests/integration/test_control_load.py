"""weft-control-load (bench/control-load) against a real weft-control serve: 20 simulated
sidecars register, get and acknowledge their configuration, follow a change applied through the
API (every version acknowledged, one events line each), and deregister on SIGTERM. Against a
fake control plane: the x-weft-version header, re-registration after a 404, the request
headers and --duration."""

from __future__ import annotations

import http.server
import json
import signal
import subprocess
import threading
import time

import weftlib
from weftlib import SLOW
from test_control_plane import OPS, Control, service_entry, wait_until

WEFT_CONTROL_LOAD = weftlib.BIN_DIR / "weft-control-load"
NODES = 20


def sim_nodes(cp: Control) -> list[dict]:
    return [n for n in cp.json("GET", "/v1/nodes") if n["id"].startswith("sim-")]


def events(path) -> list[dict]:
    if not path.exists():
        return []
    # The tool writes whole lines; a line still being written would lack its newline.
    text = path.read_text()
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def test_simulated_sidecars_follow_a_change_and_deregister(tmp_path):
    assert WEFT_CONTROL_LOAD.exists(), f"{WEFT_CONTROL_LOAD} not found: build it"
    cp = Control(tmp_path / "cp", plaintext=True)  # the load tool speaks plain HTTP only
    (cp.config_dir / "services.yaml").write_text(
        service_entry("ratings") + "---\n" + service_entry("details", port=9081))
    cp.start()
    token = tmp_path / "token"
    token.write_text(OPS + "\n")
    events_path = tmp_path / "events.jsonl"
    stderr_path = tmp_path / "load.stderr"
    load = subprocess.Popen(
        [str(WEFT_CONTROL_LOAD), "--server", f"127.0.0.1:{cp.port}", "--token-file", str(token),
         "--nodes", str(NODES), "--services", "5", "--events", str(events_path),
         "--wait", "5s", "--max-inflight-registrations", "8"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(stderr_path, "wb"))
    try:
        def all_synced() -> bool:
            nodes = sim_nodes(cp)
            return len(nodes) == NODES and all(n["status"] == "SYNCED" for n in nodes)

        assert wait_until(all_synced, 5), (sim_nodes(cp), stderr_path.read_text())
        nodes = sim_nodes(cp)
        # The registration the tool sends: one service per i % services.
        n3 = next(n for n in nodes if n["id"] == "sim-3")
        assert (n3["workload"], n3["service"], n3["service_account"]) == \
            ("svc-3-sim", "svc-3", "svc-3")
        assert n3["labels"] == {"app": "svc-3", "version": "v1"}
        before = {n["id"]: n["version"] for n in nodes}
        # Every first version is in the events file once acknowledged (flushed within 100 ms).
        assert wait_until(lambda: {(e["node"], e["version"]) for e in events(events_path)} >=
                          set(before.items()), 2), events(events_path)

        applied = cp.json("POST", "/v1/resources", service_entry("reviews", port=9082))
        revision = applied["revision"]

        def all_acked_new() -> bool:
            nodes = sim_nodes(cp)
            return len(nodes) == NODES and all(
                n["version"] >= revision and n["status"] == "SYNCED" and
                n["version_acked"] == n["version"] for n in nodes)

        assert wait_until(all_acked_new, 5), (sim_nodes(cp), stderr_path.read_text())
        after = {n["id"]: n["version"] for n in sim_nodes(cp)}

        def all_logged() -> bool:
            return {(e["node"], e["version"]) for e in events(events_path)} >= set(after.items())

        assert wait_until(all_logged, 2), events(events_path)
        new = [e for e in events(events_path) if e["version"] >= revision]
        assert len(new) == NODES and {e["node"] for e in new} == set(after)
        for e in new:
            assert e["bytes"] > 0
            assert e["received"] <= e["acked"] <= time.time() + 1
            assert e["received"] > time.time() - 60

        load.send_signal(signal.SIGTERM)
        assert load.wait(10 * SLOW) == 0, stderr_path.read_text()
        assert sim_nodes(cp) == []
        assert "deregistered every node" in stderr_path.read_text()
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
        cp.stop()


class FakeControlPlane:
    """Answers like weft-control, with the x-weft-version header and a body without a version
    (so only the header can give it), and forgets each node once (a 404 on its first poll)."""

    VERSION = 7
    BODY = b'{"resources":"' + b"x" * 5000 + b'"}'

    def __init__(self):
        self.lock = threading.Lock()
        self.registrations: dict[str, int] = {}
        self.polls: list[tuple[str, int]] = []
        self.acks: list[tuple[str, dict]] = []
        self.deleted: list[str] = []
        self.headers: list[dict] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status: int, body: bytes = b"", headers: dict | None = None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if status not in (204, 304):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status not in (204, 304):
                    self.wfile.write(body)

            def body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length", "0")))

            def do_POST(self):
                with fake.lock:
                    fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                data = self.body()
                if self.path == "/v1/nodes":
                    node = json.loads(data)
                    with fake.lock:
                        fake.registrations[node["id"]] = fake.registrations.get(node["id"], 0) + 1
                    return self.reply(200, json.dumps({"id": node["id"], "version": 0}).encode())
                node_id = self.path.split("/")[3]
                with fake.lock:
                    fake.acks.append((node_id, json.loads(data)))
                self.reply(204)

            def do_GET(self):
                node_id = self.path.split("/")[3]
                version = int(self.path.split("version=")[1].split("&")[0])
                with fake.lock:
                    first = not any(n == node_id for n, _ in fake.polls)
                    fake.polls.append((node_id, version))
                if first:
                    return self.reply(404, b'{"error":"unknown node"}')
                if version != FakeControlPlane.VERSION:
                    return self.reply(200, FakeControlPlane.BODY,
                                      {"Content-Type": "application/json",
                                       "X-Weft-Version": str(FakeControlPlane.VERSION)})
                time.sleep(0.2)
                self.reply(304)

            def do_DELETE(self):
                with fake.lock:
                    fake.deleted.append(self.path.split("/")[3])
                self.reply(204)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_version_header_and_reregistration_on_404(tmp_path):
    """The version comes from x-weft-version when the server sends it; a node the server does
    not know (404) registers again and polls from version 0; --duration stops and
    deregisters; every request carries the bearer token and Connection: close."""
    assert WEFT_CONTROL_LOAD.exists(), f"{WEFT_CONTROL_LOAD} not found: build it"
    fake = FakeControlPlane()
    token = tmp_path / "token"
    token.write_text("tok-1\nignored second line\n")
    events_path = tmp_path / "events.jsonl"
    try:
        run = subprocess.run(
            [str(WEFT_CONTROL_LOAD), "--server", f"127.0.0.1:{fake.port}", "--token-file",
             str(token), "--nodes", "3", "--prefix", "fake", "--events", str(events_path),
             "--wait", "1s", "--duration", "1.5"],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=20 * SLOW)
    finally:
        fake.close()
    stderr = run.stderr.decode(errors="replace")
    assert run.returncode == 0, stderr
    ids = {"fake-0", "fake-1", "fake-2"}
    assert fake.registrations == {i: 2 for i in ids}, (fake.registrations, stderr)
    for i in ids:
        polls = [v for n, v in fake.polls if n == i]
        assert polls[:3] == [0, 0, FakeControlPlane.VERSION], polls
    assert sorted(fake.acks) == sorted((i, {"version": FakeControlPlane.VERSION}) for i in ids)
    assert sorted(fake.deleted) == sorted(ids)
    lines = events(events_path)
    assert sorted(e["node"] for e in lines) == sorted(ids)
    for e in lines:
        assert e["version"] == FakeControlPlane.VERSION
        assert e["bytes"] == len(FakeControlPlane.BODY)
    for h in fake.headers:
        assert h["authorization"] == "Bearer tok-1"
        assert h["connection"] == "close"
