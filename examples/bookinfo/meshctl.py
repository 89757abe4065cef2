#!/usr/bin/env python3
"""Helpers for run.sh (standard library only).

    meshctl.py plan BOOTSTRAP...        one line per sidecar:
                                        workload service version app_port admin outbound inbound file node_id
    meshctl.py wait-ready TIMEOUT PORT...   wait until every admin port's /ready answers 200
    meshctl.py traffic SECONDS URL HOST     drive requests (some as end-user jason); print counts
    meshctl.py summary NAME=PORT...         table of requests per source -> destination from
                                            each sidecar's /metrics, with p50 latency

  weft-control's HTTP API (URL like https://127.0.0.1:15010, verified with the PEM roots named
  by $WEFT_CA_CERTIFICATE; TOKEN_FILE: an operator token):
    meshctl.py cp-ready TIMEOUT URL TOKEN_FILE          wait until GET /ready answers 200
    meshctl.py cp-synced TIMEOUT URL TOKEN_FILE NODE... wait until GET /v1/nodes lists every
                                            NODE, each SYNCED on its group's current version
    meshctl.py cp-nodes URL TOKEN_FILE      one line per node: workload, versions, status
    meshctl.py cp-apply URL TOKEN_FILE FILE [WAIT]  POST FILE to /v1/resources; with WAIT
                                            (seconds), then wait until every node acked it
"""

import json
import os
import ssl

import re
import sys
import time
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def section(text: str, key: str) -> str:
    """The text of a top-level YAML key: its flow map on the same line or its indented block."""
    lines = text.splitlines()
    for i, ln in enumerate(lines):
        if re.match(rf"^{key}\s*:", ln):
            out = [ln.split(":", 1)[1]]
            for nxt in lines[i + 1:]:
                if nxt.strip() and not nxt.startswith((" ", "\t", "#")):
                    break
                out.append(nxt)
            return "\n".join(out)
    return ""


def field(text: str, name: str, default: str = "") -> str:
    m = re.search(rf"(?:^|[\s{{,]){name}\s*:\s*([^\s,}}#]+)", text)
    return m.group(1).strip("'\"") if m else default


def plan(files):
    for f in files:
        text = open(f).read()
        node, inbound = section(text, "node"), section(text, "inbound")
        workload = field(node, "workload")
        service = field(node, "service")
        version = field(node, "version", "v1")
        app = field(inbound, "app")
        app_port = app.rsplit(":", 1)[-1] if app else ""
        vals = [workload, service, version, app_port, field(section(text, "admin"), "port"),
                field(section(text, "outbound"), "port"), field(inbound, "port"), f,
                field(node, "id", workload)]
        if not all(vals):
            sys.exit(f"meshctl: cannot read node/admin/outbound/inbound from {f}: {vals}")
        print(" ".join(vals))


def opener():
    """No proxy; https verified with $WEFT_CA_CERTIFICATE (weft-control's trust bundle)."""
    ca = os.environ.get("WEFT_CA_CERTIFICATE")
    if not ca:
        return NO_PROXY
    return urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                       urllib.request.HTTPSHandler(
                                           context=ssl.create_default_context(cafile=ca)))


def http_get(url: str, headers=None, timeout: float = 5.0):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with opener().open(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


def cp_get(url: str, path: str, token_file: str, timeout: float = 5.0):
    token = open(token_file).read().strip()
    return http_get(url.rstrip("/") + path, {"Authorization": f"Bearer {token}"}, timeout)


def cp_ready(timeout: float, url: str, token_file: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cp_get(url, "/ready", token_file, timeout=1)[0] == 200:
            return
        time.sleep(0.1)
    sys.exit(f"weft-control at {url} is not ready")


def cp_nodes_json(url: str, token_file: str):
    status, body = cp_get(url, "/v1/nodes", token_file)
    if status != 200:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def synced(node) -> bool:
    return node.get("status") == "SYNCED" and node.get("version_acked") == node.get("version")


def cp_synced(timeout: float, url: str, token_file: str, ids):
    # A registration reaches the other nodes in a push after a debounce (at most 1 s): the
    # state counts only when it has held, with the same versions, for longer than that.
    deadline = time.monotonic() + timeout
    nodes = None
    since, seen = None, None
    while time.monotonic() < deadline:
        nodes = cp_nodes_json(url, token_file) or []
        by_id = {n.get("id"): n for n in nodes}
        if all(i in by_id and synced(by_id[i]) for i in ids):
            versions = {i: by_id[i].get("version") for i in ids}
            if versions != seen:
                since, seen = time.monotonic(), versions
            elif time.monotonic() - since >= 1.2:
                return
        else:
            since, seen = None, None
        time.sleep(0.1)
    by_id = {n.get("id"): n for n in nodes or []}
    missing = [i for i in ids if i not in by_id]
    behind = [f"{i} ({by_id[i].get('status')}, acked {by_id[i].get('version_acked')} of "
              f"{by_id[i].get('version')}{', ' + by_id[i]['error'] if by_id[i].get('error') else ''})"
              for i in ids if i in by_id and not synced(by_id[i])]
    sys.exit("not synced:" + (" unregistered " + " ".join(missing) if missing else "") +
             (" behind " + "; ".join(behind) if behind else ""))


def cp_apply(url: str, token_file: str, path: str, wait: float | None):
    import os
    token = open(token_file).read().strip()
    name = os.path.basename(path)
    req = urllib.request.Request(f"{url.rstrip('/')}/v1/resources?source={name}",
                                 data=open(path, "rb").read(), method="POST",
                                 headers={"Authorization": f"Bearer {token}"})
    t0 = time.monotonic()
    try:
        with opener().open(req, timeout=10) as r:
            out = json.loads(r.read())
    except urllib.error.HTTPError as e:
        sys.exit(f"  apply {name}: {e.code} {e.read().decode(errors='replace')}")
    except OSError as e:
        sys.exit(f"  apply {name}: {e}")
    rev = out.get("revision", 0)
    what = ", ".join(f"{a['kind']} {a['namespace']}/{a['name']} {a['action']}"
                     for a in out.get("applied", []))
    if wait is None:
        print(f"  applied {name}: {what} (store revision {rev})")
        return
    deadline = t0 + wait
    nodes = []
    while time.monotonic() < deadline:
        nodes = cp_nodes_json(url, token_file) or []
        if nodes and all(synced(n) and n.get("version", 0) >= rev for n in nodes):
            ms = (time.monotonic() - t0) * 1000
            print(f"  applied {name}: {what}; all {len(nodes)} sidecars acked version "
                  f"{rev} within {ms:.0f} ms", flush=True)
            return
        time.sleep(0.02)
    sys.exit(f"  applied {name}: {what}; not every sidecar acked version {rev}: " +
             ", ".join(f"{n.get('id')} {n.get('status')} {n.get('version_acked')}"
                       for n in nodes))


def cp_nodes(url: str, token_file: str):
    nodes = cp_nodes_json(url, token_file)
    if nodes is None:
        print(f"  (GET {url}/v1/nodes failed)")
        return
    print(f"  {'node':<16} {'workload':<12} {'admin':<18} {'version':>7} {'acked':>7}  status")
    print("  " + "-" * 70)
    for n in sorted(nodes, key=lambda n: n.get("id", "")):
        addr = n.get("admin") or n.get("address", "?")
        status = n.get("status", "?")
        if n.get("error"):
            status += f" ({n['error'].splitlines()[0]})"
        if n.get("build_error"):
            status += f" (build error: {n['build_error'].splitlines()[0]})"
        print(f"  {n.get('id', '?'):<16} {n.get('workload', '?'):<12} {addr:<18} "
              f"{n.get('version', '-')!s:>7} {n.get('version_acked', '-')!s:>7}  {status}")
    if not nodes:
        print("  (no registered nodes)")


def wait_ready(timeout: float, ports):
    deadline = time.monotonic() + timeout
    pending = set(ports)
    while pending and time.monotonic() < deadline:
        for p in list(pending):
            if http_get(f"http://127.0.0.1:{p}/ready", timeout=1)[0] == 200:
                pending.discard(p)
        time.sleep(0.1)
    if pending:
        sys.exit("not ready: admin port(s) " + " ".join(sorted(pending)))


def traffic(seconds: float, url: str, host: str):
    codes = defaultdict(int)
    users = defaultdict(int)
    end = time.monotonic() + seconds
    n = 0

    def one(i):
        hdrs = {"Host": host}
        if i % 4 == 0:
            hdrs["end-user"] = "jason"
        return http_get(url, hdrs)[0], hdrs.get("end-user", "anonymous")

    with ThreadPoolExecutor(4) as pool:
        while time.monotonic() < end:
            for code, user in pool.map(one, range(n, n + 8)):
                codes[code] += 1
                users[user] += 1
            n += 8
            time.sleep(0.02)
    total = sum(codes.values())
    print(f"  sent {total} requests in {seconds:.0f}s "
          f"({', '.join(f'{v} x {k or chr(45)}' for k, v in sorted(codes.items()))}; "
          f"{users['jason']} as end-user jason)")


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str):
    for ln in text.splitlines():
        if ln.startswith("#") or not ln.strip():
            continue
        m = SAMPLE.match(ln)
        if m:
            yield m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))


def p50(buckets):
    """Median from cumulative histogram buckets [(le, count)], linear within a bucket."""
    buckets = sorted(buckets, key=lambda b: b[0])
    total = buckets[-1][1] if buckets else 0
    if not total:
        return None
    target, prev_le, prev_c = total / 2, 0.0, 0.0
    for le, c in buckets:
        if c >= target:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * ((target - prev_c) / max(c - prev_c, 1e-9))
        prev_le, prev_c = le, c
    return prev_le


def summary(pairs):
    rows = defaultdict(lambda: defaultdict(float))
    hist = defaultdict(lambda: defaultdict(float))
    mtls = defaultdict(float)  # requests whose peer proved its identity with mutual TLS
    failed = []
    for pair in pairs:
        name, port = pair.split("=")
        status, body = http_get(f"http://127.0.0.1:{port}/metrics")
        if status != 200:
            failed.append(f"{name} (admin :{port} answered {status or 'nothing'})")
            continue
        for metric, labels, value in parse(body.decode(errors="replace")):
            rep = labels.get("reporter", "?")
            src = labels.get("source_workload", "unknown")
            dst = labels.get("destination_service_name") or labels.get("destination_service", "?")
            dv = labels.get("destination_version", "")
            if dv and dv != "unknown":
                dst = f"{dst} ({dv})"
            key = (rep, src, dst)
            if metric == "istio_requests_total":
                rows[key][(labels.get("response_code", "?"),
                           labels.get("response_flags", "-"))] += value
                peer = labels.get("source_principal" if rep == "destination"
                                  else "destination_principal", "unknown")
                if peer != "unknown":
                    mtls[key] += value
            elif metric == "istio_request_duration_milliseconds_bucket":
                le = labels.get("le", "+Inf")
                hist[key][float("inf") if le == "+Inf" else float(le)] += value
    print(f"  {'reported by':<12} {'source -> destination':<44} {'requests':>8}  "
          f"{'codes (flags)':<28} {'p50 ms':>7}  {'mTLS':>5}")
    print("  " + "-" * 111)
    for key in sorted(rows, key=lambda k: (k[0] != "source", k[1], k[2])):
        rep, src, dst = key
        codes = rows[key]
        total = sum(codes.values())
        cs = ", ".join(f"{int(v)}x{c}" + ("" if f == "-" else f"({f})")
                       for (c, f), v in sorted(codes.items()))
        med = p50(list(hist[key].items()))
        print(f"  {('sidecar' if rep == 'source' else 'destination'):<12} "
              f"{src + ' -> ' + dst:<44} {int(total):>8}  {cs:<28} "
              f"{('%.1f' % med) if med is not None else '-':>7}  "
              f"{'%d%%' % round(100 * mtls[key] / total) if total else '-':>5}")
    if not rows:
        print("  (no istio_requests_total series found)")
    for f in failed:
        print(f"  could not read /metrics of {f}")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "plan":
        plan(args)
    elif cmd == "wait-ready":
        wait_ready(float(args[0]), args[1:])
    elif cmd == "traffic":
        traffic(float(args[0]), args[1], args[2])
    elif cmd == "summary":
        summary(args)
    elif cmd == "cp-ready":
        cp_ready(float(args[0]), args[1], args[2])
    elif cmd == "cp-synced":
        cp_synced(float(args[0]), args[1], args[2], args[3:])
    elif cmd == "cp-nodes":
        cp_nodes(args[0], args[1])
    elif cmd == "cp-apply":
        cp_apply(args[0], args[1], args[2], float(args[3]) if len(args) > 3 else None)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
