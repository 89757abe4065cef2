"""Fixtures for the weft-proxy integration tests. The harness itself lives in weftlib.py.

Environment: WEFT_BIN_DIR (where weft-proxy is; default <repo>/build/bin), WEFT_SOURCE_DIR
(the repository), WEFT_TEST_SLOWDOWN (multiplies timeouts, e.g. 3 under sanitizers).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import weftlib  # noqa: E402
from weftlib import Proxy, ProxyError, Upstream  # noqa: E402

# The tests talk to 127.0.0.1 directly; a proxy from the caller's environment must not interfere
# (tests that want http_proxy set it themselves).
for _v in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
    os.environ.pop(_v, None)

# Sanitized builds are several times slower: scale waits when the binary is one.
if "WEFT_TEST_SLOWDOWN" not in os.environ and "build-asan" in str(weftlib.BIN_DIR):
    weftlib.SLOW = 3.0


def pytest_report_header(config):
    return [f"weft-proxy: {weftlib.WEFT_PROXY}", f"source: {weftlib.SOURCE_DIR}"]


@pytest.fixture(scope="session")
def weft_proxy_bin() -> Path:
    if not weftlib.WEFT_PROXY.exists():
        pytest.fail(f"{weftlib.WEFT_PROXY} not found: build it first (make test), or set "
                    f"WEFT_BIN_DIR", pytrace=False)
    return weftlib.WEFT_PROXY


@pytest.fixture
def free_port():
    """Function returning a fresh free TCP port on 127.0.0.1."""
    return weftlib.free_port


class _Owner:
    """Starts upstreams and proxies and stops them all at teardown (proxies with SIGTERM,
    checking a clean exit and no sanitizer report)."""

    def __init__(self, base: Path):
        self.base = base
        self.upstreams: list[Upstream] = []
        self.proxies: list[Proxy] = []

    def upstream(self, name: str = "upstream", **opts) -> Upstream:
        u = Upstream(name)
        for k, v in opts.items():
            setattr(u, k, v)
        self.upstreams.append(u)
        return u

    def proxy(self, mesh: str, start: bool = True, **kw) -> Proxy:
        p = Proxy(self.base / f"proxy{len(self.proxies)}", mesh, **kw)
        self.proxies.append(p)
        if start:
            p.start()
        return p

    def close(self) -> list[str]:
        errors = []
        for p in self.proxies:
            try:
                if p.proc is not None:
                    p.stop()
            except ProxyError as e:
                errors.append(str(e))
        for u in self.upstreams:
            u.close()
        return errors


@pytest.fixture
def mesh(tmp_path, weft_proxy_bin):
    """Per-test owner: mesh.upstream(name) and mesh.proxy(mesh_yaml, ...)."""
    owner = _Owner(tmp_path)
    yield owner
    errors = owner.close()
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture(scope="module")
def module_mesh(tmp_path_factory, weft_proxy_bin):
    """Per-module owner, for proxies shared by the tests of one file."""
    owner = _Owner(tmp_path_factory.mktemp("mesh"))
    yield owner
    errors = owner.close()
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture
def upstream():
    """A standalone test upstream (no proxy)."""
    u = Upstream("standalone")
    yield u
    u.close()
