"""Command line: --help, --version, --validate (file:line:col errors), bad invocations."""

import re
import subprocess
import time

import pytest

from weftlib import SOURCE_DIR, Proxy, join_docs, service_entry


def run(*args, timeout=20):
    from weftlib import WEFT_PROXY
    return subprocess.run([str(WEFT_PROXY), *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def project_version() -> str:
    m = re.search(r"project\(weft VERSION ([0-9.]+)", (SOURCE_DIR / "CMakeLists.txt").read_text())
    assert m, "no project(weft VERSION ...) in CMakeLists.txt"
    return m.group(1)


GOOD_MESH = join_docs(
    service_entry("reviews", [{"port": 19080, "labels": {"version": "v1"}}]),
    """apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, port: {number: 9080}}
""")


def line_of(text: str, marker: str) -> int:
    for i, line in enumerate(text.splitlines(), 1):
        if marker in line:
            return i
    raise AssertionError(f"marker {marker!r} not in text")


@pytest.fixture
def good(tmp_path, weft_proxy_bin):
    return Proxy(tmp_path / "good", GOOD_MESH)


def test_help(weft_proxy_bin):
    r = run("--help")
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"--help exited {r.returncode}: {out}"
    for flag in ("--config", "--validate", "--concurrency", "--log-level", "--version"):
        assert flag in out, f"--help does not mention {flag}:\n{out}"


def test_version(weft_proxy_bin):
    r = run("--version")
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"--version exited {r.returncode}: {out}"
    assert project_version() in out, f"--version should print {project_version()}: {out!r}"


def test_unknown_flag_fails(weft_proxy_bin):
    r = run("--no-such-flag")
    assert r.returncode != 0, "an unknown flag must be an error"
    assert "no-such-flag" in r.stdout + r.stderr, "the error should name the unknown flag"


def test_validate_good_config(good):
    r = run("--validate", "--config", str(good.bootstrap_path))
    assert r.returncode == 0, f"--validate on a good config exited {r.returncode}:\n" \
                              f"{r.stdout}{r.stderr}\n{good.bootstrap_text()}"


def test_validate_reports_every_bootstrap_error_with_position(good):
    text = good.bootstrap_text()
    text = re.sub(r"admin: \{address: 127.0.0.1, port: \d+\}",
                  "admin: {address: 127.0.0.1, port: 99999}", text)
    text = re.sub(r"outbound: \{address: 127.0.0.1,",
                  "outbound: {address: not-an-ip,", text)
    good.bootstrap_path.write_text(text)
    r = run("--validate", "--config", str(good.bootstrap_path))
    out = r.stdout + r.stderr
    assert r.returncode == 1, f"--validate on a bad config must exit 1, got {r.returncode}:\n{out}"
    for marker in ("99999", "not-an-ip"):
        line = line_of(text, marker)
        assert re.search(rf"bootstrap\.yaml:{line}:\d+: \S", out), \
            f"expected an error 'bootstrap.yaml:{line}:<col>: ...' for {marker!r} " \
            f"(every error, not just the first); output:\n{out}\nconfig:\n{text}"


def test_validate_column_points_at_value(good):
    text = good.bootstrap_text()
    text = re.sub(r"admin: \{address: 127.0.0.1, port: \d+\}",
                  "admin: {address: 127.0.0.1, port: 99999}", text)
    good.bootstrap_path.write_text(text)
    r = run("--validate", "--config", str(good.bootstrap_path))
    out = r.stdout + r.stderr
    line = line_of(text, "99999")
    m = re.search(rf"bootstrap\.yaml:{line}:(\d+): ", out)
    assert m, f"no position for the bad port in:\n{out}"
    col = int(m.group(1))
    src = text.splitlines()[line - 1]
    # 1-based column of the offending value or of its key
    assert col in (src.index("99999") + 1, src.index("port") + 1), \
        f"column {col} points at neither 'port' nor '99999' in {src!r}"


def test_validate_resource_error_has_resource_position(good):
    mesh = join_docs(
        service_entry("reviews", [{"port": 19080}]),
        """apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
      weight: not-a-number
""")
    good.write_mesh(mesh)
    r = run("--validate", "--config", str(good.bootstrap_path))
    out = r.stdout + r.stderr
    assert r.returncode == 1, f"a bad resource must fail validation, got {r.returncode}:\n{out}"
    line = line_of(mesh, "not-a-number")
    assert re.search(rf"mesh\.yaml:{line}:\d+: \S", out), \
        f"expected 'mesh.yaml:{line}:<col>: ...' in:\n{out}"


def test_validate_yaml_syntax_error(good):
    good.write_mesh("apiVersion: networking.istio.io/v1beta1\nkind: ServiceEntry\nspec: {hosts: [\n")
    r = run("--validate", "--config", str(good.bootstrap_path))
    out = r.stdout + r.stderr
    assert r.returncode == 1, f"broken YAML must fail validation, got {r.returncode}:\n{out}"
    assert re.search(r"mesh\.yaml:\d+:\d+: \S", out), f"no file:line:col in:\n{out}"


def test_validate_missing_resource_file(good):
    text = good.bootstrap_text().replace(str(good.mesh_path), str(good.dir / "missing.yaml"))
    good.bootstrap_path.write_text(text)
    r = run("--validate", "--config", str(good.bootstrap_path))
    out = r.stdout + r.stderr
    assert r.returncode == 1, f"a missing resource file must fail validation:\n{out}"
    assert "missing.yaml" in out, f"the error should name the missing file:\n{out}"


def test_missing_bootstrap_file(tmp_path, weft_proxy_bin):
    r = run("--validate", "--config", str(tmp_path / "nope.yaml"))
    out = r.stdout + r.stderr
    assert r.returncode == 1 and "nope.yaml" in out, f"rc={r.returncode} output:\n{out}"


def test_start_with_bad_config_exits_nonzero(good):
    good.write_mesh("kind: VirtualService\nspec: [unclosed\n")
    t0 = time.monotonic()
    r = run("--config", str(good.bootstrap_path), timeout=30)
    assert r.returncode != 0, "weft-proxy must not start serving with a bad config"
    assert time.monotonic() - t0 < 10, "a bad config must fail at once"
    assert re.search(r"mesh\.yaml:\d+:\d+: ", r.stdout + r.stderr), r.stdout + r.stderr
