"""Test harness for the gateway: a real ``edgedrift gateway`` process on a free port,
signed envelopes built the way the SDK builds them, and a /metrics reader.

Used by tests/collector/test_gateway*.py, test_fuzz*.py and bench/bench_gateway.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import httpx
import msgpack

from collector.fake_windows import make_window_body, restamp
from collector.keys import KeyRegistry
from edge_sdk.signing import request_headers
from edge_sdk.wire import CONTENT_TYPE, encode_request, key_id, make_envelope

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from kafka_broker import wait_for_port  # noqa: E402
from support import free_port  # noqa: E402

HEADERS = {"content-type": CONTENT_TYPE}


class GatewayProcess:
    """``python -m edgedrift gateway`` in a subprocess (its own session, killed on stop)."""

    def __init__(self, data_dir: str | os.PathLike[str], kafka: str | None = None,
                 config: str | None = None, env: dict[str, str] | None = None,
                 tls: tuple[str, str] | None = None, port: int | None = None,
                 root: str | os.PathLike[str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.root = Path(root) if root else ROOT   # the checkout whose code runs
        self.kafka = kafka
        self.config = config
        self.env = env or {}
        self.tls = tls
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self, ready: bool = True, timeout: float = 30.0) -> GatewayProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "edgedrift", "gateway", "--data-dir", str(self.data_dir),
               "--port", str(self.port), "--log-level", "WARNING"]
        if self.kafka:
            cmd += ["--kafka", self.kafka]
        if self.config:
            cmd += ["--config", self.config]
        if self.tls:
            cmd += ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]]
        env = {**os.environ, "PYTHONPATH": str(self.root), **self.env}
        self._log = tempfile.TemporaryFile(prefix="gateway-")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, cwd=str(self.root),
                                     start_new_session=True)
        try:
            wait_for_port("127.0.0.1", self.port, timeout)
            if ready:
                self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self.client() as c:
            while True:
                try:
                    if c.get("/readyz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"gateway not ready after {timeout} s:\n{self.log_tail()}")
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"gateway exited ({self.proc.returncode}):\n"
                                       f"{self.log_tail()}")
                time.sleep(0.1)

    def client(self, **kw) -> httpx.Client:
        verify = kw.pop("verify", self.tls[0] if self.tls else True)
        return httpx.Client(base_url=self.url, timeout=kw.pop("timeout", 30.0),
                            verify=verify, **kw)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def log_tail(self, n: int = 4000) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-n:]

    def __enter__(self) -> GatewayProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._log is not None:
            self._log.close()


@contextlib.contextmanager
def running_gateway(data_dir: str | os.PathLike[str], **kw) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(data_dir, **kw)
    with gw:
        yield gw


@lru_cache(maxsize=4)
def _base_window(records: int) -> bytes:
    return make_window_body("dev-0", 0, records=records, seed=1)


def window(device: str, seq: int, model: str = "kws", records: int = 200) -> bytes:
    """A realistic encoded window body with the given identity."""
    return restamp(_base_window(records), device, seq, model=model)


def envelope(key: str, device: str, seq: int, model: str = "kws", ts: int | None = None,
             body: bytes | None = None, records: int = 200) -> dict:
    """A signed envelope the way the SDK makes it."""
    body = window(device, seq, model, records) if body is None else body
    return make_envelope(key, device, model, seq, body, ts=int(time.time()) if ts is None else ts)


def post(client: httpx.Client, content: bytes | dict | list,
         headers: dict[str, str] | None = None) -> httpx.Response:
    """POST a raw body, one envelope (a map) or a batch (a list, sent as an array)."""
    if isinstance(content, dict):
        content = encode_request([content])
    elif isinstance(content, list):
        content = msgpack.packb(content, use_bin_type=True)
    return client.post("/v1/telemetry", content=content, headers={**HEADERS, **(headers or {})})


def signed_post(client: httpx.Client, key: str, device: str, content: bytes | dict | list,
                ts: int | None = None, headers: dict[str, str] | None = None,
                compress: bool = True) -> httpx.Response:
    """POST the way the SDK's sender does: deflated, with the X-Edgedrift-* request
    signature over the compressed bytes (``headers`` override any of them)."""
    if isinstance(content, dict):
        content = encode_request([content])
    elif isinstance(content, list):
        content = msgpack.packb(content, use_bin_type=True)
    extra = {}
    if compress:
        content = zlib.compress(content, 6)
        extra["content-encoding"] = "deflate"
    ts = int(time.time()) if ts is None else ts
    extra.update(request_headers(key, device, key_id(key), ts,
                                 extra.get("content-encoding", "identity"), content))
    return client.post("/v1/telemetry", content=content,
                       headers={**HEADERS, **extra, **(headers or {})})


class KeyPool:
    """Devices with keys registered before the gateway starts; ``take()`` a fresh one."""

    def __init__(self, data_dir: str | os.PathLike[str], count: int = 60,
                 prefix: str = "dev") -> None:
        self.registry = KeyRegistry(Path(data_dir) / "keys.json")
        names = [f"{prefix}-{i:03d}" for i in range(count)]
        self.keys = {name: self.registry.add(name) for name in names}
        self._free = list(self.keys)

    def take(self) -> tuple[str, str]:
        device = self._free.pop(0)
        return device, self.keys[device]


_METRIC = re.compile(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$")


def metrics(client: httpx.Client) -> dict[str, float]:
    """``/metrics`` as {'name{labels}': value}."""
    out: dict[str, float] = {}
    for line in client.get("/metrics").text.splitlines():
        m = _METRIC.match(line)
        if m:
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def rejected(client: httpx.Client, reason: str) -> float:
    return metrics(client).get(f'edgedrift_gateway_rejected_total{{reason="{reason}"}}', 0.0)


def add_key(data_dir: str | os.PathLike[str], device: str) -> str:
    """``edgedrift keys add DEVICE`` through the real CLI; returns the key (last stdout line)."""
    out = subprocess.run([sys.executable, "-m", "edgedrift", "keys", "add", device,
                          "--data-dir", str(data_dir)], capture_output=True, text=True,
                         check=True, timeout=60, cwd=str(ROOT),
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    return out.stdout.strip().splitlines()[-1]


