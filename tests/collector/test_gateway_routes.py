"""The gateway's endpoints go through Starlette's routing and middleware like any route:
a middleware added to the app sees ``POST /v1/telemetry`` (once bypassed by a custom
``__call__``), and other methods on it get the router's 405."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from collector.embedded import EmbeddedBackend
from collector.gateway import create_app
from collector.gateway_config import GatewayConfig
from collector.keys import KeyRegistry


class _Recorder:
    """A plain ASGI middleware that records the (method, path) of every HTTP request."""

    def __init__(self, app: Any, seen: list[tuple[str, str]]) -> None:
        self.app, self.seen = app, seen

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.seen.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


def test_a_middleware_sees_the_telemetry_endpoint(tmp_path) -> None:
    app = create_app(GatewayConfig(), KeyRegistry(str(tmp_path / "keys.json")),
                     EmbeddedBackend(sink=None))
    seen: list[tuple[str, str]] = []
    app.add_middleware(_Recorder, seen=seen)
    client = TestClient(app)          # (no lifespan: the answers below need no backend)
    r = client.post("/v1/telemetry", content=b"{}", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and r.json()["error"]["field"] == "content-type"
    assert client.get("/v1/telemetry").status_code == 405
    assert client.get("/healthz").status_code == 200
    assert seen == [("POST", "/v1/telemetry"), ("GET", "/v1/telemetry"), ("GET", "/healthz")]
