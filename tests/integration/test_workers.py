"""Threading modes: one worker runs on the main thread (a single-threaded process), several
workers each own a thread and a SO_REUSEPORT listener; both serve, reload and drain alike."""

import os
import signal
import threading
from collections import Counter

from weftlib import two_version_service, wait_for


def threads_of(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def reviews(v1, v2, subset):
    return two_version_service("reviews", v1, v2, subset)


def hammer(p, clients=8, each=25):
    """Many fresh client connections, so the kernel spreads them over every worker."""
    seen, errors = Counter(), []

    def run():
        for _ in range(each):
            try:
                r = p.get_out("reviews", "/w")
                seen[r.json()["upstream"] if r.status == 200 else r.status] += 1
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

    ts = [threading.Thread(target=run) for _ in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors, errors[:3]
    return seen


def test_single_worker_is_a_single_threaded_process(mesh):
    v1, v2 = mesh.upstream("reviews-v1"), mesh.upstream("reviews-v2")
    p = mesh.proxy(reviews(v1, v2, "v1"), concurrency=1)
    assert hammer(p, clients=4, each=10) == Counter({"reviews-v1": 40})
    assert threads_of(p.pid) == 1, "with one worker the proxy must not start threads"


def test_several_workers_serve_reload_and_drain(mesh):
    v1, v2 = mesh.upstream("reviews-v1"), mesh.upstream("reviews-v2")
    p = mesh.proxy(reviews(v1, v2, "v1"), concurrency=2, timeouts={"drain": "1s"})
    assert threads_of(p.pid) == 3, "main thread plus one thread per worker"
    assert hammer(p) == Counter({"reviews-v1": 200})
    assert "weft_workers 2" in p.metrics()

    # A reload reaches every worker: no request may still go to v1 afterwards.
    p.write_mesh(reviews(v1, v2, "v2"))
    p.signal(signal.SIGHUP)
    wait_for(lambda: p.get_out("reviews", "/probe").json()["upstream"] == "reviews-v2",
             timeout=5, what="the reload to take effect")
    assert hammer(p) == Counter({"reviews-v2": 200})

    p.signal(signal.SIGTERM)
    assert p.wait(10) == 0, p.describe()
