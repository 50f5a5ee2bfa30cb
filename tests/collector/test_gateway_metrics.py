"""``/metrics``: the Prometheus exposition written by ``prometheus_client``, read back with
its parser. Every family documented in docs/collector.md is there under its stable name,
with its type, labels and the counted values; label values are escaped."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from collector.conn_guard import ConnectionGuard, ConnectionLimits
from collector.embedded import EmbeddedBackend
from collector.gateway import create_app
from collector.gateway_config import GatewayConfig
from collector.keys import KeyRegistry
from collector.metrics import GatewayMetrics

DOC = Path(__file__).resolve().parents[2] / "docs" / "collector.md"


def _parse(text: str) -> dict[str, tuple[str, dict[tuple, float]]]:
    """{family name: (type, {(sample name, sorted labels): value})}."""
    return {f.name: (f.type, {(s.name, tuple(sorted(s.labels.items()))): s.value
                              for s in f.samples})
            for f in text_string_to_metric_families(text)}


def test_every_documented_metric_is_exposed_with_its_type_and_values() -> None:
    m = GatewayMetrics()
    m.accept(3)
    m.duplicate()
    m.reject("schema", 2)
    m.reject('odd "reason"\n')
    m.observe_request(202, 0.004, 1200)
    m.observe_request(400, 3.0, 10)
    m.signed_request("request")
    m.kafka_error("timeout")
    m.sink_error()
    m.connections = ConnectionGuard(ConnectionLimits())
    m.connections.dropped["head_timeout"] += 4
    fams = _parse(m.render())
    documented = re.findall(r"^\| `(edgedrift_gateway_\w+)` \| (\w+) \|", DOC.read_text(), re.M)
    assert len(documented) >= 11
    for name, kind in documented:     # the parser names a counter family without _total
        assert fams[name.removesuffix("_total")][0] == kind, name
    p = "edgedrift_gateway"
    assert fams[f"{p}_windows_accepted"][1] == {(f"{p}_windows_accepted_total", ()): 3}
    assert fams[f"{p}_windows_duplicate"][1] == {(f"{p}_windows_duplicate_total", ()): 1}
    assert fams[f"{p}_rejected"][1] == {(f"{p}_rejected_total", (("reason", "schema"),)): 2,
                                        (f"{p}_rejected_total",
                                         (("reason", 'odd "reason"\n'),)): 1}
    assert fams[f"{p}_requests"][1] == {(f"{p}_requests_total", (("code", "202"),)): 1,
                                        (f"{p}_requests_total", (("code", "400"),)): 1}
    assert fams[f"{p}_received_bytes"][1] == {(f"{p}_received_bytes_total", ()): 1210}
    assert fams[f"{p}_kafka_errors"][1] == {(f"{p}_kafka_errors_total",
                                             (("error", "timeout"),)): 1}
    hist = fams[f"{p}_request_seconds"][1]
    bucket = f"{p}_request_seconds_bucket"
    assert hist[(bucket, (("le", "0.0025"),))] == 0
    assert hist[(bucket, (("le", "0.005"),))] == 1
    assert hist[(bucket, (("le", "2.5"),))] == 1
    assert hist[(bucket, (("le", "5"),))] == 2
    assert hist[(bucket, (("le", "+Inf"),))] == 2
    assert hist[(f"{p}_request_seconds_count", ())] == 2
    assert hist[(f"{p}_request_seconds_sum", ())] == 3.004
    dropped = fams[f"{p}_connections_dropped"][1]
    assert dropped[(f"{p}_connections_dropped_total", (("reason", "head_timeout"),))] == 4
    assert len(dropped) == len(ConnectionGuard.DROP_REASONS)
    assert fams[f"{p}_connections_open"][1] == {(f"{p}_connections_open", ()): 0}


def test_the_metrics_endpoint_serves_the_exposition(tmp_path) -> None:
    metrics = GatewayMetrics()
    app = create_app(GatewayConfig(), KeyRegistry(str(tmp_path / "keys.json")),
                     EmbeddedBackend(sink=None), metrics)
    client = TestClient(app)
    client.post("/v1/telemetry", content=b"{}", headers={"content-type": "text/plain"})
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    fams = _parse(r.text)
    p = "edgedrift_gateway"
    assert fams[f"{p}_requests"][1] == {(f"{p}_requests_total", (("code", "415"),)): 1}
    assert fams[f"{p}_rejected"][1] == {
        (f"{p}_rejected_total", (("reason", "unsupported_media_type"),)): 1}
