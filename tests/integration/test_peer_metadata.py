"""Peer metadata exchange across a real mesh hop (client sidecar -> server sidecar -> app):
each side's istio_requests_total names the other workload, and neither app sees the header."""

from weftlib import free_port, get, join_docs, metric_series, service_entry, wait_for


def test_mesh_hop_reports_both_workloads(mesh):
    app = mesh.upstream("ratings-app")
    server_inbound = free_port()
    # The client's mesh sends "ratings" to the server sidecar's inbound listener.
    client = mesh.proxy(join_docs(service_entry("ratings", [{"port": server_inbound}])),
                        workload="productpage-v1", service="productpage")
    server = mesh.proxy(join_docs(service_entry("ratings", [{"port": app.port}])),
                        workload="ratings-v1", service="ratings", app_port=app.port,
                        start=False)
    server.inbound_port = server_inbound
    server.write_bootstrap()
    server.start()

    for _ in range(3):
        r = client.get_out("ratings", "/ratings/1")
        assert r.status == 200, r.describe()
        assert r.header("x-weft-peer") is None, "the client app must not see the peer header"
    seen = app.requests[-1]
    assert seen.header("x-weft-peer") is None, f"the server app saw {seen.headers}"

    def count(proxy, **labels):
        return sum(v for _, v in metric_series(proxy.metrics(), "istio_requests_total", **labels))

    wait_for(lambda: count(server, reporter="destination", source_workload="productpage-v1") == 3,
             timeout=5, what="the server sidecar to report the calling workload")
    inbound = metric_series(server.metrics(), "istio_requests_total", reporter="destination")
    labels = inbound[0][0]
    assert labels["source_app"] == "productpage"
    assert labels["source_workload_namespace"] == "default"
    assert labels["destination_workload"] == "ratings-v1"

    assert count(client, reporter="source", destination_workload="ratings-v1",
                 destination_service_name="ratings") == 3


def test_forged_peer_header_cannot_break_the_exposition(mesh):
    app = mesh.upstream("app")
    p = mesh.proxy(join_docs(service_entry("x", [{"port": app.port}])), app_port=app.port)

    r = get(p.inbound_port, "/", host="x",
            headers={"x-weft-peer": 'workload=evil"} 1 fake_metric{a="b'})
    assert r.status == 200
    text = p.metrics()
    assert "fake_metric" not in text
    assert 'source_workload="unknown"' in text
