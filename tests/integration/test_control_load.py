"""weft-control-load (bench/control-load) against a real weft-control serve: 20 simulated
sidecars register, get and acknowledge their configuration, follow a change applied through the
API (every version acknowledged, one events line each), and deregister on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
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
    cp = Control(tmp_path / "cp")
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
